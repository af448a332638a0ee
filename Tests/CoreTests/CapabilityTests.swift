import Testing

@testable import TesseraCore

private let slotBytes = CapabilitySystem.bytesPerSlot
private let recordBytes = CapabilitySystem.objectRecordBytes

/// A system with one root space (64 slots, 64 KiB) and helpers to address it.
private struct Fixture {
  var system = CapabilitySystem(maxSlotsPerSpace: 1024)
  let root: SpaceID

  init(quota: UInt64 = 64 * 1024) {
    root = try! system.createSpace(slotLimit: 64, quota: quota)
  }

  func at(_ slot: UInt64, _ space: SpaceID? = nil) -> CapabilityAddress {
    CapabilityAddress(space: space ?? root, slot: slot)
  }

  mutating func space(slots: UInt64 = 64, quota: UInt64 = 16 * 1024) -> SpaceID {
    try! system.createSpace(slotLimit: slots, quota: quota, parent: root)
  }

  @discardableResult
  mutating func object(_ type: ObjectType, at slot: UInt64, bytes: UInt64 = 100) -> CreatedObject {
    try! system.createObject(type, bytes: bytes, at: at(slot))
  }

  func info(_ address: CapabilityAddress) -> CapabilityInfo? { try? system.inspect(address) }
  func rights(_ address: CapabilityAddress) -> Rights? { info(address)?.capability.rights }
  func used(_ space: SpaceID? = nil) -> UInt64 { try! system.quota(of: space ?? root).used }
  func violation() -> String? { system.consistencyViolation() }
}

/// What an operation threw, nil when it succeeded. (Untyped, because
/// `#expect` rewrites the closure's calls and loses the typed throw.)
private func failure<T>(_ body: () throws -> T) -> CapabilityError? {
  do {
    _ = try body()
    return nil
  } catch let error as CapabilityError {
    return error
  } catch {
    Issue.record("unexpected error \(error)")
    return nil
  }
}

@Suite struct CapabilityTests {
  // MARK: values

  @Test func typesDecodeFromRawValuesAndUnknownOnesAreErrors() {
    for type in ObjectType.allCases {
      #expect(ObjectType.decode(UInt64(type.rawValue)) == .success(type))
    }
    #expect(ObjectType.decode(0) == .failure(.unknownObjectType(0)))
    #expect(ObjectType.decode(9) == .failure(.unknownObjectType(9)))
    #expect(ObjectType.decode(256 + 1) == .failure(.unknownObjectType(257)))
    #expect(ObjectType.decode(.max) == .failure(.unknownObjectType(.max)))
    #expect(ObjectType.memory.defaultRights == [.read, .write, .execute, .grant])
    #expect(ObjectType.endpoint.defaultRights == [.read, .write, .grant])
  }

  @Test func rightsDescribeThemselves() {
    #expect(Rights([.read, .write, .grant]).description == "rw-g")
    #expect(Rights().description == "----")
    #expect(Rights([.execute, .objectSpecific(0), .objectSpecific(3)]).description == "--x- s0,3")
    #expect(Rights.objectSpecific(7).rawValue == 0x8000)
    #expect(Rights.objectSpecific(8).isEmpty && Rights.objectSpecific(-1).isEmpty)
    #expect(Rights(rawValue: 0x10001).description == "r--- ?0x0000000000010000")
  }

  @Test func identitiesAndCapabilitiesDescribeThemselves() {
    let object = ObjectID(index: 3, generation: 1)
    #expect(object.description == "object 3.1")
    #expect(object.rawValue == 1 << 32 | 3)
    #expect(SpaceID(index: 2, generation: 5).description == "space 2.5")
    let capability = Capability(object: object, type: .endpoint, rights: [.write], label: 42)
    #expect(capability.description == "endpoint object 3.1 -w-- label 0x2a")
    #expect(
      CapabilityError.quotaExhausted(needed: 100, available: 7).description
        == "kernel memory quota exhausted: 100 bytes needed, 7 available")
    #expect(
      CapabilityError.wrongType(expected: .memory, found: .thread).description
        == "expected a capability to memory, found thread")
  }

  // MARK: creating objects

  @Test func createdObjectsGetAnOriginalWithDefaultRights() throws {
    var f = Fixture()
    let created = f.object(.endpoint, at: 1, bytes: 200)
    let info = try #require(f.info(f.at(1)))
    #expect(
      info.capability
        == Capability(object: created.object, type: .endpoint, rights: [.read, .write, .grant]))
    #expect(info.id == created.capability && info.parent == nil && info.derivedFrom == nil)
    #expect(info.description == "slot 1: endpoint object 0.0 rw-g")
    #expect(f.system.capabilityCount(of: created.object) == 1)
    #expect(f.system.objectCount == 1 && f.system.capabilityCount == 1)
    // The first use grows the table to 16 slots; the object costs its bytes and Core's record.
    #expect(f.used() == 16 * slotBytes + 200 + recordBytes)
    let fewer = try f.system.createObject(.memory, bytes: 0, at: f.at(2), rights: [.read])
    #expect(f.rights(f.at(2)) == [.read])
    #expect(f.system.capabilityCount(of: fewer.object) == 1)
    #expect(f.violation() == nil)
  }

  @Test func objectsCanBeDerivedFromACapability() throws {
    var f = Fixture()
    let range = f.object(.memory, at: 1)
    let part = try f.system.createObject(.memory, bytes: 10, at: f.at(2), derivedFrom: f.at(1))
    let info = try #require(f.info(f.at(2)))
    #expect(info.parent == range.capability && info.derivedFrom == f.at(1))
    #expect(info.capability.object == part.object && part.object != range.object)
    // Revoking the range destroys the part; the range itself stays.
    let removal = try f.system.revoke(f.at(1))
    #expect(removal.removed.map(\.id) == [part.capability])
    #expect(removal.destroyed == [DestroyedObject(object: part.object, type: .memory, bytes: 10)])
    #expect(f.system.capabilityCount(of: part.object) == nil)
    #expect(f.system.capabilityCount(of: range.object) == 1)
    #expect(f.violation() == nil)
  }

  @Test func removeAllTakesEveryCapabilityOfAnObjectWhereverItWent() throws {
    var f = Fixture()
    let other = f.space()
    let third = f.space()
    let endpoint = f.object(.sendEndpoint, at: 1)
    let unrelated = f.object(.sendEndpoint, at: 2)
    try f.system.copy(f.at(1), to: f.at(3, other))
    try f.system.copy(f.at(3, other), to: f.at(4, third))
    // The original goes first; the copies stay, re-parented, until now.
    _ = try f.system.delete(f.at(1))
    #expect(Set(f.system.addresses(of: endpoint.object)) == [f.at(3, other), f.at(4, third)])
    var removal = CapabilityRemoval()
    f.system.removeAll(of: endpoint.object, into: &removal)
    #expect(removal.removed.count == 2)
    #expect(removal.destroyed.map(\.object) == [endpoint.object])
    #expect(f.system.capabilityCount(of: endpoint.object) == nil)
    #expect(f.system.addresses(of: endpoint.object).isEmpty)
    #expect(f.system.capabilityCount(of: unrelated.object) == 1)
    #expect(f.violation() == nil)
  }

  @Test func creationErrors() {
    var f = Fixture()
    f.object(.thread, at: 1)
    let before = f.used()
    #expect(
      failure { try f.system.createObject(.thread, bytes: 1, at: f.at(1)) } == .slotOccupied(1))
    #expect(failure { try f.system.createObject(.thread, bytes: 1, at: f.at(0)) } == .nullSlot)
    #expect(
      failure { try f.system.createObject(.thread, bytes: 1, at: f.at(64)) } == .invalidSlot(64))
    #expect(
      failure {
        try f.system.createObject(.thread, bytes: 1, at: f.at(2), rights: Rights(rawValue: 0x30))
      }
        == .undefinedRights(0x30))
    #expect(
      failure { try f.system.createObject(.thread, bytes: 1, at: f.at(2), derivedFrom: f.at(5)) }
        == .emptySlot(5))
    let available = 64 * 1024 - before
    #expect(
      failure { try f.system.createObject(.thread, bytes: available, at: f.at(2)) }
        == .quotaExhausted(needed: available + recordBytes, available: available))
    #expect(
      failure { try f.system.createObject(.thread, bytes: .max - 1, at: f.at(2)) }
        == .quotaExhausted(needed: .max, available: available))
    #expect(f.used() == before && f.system.objectCount == 1)
    // Exactly what is left is fine.
    #expect(
      failure { try f.system.createObject(.thread, bytes: available - recordBytes, at: f.at(2)) }
        == nil)
    #expect(f.used() == 64 * 1024)
    #expect(f.violation() == nil)
  }

  @Test func objectAndCapabilityTablesHaveLimits() {
    var system = CapabilitySystem(maxObjects: 2, maxCapabilities: 3)
    let space = try! system.createSpace(slotLimit: 16, quota: 1 << 20)
    let at = { (slot: UInt64) in CapabilityAddress(space: space, slot: slot) }
    #expect(failure { try system.createObject(.console, bytes: 0, at: at(1)) } == nil)
    #expect(failure { try system.createObject(.console, bytes: 0, at: at(2)) } == nil)
    #expect(failure { try system.createObject(.console, bytes: 0, at: at(3)) } == .tooManyObjects)
    #expect(failure { try system.copy(at(1), to: at(3)) } == nil)
    #expect(failure { try system.copy(at(1), to: at(4)) } == .tooManyCapabilities)
    #expect(failure { try system.mint(at(1), to: at(4), label: 1) } == .tooManyCapabilities)
    // Destroying an object frees its entries for reuse, with a new generation.
    let old = try! system.inspect(at(2)).capability.object
    _ = try! system.delete(at(2))
    let reused = try! system.createObject(.console, bytes: 0, at: at(2))
    #expect(reused.object.index == old.index && reused.object != old)
    #expect(system.capabilityCount(of: old) == nil)
    #expect(system.consistencyViolation() == nil)
  }

  // MARK: copy and mint

  @Test func copiesHaveTheSourcesRightsOrFewer() throws {
    var f = Fixture()
    let original = f.object(.memory, at: 1)
    let same = try f.system.copy(f.at(1), to: f.at(2))
    #expect(f.rights(f.at(2)) == [.read, .write, .execute, .grant])
    let readOnly = try f.system.copy(f.at(2), to: f.at(3), rights: [.read])
    let info = try #require(f.info(f.at(3)))
    #expect(info.capability.rights == [.read] && info.parent == same && info.derivedFrom == f.at(2))
    #expect(info.id == readOnly)
    #expect(f.info(f.at(2))?.parent == original.capability)
    try f.system.copy(f.at(3), to: f.at(4), rights: [])
    #expect(f.rights(f.at(4)) == [])
    #expect(f.system.capabilityCount(of: original.object) == 4)
    #expect(f.violation() == nil)
  }

  @Test func copyErrors() {
    var f = Fixture()
    f.object(.memory, at: 1)
    try! f.system.copy(f.at(1), to: f.at(2), rights: [.read, .write])
    let before = f.used()
    #expect(
      failure { try f.system.copy(f.at(2), to: f.at(3), rights: [.read, .execute]) }
        == .rightsEscalation(.execute))
    #expect(
      failure { try f.system.copy(f.at(2), to: f.at(3), rights: Rights(rawValue: 1 << 40)) }
        == .undefinedRights(1 << 40))
    #expect(
      failure { try f.system.copy(f.at(2), to: f.at(3), rights: [.read, .objectSpecific(2)]) }
        == .rightsEscalation(.objectSpecific(2)))
    #expect(failure { try f.system.copy(f.at(5), to: f.at(3)) } == .emptySlot(5))
    #expect(failure { try f.system.copy(f.at(0), to: f.at(3)) } == .nullSlot)
    #expect(failure { try f.system.copy(f.at(1), to: f.at(0)) } == .nullSlot)
    #expect(failure { try f.system.copy(f.at(.max), to: f.at(3)) } == .invalidSlot(.max))
    #expect(failure { try f.system.copy(f.at(1), to: f.at(64)) } == .invalidSlot(64))
    #expect(failure { try f.system.copy(f.at(1), to: f.at(1)) } == .slotOccupied(1))
    #expect(failure { try f.system.copy(f.at(1), to: f.at(2)) } == .slotOccupied(2))
    let nowhere = CapabilityAddress(space: SpaceID(rawValue: 77), slot: 1)
    #expect(
      failure { try f.system.copy(nowhere, to: f.at(3)) } == .invalidSpace(SpaceID(rawValue: 77)))
    #expect(
      failure { try f.system.copy(f.at(1), to: nowhere) } == .invalidSpace(SpaceID(rawValue: 77)))
    #expect(f.used() == before && f.system.capabilityCount == 2)
    #expect(f.violation() == nil)
  }

  @Test func mintSetsALabelOnce() throws {
    var f = Fixture()
    f.object(.endpoint, at: 1)
    try f.system.mint(f.at(1), to: f.at(2), rights: [.write], label: 0x2A)
    let minted = try #require(f.info(f.at(2)))
    #expect(minted.capability.label == 0x2A && minted.capability.rights == [.write])
    #expect(
      minted.description == "slot 2: endpoint object 0.0 -w-- label 0x2a from space 0.0 slot 1")
    // A copy keeps the label; a second mint is refused.
    try f.system.copy(f.at(2), to: f.at(3))
    #expect(f.info(f.at(3))?.capability.label == 0x2A)
    #expect(failure { try f.system.mint(f.at(2), to: f.at(4), label: 7) } == .alreadyLabelled(0x2A))
    #expect(
      failure { try f.system.mint(f.at(3), to: f.at(4), label: 0x2A) } == .alreadyLabelled(0x2A))
    // Zero and all-ones are labels like any other.
    try f.system.mint(f.at(1), to: f.at(4), label: 0)
    try f.system.mint(f.at(1), to: f.at(5), label: .max)
    #expect(f.info(f.at(4))?.capability.label == 0 && f.info(f.at(5))?.capability.label == .max)
    #expect(
      failure { try f.system.mint(f.at(1), to: f.at(6), rights: [.execute], label: 1) }
        == .rightsEscalation(.execute))
    #expect(f.violation() == nil)
  }

  @Test func handingACapabilityToAnotherSpaceNeedsGrant() throws {
    var f = Fixture()
    let other = f.space()
    f.object(.endpoint, at: 1)
    try f.system.copy(f.at(1), to: f.at(2), rights: [.write])
    #expect(failure { try f.system.copy(f.at(2), to: f.at(1, other)) } == .missingRights(.grant))
    #expect(
      failure { try f.system.mint(f.at(2), to: f.at(1, other), label: 3) } == .missingRights(.grant)
    )
    #expect(failure { try f.system.move(f.at(2), to: f.at(1, other)) } == .missingRights(.grant))
    // Without grant, the capability can still be copied within its own space.
    #expect(failure { try f.system.copy(f.at(2), to: f.at(3)) } == nil)
    // With grant it can go, and the receiver's table is charged to the receiver.
    let rootUsed = f.used()
    try f.system.mint(f.at(1), to: f.at(5, other), rights: [.write], label: 9)
    #expect(f.used() == rootUsed)
    #expect(f.used(other) == 16 * slotBytes)
    #expect(f.info(f.at(5, other))?.derivedFrom == f.at(1))
    // Grant is not required to hold on: the delegate may get it or not.
    #expect(failure { try f.system.copy(f.at(5, other), to: f.at(10)) } == .missingRights(.grant))
    #expect(f.violation() == nil)
  }

  // MARK: move

  @Test func moveKeepsIdentityAndPlaceInTheTree() throws {
    var f = Fixture()
    let other = f.space()
    f.object(.memory, at: 1)
    let child = try f.system.copy(f.at(1), to: f.at(2))
    let grandchild = try f.system.copy(f.at(2), to: f.at(3), rights: [.read])
    try f.system.move(f.at(2), to: f.at(40))
    #expect(f.info(f.at(2)) == nil)
    #expect(f.info(f.at(40))?.id == child)
    #expect(f.info(f.at(3))?.derivedFrom == f.at(40))
    #expect(f.system.address(of: child) == f.at(40))
    // Across spaces (with grant), the table there grows and is charged there.
    try f.system.move(f.at(40), to: f.at(17, other))
    #expect(f.system.address(of: child) == f.at(17, other))
    #expect(f.used(other) == 32 * slotBytes)
    #expect(f.info(f.at(3))?.parent == child)
    // Revoking the original still reaches the moved capability and its child.
    let removal = try f.system.revoke(f.at(1))
    #expect(removal.removed.map(\.id) == [grandchild, child])
    #expect(f.system.address(of: child) == nil)
    #expect(f.violation() == nil)
  }

  @Test func moveErrors() {
    var f = Fixture(quota: 16 * slotBytes + 2 * (100 + recordBytes))
    f.object(.thread, at: 1)
    f.object(.thread, at: 2)
    #expect(failure { try f.system.move(f.at(1), to: f.at(1)) } == .sameSlot(1))
    #expect(failure { try f.system.move(f.at(1), to: f.at(2)) } == .slotOccupied(2))
    #expect(failure { try f.system.move(f.at(3), to: f.at(4)) } == .emptySlot(3))
    #expect(failure { try f.system.move(f.at(1), to: f.at(0)) } == .nullSlot)
    #expect(failure { try f.system.move(f.at(1), to: f.at(99)) } == .invalidSlot(99))
    // Slot 20 needs the table grown to 32 slots: no quota left for that.
    #expect(
      failure { try f.system.move(f.at(1), to: f.at(20)) }
        == .quotaExhausted(needed: 16 * slotBytes, available: 0))
    #expect(f.info(f.at(1)) != nil)
    #expect(failure { try f.system.move(f.at(1), to: f.at(15)) } == nil)
    #expect(f.violation() == nil)
  }

  // MARK: delete

  @Test func deletingTheLastCapabilityDestroysTheObjectAndRefunds() throws {
    var f = Fixture()
    let tableOnly = 16 * slotBytes
    let created = f.object(.endpoint, at: 1, bytes: 300)
    try f.system.copy(f.at(1), to: f.at(2))
    let first = try f.system.delete(f.at(1))
    #expect(first.removed.count == 1 && first.destroyed.isEmpty)
    #expect(first.removed[0].address == f.at(1) && first.removed[0].id == created.capability)
    #expect(first.removed[0].capability.type == .endpoint)
    #expect(f.used() == tableOnly + 300 + recordBytes)
    let last = try f.system.delete(f.at(2))
    #expect(
      last.destroyed == [DestroyedObject(object: created.object, type: .endpoint, bytes: 300)])
    #expect(last.description == "1 capabilities removed, 1 objects destroyed")
    #expect(f.used() == tableOnly)
    #expect(f.system.objectCount == 0 && f.system.capabilityCount == 0)
    #expect(failure { try f.system.delete(f.at(2)) } == .emptySlot(2))
    #expect(failure { try f.system.delete(f.at(0)) } == .nullSlot)
    #expect(failure { try f.system.delete(f.at(64)) } == .invalidSlot(64))
    #expect(f.violation() == nil)
  }

  @Test func deletingAParentHandsItsChildrenToTheGrandparent() throws {
    var f = Fixture()
    let root = f.object(.memory, at: 1).capability
    let middle = try f.system.copy(f.at(1), to: f.at(2))
    let a = try f.system.copy(f.at(2), to: f.at(3), rights: [.read])
    let b = try f.system.copy(f.at(2), to: f.at(4), rights: [.write])
    let c = try f.system.copy(f.at(3), to: f.at(5), rights: [.read])
    let sibling = try f.system.copy(f.at(1), to: f.at(6))
    _ = try f.system.delete(f.at(2))
    #expect(f.info(f.at(3))?.parent == root && f.info(f.at(4))?.parent == root)
    #expect(f.info(f.at(5))?.parent == a)
    #expect(f.info(f.at(6))?.parent == root)
    #expect(f.violation() == nil)
    // The root's revoke still reaches every one of them.
    let removal = try f.system.revoke(f.at(1))
    #expect(Set(removal.removed.map(\.id)) == [a, b, c, sibling])
    #expect(!removal.removed.map(\.id).contains(middle))
    #expect(f.system.capabilityCount == 1)
    #expect(f.violation() == nil)
  }

  @Test func deletingAnOriginalMakesItsChildrenOriginals() throws {
    var f = Fixture()
    let object = f.object(.console, at: 1).object
    let a = try f.system.copy(f.at(1), to: f.at(2))
    try f.system.copy(f.at(2), to: f.at(3))
    let b = try f.system.copy(f.at(1), to: f.at(4))
    let removal = try f.system.delete(f.at(1))
    #expect(removal.destroyed.isEmpty)
    #expect(f.info(f.at(2))?.parent == nil && f.info(f.at(4))?.parent == nil)
    #expect(f.info(f.at(3))?.parent == a)
    #expect(f.system.capabilityCount(of: object) == 3)
    #expect(try f.system.revoke(f.at(4)).removed.isEmpty)
    _ = try f.system.revoke(f.at(2))
    #expect(f.system.capabilityCount(of: object) == 2)
    #expect(f.system.address(of: b) == f.at(4))
    #expect(f.violation() == nil)
  }

  // MARK: revoke

  @Test func revokeRemovesDescendantsInEverySpaceAndKeepsTheCapability() throws {
    var f = Fixture()
    let s1 = f.space()
    let s2 = f.space()
    let created = f.object(.endpoint, at: 1)
    let a = try f.system.mint(f.at(1), to: f.at(1, s1), label: 1)
    let b = try f.system.copy(f.at(1, s1), to: f.at(2, s2), rights: [.write])
    let c = try f.system.copy(f.at(2, s2), to: f.at(3, s2), rights: [.write])
    let d = try f.system.copy(f.at(1, s1), to: f.at(9, s1), rights: [.read, .grant])
    let e = try f.system.copy(f.at(9, s1), to: f.at(4), rights: [.read])
    let keep = try f.system.copy(f.at(1), to: f.at(5))
    let removal = try f.system.revoke(f.at(1, s1))
    #expect(Set(removal.removed.map(\.id)) == [b, c, d, e])
    #expect(removal.destroyed.isEmpty)
    // Descendants come before their ancestors.
    let order = removal.removed.map(\.id)
    #expect(order.firstIndex(of: c)! < order.firstIndex(of: b)!)
    #expect(order.firstIndex(of: e)! < order.firstIndex(of: d)!)
    let removedC = try #require(removal.removed.first { $0.id == c })
    #expect(removedC.address == f.at(3, s2))
    #expect(
      removedC.capability
        == Capability(object: created.object, type: .endpoint, rights: [.write], label: 1))
    #expect(f.system.address(of: a) == f.at(1, s1) && f.system.address(of: keep) == f.at(5))
    #expect(try f.system.occupiedSlots(in: s2) == [])
    #expect(try f.system.occupiedSlots(in: f.root) == [1, 5])
    // Nothing left below: a second revoke removes nothing.
    #expect(try f.system.revoke(f.at(1, s1)) == CapabilityRemoval())
    #expect(failure { try f.system.revoke(f.at(7)) } == .emptySlot(7))
    #expect(failure { try f.system.revoke(f.at(0)) } == .nullSlot)
    #expect(f.violation() == nil)
  }

  @Test func revokeDestroysObjectsDerivedBelow() throws {
    var f = Fixture()
    let other = f.space()
    f.object(.memory, at: 1, bytes: 0)
    try f.system.copy(f.at(1), to: f.at(2))
    let part = try f.system.createObject(
      .memory, bytes: 50, at: f.at(1, other), derivedFrom: f.at(2))
    try f.system.copy(f.at(1, other), to: f.at(2, other), rights: [.read])
    let otherUsed = f.used(other)
    let removal = try f.system.revoke(f.at(1))
    #expect(removal.removed.count == 3)
    #expect(removal.destroyed == [DestroyedObject(object: part.object, type: .memory, bytes: 50)])
    // The space that paid for the part got its bytes back.
    #expect(f.used(other) == otherUsed - 50 - recordBytes)
    #expect(f.violation() == nil)
  }

  // MARK: typed lookup, slots, inspect

  @Test func typedLookupChecksTypeAndRights() throws {
    var f = Fixture()
    f.object(.memory, at: 1)
    try f.system.copy(f.at(1), to: f.at(2), rights: [.read])
    #expect(
      try f.system.capability(at: f.at(2), type: .memory, requiring: [.read]).rights == [.read])
    #expect(
      failure {
        try f.system.capability(at: f.at(2), type: .memory, requiring: [.read, .write, .grant])
      } == .missingRights([.write, .grant]))
    #expect(
      failure { try f.system.capability(at: f.at(2), type: .endpoint) }
        == .wrongType(expected: .endpoint, found: .memory))
    #expect(failure { try f.system.capability(at: f.at(3), type: .memory) } == .emptySlot(3))
    #expect(failure { try f.system.inspect(f.at(3)) } == .emptySlot(3))
    #expect(failure { try f.system.inspect(f.at(1000)) } == .invalidSlot(1000))
  }

  @Test func freeAndOccupiedSlots() throws {
    var f = Fixture()
    let small = try f.system.createSpace(slotLimit: 3, quota: 4096, parent: f.root)
    #expect(try f.system.firstFreeSlot(in: small) == 1)
    f.object(.console, at: 1)
    try f.system.copy(f.at(1), to: f.at(1, small))
    #expect(try f.system.firstFreeSlot(in: small) == 2)
    try f.system.copy(f.at(1), to: f.at(2, small))
    #expect(failure { try f.system.firstFreeSlot(in: small) } == .spaceFull)
    #expect(try f.system.spaceInfo(small).tableSlots == 3)
    #expect(try f.system.occupiedSlots(in: small) == [1, 2])
    #expect(try f.system.firstFreeSlot(in: f.root) == 2)
    try f.system.copy(f.at(1), to: f.at(15))
    for slot: UInt64 in 2...14 { try f.system.copy(f.at(1), to: f.at(slot)) }
    // The table holds 16; the next free slot is the first beyond it.
    #expect(try f.system.firstFreeSlot(in: f.root) == 16)
    #expect(try f.system.spaceInfo(f.root).tableSlots == 16)
  }

  @Test func addressesOfRemovedCapabilitiesGoStale() throws {
    var f = Fixture()
    let first = f.object(.thread, at: 1).capability
    _ = try f.system.delete(f.at(1))
    let second = f.object(.thread, at: 1).capability
    #expect(f.system.address(of: first) == nil)
    #expect(f.system.address(of: second) == f.at(1))
    #expect(first != second)
    #expect(f.system.address(of: CapabilityID(rawValue: 12345)) == nil)
  }

  // MARK: table growth and quotas

  @Test func tablesGrowByDoublingUpToTheLimitAndAreCharged() throws {
    var f = Fixture()
    let space = try f.system.createSpace(slotLimit: 100, quota: 100 * slotBytes, parent: f.root)
    #expect(try f.system.spaceInfo(space).tableSlots == 0)
    f.object(.console, at: 1)
    try f.system.copy(f.at(1), to: f.at(3, space))
    #expect(try f.system.spaceInfo(space).tableSlots == 16)
    try f.system.copy(f.at(1), to: f.at(40, space))
    #expect(try f.system.spaceInfo(space).tableSlots == 64)
    try f.system.copy(f.at(1), to: f.at(99, space))
    #expect(try f.system.spaceInfo(space).tableSlots == 100)
    #expect(f.used(space) == 100 * slotBytes)
    #expect(try f.system.spaceInfo(space).occupiedSlots == 3)
    // A far slot in a fresh space jumps straight to the covering power of two.
    let far = try f.system.createSpace(slotLimit: 1024, quota: 1 << 20)
    try f.system.copy(f.at(1), to: f.at(300, far))
    #expect(try f.system.spaceInfo(far).tableSlots == 512)
    #expect(f.violation() == nil)
  }

  @Test func childSpacesAreChargedToTheirParent() throws {
    var f = Fixture(quota: 10_000)
    let child = try f.system.createSpace(slotLimit: 8, quota: 6_000, parent: f.root)
    #expect(f.used() == 6_000)
    #expect(try f.system.spaceInfo(child).parent == f.root)
    #expect(try f.system.spaceInfo(f.root).parent == nil)
    #expect(
      failure { try f.system.createSpace(slotLimit: 8, quota: 4_001, parent: f.root) }
        == .quotaExhausted(needed: 4_001, available: 4_000))
    let grandchild = try f.system.createSpace(slotLimit: 8, quota: 6_000, parent: child)
    #expect(f.used(child) == 6_000 && f.used() == 6_000)
    _ = try f.system.destroySpace(grandchild)
    #expect(f.used(child) == 0)
    _ = try f.system.destroySpace(child)
    #expect(f.used() == 0)
    #expect(f.violation() == nil)
  }

  @Test func spaceCreationErrors() {
    var system = CapabilitySystem(maxSpaces: 2, maxSlotsPerSpace: 128)
    #expect(failure { try system.createSpace(slotLimit: 1, quota: 0) } == .invalidSlotLimit(1))
    #expect(failure { try system.createSpace(slotLimit: 0, quota: 0) } == .invalidSlotLimit(0))
    #expect(failure { try system.createSpace(slotLimit: 129, quota: 0) } == .invalidSlotLimit(129))
    #expect(
      failure { try system.createSpace(slotLimit: .max, quota: 0) } == .invalidSlotLimit(.max))
    let ghost = SpaceID(rawValue: 5)
    #expect(
      failure { try system.createSpace(slotLimit: 8, quota: 0, parent: ghost) }
        == .invalidSpace(ghost))
    let a = try! system.createSpace(slotLimit: 128, quota: 0)
    _ = try! system.createSpace(slotLimit: 2, quota: 0)
    #expect(failure { try system.createSpace(slotLimit: 8, quota: 0) } == .tooManySpaces)
    // A destroyed space's entry is reused with a new generation; the old ID is dead.
    _ = try! system.destroySpace(a)
    let b = try! system.createSpace(slotLimit: 8, quota: 0)
    #expect(b.index == a.index && b != a)
    #expect(failure { try system.spaceInfo(a) } == .invalidSpace(a))
    #expect(failure { try system.destroySpace(a) } == .invalidSpace(a))
    #expect(
      failure {
        try system.createObject(.console, bytes: 0, at: CapabilityAddress(space: a, slot: 1))
      } == .invalidSpace(a))
    // Nothing fits in a space with no quota: not even its table.
    #expect(
      failure {
        try system.createObject(.console, bytes: 0, at: CapabilityAddress(space: b, slot: 1))
      }
        == .quotaExhausted(needed: 8 * slotBytes + recordBytes, available: 0))
    #expect(system.consistencyViolation() == nil)
  }

  // MARK: destroying spaces

  @Test func destroyingASpaceRemovesItsCapabilitiesAndKeepsDelegations() throws {
    var f = Fixture()
    let process = f.space(quota: 8192)
    let own = try f.system.createObject(.endpoint, bytes: 100, at: f.at(1, process))
    let kept = try f.system.createObject(.endpoint, bytes: 200, at: f.at(2, process))
    // The process delegated its second endpoint to the root space.
    let delegated = try f.system.copy(f.at(2, process), to: f.at(1))
    let removal = try f.system.destroySpace(process)
    #expect(removal.removed.map(\.address) == [f.at(1, process), f.at(2, process)])
    #expect(removal.destroyed == [DestroyedObject(object: own.object, type: .endpoint, bytes: 100)])
    #expect(f.info(f.at(1))?.parent == nil && f.info(f.at(1))?.id == delegated)
    #expect(f.system.capabilityCount(of: kept.object) == 1)
    // The dead space's quota stays charged to the root while it still pays
    // for the surviving endpoint; the last delete gives it all back.
    #expect(f.system.spaceCount == 1)
    #expect(f.used() == 8192 + 16 * slotBytes)
    #expect(f.violation() == nil)
    let last = try f.system.delete(f.at(1))
    #expect(last.destroyed.map(\.object) == [kept.object])
    #expect(f.used() == 16 * slotBytes)
    #expect(f.violation() == nil)
  }

  @Test func retiredSpacesFreeUpTheChain() throws {
    var f = Fixture(quota: 100_000)
    let parent = try f.system.createSpace(slotLimit: 8, quota: 50_000, parent: f.root)
    let child = try f.system.createSpace(slotLimit: 8, quota: 20_000, parent: parent)
    _ = try f.system.createObject(.memory, bytes: 1_000, at: f.at(1, child))
    try f.system.copy(f.at(1, child), to: f.at(1))
    _ = try f.system.destroySpace(parent)
    _ = try f.system.destroySpace(child)
    // Both retired, held by the object the child paid for.
    #expect(f.used() == 50_000 + 16 * slotBytes)
    #expect(f.violation() == nil)
    _ = try f.system.delete(f.at(1))
    #expect(f.used() == 16 * slotBytes)
    #expect(f.violation() == nil)
    // Both entries are free again.
    let x = try f.system.createSpace(slotLimit: 8, quota: 0)
    let y = try f.system.createSpace(slotLimit: 8, quota: 0)
    #expect(Set([x.index, y.index]) == Set([parent.index, child.index]))
  }

  @Test func aRetiredParentWaitsForItsChildSpacesEvenWithoutQuota() throws {
    var f = Fixture()
    let parent = try f.system.createSpace(slotLimit: 8, quota: 0, parent: f.root)
    let child = try f.system.createSpace(slotLimit: 8, quota: 0, parent: parent)
    _ = try f.system.destroySpace(parent)
    // The parent owes nothing, but the child still names it: its entry stays.
    let other = try f.system.createSpace(slotLimit: 8, quota: 0)
    #expect(other.index != parent.index)
    #expect(try f.system.spaceInfo(child).parent == parent)
    #expect(f.violation() == nil)
    _ = try f.system.destroySpace(child)
    let reused = try f.system.createSpace(slotLimit: 8, quota: 0)
    #expect([parent.index, child.index].contains(reused.index))
    #expect(f.violation() == nil)
  }
}

@Suite struct KernelQuotaTests {
  @Test func chargesAndRefundsStayWithinTheLimit() {
    var quota = KernelQuota(limit: 1000)
    #expect(quota.available == 1000)
    #expect(throws: Never.self) { try quota.charge(600) }
    #expect(throws: QuotaError.exhausted(requested: 401, available: 400)) { try quota.charge(401) }
    #expect(throws: QuotaError.exhausted(requested: .max, available: 400)) {
      try quota.charge(.max)
    }
    #expect(quota.used == 600)
    #expect(throws: Never.self) { try quota.charge(400) }
    #expect(quota.available == 0)
    #expect(throws: Never.self) { try quota.charge(0) }
    #expect(throws: QuotaError.refundExceedsUse(refund: 1001, used: 1000)) {
      try quota.refund(1001)
    }
    #expect(throws: Never.self) { try quota.refund(1000) }
    #expect(quota.used == 0)
    #expect(throws: QuotaError.refundExceedsUse(refund: 1, used: 0)) { try quota.refund(1) }
    #expect(KernelQuota(limit: 0).available == 0)
  }

  @Test func quotasDescribeThemselves() throws {
    var quota = KernelQuota(limit: 64 * 1024)
    try quota.charge(4608)
    #expect(quota.description == "4.5 KiB of 64 KiB used")
    #expect(
      QuotaError.exhausted(requested: 10, available: 2).description
        == "quota exhausted: 10 bytes requested, 2 available")
  }
}
