// Kernel-memory accounting, M3/Fiasco style: every capability space has a
// quota of kernel bytes. Creating an object charges the object's size (plus
// Core's record of it) to the space that created it, growing a capability
// table charges the new slots, and giving a child space a quota charges that
// quota to the parent. Destroying refunds exactly what was charged, to the
// same quota. A domain therefore can never make the kernel allocate more than
// it was given, and running out is an error code, never a panic.
//
// Chosen over seL4's untyped memory because the kernel keeps its own heap and
// allocators: a quota bounds them without user-visible retyping.

/// Why a charge or refund was refused; the quota is unchanged.
public enum QuotaError: Error, Equatable, Sendable {
  /// The charge is larger than what is left.
  case exhausted(requested: UInt64, available: UInt64)
  /// A refund of more than is in use: a bookkeeping bug in the caller.
  case refundExceedsUse(refund: UInt64, used: UInt64)

  public var description: String {
    switch self {
    case .exhausted(let requested, let available):
      return "quota exhausted: " + String(requested) + " bytes requested, " + String(available)
        + " available"
    case .refundExceedsUse(let refund, let used):
      return "refund of " + String(refund) + " bytes with only " + String(used) + " in use"
    }
  }
}

/// A budget of kernel bytes. `used` never exceeds `limit` and never goes
/// below zero: a charge or refund that would do so is refused.
public struct KernelQuota: Equatable, Sendable {
  public let limit: UInt64
  public private(set) var used: UInt64 = 0

  public init(limit: UInt64) { self.limit = limit }

  public var available: UInt64 { limit - used }

  /// Takes `bytes` from the budget, or refuses and takes nothing.
  public mutating func charge(_ bytes: UInt64) throws(QuotaError) {
    // Compared against what is left, so a huge request cannot overflow.
    guard bytes <= available else { throw .exhausted(requested: bytes, available: available) }
    used += bytes
  }

  /// Gives back `bytes` charged earlier.
  public mutating func refund(_ bytes: UInt64) throws(QuotaError) {
    guard bytes <= used else { throw .refundExceedsUse(refund: bytes, used: used) }
    used -= bytes
  }

  /// E.g. "4.5 KiB of 64 KiB used".
  public var description: String { formatSize(used) + " of " + formatSize(limit) + " used" }
}
