// The capability space of one protection domain: numbered slots, each empty
// or holding one capability. A slot holds the index of the capability's node
// in the derivation tree (where the capability itself and its links live), so
// lookup is one array index and a move rewrites two slots and nothing else.
//
// The table is a flat array that grows on demand, doubling, up to the space's
// slot limit; each growth is charged to the space's kernel-memory quota at
// `bytesPerSlot` per new slot (the slot and the tree node it may need). The
// table never shrinks while the space lives. Slot 0 is the null slot: it is
// always empty and cannot be written, so 0 can mean "no capability" in the
// system-call ABI.

/// A capability space's identity: an index into the system's table of spaces
/// and the generation of that entry, so the ID of a destroyed space never
/// names the space that reuses its entry.
public struct SpaceID: Equatable, Hashable, Sendable {
  public let rawValue: UInt64
  public init(rawValue: UInt64) { self.rawValue = rawValue }
  init(index: UInt32, generation: UInt32) {
    rawValue = UInt64(generation) << 32 | UInt64(index)
  }
  public var index: UInt32 { UInt32(truncatingIfNeeded: rawValue) }
  public var generation: UInt32 { UInt32(truncatingIfNeeded: rawValue >> 32) }
  public var description: String { "space " + String(index) + "." + String(generation) }
}

struct CapabilitySpace {
  enum State: Equatable {
    /// The entry is unused (on the free list).
    case free
    /// The space exists and its slots can be used.
    case active
    /// Destroyed: its slots are gone, but objects it paid for or child
    /// spaces still live, so its quota must stay until they refund it and are
    /// gone. Then the entry is freed and its limit goes back to the parent.
    case retired
  }

  /// The smallest table a space gets on first use.
  static let minimumTableSlots = 16
  /// Kernel bytes one slot costs: its table entry and the tree node a
  /// capability in it takes.
  static var bytesPerSlot: UInt64 {
    UInt64(MemoryLayout<UInt32>.stride + MemoryLayout<DerivationTree.Node>.stride)
  }

  var generation: UInt32
  var state: State
  /// The derivation-tree node of each slot's capability, or DerivationTree.none.
  var slots: [UInt32] = []
  /// Slots 0..<slotLimit are addressable.
  var slotLimit: UInt64
  var quota: KernelQuota
  /// The space whose quota paid for this one's limit, or DerivationTree.none.
  var parent: UInt32
  /// How many slots hold a capability.
  var occupied = 0
  /// Child spaces not yet freed: they point here, so this entry must stay
  /// (even when their quota, and thus what they owe here, is zero).
  var children = 0
  /// The next entry on the system's free list of spaces.
  var nextFree: UInt32 = DerivationTree.none

  init(generation: UInt32, slotLimit: UInt64, quota: UInt64, parent: UInt32) {
    self.generation = generation
    state = .active
    self.slotLimit = slotLimit
    self.quota = KernelQuota(limit: quota)
    self.parent = parent
  }

  /// The node in `slot`, or DerivationTree.none when it is empty or beyond
  /// the table. The caller has checked `slot < slotLimit`.
  func node(at slot: UInt64) -> UInt32 {
    slot < UInt64(slots.count) ? slots[Int(slot)] : DerivationTree.none
  }

  /// The table size needed to write `slot` (at least the current size).
  func capacity(covering slot: UInt64) -> Int {
    guard slot >= UInt64(slots.count) else { return slots.count }
    var capacity = max(slots.count, Self.minimumTableSlots)
    while UInt64(capacity) <= slot { capacity *= 2 }
    return Int(min(UInt64(capacity), slotLimit))
  }

  /// The bytes growing the table to cover `slot` would charge.
  func growthBytes(covering slot: UInt64) -> UInt64 {
    UInt64(capacity(covering: slot) - slots.count) * Self.bytesPerSlot
  }

  /// Grows the table to cover `slot`; the caller has charged growthBytes.
  mutating func grow(covering slot: UInt64) {
    let capacity = capacity(covering: slot)
    if capacity > slots.count {
      slots.append(
        contentsOf: repeatElement(DerivationTree.none, count: capacity - slots.count))
    }
  }

  /// The lowest empty slot above the null slot, or nil when all are taken.
  func firstFreeSlot() -> UInt64? {
    var slot = 1
    while slot < slots.count {
      if slots[slot] == DerivationTree.none { return UInt64(slot) }
      slot += 1
    }
    let next = UInt64(max(slots.count, 1))
    return next < slotLimit ? next : nil
  }
}
