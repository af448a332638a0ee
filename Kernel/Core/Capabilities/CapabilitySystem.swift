// The capability system of one kernel instance: its capability spaces, the
// derivation tree that spans them, the table of kernel objects the
// capabilities name, and the kernel-memory quotas. One value per kernel
// instance, so a second instance (or a restarted one) is a second value.
//
// A capability is addressed by (space, slot). The operations and what they
// need:
//
// - createObject: a new object and its original capability in an empty slot,
//   optionally derived from another capability (e.g. part of a memory range)
//   so that revoking that one removes the new object too. The destination
//   space pays the object's bytes plus Core's record of it.
// - copy / mint: a new capability in an empty slot, a child of the source in
//   the derivation tree, with the source's rights or fewer (asking for more is
//   `rightsEscalation`). Mint also sets a label, once: minting a labelled
//   capability is `alreadyLabelled`. A copy keeps the source's label.
// - move: the capability changes slot, keeping its identity and its place in
//   the tree.
// - delete: removes one capability. Its children are handed to its parent
//   (seL4's behaviour: a delegation outlives the delegator's copy), or become
//   originals when it was one. Thus every capability stays a descendant of
//   all its former ancestors, and a later revoke of any of them removes it.
// - revoke: removes every capability derived from this one, transitively,
//   and keeps this one; without recursion, in time linear in the number
//   removed (see DerivationTree).
// - destroySpace: deletes every capability of a space, as delete does.
//
// Rights: nothing is needed to copy, mint, move, delete, revoke or inspect
// within one's own space (holding the capability is enough, as in seL4).
// Copying, minting or moving into ANOTHER space (delegation, the IPC grant
// path) needs `grant` on the source. Typed operations of the kernel (map,
// send, ...) check their own rights through `capability(at:type:requiring:)`.
//
// Checks run in this order and the first failure is reported; a refused
// operation changes nothing. Copy, mint, move: source (space, slot,
// occupied), destination (space, slot, [move: not the source], empty), grant
// when crossing spaces, rights (defined bits, no escalation), label, then
// table and quota room. createObject: derivedFrom (space, slot, occupied),
// destination, defined rights, object and capability table room, quota.
//
// Kernel memory: each space has a KernelQuota in bytes (see KernelQuota).
// A destroyed space's entry stays "retired" while objects it paid for or
// child spaces it gave quota to still exist; then it is freed and its limit
// goes back to its parent.
//
// The kernel learns what to undo from the results: delete, revoke and
// destroySpace list every capability removed (descendants before ancestors)
// so it can unmap what was mapped through them and abort IPC through them,
// and every object whose last capability went, for it to destroy. An object
// is destroyed exactly when its last capability is removed; its bytes go
// back to the quota of the space that paid for them.

/// An object just created and its original capability.
public struct CreatedObject: Equatable, Sendable {
  public var object: ObjectID
  public var capability: CapabilityID
}

/// A capability a delete, revoke or space destruction removed.
public struct RemovedCapability: Equatable, Hashable, Sendable {
  public var id: CapabilityID
  /// Where it was.
  public var address: CapabilityAddress
  public var capability: Capability

  public var description: String {
    "removed " + id.description + " at " + address.description + ": " + capability.description
  }
}

/// An object whose last capability went: the kernel destroys it and frees
/// its memory. `bytes` is what its creation charged (Core's own record of
/// the object not included); it has been refunded already.
public struct DestroyedObject: Equatable, Hashable, Sendable {
  public var object: ObjectID
  public var type: ObjectType
  public var bytes: UInt64

  public var description: String {
    "destroyed " + type.description + " " + object.description + " (" + String(bytes)
      + " bytes)"
  }
}

/// What a delete, revoke or space destruction removed.
public struct CapabilityRemoval: Equatable, Sendable {
  /// Descendants before their ancestors.
  public var removed: [RemovedCapability] = []
  /// In the order their last capability went.
  public var destroyed: [DestroyedObject] = []

  public var description: String {
    String(removed.count) + " capabilities removed, " + String(destroyed.count)
      + " objects destroyed"
  }
}

/// What `inspect` tells about a capability.
public struct CapabilityInfo: Equatable, Sendable {
  public var id: CapabilityID
  public var address: CapabilityAddress
  public var capability: Capability
  /// The capability it was derived from, nil for an original.
  public var parent: CapabilityID?
  /// Where that one lives now.
  public var derivedFrom: CapabilityAddress?

  /// E.g. "slot 3: endpoint object 2.0 rw-g label 0x7 from space 0.0 slot 1".
  public var description: String {
    var text = "slot " + String(address.slot) + ": " + capability.description
    if let derivedFrom { text += " from " + derivedFrom.description }
    return text
  }
}

/// What `spaceInfo` tells about a capability space.
public struct SpaceInfo: Equatable, Sendable {
  public var id: SpaceID
  public var slotLimit: UInt64
  /// Slots the table has grown to (and was charged for).
  public var tableSlots: Int
  public var occupiedSlots: Int
  public var quota: KernelQuota
  /// The space whose quota paid for this one's, nil for a root space.
  public var parent: SpaceID?
}

public struct CapabilitySystem {
  /// No space may have more slots than this (slot numbers fit in 32 bits).
  public static let slotLimitCeiling: UInt64 = 1 << 24
  /// Kernel bytes one capability slot costs (charged as the table grows).
  public static var bytesPerSlot: UInt64 { CapabilitySpace.bytesPerSlot }
  /// Kernel bytes Core's record of one object costs, charged with the object.
  public static var objectRecordBytes: UInt64 { UInt64(MemoryLayout<ObjectRecord>.stride) }

  public let maxSpaces: Int
  public let maxObjects: Int
  public let maxSlotsPerSpace: UInt64

  /// Capability spaces that exist (destroyed ones waiting for refunds not counted).
  public private(set) var spaceCount = 0
  public private(set) var objectCount = 0
  public var capabilityCount: Int { tree.count }
  /// Counts the times a capability left a slot (deleted, revoked, moved
  /// away, its space destroyed). A cached lookup (CapabilitySlotCache) made
  /// at an earlier count may name what is gone; at the same count it still
  /// holds, since a capability's rights and label never change in place.
  public private(set) var removals: UInt64 = 0
  /// Where `removals` lies in the struct (the kernel's assembly fast path
  /// reads it through a pointer).
  public static let removalsOffset = MemoryLayout<CapabilitySystem>.offset(of: \.removals)!

  var spaces: [CapabilitySpace] = []
  private var freeSpace = DerivationTree.none
  var objects: [ObjectRecord] = []
  private var freeObject = DerivationTree.none
  var tree: DerivationTree

  /// What Core knows of one kernel object.
  struct ObjectRecord {
    var type: ObjectType
    var generation: UInt32 = 0
    var live = true
    /// Capabilities that name it.
    var capabilities = 0
    /// The space whose quota paid for it.
    var payer: UInt32
    /// The creator's bytes (Core's record not included).
    var bytes: UInt64
    var nextFree = DerivationTree.none
  }

  /// Limits are the kernel's configuration: at most UInt32.max - 1 spaces,
  /// objects and capabilities, slot limits at most `slotLimitCeiling`.
  public init(
    maxSpaces: Int = 1024, maxObjects: Int = 1 << 20, maxCapabilities: Int = 1 << 22,
    maxSlotsPerSpace: UInt64 = 1 << 16
  ) {
    let indexLimit = Int(UInt32.max - 1)
    self.maxSpaces = min(max(maxSpaces, 0), indexLimit)
    self.maxObjects = min(max(maxObjects, 0), indexLimit)
    self.maxSlotsPerSpace = min(maxSlotsPerSpace, Self.slotLimitCeiling)
    tree = DerivationTree(maxNodes: min(max(maxCapabilities, 0), indexLimit))
  }

  // MARK: Spaces

  /// A new capability space with slots 0..<slotLimit (0 is the null slot)
  /// and a kernel-memory quota of `quota` bytes. A child space's quota is
  /// charged to its parent until the child is gone; a root space (no
  /// parent) gets what the kernel gives it.
  public mutating func createSpace(slotLimit: UInt64, quota: UInt64, parent: SpaceID? = nil)
    throws(CapabilityError) -> SpaceID
  {
    var parentIndex = DerivationTree.none
    if let parent { parentIndex = UInt32(try spaceIndex(parent)) }
    guard slotLimit >= 2, slotLimit <= maxSlotsPerSpace else {
      throw .invalidSlotLimit(slotLimit)
    }
    guard freeSpace != DerivationTree.none || spaces.count < maxSpaces else {
      throw .tooManySpaces
    }
    if parentIndex != DerivationTree.none {
      try charge(quota, to: Int(parentIndex))
      spaces[Int(parentIndex)].children += 1
    }
    let index: UInt32
    if freeSpace != DerivationTree.none {
      index = freeSpace
      freeSpace = spaces[Int(index)].nextFree
      spaces[Int(index)] = CapabilitySpace(
        generation: spaces[Int(index)].generation, slotLimit: slotLimit, quota: quota,
        parent: parentIndex)
    } else {
      index = UInt32(spaces.count)
      spaces.append(
        CapabilitySpace(generation: 0, slotLimit: slotLimit, quota: quota, parent: parentIndex))
    }
    spaceCount += 1
    return spaceID(Int(index))
  }

  /// Deletes every capability of the space (as `delete` does, so what was
  /// derived from them in other spaces survives under their parents), gives
  /// back its table and destroys it. Its quota lives on until the objects it
  /// paid for and its child spaces are gone; then the parent gets it back.
  public mutating func destroySpace(_ id: SpaceID) throws(CapabilityError) -> CapabilityRemoval {
    let index = try spaceIndex(id)
    var removal = CapabilityRemoval()
    var slot = 1
    while slot < spaces[index].slots.count {
      let node = spaces[index].slots[slot]
      if node != DerivationTree.none { removeCapability(node, into: &removal) }
      slot += 1
    }
    let tableBytes = UInt64(spaces[index].slots.count) * CapabilitySpace.bytesPerSlot
    spaces[index].slots = []
    spaces[index].state = .retired
    spaceCount -= 1
    refund(tableBytes, to: index)
    return removal
  }

  public func spaceInfo(_ id: SpaceID) throws(CapabilityError) -> SpaceInfo {
    let space = spaces[try spaceIndex(id)]
    return SpaceInfo(
      id: id, slotLimit: space.slotLimit, tableSlots: space.slots.count,
      occupiedSlots: space.occupied, quota: space.quota,
      parent: space.parent == DerivationTree.none ? nil : spaceID(Int(space.parent)))
  }

  public func quota(of id: SpaceID) throws(CapabilityError) -> KernelQuota {
    spaces[try spaceIndex(id)].quota
  }

  /// The lowest empty slot (above the null slot), e.g. to receive a
  /// capability into; `spaceFull` when there is none. O(slots).
  public func firstFreeSlot(in id: SpaceID) throws(CapabilityError) -> UInt64 {
    guard let slot = spaces[try spaceIndex(id)].firstFreeSlot() else { throw .spaceFull }
    return slot
  }

  /// The slots that hold a capability, in ascending order.
  public func occupiedSlots(in id: SpaceID) throws(CapabilityError) -> [UInt64] {
    let space = spaces[try spaceIndex(id)]
    var slots: [UInt64] = []
    for (slot, node) in space.slots.enumerated() where node != DerivationTree.none {
      slots.append(UInt64(slot))
    }
    return slots
  }

  // MARK: Objects

  /// A new object of `type` whose original capability goes into the empty
  /// slot `destination`, with `rights` (default: the type's defaultRights).
  /// With `derivedFrom`, that capability becomes the original's parent, so
  /// revoking it (or an ancestor) destroys the new object. The destination's
  /// space pays `bytes` plus `objectRecordBytes`, and any table growth.
  public mutating func createObject(
    _ type: ObjectType, bytes: UInt64, at destination: CapabilityAddress,
    rights: Rights? = nil, derivedFrom: CapabilityAddress? = nil
  ) throws(CapabilityError) -> CreatedObject {
    var parent = DerivationTree.none
    if let derivedFrom { parent = try occupiedNode(derivedFrom).node }
    let space = try emptyDestination(destination)
    let rights = rights ?? type.defaultRights
    try checkDefined(rights)
    guard freeObject != DerivationTree.none || objects.count < maxObjects else {
      throw .tooManyObjects
    }
    guard !tree.isFull else { throw .tooManyCapabilities }
    let growth = spaces[space].growthBytes(covering: destination.slot)
    let (objectCharge, overflow1) = bytes.addingReportingOverflow(Self.objectRecordBytes)
    let (total, overflow2) = objectCharge.addingReportingOverflow(growth)
    guard !overflow1, !overflow2 else {
      throw .quotaExhausted(needed: .max, available: spaces[space].quota.available)
    }
    try charge(total, to: space)
    spaces[space].grow(covering: destination.slot)

    let record = ObjectRecord(type: type, payer: UInt32(space), bytes: bytes)
    let objectIndex: UInt32
    if freeObject != DerivationTree.none {
      objectIndex = freeObject
      freeObject = objects[Int(objectIndex)].nextFree
      let generation = objects[Int(objectIndex)].generation
      objects[Int(objectIndex)] = record
      objects[Int(objectIndex)].generation = generation
    } else {
      objectIndex = UInt32(objects.count)
      objects.append(record)
    }
    objectCount += 1
    let object = ObjectID(index: objectIndex, generation: objects[Int(objectIndex)].generation)
    let capability = Capability(object: object, type: type, rights: rights)
    let id = place(capability, at: space, slot: destination.slot, parent: parent)
    return CreatedObject(object: object, capability: id)
  }

  /// How many capabilities name `object`; nil when it does not exist (any more).
  public func capabilityCount(of object: ObjectID) -> Int? {
    let index = Int(object.index)
    guard index < objects.count, objects[index].live,
      objects[index].generation == object.generation
    else { return nil }
    return objects[index].capabilities
  }

  // MARK: Capability operations

  /// A copy of `source` in the empty slot `destination` with `rights`
  /// (default: the source's), a child of the source. Another space as
  /// destination needs `grant` on the source.
  @discardableResult
  public mutating func copy(
    _ source: CapabilityAddress, to destination: CapabilityAddress, rights: Rights? = nil
  ) throws(CapabilityError) -> CapabilityID {
    try derive(source, to: destination, rights: rights, label: nil)
  }

  /// A copy that carries `label`. The source must have no label yet.
  @discardableResult
  public mutating func mint(
    _ source: CapabilityAddress, to destination: CapabilityAddress, rights: Rights? = nil,
    label: UInt64
  ) throws(CapabilityError) -> CapabilityID {
    try derive(source, to: destination, rights: rights, label: label)
  }

  /// Moves the capability in `source` to the empty slot `destination`; it
  /// keeps its ID, rights, label and place in the derivation tree. Another
  /// space as destination needs `grant`.
  public mutating func move(_ source: CapabilityAddress, to destination: CapabilityAddress)
    throws(CapabilityError)
  {
    let (sourceSpace, node) = try occupiedNode(source)
    let space = try addressableSpace(destination)
    if space == sourceSpace && destination.slot == source.slot {
      throw .sameSlot(source.slot)
    }
    guard spaces[space].node(at: destination.slot) == DerivationTree.none else {
      throw .slotOccupied(destination.slot)
    }
    let capability = tree.entry(node).capability
    if space != sourceSpace && !capability.rights.contains(.grant) { throw .missingRights(.grant) }
    try charge(spaces[space].growthBytes(covering: destination.slot), to: space)
    spaces[space].grow(covering: destination.slot)
    spaces[sourceSpace].slots[Int(source.slot)] = DerivationTree.none
    spaces[sourceSpace].occupied -= 1
    removals &+= 1
    spaces[space].slots[Int(destination.slot)] = node
    spaces[space].occupied += 1
    tree.setLocation(of: node, space: UInt32(space), slot: UInt32(destination.slot))
  }

  /// Removes the capability in `address`; what was derived from it stays,
  /// under its parent. The object goes when this was its last capability.
  public mutating func delete(_ address: CapabilityAddress) throws(CapabilityError)
    -> CapabilityRemoval
  {
    var removal = CapabilityRemoval()
    try delete(address, into: &removal)
    return removal
  }

  /// As `delete`, appending to `removal` (a kernel reuses one, so the
  /// common path allocates nothing).
  public mutating func delete(_ address: CapabilityAddress, into removal: inout CapabilityRemoval)
    throws(CapabilityError)
  {
    let node = try occupiedNode(address).node
    removeCapability(node, into: &removal)
  }

  /// Where every capability that names `object` is, in every space.
  public func addresses(of object: ObjectID) -> [CapabilityAddress] {
    var found: [CapabilityAddress] = []
    for index in tree.nodes.indices
    where tree.nodes[index].inUse && tree.nodes[index].entry.capability.object == object {
      found.append(address(ofNode: UInt32(index)))
    }
    return found
  }

  /// Removes every capability that names `object`, in every space, wherever
  /// it was copied to (what was derived from them as other objects stays,
  /// under their parents, like `delete`): the object goes. For a kernel
  /// that must take back what it handed out, whoever holds it now.
  public mutating func removeAll(of object: ObjectID, into removal: inout CapabilityRemoval) {
    for address in addresses(of: object) {
      try? delete(address, into: &removal)
    }
  }

  /// Removes every capability derived from the one in `address`,
  /// transitively, in every space, and keeps that one. Iterative: descend to
  /// a leaf, remove it, go back to its parent; linear in the number removed.
  public mutating func revoke(_ address: CapabilityAddress) throws(CapabilityError)
    -> CapabilityRemoval
  {
    var removal = CapabilityRemoval()
    try revoke(address, into: &removal)
    return removal
  }

  /// As `revoke`, appending to `removal`.
  public mutating func revoke(_ address: CapabilityAddress, into removal: inout CapabilityRemoval)
    throws(CapabilityError)
  {
    let root = try occupiedNode(address).node
    var cursor = root
    while true {
      let child = tree.firstChild(of: cursor)
      if child != DerivationTree.none {
        cursor = child
        continue
      }
      if cursor == root { break }
      let parent = tree.parent(of: cursor)
      removeCapability(cursor, into: &removal)
      cursor = parent
    }
  }

  /// The capability in `address` with its identity and parent.
  public func inspect(_ address: CapabilityAddress) throws(CapabilityError) -> CapabilityInfo {
    let node = try occupiedNode(address).node
    let parent = tree.parent(of: node)
    var info = CapabilityInfo(
      id: tree.id(of: node), address: address, capability: tree.entry(node).capability)
    if parent != DerivationTree.none {
      info.parent = tree.id(of: parent)
      info.derivedFrom = self.address(ofNode: parent)
    }
    return info
  }

  /// The capability in `address` when it names an object of `type` and holds
  /// at least `rights`: the check in front of every typed kernel operation.
  public func capability(
    at address: CapabilityAddress, type: ObjectType, requiring rights: Rights = []
  ) throws(CapabilityError) -> Capability {
    try identifiedCapability(at: address, type: type, requiring: rights).capability
  }

  /// As `capability(at:type:requiring:)`, with the capability's identity,
  /// for operations the kernel must undo when that capability goes (a
  /// mapping, a blocked IPC).
  public func identifiedCapability(
    at address: CapabilityAddress, type: ObjectType, requiring rights: Rights = []
  ) throws(CapabilityError) -> (id: CapabilityID, capability: Capability) {
    let node = try occupiedNode(address).node
    let capability = tree.entry(node).capability
    guard capability.type == type else { throw .wrongType(expected: type, found: capability.type) }
    let missing = rights.subtracting(capability.rights)
    guard missing.isEmpty else { throw .missingRights(missing) }
    return (tree.id(of: node), capability)
  }

  /// Where the capability `id` lives now; nil once it was removed.
  public func address(of id: CapabilityID) -> CapabilityAddress? {
    guard let node = tree.node(for: id) else { return nil }
    return address(ofNode: node)
  }

  // MARK: Internals

  private func spaceID(_ index: Int) -> SpaceID {
    SpaceID(index: UInt32(index), generation: spaces[index].generation)
  }

  private func address(ofNode node: UInt32) -> CapabilityAddress {
    let entry = tree.entry(node)
    return CapabilityAddress(space: spaceID(Int(entry.space)), slot: UInt64(entry.slot))
  }

  /// The index of a live space, or `invalidSpace`.
  private func spaceIndex(_ id: SpaceID) throws(CapabilityError) -> Int {
    let index = Int(id.index)
    guard index < spaces.count, spaces[index].state == .active,
      spaces[index].generation == id.generation
    else { throw .invalidSpace(id) }
    return index
  }

  /// The space of an address whose slot may be read or written.
  private func addressableSpace(_ address: CapabilityAddress) throws(CapabilityError) -> Int {
    let space = try spaceIndex(address.space)
    guard address.slot != 0 else { throw .nullSlot }
    guard address.slot < spaces[space].slotLimit else { throw .invalidSlot(address.slot) }
    return space
  }

  private func occupiedNode(_ address: CapabilityAddress) throws(CapabilityError) -> (
    space: Int, node: UInt32
  ) {
    let space = try addressableSpace(address)
    let node = spaces[space].node(at: address.slot)
    guard node != DerivationTree.none else { throw .emptySlot(address.slot) }
    return (space, node)
  }

  private func emptyDestination(_ address: CapabilityAddress) throws(CapabilityError) -> Int {
    let space = try addressableSpace(address)
    guard spaces[space].node(at: address.slot) == DerivationTree.none else {
      throw .slotOccupied(address.slot)
    }
    return space
  }

  private func checkDefined(_ rights: Rights) throws(CapabilityError) {
    let undefined = rights.rawValue & ~Rights.defined.rawValue
    guard undefined == 0 else { throw .undefinedRights(undefined) }
  }

  /// Copy and mint: `label` nil keeps the source's label.
  private mutating func derive(
    _ source: CapabilityAddress, to destination: CapabilityAddress, rights: Rights?,
    label: UInt64?
  ) throws(CapabilityError) -> CapabilityID {
    let (sourceSpace, parent) = try occupiedNode(source)
    let space = try emptyDestination(destination)
    var capability = tree.entry(parent).capability
    if space != sourceSpace && !capability.rights.contains(.grant) {
      throw .missingRights(.grant)
    }
    if let rights {
      try checkDefined(rights)
      let excess = rights.subtracting(capability.rights)
      guard excess.isEmpty else { throw .rightsEscalation(excess) }
      capability.rights = rights
    }
    if let label {
      if let existing = capability.label { throw .alreadyLabelled(existing) }
      capability.label = label
    }
    guard !tree.isFull else { throw .tooManyCapabilities }
    try charge(spaces[space].growthBytes(covering: destination.slot), to: space)
    spaces[space].grow(covering: destination.slot)
    return place(capability, at: space, slot: destination.slot, parent: parent)
  }

  /// Puts a new capability into an empty slot of a grown table. The caller
  /// has checked that the tree has room.
  private mutating func place(_ capability: Capability, at space: Int, slot: UInt64, parent: UInt32)
    -> CapabilityID
  {
    let entry = DerivationTree.Entry(
      capability: capability, space: UInt32(space), slot: UInt32(slot))
    // Checked by the caller; a full tree here would be a bug, not a trap.
    guard let node = tree.insert(entry, parent: parent) else { return CapabilityID(rawValue: 0) }
    spaces[space].slots[Int(slot)] = node
    spaces[space].occupied += 1
    objects[Int(capability.object.index)].capabilities += 1
    return tree.id(of: node)
  }

  /// Removes one capability (its children go to its parent), records it,
  /// and destroys its object when this was the last capability to it.
  private mutating func removeCapability(_ node: UInt32, into removal: inout CapabilityRemoval) {
    let id = tree.id(of: node)
    let entry = tree.remove(node)
    let space = Int(entry.space)
    spaces[space].slots[Int(entry.slot)] = DerivationTree.none
    spaces[space].occupied -= 1
    removals &+= 1
    removal.removed.append(
      RemovedCapability(
        id: id, address: CapabilityAddress(space: spaceID(space), slot: UInt64(entry.slot)),
        capability: entry.capability))
    let object = Int(entry.capability.object.index)
    objects[object].capabilities -= 1
    guard objects[object].capabilities == 0 else { return }
    let record = objects[object]
    removal.destroyed.append(
      DestroyedObject(object: entry.capability.object, type: record.type, bytes: record.bytes))
    objects[object].live = false
    objects[object].generation &+= 1
    objects[object].nextFree = freeObject
    freeObject = UInt32(object)
    objectCount -= 1
    refund(record.bytes + Self.objectRecordBytes, to: Int(record.payer))
  }

  private mutating func charge(_ bytes: UInt64, to space: Int) throws(CapabilityError) {
    do throws(QuotaError) {
      try spaces[space].quota.charge(bytes)
    } catch {
      throw .quotaExhausted(needed: bytes, available: spaces[space].quota.available)
    }
  }

  /// Gives bytes back to a space's quota. A retired space that owes nothing
  /// and has no child spaces left is freed, and its limit refunded to its
  /// parent, up the chain.
  private mutating func refund(_ bytes: UInt64, to space: Int) {
    var index = space
    var amount = bytes
    while true {
      // Only a bookkeeping bug could refund more than was charged;
      // consistencyViolation reports it, the kernel carries on.
      try? spaces[index].quota.refund(amount)
      guard spaces[index].state == .retired, spaces[index].quota.used == 0,
        spaces[index].children == 0
      else { return }
      let parent = spaces[index].parent
      amount = spaces[index].quota.limit
      spaces[index].state = .free
      spaces[index].generation &+= 1
      spaces[index].nextFree = freeSpace
      freeSpace = UInt32(index)
      guard parent != DerivationTree.none else { return }
      index = Int(parent)
      spaces[index].children -= 1
    }
  }
}

// MARK: Consistency

extension CapabilitySystem {
  /// A description of the first broken invariant, or nil. Checks the tree's
  /// links; that every capability sits in the slot it records, in a live
  /// space, naming a live object of its type; that a capability derived
  /// from another to the same object has no right its parent lacks and keeps
  /// its label; the capability counts of objects and slots; and that every
  /// quota in use equals its table, the objects it paid for and the limits
  /// of its child spaces. O(everything): for tests and debugging.
  public func consistencyViolation() -> String? {
    if let violation = tree.linkViolation() { return violation }
    var objectCaps = [Int](repeating: 0, count: objects.count)
    var occupied = [Int](repeating: 0, count: spaces.count)
    for (index, node) in tree.nodes.enumerated() where node.inUse {
      let entry = node.entry
      let name = "capability " + String(index)
      guard Int(entry.space) < spaces.count, spaces[Int(entry.space)].state == .active,
        spaces[Int(entry.space)].node(at: UInt64(entry.slot)) == UInt32(index)
      else { return name + " is not in the slot it records" }
      occupied[Int(entry.space)] += 1
      let object = Int(entry.capability.object.index)
      guard object < objects.count, objects[object].live,
        objects[object].generation == entry.capability.object.generation,
        objects[object].type == entry.capability.type
      else { return name + " names a dead or mistyped object" }
      objectCaps[object] += 1
      if node.parent != DerivationTree.none {
        let parent = tree.entry(node.parent).capability
        if parent.object == entry.capability.object {
          guard parent.rights.isSuperset(of: entry.capability.rights) else {
            return name + " has rights its parent lacks"
          }
          if let label = parent.label, entry.capability.label != label {
            return name + " lost its parent's label"
          }
        }
      }
    }
    var charged = [UInt64](repeating: 0, count: spaces.count)
    var live = 0
    for (index, record) in objects.enumerated() where record.live {
      live += 1
      guard record.capabilities == objectCaps[index], record.capabilities > 0 else {
        return "object " + String(index) + " counts " + String(record.capabilities)
          + " capabilities, has " + String(objectCaps[index])
      }
      guard Int(record.payer) < spaces.count, spaces[Int(record.payer)].state != .free else {
        return "object " + String(index) + " was paid by a freed space"
      }
      charged[Int(record.payer)] += record.bytes + Self.objectRecordBytes
    }
    guard live == objectCount else { return "objectCount is wrong" }
    var active = 0
    var children = [Int](repeating: 0, count: spaces.count)
    for space in spaces where space.state != .free && space.parent != DerivationTree.none {
      children[Int(space.parent)] += 1
    }
    for (index, space) in spaces.enumerated() where space.state != .free {
      guard space.children == children[index] else {
        return "space " + String(index) + " counts the wrong number of child spaces"
      }
      if space.state == .active { active += 1 }
      guard space.occupied == occupied[index] else {
        return "space " + String(index) + " counts the wrong number of capabilities"
      }
      guard space.state == .active || space.slots.isEmpty else {
        return "retired space " + String(index) + " still has slots"
      }
      charged[index] += UInt64(space.slots.count) * CapabilitySpace.bytesPerSlot
      if space.parent != DerivationTree.none {
        guard spaces[Int(space.parent)].state != .free else {
          return "space " + String(index) + " has a freed parent"
        }
        charged[Int(space.parent)] += space.quota.limit
      }
    }
    guard active == spaceCount else { return "spaceCount is wrong" }
    for (index, space) in spaces.enumerated() where space.state != .free {
      guard space.quota.used == charged[index] else {
        return "space " + String(index) + " quota uses " + String(space.quota.used)
          + " bytes, charges add up to " + String(charged[index])
      }
      guard space.state == .active || space.quota.used > 0 || space.children > 0 else {
        return "retired space " + String(index) + " owes nothing but was not freed"
      }
    }
    return nil
  }
}
