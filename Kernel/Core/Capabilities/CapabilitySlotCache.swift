// A small per-space cache of capability lookups, for the IPC fast path: a
// slot's entry says which object the capability there names, with its ID,
// rights and label, as a full lookup (CapabilitySystem.identifiedCapability)
// found them. One masked index and two compares replace the walk through
// the space's table, the derivation tree and the kernel's object table.
//
// Kept right by counting, not by visiting: an entry records the system's
// `removals` count when it was filled, and every operation that takes a
// capability out of a slot (delete, revoke, move, a space destroyed) raises
// that count. Nothing else can make an entry wrong: a capability's rights
// and label never change in place, and a slot only gets a new capability
// after its old one was removed. So an entry with the current count is
// exactly what a full lookup would say now; any other entry is a miss, and
// the slow path looks up again and refills it.
//
// Direct-mapped (a slot's entry is slot mod `size`): a space keeps few
// endpoints in use at once, and a collision only costs a full lookup.

/// What a lookup found in one slot.
public struct CapabilitySlotCacheEntry {
  public var slot: UInt64 = 0
  /// The system's removal count when it was filled (never: max).
  public var removals = UInt64.max
  /// The kernel's record of the object (opaque here).
  public var object: UnsafeMutableRawPointer? = nil
  public var capability = CapabilityID(rawValue: 0)
  public var rights = Rights()
  public var label: UInt64 = 0

  public init() {}
}

/// A space's cache, over memory the kernel allocates (`size` entries).
public struct CapabilitySlotCache {
  public static let size = 32
  public let entries: UnsafeMutablePointer<CapabilitySlotCacheEntry>

  public init(_ entries: UnsafeMutablePointer<CapabilitySlotCacheEntry>) {
    self.entries = entries
  }

  /// Allocates and empties a cache (free it with `deallocate`).
  public static func allocate() -> CapabilitySlotCache {
    let entries = UnsafeMutablePointer<CapabilitySlotCacheEntry>.allocate(capacity: size)
    entries.initialize(repeating: CapabilitySlotCacheEntry(), count: size)
    return CapabilitySlotCache(entries)
  }

  public func deallocate() { entries.deallocate() }

  /// The entry for `slot` when it is current (made at `removals`) and its
  /// capability has `rights`; nil sends the caller to a full lookup.
  @inline(__always)
  public func find(_ slot: UInt64, removals: UInt64, requiring rights: Rights)
    -> UnsafeMutablePointer<CapabilitySlotCacheEntry>?
  {
    let entry = entries + Int(truncatingIfNeeded: slot & UInt64(Self.size - 1))
    guard entry.pointee.slot == slot, entry.pointee.removals == removals,
      entry.pointee.rights.rawValue & rights.rawValue == rights.rawValue
    else { return nil }
    return entry
  }

  /// Records what a full lookup of `slot` found, at removal count
  /// `removals`.
  public func fill(
    _ slot: UInt64, removals: UInt64, object: UnsafeMutableRawPointer, capability: CapabilityID,
    rights: Rights, label: UInt64
  ) {
    let entry = entries + Int(truncatingIfNeeded: slot & UInt64(Self.size - 1))
    entry.pointee.slot = slot
    entry.pointee.removals = removals
    entry.pointee.object = object
    entry.pointee.capability = capability
    entry.pointee.rights = rights
    entry.pointee.label = label
  }
}
