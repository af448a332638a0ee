// Why a capability operation was refused. Every operand of these operations
// can come from a user program through a system call, so every misuse has its
// own case (the kernel turns them into distinct error codes) and a refused
// operation changes nothing.

public enum CapabilityError: Error, Equatable, Hashable, Sendable {
  /// The space ID names no live capability space (never created, destroyed,
  /// or an old generation of a reused entry).
  case invalidSpace(SpaceID)
  /// The slot number is at or above the space's slot limit.
  case invalidSlot(UInt64)
  /// Slot 0 is the null slot: it never holds a capability and cannot be written.
  case nullSlot
  /// The source slot holds no capability.
  case emptySlot(UInt64)
  /// The destination slot already holds a capability.
  case slotOccupied(UInt64)
  /// A move whose source and destination are the same slot.
  case sameSlot(UInt64)
  /// The capability lacks rights the operation needs (e.g. grant to hand it
  /// to another space, or the rights a typed lookup asked for).
  case missingRights(Rights)
  /// A copy or mint asked for rights the source does not hold.
  case rightsEscalation(Rights)
  /// Bits that name no right.
  case undefinedRights(UInt64)
  /// A mint of a capability that already carries a label (labels are set
  /// once, so a receiver can trust them).
  case alreadyLabelled(UInt64)
  /// A typed operation found another kind of object.
  case wrongType(expected: ObjectType, found: ObjectType)
  /// A raw object type no kind of object has.
  case unknownObjectType(UInt64)
  /// The space's kernel-memory quota cannot cover the bytes asked for.
  case quotaExhausted(needed: UInt64, available: UInt64)
  /// No free slot is left in the space.
  case spaceFull
  /// A new space's slot limit is outside 2...the system's maximum.
  case invalidSlotLimit(UInt64)
  /// The system's table of spaces is full.
  case tooManySpaces
  /// The system's table of objects is full.
  case tooManyObjects
  /// The system's table of capabilities is full.
  case tooManyCapabilities

  public var description: String {
    switch self {
    case .invalidSpace(let space): return "no such capability space: " + space.description
    case .invalidSlot(let slot): return "slot " + String(slot) + " is beyond the space's limit"
    case .nullSlot: return "slot 0 is the null slot"
    case .emptySlot(let slot): return "slot " + String(slot) + " is empty"
    case .slotOccupied(let slot): return "slot " + String(slot) + " is occupied"
    case .sameSlot(let slot): return "move of slot " + String(slot) + " onto itself"
    case .missingRights(let rights): return "missing rights " + rights.description
    case .rightsEscalation(let rights): return "rights not held: " + rights.description
    case .undefinedRights(let bits): return "undefined rights bits " + hex(bits)
    case .alreadyLabelled(let label):
      return "the capability already has label 0x" + String(label, radix: 16)
    case .wrongType(let expected, let found):
      return "expected a capability to " + expected.description + ", found " + found.description
    case .unknownObjectType(let raw): return "unknown object type " + String(raw)
    case .quotaExhausted(let needed, let available):
      return "kernel memory quota exhausted: " + String(needed) + " bytes needed, "
        + String(available) + " available"
    case .spaceFull: return "no free slot in the capability space"
    case .invalidSlotLimit(let limit): return "invalid slot limit " + String(limit)
    case .tooManySpaces: return "too many capability spaces"
    case .tooManyObjects: return "too many kernel objects"
    case .tooManyCapabilities: return "too many capabilities"
    }
  }
}
