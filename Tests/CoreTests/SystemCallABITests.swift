import Testing

@testable import TesseraCore

/// The system-call ABI (Kernel/Core/UserABI/SystemCall.swift): numbers and error
/// codes are distinct and stable, every capability refusal has a code, and
/// the kernel's in-place variants of delete and revoke report exactly what
/// the plain ones do.
struct SystemCallABITests {
  @Test func numbersAndErrorCodesAreDistinctAndNamed() {
    let numbers = SystemCallNumber.allCases.map(\.rawValue)
    #expect(Set(numbers).count == numbers.count)
    #expect(numbers == Array(0..<UInt64(numbers.count)), "numbers are dense from 0")
    let codes = SystemCallError.allCases.map(\.rawValue)
    #expect(Set(codes).count == codes.count)
    #expect(codes.allSatisfy { $0 < 0 })
    let names = SystemCallError.allCases.map(\.name)
    #expect(Set(names).count == names.count)
    #expect(Set(SystemCallNumber.allCases.map(\.name)).count == numbers.count)
  }

  @Test func everyCapabilityRefusalHasItsCode() {
    let space = SpaceID(rawValue: 7)
    let cases: [(CapabilityError, SystemCallError)] = [
      (.invalidSpace(space), .invalidObject),
      (.invalidSlot(9999), .invalidSlot),
      (.nullSlot, .nullSlot),
      (.emptySlot(3), .emptySlot),
      (.slotOccupied(3), .slotOccupied),
      (.sameSlot(3), .sameSlot),
      (.missingRights(.grant), .missingRights),
      (.rightsEscalation(.write), .rightsEscalation),
      (.undefinedRights(1 << 40), .undefinedRights),
      (.alreadyLabelled(1), .alreadyLabelled),
      (.wrongType(expected: .endpoint, found: .memory), .wrongType),
      (.unknownObjectType(99), .invalidObject),
      (.quotaExhausted(needed: 10, available: 1), .quotaExhausted),
      (.spaceFull, .spaceFull),
      (.invalidSlotLimit(1), .invalidSlot),
      (.tooManySpaces, .kernelTableFull),
      (.tooManyObjects, .kernelTableFull),
      (.tooManyCapabilities, .kernelTableFull),
    ]
    for (error, code) in cases { #expect(SystemCallError(error) == code, "\(error.description)") }
    // Operand mistakes a program can fix each have their own code.
    let operandMistakes = cases.prefix(11).map { SystemCallError($0.0) }
    #expect(Set(operandMistakes).count == operandMistakes.count)
  }

  @Test func userSpaceBoundsRejectKernelAndWrappingRanges() {
    #expect(UserSpace.contains(UserSpace.lowest, length: 4096))
    #expect(!UserSpace.contains(UserSpace.lowest - 1, length: 1))
    #expect(UserSpace.contains(UserSpace.highest, length: 1))
    #expect(!UserSpace.contains(UserSpace.highest, length: 2))
    #expect(!UserSpace.contains(UInt64.max - 4, length: 16))
    #expect(!UserSpace.contains(0x4010_0000, length: 1))
  }

  /// Random trees: revoke and delete into a reused buffer give the same
  /// removals, in the same order, as the allocating variants.
  @Test(arguments: 0..<20)
  func inPlaceRemovalMatchesThePlainOne(seed: UInt64) throws {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    func random(_ bound: Int) -> Int {
      state ^= state << 13
      state ^= state >> 7
      state ^= state << 17
      return Int(state % UInt64(bound))
    }
    var plain = CapabilitySystem(maxSlotsPerSpace: 512)
    let space = try plain.createSpace(slotLimit: 512, quota: 1 << 20)
    func at(_ slot: Int) -> CapabilityAddress {
      CapabilityAddress(space: space, slot: UInt64(slot))
    }
    _ = try plain.createObject(.endpoint, bytes: 64, at: at(1))
    var used = [1]
    for slot in 2..<200 {
      let parent = used[random(used.count)]
      try plain.copy(at(parent), to: at(slot))
      used.append(slot)
    }
    var reused = plain
    var buffer = CapabilityRemoval()
    for _ in 0..<10 {
      let slot = used[random(used.count)]
      let expected = try plain.revoke(at(slot))
      try reused.revoke(at(slot), into: &buffer)
      #expect(buffer == expected)
      buffer = CapabilityRemoval()
      if slot != 1 {
        let deleted = try plain.delete(at(slot))
        try reused.delete(at(slot), into: &buffer)
        #expect(buffer == deleted)
        buffer = CapabilityRemoval()
        used.removeAll { $0 == slot }
      }
      used.removeAll { (try? plain.inspect(at($0))) == nil }
    }
    #expect(plain.consistencyViolation() == nil)
    #expect(reused.consistencyViolation() == nil)
  }

  @Test func identifiedLookupNamesTheCapabilityInspectReports() throws {
    var system = CapabilitySystem()
    let space = try system.createSpace(slotLimit: 16, quota: 1 << 16)
    let address = CapabilityAddress(space: space, slot: 3)
    _ = try system.createObject(.endpoint, bytes: 64, at: address)
    let (id, capability) = try system.identifiedCapability(
      at: address, type: .endpoint, requiring: .write)
    #expect(id == (try system.inspect(address)).id)
    #expect(capability.type == .endpoint)
    #expect(throws: CapabilityError.wrongType(expected: .memory, found: .endpoint)) {
      try system.identifiedCapability(at: address, type: .memory)
    }
  }
}
