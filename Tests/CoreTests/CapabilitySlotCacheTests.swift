import PropertyBased
import Testing

@testable import TesseraCore

/// CapabilitySlotCache: a hit must say exactly what a full lookup says now,
/// whatever capability operations ran since the entry was filled.
struct CapabilitySlotCacheTests {
  /// The object's index as an opaque pointer (the kernel keeps its record there).
  static func pointer(_ object: ObjectID) -> UnsafeMutableRawPointer {
    UnsafeMutableRawPointer(bitPattern: Int(object.index) + 1)!
  }

  /// Looks `slot` up in full and, like the kernel's slow path, fills the
  /// cache when the lookup succeeds.
  static func lookUpAndFill(
    _ system: CapabilitySystem, _ cache: CapabilitySlotCache, _ space: SpaceID, _ slot: UInt64
  ) {
    guard
      let (id, capability) = try? system.identifiedCapability(
        at: CapabilityAddress(space: space, slot: slot), type: .endpoint)
    else { return }
    cache.fill(
      slot, removals: system.removals, object: pointer(capability.object), capability: id,
      rights: capability.rights, label: capability.label ?? 0)
  }

  @Test func aFilledSlotHitsUntilACapabilityIsRemoved() throws {
    var system = CapabilitySystem(maxSlotsPerSpace: 1024)
    let space = try system.createSpace(slotLimit: 64, quota: 1 << 20)
    let at = { (slot: UInt64) in CapabilityAddress(space: space, slot: slot) }
    let cache = CapabilitySlotCache.allocate()
    defer { cache.deallocate() }
    let created = try system.createObject(.endpoint, bytes: 0, at: at(1), rights: [.read, .write])
    #expect(cache.find(1, removals: system.removals, requiring: []) == nil)  // never filled
    Self.lookUpAndFill(system, cache, space, 1)
    let hit = cache.find(1, removals: system.removals, requiring: .write)
    #expect(hit?.pointee.capability == created.capability)
    #expect(hit?.pointee.object == Self.pointer(created.object))
    #expect(cache.find(1, removals: system.removals, requiring: .grant) == nil)  // rights
    // Slot 33 shares slot 1's entry: a different slot never hits.
    #expect(cache.find(33, removals: system.removals, requiring: []) == nil)
    // A copy elsewhere removes nothing: the entry stays good.
    try system.copy(at(1), to: at(2))
    #expect(cache.find(1, removals: system.removals, requiring: []) != nil)
    // Deleting the copy removes a capability: every entry is a miss now.
    try system.delete(at(2))
    #expect(cache.find(1, removals: system.removals, requiring: []) == nil)
  }

  @Test func aMintedLabelIsWhatTheEntrySays() throws {
    var system = CapabilitySystem(maxSlotsPerSpace: 1024)
    let space = try system.createSpace(slotLimit: 64, quota: 1 << 20)
    let at = { (slot: UInt64) in CapabilityAddress(space: space, slot: slot) }
    let cache = CapabilitySlotCache.allocate()
    defer { cache.deallocate() }
    try system.createObject(.endpoint, bytes: 0, at: at(1))
    let minted = try system.mint(at(1), to: at(5), rights: [.write], label: 42)
    Self.lookUpAndFill(system, cache, space, 5)
    let hit = cache.find(5, removals: system.removals, requiring: .write)
    #expect(hit?.pointee.label == 42 && hit?.pointee.capability == minted)
    #expect(hit?.pointee.rights == [.write])
  }

  /// Random capability operations on two spaces of eight slots; after each,
  /// every slot is looked up through the cache and in full. A hit must
  /// agree with the full lookup in object, ID, rights and label; then the
  /// slot is refilled as the slow path would.
  @Test func hitsAlwaysAgreeWithAFullLookup() async {
    // kind, space, slot, other space, other slot, rights bits.
    let operation = zip(
      Gen.int(in: 0...6), Gen.int(in: 0...1), Gen.int(in: 1...7), Gen.int(in: 0...1),
      Gen.int(in: 1...7), Gen.int(in: 0...7))
    await propertyCheck(count: 200, input: operation.array(of: 1...80)) { operations in
      var system = CapabilitySystem(maxSlotsPerSpace: 1024)
      let root = try! system.createSpace(slotLimit: 8, quota: 1 << 20)
      let spaces = [root, try! system.createSpace(slotLimit: 8, quota: 1 << 16, parent: root)]
      let caches = [CapabilitySlotCache.allocate(), CapabilitySlotCache.allocate()]
      defer { caches.forEach { $0.deallocate() } }
      for (kind, s, slot, t, other, bits) in operations {
        let here = CapabilityAddress(space: spaces[s], slot: UInt64(slot))
        let there = CapabilityAddress(space: spaces[t], slot: UInt64(other))
        let rights = Rights(rawValue: UInt64(bits))
        switch kind {
        case 0: _ = try? system.createObject(.endpoint, bytes: 0, at: here, rights: rights)
        case 1: _ = try? system.copy(here, to: there)
        case 2: _ = try? system.mint(here, to: there, rights: rights, label: UInt64(bits + 1))
        case 3: _ = try? system.move(here, to: there)
        case 4: _ = try? system.delete(here)
        case 5: _ = try? system.revoke(here)
        default: _ = try? system.createObject(.memory, bytes: 0, at: here)
        }
        for (space, cache) in zip(spaces, caches) {
          for slot in UInt64(1)..<8 {
            let full = try? system.identifiedCapability(
              at: CapabilityAddress(space: space, slot: slot), type: .endpoint)
            if let hit = cache.find(slot, removals: system.removals, requiring: []) {
              #expect(full != nil, "a hit on slot \(slot) whose capability is gone")
              if let (id, capability) = full {
                #expect(hit.pointee.capability == id)
                #expect(hit.pointee.object == Self.pointer(capability.object))
                #expect(hit.pointee.rights == capability.rights)
                #expect(hit.pointee.label == capability.label ?? 0)
              }
            }
            Self.lookUpAndFill(system, cache, space, slot)
          }
        }
      }
    }
  }
}
