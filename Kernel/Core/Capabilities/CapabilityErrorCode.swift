// How a refused capability operation reaches a user program: each
// CapabilityError case has its system-call error code. The kernel's own
// tables filling up is one code (the program cannot tell them apart and
// can do nothing different about them).

extension SystemCallError {
  public init(_ error: CapabilityError) {
    switch error {
    case .invalidSpace, .unknownObjectType: self = .invalidObject
    case .invalidSlot, .invalidSlotLimit: self = .invalidSlot
    case .nullSlot: self = .nullSlot
    case .emptySlot: self = .emptySlot
    case .slotOccupied: self = .slotOccupied
    case .sameSlot: self = .sameSlot
    case .missingRights: self = .missingRights
    case .rightsEscalation: self = .rightsEscalation
    case .undefinedRights: self = .undefinedRights
    case .alreadyLabelled: self = .alreadyLabelled
    case .wrongType: self = .wrongType
    case .quotaExhausted: self = .quotaExhausted
    case .spaceFull: self = .spaceFull
    case .tooManySpaces, .tooManyObjects, .tooManyCapabilities: self = .kernelTableFull
    }
  }
}
