import PropertyBased
import Testing

@testable import TesseraCore

/// The reference model of the capability system: dictionaries, a parent map,
/// recursive revoke, and quotas recomputed from scratch. It predicts the
/// outcome of every operation, errors included, in the documented order of
/// checks.
struct CapabilityModel {
  struct Cap {
    var id: CapabilityID
    var object: Int
    var rights: Rights
    var label: UInt64?
    var parent: Int?
    var space: Int
    var slot: UInt64
  }
  struct Object {
    var id: ObjectID
    var type: ObjectType
    var bytes: UInt64
    var payer: Int
  }
  enum SpaceState { case active, retired, freed }
  struct Space {
    var id: SpaceID
    var state = SpaceState.active
    var slotLimit: UInt64
    var limit: UInt64
    var tableSlots = 0
    var parent: Int?
  }

  let maxSpaces: Int
  let maxObjects: Int
  let maxCapabilities: Int
  let maxSlotsPerSpace: UInt64
  let slotBytes = CapabilitySystem.bytesPerSlot
  let recordBytes = CapabilitySystem.objectRecordBytes

  /// Capabilities by a model key that is never reused.
  var caps: [Int: Cap] = [:]
  /// Per model space: slot → capability key.
  var slots: [[UInt64: Int]] = []
  var objects: [Int: Object] = [:]
  /// Model spaces are never reused; the system reuses entries under new IDs.
  var spaces: [Space] = []
  var nextKey = 0

  // MARK: lookups, in the system's order of checks

  func activeSpace(_ id: SpaceID) throws(CapabilityError) -> Int {
    guard let index = spaces.firstIndex(where: { $0.id == id && $0.state == .active }) else {
      throw .invalidSpace(id)
    }
    return index
  }

  func addressable(_ address: CapabilityAddress) throws(CapabilityError) -> Int {
    let space = try activeSpace(address.space)
    guard address.slot != 0 else { throw .nullSlot }
    guard address.slot < spaces[space].slotLimit else { throw .invalidSlot(address.slot) }
    return space
  }

  func occupied(_ address: CapabilityAddress) throws(CapabilityError) -> Int {
    let space = try addressable(address)
    guard let key = slots[space][address.slot] else { throw .emptySlot(address.slot) }
    return key
  }

  func empty(_ address: CapabilityAddress) throws(CapabilityError) -> Int {
    let space = try addressable(address)
    guard slots[space][address.slot] == nil else { throw .slotOccupied(address.slot) }
    return space
  }

  func address(of key: Int) -> CapabilityAddress {
    CapabilityAddress(space: spaces[caps[key]!.space].id, slot: caps[key]!.slot)
  }

  func children(of key: Int) -> [Int] { caps.filter { $0.value.parent == key }.map(\.key) }

  func descendants(of key: Int) -> [Int] {
    children(of: key).flatMap { [$0] + descendants(of: $0) }
  }

  func capabilityCount(of object: Int) -> Int { caps.values.filter { $0.object == object }.count }

  /// The table size after writing `slot`: 16 slots on first use, doubling,
  /// capped at the space's limit.
  func tableSlots(_ space: Int, covering slot: UInt64) -> Int {
    let current = spaces[space].tableSlots
    guard slot >= UInt64(current) else { return current }
    var size = max(current, 16)
    while UInt64(size) <= slot { size *= 2 }
    return Int(min(UInt64(size), spaces[space].slotLimit))
  }

  func growthBytes(_ space: Int, covering slot: UInt64) -> UInt64 {
    UInt64(tableSlots(space, covering: slot) - spaces[space].tableSlots) * slotBytes
  }

  /// Quota in use, from scratch: the table, the objects the space paid for,
  /// the limits of its child spaces that still exist.
  func used(_ space: Int) -> UInt64 {
    var total = UInt64(spaces[space].tableSlots) * slotBytes
    for object in objects.values where object.payer == space {
      total += object.bytes + recordBytes
    }
    for child in spaces where child.parent == space && child.state != .freed {
      total += child.limit
    }
    return total
  }

  func available(_ space: Int) -> UInt64 { spaces[space].limit - used(space) }

  func checkQuota(_ needed: UInt64, _ space: Int) throws(CapabilityError) {
    guard needed <= available(space) else {
      throw .quotaExhausted(needed: needed, available: available(space))
    }
  }

  // MARK: changes

  mutating func add(_ cap: Cap) {
    caps[nextKey] = cap
    slots[cap.space][cap.slot] = nextKey
    spaces[cap.space].tableSlots = tableSlots(cap.space, covering: cap.slot)
    nextKey += 1
  }

  /// Removes one capability; its children go to its parent. Returns the
  /// object key when that was its last capability (the object is gone too).
  mutating func remove(_ key: Int) -> Int? {
    let cap = caps.removeValue(forKey: key)!
    slots[cap.space][cap.slot] = nil
    for child in children(of: key) { caps[child]!.parent = cap.parent }
    guard capabilityCount(of: cap.object) == 0 else { return nil }
    objects[cap.object] = nil
    return cap.object
  }

  /// Frees retired spaces that owe nothing and have no child spaces left.
  mutating func reclaim() {
    var changed = true
    while changed {
      changed = false
      for index in spaces.indices
      where spaces[index].state == .retired && used(index) == 0
        && !spaces.contains(where: { $0.parent == index && $0.state != .freed })
      {
        spaces[index].state = .freed
        changed = true
      }
    }
  }
}

/// Decodes the choices of one step from its random integer.
private struct Choices {
  var bits: UInt64
  mutating func take(_ count: Int) -> Int {
    guard count > 1 else { return 0 }
    let value = Int(bits % UInt64(count))
    bits /= UInt64(count)
    return value
  }
  mutating func chance(_ percent: Int) -> Bool { take(100) < percent }
}

@Suite struct CapabilityModelTests {
  /// Long random sequences of object creation, copy, mint, move, delete,
  /// revoke and space creation and destruction over 2-4 spaces with small
  /// tables and quotas, valid and invalid operands mixed, against the model.
  /// Not shrunk: shrinking hundreds of steps takes many minutes, and the
  /// failure already names the first step that went wrong (the seed printed
  /// with it replays the case).
  @Test(.shrinking(false)) func randomSequencesMatchTheModel() async {
    let steps = Gen.int(in: 0...Int.max).array(of: 200...500)
    await propertyCheck(count: 60, input: Gen.int(in: 0...Int.max), steps) { setup, steps in
      #expect(Self.run(setup: UInt64(setup), steps: steps) == nil)
    }
  }

  /// Runs one case; returns the first discrepancy.
  static func run(setup: UInt64, steps: [Int]) -> String? {
    var choose = Choices(bits: setup)
    var system = CapabilitySystem(
      maxSpaces: 6, maxObjects: 24, maxCapabilities: 56, maxSlotsPerSpace: 48)
    var model = CapabilityModel(
      maxSpaces: 6, maxObjects: 24, maxCapabilities: 56, maxSlotsPerSpace: 48)
    let unit = 16 * model.slotBytes
    // A root with room for everything, then 1-3 more: children of the root
    // with tight quotas, or roots of their own.
    let rootLimit = UInt64(30) * unit
    guard let root = try? system.createSpace(slotLimit: 48, quota: rootLimit) else {
      return "the root space was refused"
    }
    model.spaces.append(.init(id: root, slotLimit: 48, limit: rootLimit))
    model.slots.append([:])
    for _ in 0..<(1 + choose.take(3)) {
      let limit = unit + UInt64(choose.take(4)) * unit + UInt64(choose.take(500))
      let slotLimit = UInt64(20 + choose.take(29))
      let child = choose.chance(75)
      guard
        let id = try? system.createSpace(
          slotLimit: slotLimit, quota: limit, parent: child ? root : nil)
      else { return "an initial space was refused" }
      model.spaces.append(
        .init(id: id, slotLimit: slotLimit, limit: limit, parent: child ? 0 : nil))
      model.slots.append([:])
    }
    var revoked: [CapabilityID] = []
    var destroyed: [ObjectID] = []

    for (index, step) in steps.enumerated() {
      var choose = Choices(bits: UInt64(step))
      let operation = choose.take(100)
      let context = "step \(index) (op \(operation)): "
      let outcome: String?
      switch operation {
      case 0..<14: outcome = createObject(&system, &model, &choose)
      case 14..<50: outcome = derive(&system, &model, &choose, mint: false)
      case 50..<64: outcome = derive(&system, &model, &choose, mint: true)
      case 64..<78: outcome = move(&system, &model, &choose)
      case 78..<86:
        outcome = remove(&system, &model, &choose, revoke: false, &revoked, &destroyed)
      case 86..<94:
        outcome = remove(&system, &model, &choose, revoke: true, &revoked, &destroyed)
      case 94..<97: outcome = createSpace(&system, &model, &choose)
      default: outcome = destroySpace(&system, &model, &choose, &destroyed)
      }
      if let outcome { return context + outcome }
      if let mismatch = compare(system, model) { return context + mismatch }
      // No capability outlives its ancestor's revoke; no destroyed object comes back.
      if let back = revoked.first(where: { system.address(of: $0) != nil }) {
        return context + back.description + " is back after a revoke"
      }
      if let back = destroyed.first(where: { system.capabilityCount(of: $0) != nil }) {
        return context + back.description + " is back after its destruction"
      }
    }
    return nil
  }

  // MARK: operand choices

  /// Mostly an occupied slot, sometimes any slot of a live space, sometimes
  /// a slot out of range or in a dead or made-up space.
  private static func anyAddress(_ model: CapabilityModel, _ choose: inout Choices)
    -> CapabilityAddress
  {
    let keys = model.caps.keys.sorted()
    let roll = choose.take(100)
    if roll < 85 && !keys.isEmpty { return model.address(of: keys[choose.take(keys.count)]) }
    if roll < 94 { return freeAddress(model, &choose) }
    let space = model.spaces[choose.take(model.spaces.count)]
    switch choose.take(4) {
    case 0: return CapabilityAddress(space: space.id, slot: .max)
    case 1: return CapabilityAddress(space: space.id, slot: space.slotLimit)
    case 2: return CapabilityAddress(space: SpaceID(rawValue: 0xDEAD_0000_0007), slot: 1)
    default: return CapabilityAddress(space: space.id, slot: 0)
    }
  }

  /// A slot of a live space: mostly an empty one, else any (slotLimit
  /// included, which is one too far).
  private static func freeAddress(_ model: CapabilityModel, _ choose: inout Choices)
    -> CapabilityAddress
  {
    let live = model.spaces.indices.filter { model.spaces[$0].state == .active }
    let index = live[choose.take(live.count)]
    let space = model.spaces[index]
    let empty = (1..<space.slotLimit).filter { model.slots[index][$0] == nil }
    if choose.chance(85) && !empty.isEmpty {
      return CapabilityAddress(space: space.id, slot: empty[choose.take(empty.count)])
    }
    return CapabilityAddress(space: space.id, slot: UInt64(1 + choose.take(Int(space.slotLimit))))
  }

  /// nil (keep the source's), a subset of `source`, any defined rights, or
  /// rights with an undefined bit.
  private static func rights(_ source: Rights?, _ choose: inout Choices) -> Rights? {
    let defined: [Rights] = [.read, .write, .execute, .grant, .objectSpecific(1)]
    switch choose.take(100) {
    case 0..<30: return nil
    case 30..<80:
      guard let source else { return [.read] }
      return Rights(rawValue: source.rawValue & UInt64(choose.take(1 << 16)))
    case 80..<93:
      var rights: Rights = []
      for right in defined where choose.chance(50) { rights.insert(right) }
      return rights
    default: return Rights(rawValue: 1 << UInt64(4 + choose.take(4)) | 1)
    }
  }

  private static func sourceRights(_ model: CapabilityModel, _ address: CapabilityAddress)
    -> Rights?
  {
    (try? model.occupied(address)).map { model.caps[$0]!.rights }
  }

  // MARK: operations against the model

  private static func createObject(
    _ system: inout CapabilitySystem, _ model: inout CapabilityModel, _ choose: inout Choices
  ) -> String? {
    let type = ObjectType.allCases[choose.take(ObjectType.allCases.count)]
    let bytes = UInt64(choose.take(120))
    let destination = choose.chance(85) ? freeAddress(model, &choose) : anyAddress(model, &choose)
    let parentAddress = choose.chance(25) ? anyAddress(model, &choose) : nil
    let rights = choose.chance(70) ? nil : Self.rights(type.defaultRights, &choose)

    let expected = Result { () throws(CapabilityError) -> (Int?, Int) in
      let parent = try parentAddress.map { (address) throws(CapabilityError) in
        try model.occupied(address)
      }
      let space = try model.empty(destination)
      let undefined = (rights ?? []).rawValue & ~Rights.defined.rawValue
      if undefined != 0 { throw .undefinedRights(undefined) }
      if model.objects.count >= model.maxObjects { throw .tooManyObjects }
      if model.caps.count >= model.maxCapabilities { throw .tooManyCapabilities }
      try model.checkQuota(
        bytes + model.recordBytes + model.growthBytes(space, covering: destination.slot), space)
      return (parent, space)
    }
    let actual = Result { () throws(CapabilityError) in
      try system.createObject(
        type, bytes: bytes, at: destination, rights: rights, derivedFrom: parentAddress)
    }
    switch (expected, actual) {
    case (.success(let (parent, space)), .success(let created)):
      let object = model.nextKey
      model.objects[object] = .init(id: created.object, type: type, bytes: bytes, payer: space)
      model.add(
        .init(
          id: created.capability, object: object, rights: rights ?? type.defaultRights,
          label: nil, parent: parent, space: space, slot: destination.slot))
      return nil
    default: return mismatch("createObject", expected.map { _ in () }, actual.map { _ in () })
    }
  }

  private static func derive(
    _ system: inout CapabilitySystem, _ model: inout CapabilityModel, _ choose: inout Choices,
    mint: Bool
  ) -> String? {
    let source = anyAddress(model, &choose)
    let destination = choose.chance(90) ? freeAddress(model, &choose) : anyAddress(model, &choose)
    let rights = Self.rights(sourceRights(model, source), &choose)
    let label: UInt64? = mint ? [0, 1, 7, .max][choose.take(4)] : nil

    let expected = Result { () throws(CapabilityError) -> (Int, Int) in
      let parent = try model.occupied(source)
      let space = try model.empty(destination)
      let held = model.caps[parent]!
      if space != held.space && !held.rights.contains(.grant) { throw .missingRights(.grant) }
      if let rights {
        let undefined = rights.rawValue & ~Rights.defined.rawValue
        if undefined != 0 { throw .undefinedRights(undefined) }
        let excess = rights.subtracting(held.rights)
        if !excess.isEmpty { throw .rightsEscalation(excess) }
      }
      if mint, let existing = held.label { throw .alreadyLabelled(existing) }
      if model.caps.count >= model.maxCapabilities { throw .tooManyCapabilities }
      try model.checkQuota(model.growthBytes(space, covering: destination.slot), space)
      return (parent, space)
    }
    let actual = Result { () throws(CapabilityError) in
      mint
        ? try system.mint(source, to: destination, rights: rights, label: label ?? 0)
        : try system.copy(source, to: destination, rights: rights)
    }
    switch (expected, actual) {
    case (.success(let (parent, space)), .success(let id)):
      let held = model.caps[parent]!
      model.add(
        .init(
          id: id, object: held.object, rights: rights ?? held.rights, label: label ?? held.label,
          parent: parent, space: space, slot: destination.slot))
      return nil
    default:
      return mismatch(mint ? "mint" : "copy", expected.map { _ in () }, actual.map { _ in () })
    }
  }

  private static func move(
    _ system: inout CapabilitySystem, _ model: inout CapabilityModel, _ choose: inout Choices
  ) -> String? {
    let source = anyAddress(model, &choose)
    let destination = choose.chance(90) ? freeAddress(model, &choose) : anyAddress(model, &choose)
    let expected = Result { () throws(CapabilityError) -> (Int, Int) in
      let key = try model.occupied(source)
      let space = try model.addressable(destination)
      if space == model.caps[key]!.space && destination.slot == source.slot {
        throw .sameSlot(source.slot)
      }
      if model.slots[space][destination.slot] != nil { throw .slotOccupied(destination.slot) }
      if space != model.caps[key]!.space && !model.caps[key]!.rights.contains(.grant) {
        throw .missingRights(.grant)
      }
      try model.checkQuota(model.growthBytes(space, covering: destination.slot), space)
      return (key, space)
    }
    let actual = Result { () throws(CapabilityError) in
      try system.move(source, to: destination)
    }
    switch (expected, actual) {
    case (.success(let (key, space)), .success):
      let cap = model.caps[key]!
      model.slots[cap.space][cap.slot] = nil
      model.spaces[space].tableSlots = model.tableSlots(space, covering: destination.slot)
      model.caps[key]!.space = space
      model.caps[key]!.slot = destination.slot
      model.slots[space][destination.slot] = key
      return nil
    default: return mismatch("move", expected.map { _ in () }, actual)
    }
  }

  private static func remove(
    _ system: inout CapabilitySystem, _ model: inout CapabilityModel, _ choose: inout Choices,
    revoke: Bool, _ revoked: inout [CapabilityID], _ destroyed: inout [ObjectID]
  ) -> String? {
    let address = anyAddress(model, &choose)
    let expected = Result { () throws(CapabilityError) -> [Int] in
      let key = try model.occupied(address)
      return revoke ? model.descendants(of: key) : [key]
    }
    let actual = Result { () throws(CapabilityError) in
      revoke ? try system.revoke(address) : try system.delete(address)
    }
    guard case .success(let keys) = expected, case .success(let removal) = actual else {
      return mismatch(
        revoke ? "revoke" : "delete", expected.map { _ in () }, actual.map { _ in () })
    }
    let before = model
    var gone: [ObjectID] = []
    for key in keys {
      if let object = model.remove(key) { gone.append(before.objects[object]!.id) }
    }
    model.reclaim()
    return checkRemoval(removal, keys: keys, gone: gone, before: before, ordered: revoke)
      ?? record(removal, revoke: revoke, &revoked, &destroyed)
  }

  private static func createSpace(
    _ system: inout CapabilitySystem, _ model: inout CapabilityModel, _ choose: inout Choices
  ) -> String? {
    let parentIndex = choose.take(model.spaces.count + 1)
    let parent = parentIndex < model.spaces.count ? model.spaces[parentIndex].id : nil
    let slotLimit = UInt64([0, 1, 2, 17, 30, 48, 49][choose.take(7)])
    let limit = model.slotBytes * UInt64(choose.take(60))
    let expected = Result { () throws(CapabilityError) -> Int? in
      let parentSpace = try parent.map { (id) throws(CapabilityError) in try model.activeSpace(id) }
      if slotLimit < 2 || slotLimit > model.maxSlotsPerSpace { throw .invalidSlotLimit(slotLimit) }
      if model.spaces.filter({ $0.state != .freed }).count >= model.maxSpaces {
        throw .tooManySpaces
      }
      if let parentSpace { try model.checkQuota(limit, parentSpace) }
      return parentSpace
    }
    let actual = Result { () throws(CapabilityError) in
      try system.createSpace(slotLimit: slotLimit, quota: limit, parent: parent)
    }
    switch (expected, actual) {
    case (.success(let parentSpace), .success(let id)):
      model.spaces.append(.init(id: id, slotLimit: slotLimit, limit: limit, parent: parentSpace))
      model.slots.append([:])
      return nil
    default: return mismatch("createSpace", expected.map { _ in () }, actual.map { _ in () })
    }
  }

  private static func destroySpace(
    _ system: inout CapabilitySystem, _ model: inout CapabilityModel, _ choose: inout Choices,
    _ destroyed: inout [ObjectID]
  ) -> String? {
    let id = model.spaces[choose.take(model.spaces.count)].id
    // Keep live spaces around, at least one, so there is somewhere to copy to.
    let active = model.spaces.filter({ $0.state == .active }).count
    guard active > 2 || (active == 2 && choose.chance(5)) else { return nil }
    let expected = Result { () throws(CapabilityError) -> Int in try model.activeSpace(id) }
    let actual = Result { () throws(CapabilityError) in try system.destroySpace(id) }
    guard case .success(let space) = expected, case .success(let removal) = actual else {
      return mismatch("destroySpace", expected.map { _ in () }, actual.map { _ in () })
    }
    let before = model
    let keys = model.slots[space].sorted { $0.key < $1.key }.map(\.value)
    var gone: [ObjectID] = []
    for key in keys {
      if let object = model.remove(key) { gone.append(before.objects[object]!.id) }
    }
    model.spaces[space].tableSlots = 0
    model.spaces[space].state = .retired
    model.reclaim()
    if removal.removed.map(\.id) != keys.map({ before.caps[$0]!.id }) {
      return "destroySpace removed the capabilities out of slot order"
    }
    var unused: [CapabilityID] = []
    return checkRemoval(removal, keys: keys, gone: gone, before: before, ordered: false)
      ?? record(removal, revoke: false, &unused, &destroyed)
  }

  // MARK: checks

  private static func mismatch<T>(
    _ operation: String, _ expected: Result<T, CapabilityError>,
    _ actual: Result<T, CapabilityError>
  ) -> String? {
    switch (expected, actual) {
    case (.success, .success): return nil
    case (.failure(let e), .failure(let a)) where e == a: return nil
    case (.failure(let e), .failure(let a)):
      return operation + " failed with " + a.description + ", the model says " + e.description
    case (.failure(let e), .success):
      return operation + " succeeded, the model says " + e.description
    case (.success, .failure(let a)):
      return operation + " failed with " + a.description + ", the model says it succeeds"
    }
  }

  /// The removal lists exactly the capabilities and objects the model
  /// removed, each once, with what they held; a revoke lists descendants
  /// before their ancestors.
  private static func checkRemoval(
    _ removal: CapabilityRemoval, keys: [Int], gone: [ObjectID], before: CapabilityModel,
    ordered: Bool
  ) -> String? {
    let expectedIDs = Set(keys.map { before.caps[$0]!.id })
    let ids = removal.removed.map(\.id)
    guard ids.count == keys.count, Set(ids) == expectedIDs else {
      return "removed \(ids.count) capabilities, the model \(keys.count)"
    }
    let keyOf = Dictionary(uniqueKeysWithValues: keys.map { (before.caps[$0]!.id, $0) })
    for (position, entry) in removal.removed.enumerated() {
      let cap = before.caps[keyOf[entry.id]!]!
      let object = before.objects[cap.object]!
      guard entry.address == before.address(of: keyOf[entry.id]!),
        entry.capability
          == Capability(object: object.id, type: object.type, rights: cap.rights, label: cap.label)
      else { return "removal record of " + entry.id.description + " is wrong" }
      if ordered, let parent = cap.parent, let parentID = before.caps[parent]?.id,
        let parentPosition = ids.firstIndex(of: parentID), parentPosition < position
      {
        return entry.id.description + " was removed after its parent"
      }
    }
    // Each destroyed object once; their order is the system's business.
    guard removal.destroyed.map(\.object.rawValue).sorted() == gone.map(\.rawValue).sorted() else {
      return
        "destroyed \(removal.destroyed.map(\.object.description)), the model \(gone.map(\.description))"
    }
    for object in removal.destroyed {
      guard let modelObject = before.objects.values.first(where: { $0.id == object.object }),
        modelObject.type == object.type, modelObject.bytes == object.bytes
      else { return "destroyed record of " + object.object.description + " is wrong" }
    }
    return nil
  }

  private static func record(
    _ removal: CapabilityRemoval, revoke: Bool, _ revoked: inout [CapabilityID],
    _ destroyed: inout [ObjectID]
  ) -> String? {
    if revoke { revoked += removal.removed.map(\.id) }
    destroyed += removal.destroyed.map(\.object)
    return nil
  }

  /// Every slot, object, count and quota of the system against the model.
  private static func compare(_ system: CapabilitySystem, _ model: CapabilityModel) -> String? {
    for (index, space) in model.spaces.enumerated() {
      guard space.state == .active else {
        if (try? system.spaceInfo(space.id)) != nil { return space.id.description + " is alive" }
        continue
      }
      guard let info = try? system.spaceInfo(space.id) else {
        return space.id.description + " is missing"
      }
      let used = model.used(index)
      guard used <= space.limit, info.quota.used == used, info.quota.limit == space.limit,
        info.tableSlots == space.tableSlots, info.occupiedSlots == model.slots[index].count
      else {
        return space.id.description + " has quota \(info.quota.used) of \(info.quota.limit), "
          + "table \(info.tableSlots), \(info.occupiedSlots) capabilities; the model \(used), "
          + "\(space.tableSlots), \(model.slots[index].count)"
      }
      guard info.parent == space.parent.map({ model.spaces[$0].id }) else {
        return space.id.description + " has parent \(String(describing: info.parent))"
      }
      for slot in 0..<space.slotLimit {
        let address = CapabilityAddress(space: space.id, slot: slot)
        let actual = Result { () throws(CapabilityError) in try system.inspect(address) }
        guard let key = model.slots[index][slot] else {
          let error: CapabilityError = slot == 0 ? .nullSlot : .emptySlot(slot)
          guard case .failure(error) = actual else {
            return address.description + " holds a capability, the model none"
          }
          continue
        }
        let cap = model.caps[key]!
        let object = model.objects[cap.object]!
        let expected = CapabilityInfo(
          id: cap.id, address: address,
          capability: Capability(
            object: object.id, type: object.type, rights: cap.rights, label: cap.label),
          parent: cap.parent.map { model.caps[$0]!.id },
          derivedFrom: cap.parent.map { model.address(of: $0) })
        guard case .success(let info) = actual, info == expected else {
          return address.description + " holds \(actual), the model " + expected.description
        }
        // Rights never grow along derivation (of the same object).
        if let parent = cap.parent, model.caps[parent]!.object == cap.object,
          !model.caps[parent]!.rights.isSuperset(of: cap.rights)
        {
          return address.description + " has more rights than its parent"
        }
      }
    }
    for object in model.objects.keys {
      let count = model.capabilityCount(of: object)
      guard count > 0, system.capabilityCount(of: model.objects[object]!.id) == count else {
        return model.objects[object]!.id.description + " has the wrong capability count"
      }
    }
    guard system.objectCount == model.objects.count, system.capabilityCount == model.caps.count,
      system.spaceCount == model.spaces.filter({ $0.state == .active }).count
    else { return "the system's counts differ from the model's" }
    return system.consistencyViolation()
  }

  // MARK: large trees

  /// A chain 100 000 capabilities deep under one capability: a recursive
  /// revoke would overflow the stack. Then a bushy tree of the same size.
  @Test func revokeOfAHundredThousandDescendants() throws {
    let count = 100_000
    var system = CapabilitySystem(maxSlotsPerSpace: 1 << 18)
    let space = try system.createSpace(slotLimit: 1 << 18, quota: .max)
    func at(_ slot: Int) -> CapabilityAddress {
      CapabilityAddress(space: space, slot: UInt64(slot))
    }
    let created = try system.createObject(.memory, bytes: 4096, at: at(1))
    for slot in 2...(count + 1) { try system.copy(at(slot - 1), to: at(slot)) }
    #expect(system.capabilityCount == count + 1)
    let chain = try system.revoke(at(1))
    #expect(chain.removed.count == count)
    #expect(chain.removed.first?.address == at(count + 1))
    #expect(chain.removed.last?.address == at(2))
    #expect(chain.destroyed.isEmpty)
    #expect(system.capabilityCount == 1 && system.capabilityCount(of: created.object) == 1)
    #expect(system.consistencyViolation() == nil)

    // Bushy: each new capability derived from a pseudo-random earlier one.
    var state: UInt64 = 0x1234_5678
    for slot in 2...(count + 1) {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      let parent = 1 + Int((state >> 33) % UInt64(slot - 1))
      try system.copy(at(parent), to: at(slot))
    }
    // Deleting a capability in the middle hands its children up, not down.
    _ = try system.delete(at(2))
    #expect(system.consistencyViolation() == nil)
    let bushy = try system.revoke(at(1))
    #expect(bushy.removed.count == count - 1)
    #expect(system.capabilityCount == 1)
    let last = try system.delete(at(1))
    #expect(last.destroyed.map(\.object) == [created.object])
    // What is left charged is the table, grown to 2^17 slots to cover slot 100 001.
    #expect(try system.quota(of: space).used == UInt64(1 << 17) * CapabilitySystem.bytesPerSlot)
    #expect(system.consistencyViolation() == nil)
  }
}
