import PropertyBased
import Testing

@testable import TesseraCore

// MARK: fake physical memory and table images

/// Physical memory for tests: byte regions at chosen addresses, kept in
/// stable allocations so the views the reader hands out stay valid.
private final class FakePhysicalMemory {
  private var regions: [(address: UInt64, buffer: UnsafeMutableRawBufferPointer)] = []

  init(_ contents: [UInt64: [UInt8]]) {
    for (address, bytes) in contents {
      let buffer = UnsafeMutableRawBufferPointer.allocate(
        byteCount: max(1, bytes.count), alignment: 16)
      buffer.copyBytes(from: bytes)
      regions.append((address, UnsafeMutableRawBufferPointer(rebasing: buffer[0..<bytes.count])))
    }
  }

  deinit {
    for region in regions { region.buffer.deallocate() }
  }

  func read(_ address: UInt64, _ length: Int) -> ByteView? {
    guard length >= 0 else { return nil }
    for region in regions where address >= region.address {
      let offset = address - region.address
      guard offset <= UInt64(region.buffer.count),
        UInt64(length) <= UInt64(region.buffer.count) - offset
      else { continue }
      return ByteView(
        base: UnsafeRawPointer(region.buffer.baseAddress.map { $0 + Int(offset) }), count: length)
    }
    return nil
  }
}

private func le16(_ value: UInt16) -> [UInt8] {
  withUnsafeBytes(of: value.littleEndian, Array.init)
}
private func le32(_ value: UInt32) -> [UInt8] {
  withUnsafeBytes(of: value.littleEndian, Array.init)
}
private func le64(_ value: UInt64) -> [UInt8] {
  withUnsafeBytes(of: value.littleEndian, Array.init)
}

/// Sets `bytes[offset]` so that all bytes sum to zero modulo 256.
private func fixChecksum(_ bytes: inout [UInt8], at offset: Int, over count: Int? = nil) {
  bytes[offset] = 0
  let sum = bytes.prefix(count ?? bytes.count).reduce(UInt8(0), &+)
  bytes[offset] = 0 &- sum
}

/// A system description table with a correct length and checksum.
private func table(_ signature: String, revision: UInt8 = 1, body: [UInt8]) -> [UInt8] {
  var bytes = Array(signature.utf8) + le32(UInt32(36 + body.count)) + [revision, 0]
  bytes += Array("TESSRA".utf8) + Array("TESTTABL".utf8) + le32(1) + Array("TEST".utf8) + le32(1)
  bytes += body
  fixChecksum(&bytes, at: 9)
  return bytes
}

private func rsdpV1(rsdt: UInt32) -> [UInt8] {
  var bytes = Array("RSD PTR ".utf8) + [0] + Array("TESSRA".utf8) + [0] + le32(rsdt)
  fixChecksum(&bytes, at: 8)
  return bytes
}

private func rsdpV2(rsdt: UInt32, xsdt: UInt64) -> [UInt8] {
  var bytes = Array("RSD PTR ".utf8) + [0] + Array("TESSRA".utf8) + [2] + le32(rsdt)
  bytes += le32(36) + le64(xsdt) + [0, 0, 0, 0]
  fixChecksum(&bytes, at: 8, over: 20)
  fixChecksum(&bytes, at: 32)
  return bytes
}

/// An FADT body (everything after the header) of `length` total bytes.
private func fadt(
  length: Int = 116, dsdt: UInt32, xDSDT: UInt64 = 0, pm1a: UInt32 = 0x604, pm1b: UInt32 = 0,
  xPM1a: (space: UInt8, address: UInt64)? = nil, smiCommand: UInt32 = 0xB2, acpiEnable: UInt8 = 0xF1
) -> [UInt8] {
  var bytes = [UInt8](repeating: 0, count: length)
  func put(_ field: [UInt8], at offset: Int) {
    guard offset + field.count <= length else { return }
    bytes.replaceSubrange(offset..<offset + field.count, with: field)
  }
  put(le32(dsdt), at: 40)
  put(le32(smiCommand), at: 48)
  put([acpiEnable], at: 52)
  put(le32(pm1a), at: 64)
  put(le32(pm1b), at: 68)
  put(le64(xDSDT), at: 140)
  if let xPM1a { put([xPM1a.space, 16, 0, 2] + le64(xPM1a.address), at: 172) }
  let whole = table("FACP", revision: length > 116 ? 3 : 1, body: Array(bytes[36...]))
  return whole
}

/// AML: `Name(_S5_, Package(count){elements...})`, optionally `\_S5_`.
private func s5AML(_ elements: [[UInt8]], count: UInt8? = nil, rootPrefix: Bool = false) -> [UInt8]
{
  let contents = [count ?? UInt8(elements.count)] + elements.flatMap { $0 }
  return [0x08] + (rootPrefix ? [0x5C] : []) + Array("_S5_".utf8) + [
    0x12, UInt8(contents.count + 1),
  ] + contents
}

private func bytePrefix(_ value: UInt8) -> [UInt8] { [0x0A, value] }

/// Some AML around the \_S5 definition, as real DSDTs have.
private func dsdt(aml: [UInt8]) -> [UInt8] {
  let scopeBody = Array("\\___".utf8)  // a Scope(\) header stand-in
  let before: [UInt8] =
    [0x10, UInt8(scopeBody.count + 1)] + scopeBody + [0x08] + Array("PICF".utf8) + [0x00]
  // Method(_PTS, 1) { Return(0) }
  let after: [UInt8] = [0x14, 0x08] + Array("_PTS".utf8) + [0x01, 0xA4, 0x00]
  return table("DSDT", revision: 1, body: before + aml + after)
}

private enum Address {
  static let rsdt: UInt64 = 0x7FE_1000
  static let xsdt: UInt64 = 0x7FE_1100
  static let fadt: UInt64 = 0x7FE_2000
  static let altFADT: UInt64 = 0x7FE_2400
  static let madt: UInt64 = 0x7FE_3000
  static let dsdt: UInt64 = 0x7FE_4000
  static let xDSDT: UInt64 = 0x1_0000_0000
}

/// A machine like QEMU's `pc`: RSDP v1 -> RSDT -> FADT (rev 1) -> DSDT.
private struct FakeMachine {
  var rsdp: [UInt8] = rsdpV1(rsdt: UInt32(Address.rsdt))
  var memory: [UInt64: [UInt8]] = [
    Address.rsdt: table("RSDT", body: le32(UInt32(Address.fadt)) + le32(UInt32(Address.madt))),
    Address.fadt: fadt(dsdt: UInt32(Address.dsdt)),
    Address.madt: table("APIC", body: [UInt8](repeating: 0, count: 8)),
    Address.dsdt: dsdt(aml: s5AML([bytePrefix(5), bytePrefix(5), [0], [0]])),
  ]

  func plan() -> Result<ACPIPowerOff, ACPIError> {
    let fake = FakePhysicalMemory(memory)
    return rsdp.withUnsafeBytes { ACPIPowerOff.plan(rsdp: ByteView($0), using: fake.read) }
  }

  func failure() -> ACPIError? {
    if case .failure(let error) = plan() { return error }
    return nil
  }

  func directory() -> Result<ACPITableDirectory, ACPIError> {
    let fake = FakePhysicalMemory(memory)
    return rsdp.withUnsafeBytes { view in
      RSDP.parse(ByteView(view)).flatMap { ACPITableDirectory.load(rsdp: $0, using: fake.read) }
    }
  }
}

private func sleepTypes(aml: [UInt8]) -> Result<[UInt64], ACPIError> {
  let bytes = dsdt(aml: aml)
  return bytes.withUnsafeBytes { view in
    Result { () throws(ACPIError) in
      let (a, b) = try ACPIPowerOff.s5SleepTypes(in: ByteView(view))
      return [a, b]
    }
  }
}

// MARK: tests

@Suite struct ACPIPowerOffTests {
  @Test func plansS5FromRSDTAndBytePrefixElements() throws {
    let plan = try FakeMachine().plan().get()
    #expect(
      plan
        == ACPIPowerOff(
          pm1aControlPort: 0x604, pm1bControlPort: nil, slpTypA: 5, slpTypB: 5,
          smiCommandPort: 0xB2,
          acpiEnableValue: 0xF1))
    #expect(plan.pm1aControlValue() == (5 << 10) | (1 << 13))
    #expect(plan.description == "PM1a 0x604 <- 0x3400")
  }

  @Test func plansS5WithZeroElementsAsQEMUDefinesIt() throws {
    var machine = FakeMachine()
    machine.memory[Address.dsdt] = dsdt(aml: s5AML([[0x00], [0x00], [0x00], [0x00]]))
    let plan = try machine.plan().get()
    #expect(plan.slpTypA == 0 && plan.slpTypB == 0)
    #expect(plan.pm1aControlValue() == 0x2000)
  }

  @Test func keepsOtherControlBitsAndReplacesSleepBits() {
    let plan = ACPIPowerOff(pm1aControlPort: 0x604, pm1bControlPort: 0x608, slpTypA: 5, slpTypB: 2)
    #expect(plan.pm1aControlValue(current: 0x1C01) == 0x3401)
    #expect(plan.pm1bControlValue(current: 0x0001) == 0x2801)
  }

  @Test func prefersTheXSDTWhenTheRSDPHasOne() throws {
    var machine = FakeMachine()
    machine.rsdp = rsdpV2(rsdt: UInt32(Address.rsdt), xsdt: Address.xsdt)
    machine.memory[Address.xsdt] = table("XSDT", body: le64(Address.altFADT))
    machine.memory[Address.altFADT] = fadt(dsdt: UInt32(Address.dsdt), pm1a: 0xB004)
    #expect(try machine.plan().get().pm1aControlPort == 0xB004)
    #expect(try machine.directory().get().root.signature == .xsdt)
  }

  @Test func fallsBackToTheRSDTWhenTheXSDTIsBroken() throws {
    var machine = FakeMachine()
    machine.rsdp = rsdpV2(rsdt: UInt32(Address.rsdt), xsdt: Address.xsdt)
    var xsdt = table("XSDT", body: le64(Address.altFADT))
    xsdt[40] ^= 0xFF
    machine.memory[Address.xsdt] = xsdt
    #expect(try machine.plan().get().pm1aControlPort == 0x604)
  }

  @Test func reportsTheXSDTErrorWhenTheRSDTFailsToo() {
    var machine = FakeMachine()
    machine.rsdp = rsdpV2(rsdt: 0, xsdt: Address.xsdt)
    #expect(machine.failure() == .tableUnreadable(.xsdt, address: Address.xsdt))
  }

  @Test func usesXDSDTAndTheExtendedPM1aBlockOfALongFADT() throws {
    var machine = FakeMachine()
    machine.memory[Address.fadt] = fadt(
      length: 244, dsdt: 0xDEAD_0000, xDSDT: Address.xDSDT, pm1a: 0, xPM1a: (1, 0x1804))
    machine.memory[Address.xDSDT] = dsdt(aml: s5AML([[0x01], [0x0B] + le16(3)]))
    let plan = try machine.plan().get()
    #expect(plan.pm1aControlPort == 0x1804)
    #expect(plan.slpTypA == 1 && plan.slpTypB == 3)
  }

  @Test func ignoresAnExtendedPM1aBlockOutsideIOSpace() {
    var machine = FakeMachine()
    machine.memory[Address.fadt] = fadt(
      length: 244, dsdt: UInt32(Address.dsdt), pm1a: 0, xPM1a: (0, 0x1804))
    #expect(machine.failure() == .noPM1aControlPort)
  }

  @Test func includesThePM1bPortWhenTheFADTHasOne() throws {
    var machine = FakeMachine()
    machine.memory[Address.fadt] = fadt(dsdt: UInt32(Address.dsdt), pm1b: 0x608, smiCommand: 0)
    let plan = try machine.plan().get()
    #expect(plan.pm1bControlPort == 0x608 && plan.smiCommandPort == nil)
    #expect(plan.description == "PM1a 0x604 <- 0x3400, PM1b 0x608 <- 0x3400")
  }

  // MARK: the _S5_ scan

  @Test func acceptsARootPrefixedName() throws {
    #expect(try sleepTypes(aml: s5AML([bytePrefix(7), [0x00]], rootPrefix: true)).get() == [7, 0])
  }

  @Test func decodesEveryIntegerEncoding() throws {
    #expect(try sleepTypes(aml: s5AML([[0x0C] + le32(6), [0x0E] + le64(4)])).get() == [6, 4])
    #expect(try sleepTypes(aml: s5AML([[0x01], [0xFF]])).get() == [1, UInt64.max])
  }

  @Test func decodesAMultiBytePackageLength() throws {
    // Package(2){5, 5} with its 7-byte length written in the two-byte form.
    let aml: [UInt8] =
      [0x08] + Array("_S5_".utf8) + [0x12, 0x47, 0x00, 0x02, 0x0A, 0x05, 0x0A, 0x05]
    #expect(try sleepTypes(aml: aml).get() == [5, 5])
  }

  @Test func skipsMentionsOfTheNameThatAreNotDefinitions() throws {
    // A string "_S5_" (in a Debug store, say) before the real definition.
    let aml = [0x0D] + Array("_S5_".utf8) + [0x00] + s5AML([bytePrefix(3), bytePrefix(4)])
    #expect(try sleepTypes(aml: aml).get() == [3, 4])
  }

  @Test func usesALaterDefinitionWhenAnEarlierOneIsMalformed() throws {
    let broken: [UInt8] = [0x08] + Array("_S5_".utf8) + [0x0A, 0x05]
    #expect(try sleepTypes(aml: broken + s5AML([[0x00], [0x00]])).get() == [0, 0])
  }

  @Test func reportsAMissingS5() {
    #expect(sleepTypes(aml: [0x08] + Array("_S4_".utf8) + [0x00]) == .failure(.noS5))
    #expect(
      sleepTypes(aml: Array("_S5_".utf8) + [0x12, 0x04, 0x02, 0x00, 0x00]) == .failure(.noS5))
    var machine = FakeMachine()
    machine.memory[Address.dsdt] = dsdt(aml: [])
    #expect(machine.failure() == .noS5)
  }

  @Test(
    arguments: [
      ("not a package", [0x0A, 0x05]),
      ("package past the table", [0x12, 0x3F, 0x02, 0x00, 0x00]),
      ("one element", [0x12, 0x03, 0x01, 0x00]),
      ("no elements left", [0x12, 0x02, 0x02]),
      ("string element", [0x12, 0x06, 0x02, 0x0D, 0x41, 0x00, 0x00]),
      ("element past the package", [0x12, 0x04, 0x02, 0x00, 0x0C, 0x05, 0x00, 0x00, 0x00]),
      ("four-byte length past the table", [0x12, 0xC0]),
    ] as [(String, [UInt8])])
  func reportsAMalformedPackage(_ what: String, package: [UInt8]) {
    let aml = [0x08] + Array("_S5_".utf8) + package
    // The package starts after the DSDT header, the Scope stand-in (6 bytes),
    // Name(PICF, 0) (6 bytes), NameOp and the name.
    #expect(sleepTypes(aml: aml) == .failure(.malformedS5(offset: 36 + 12 + 5)), "\(what)")
  }

  /// Found by the poweroff fuzz target: a `Name(_S5_` that is the last
  /// thing in the DSDT was reported at the table's end, outside it.
  @Test func reportsANameThatEndsTheTableAtTheName() {
    let bytes = table("DSDT", body: [0x08] + Array("_S5_".utf8))
    let result = bytes.withUnsafeBytes { view in
      Result { () throws(ACPIError) in try ACPIPowerOff.s5SleepTypes(in: ByteView(view)) }
    }
    guard case .failure(let error) = result else {
      Issue.record("a package-less _S5_ decoded")
      return
    }
    #expect(error == .malformedS5(offset: bytes.count - 4))
  }

  @Test func rejectsSleepTypesThatDoNotFitSLPTYP() {
    var machine = FakeMachine()
    machine.memory[Address.dsdt] = dsdt(aml: s5AML([[0xFF], [0x00]]))
    #expect(machine.failure() == .sleepTypeOutOfRange(UInt64.max))
    machine.memory[Address.dsdt] = dsdt(aml: s5AML([[0x00], bytePrefix(8)]))
    #expect(machine.failure() == .sleepTypeOutOfRange(8))
  }

  // MARK: errors along the table chain

  @Test func reportsAMissingRSDP() {
    let fake = FakePhysicalMemory([:])
    #expect(ACPIPowerOff.plan(rsdp: nil, using: fake.read) == .failure(.noRSDP))
  }

  @Test func validatesTheRSDP() {
    var machine = FakeMachine()
    machine.rsdp = Array(rsdpV1(rsdt: 0x1000).prefix(19))
    #expect(machine.failure() == .rsdpTooShort(count: 19))
    machine.rsdp = rsdpV1(rsdt: 0x1000)
    machine.rsdp[0] = UInt8(ascii: "X")
    #expect(machine.failure() == .badRSDPSignature)
    machine.rsdp = rsdpV1(rsdt: 0x1000)
    machine.rsdp[16] ^= 1
    #expect(machine.failure() == .badRSDPChecksum)
    machine.rsdp = rsdpV2(rsdt: 0x1000, xsdt: 0x2000)
    machine.rsdp[30] ^= 1
    #expect(machine.failure() == .badRSDPExtendedChecksum)
    machine.rsdp = rsdpV1(rsdt: 0)
    #expect(machine.failure() == .noRootTable)
  }

  @Test(arguments: [UInt32(20), 35, 37]) func rejectsABadRSDPLength(length: UInt32) {
    var machine = FakeMachine()
    machine.rsdp = rsdpV2(rsdt: 0x1000, xsdt: 0x2000)
    machine.rsdp.replaceSubrange(20..<24, with: le32(length))
    fixChecksum(&machine.rsdp, at: 8, over: 20)
    #expect(machine.failure() == .badRSDPLength(length: length, available: 36))
  }

  @Test func parsesTheRSDPFields() throws {
    let bytes = rsdpV2(rsdt: 0x7FE_1000, xsdt: 0x7FE_1100)
    let rsdp = try RSDP.parse(bytes: bytes).get()
    #expect(
      rsdp
        == RSDP(
          revision: 2, oemID: "TESSRA", rsdtAddress: 0x7FE_1000, xsdtAddress: 0x7FE_1100, length: 36
        ))
  }

  @Test func findsAnRSDPOnASixteenByteBoundary() {
    let area =
      [UInt8](repeating: 0, count: 48) + Array("RSD PTR ".utf8) + [UInt8](repeating: 0, count: 24)
      + rsdpV1(rsdt: 0x1000) + [UInt8](repeating: 0, count: 12)
    #expect(area.withUnsafeBytes { RSDP.search(in: ByteView($0)) } == 80)
    #expect(
      [UInt8](repeating: 0, count: 64).withUnsafeBytes { RSDP.search(in: ByteView($0)) } == nil)
  }

  @Test func reportsAnUnreadableRootTable() {
    var machine = FakeMachine()
    machine.memory[Address.rsdt] = nil
    #expect(machine.failure() == .tableUnreadable(.rsdt, address: Address.rsdt))
  }

  @Test func reportsABadRootTableChecksum() {
    var machine = FakeMachine()
    machine.memory[Address.rsdt]?[36] ^= 0x40
    #expect(machine.failure() == .badTableChecksum(.rsdt, address: Address.rsdt))
  }

  @Test func reportsAWrongSignatureWhereTheRSDTShouldBe() {
    var machine = FakeMachine()
    machine.memory[Address.rsdt] = table("XSDT", body: le64(Address.fadt))
    #expect(
      machine.failure()
        == .unexpectedSignature(expected: .rsdt, found: .xsdt, address: Address.rsdt))
  }

  @Test(arguments: [UInt32(0), 35, UInt32(ACPITable.maximumLength + 1), UInt32.max])
  func rejectsAnInsaneTableLength(length: UInt32) {
    var machine = FakeMachine()
    machine.memory[Address.rsdt]?.replaceSubrange(4..<8, with: le32(length))
    #expect(machine.failure() == .badTableLength(.rsdt, address: Address.rsdt, length: length))
  }

  @Test func reportsATableLongerThanTheReadableMemory() {
    var machine = FakeMachine()
    var rsdt = table("RSDT", body: le32(UInt32(Address.fadt)) + [0, 0, 0, 0])
    rsdt.removeLast(4)  // the length field still counts the removed bytes
    machine.memory[Address.rsdt] = rsdt
    #expect(machine.failure() == .tableUnreadable(.rsdt, address: Address.rsdt))
  }

  @Test func reportsAMissingFADT() {
    var machine = FakeMachine()
    machine.memory[Address.rsdt] = table(
      "RSDT", body: le32(UInt32(Address.madt)) + le32(0x1234_0000))
    #expect(machine.failure() == .tableNotFound(.fadt))
  }

  @Test func reportsABadFADTChecksum() {
    var machine = FakeMachine()
    machine.memory[Address.fadt]?[100] ^= 1
    #expect(machine.failure() == .badTableChecksum(.fadt, address: Address.fadt))
  }

  @Test func reportsAnFADTTooShortForThePM1Blocks() {
    var machine = FakeMachine()
    machine.memory[Address.fadt] = table("FACP", body: le32(0) + le32(UInt32(Address.dsdt)))
    #expect(machine.failure() == .badTableLength(.fadt, address: Address.fadt, length: 44))
  }

  @Test func reportsAMissingDSDT() {
    var machine = FakeMachine()
    machine.memory[Address.fadt] = fadt(dsdt: 0)
    #expect(machine.failure() == .noDSDT)
  }

  @Test func reportsABadDSDT() {
    var machine = FakeMachine()
    machine.memory[Address.dsdt]?[50] ^= 1
    #expect(machine.failure() == .badTableChecksum(.dsdt, address: Address.dsdt))
    machine.memory[Address.dsdt] = table("SSDT", body: [])
    #expect(
      machine.failure()
        == .unexpectedSignature(
          expected: .dsdt, found: ACPISignature("SSDT"), address: Address.dsdt))
  }

  @Test func reportsAZeroPM1aPort() {
    var machine = FakeMachine()
    machine.memory[Address.fadt] = fadt(dsdt: UInt32(Address.dsdt), pm1a: 0)
    #expect(machine.failure() == .noPM1aControlPort)
  }

  @Test func reportsAPM1BlockBeyondTheIOPortRange() {
    var machine = FakeMachine()
    machine.memory[Address.fadt] = fadt(dsdt: UInt32(Address.dsdt), pm1a: 0x1_0004)
    #expect(machine.failure() == .controlPortOutOfRange(0x1_0004))
  }

  @Test func describesErrorsByTableAndAddress() {
    let error = ACPIError.badTableChecksum(.dsdt, address: 0x7FE_4000)
    #expect(error.description == "acpi: DSDT at 0x7fe4000 has a bad checksum")
    #expect(ACPISignature(rawValue: 0x0150_4146).description == "FAP?")
  }

  // MARK: the table listing

  @Test func listsEveryTableOfTheRootTable() throws {
    var machine = FakeMachine()
    var brokenMADT = table("APIC", body: [1, 2, 3, 4])
    brokenMADT[37] ^= 1
    machine.memory[Address.madt] = brokenMADT
    machine.memory[Address.rsdt] = table(
      "RSDT",
      body: le32(UInt32(Address.fadt)) + le32(UInt32(Address.madt)) + le32(0) + le32(0x5000_0000))
    let directory = try machine.directory().get()
    #expect(directory.entries == [Address.fadt, Address.madt, 0x5000_0000])
    let fake = FakePhysicalMemory(machine.memory)
    let summaries = directory.summaries(using: fake.read)
    #expect(
      summaries == [
        ACPITableSummary(address: Address.rsdt, signature: .rsdt, length: 52, isValid: true),
        ACPITableSummary(address: Address.fadt, signature: .fadt, length: 116, isValid: true),
        ACPITableSummary(address: Address.madt, signature: .madt, length: 40, isValid: false),
        ACPITableSummary(address: 0x5000_0000, signature: nil, length: 0, isValid: false),
      ])
    #expect(summaries[1].description == "FACP at 0x7fe2000 length 116 ok")
    #expect(summaries[3].description == "???? at 0x50000000 length 0 INVALID")
    let header = directory.root.header
    #expect(
      header.oemID == "TESSRA" && header.oemTableID == "TESTTABL"
        && header.creatorID == ACPISignature("TEST"))
  }

  @Test func ignoresAPartialTrailingRootEntry() throws {
    var machine = FakeMachine()
    machine.memory[Address.rsdt] = table("RSDT", body: le32(UInt32(Address.fadt)) + [0x00, 0x30])
    #expect(try machine.directory().get().entries == [Address.fadt])
  }

  // MARK: random input never traps

  @Test func randomAMLYieldsSleepTypesOrAnError() async {
    // Bias towards the bytes the scanner looks for, so it gets past the name.
    let opcodes: [UInt8] = [0x08, 0x12, 0x0A, 0x0B, 0x0C, 0x0E, 0xFF, 0x00, 0x01, 0x02, 0x04]
    let amlByte = zip(Gen.uint8(), Gen.int(in: 0...(2 * opcodes.count))).map { byte, pick in
      pick < opcodes.count ? opcodes[pick] : byte
    }
    await propertyCheck(
      count: 300, input: amlByte.array(of: 0...80), Gen.bool(),
      zip(Gen.bool(), Gen.uint8(), Gen.uint8())
    ) { tail, rootPrefix, known in
      // Sometimes a well-formed package with known values comes first.
      let (wellFormed, a, b) = known
      let package = wellFormed ? [0x12, 6, 2] + bytePrefix(a) + bytePrefix(b) : []
      let name = [0x08] + (rootPrefix ? [0x5C] : []) + Array("_S5_".utf8)
      let aml = name + package + tail
      // Where the package of this, the table's first \_S5_ definition, starts.
      let table = dsdt(aml: aml)
      let packageOffset =
        table.indices.first { Array(table[$0...].prefix(4)) == Array("_S5_".utf8) }! + 4
      let result = sleepTypes(aml: aml)
      switch result {
      case .success(let types):
        #expect(types.count == 2)
        if wellFormed { #expect(types == [UInt64(a), UInt64(b)]) }
      case .failure(let error):
        // The first definition is ours, so the error can only be that its
        // package is malformed, named at the right offset.
        #expect(!wellFormed)
        #expect(error == .malformedS5(offset: packageOffset), "\(error.description)")
      }
      #expect(sleepTypes(aml: aml) == result, "scanning is deterministic")
    }
  }

  @Test func randomRSDPBytesYieldAValueOrAnError() async {
    await propertyCheck(count: 300, input: Gen.uint8().array(of: 0...64), Gen.bool(), Gen.bool()) {
      bytes, withSignature, sealed in
      var candidate = bytes
      if withSignature && candidate.count >= 8 {
        candidate.replaceSubrange(0..<8, with: Array("RSD PTR ".utf8))
      }
      // Sometimes a right 20-byte checksum, to get past it.
      if sealed && candidate.count >= 20 { fixChecksum(&candidate, at: 8, over: 20) }
      let signed = candidate.starts(with: Array("RSD PTR ".utf8))
      let headSumsToZero = candidate.prefix(20).reduce(UInt8(0), &+) == 0
      switch candidate.withUnsafeBytes({ RSDP.parse(ByteView($0)) }) {
      case .success(let rsdp):
        // Only a signed, summing RSDP passes, with its fields from the bytes.
        #expect(rsdp.length <= candidate.count && signed && headSumsToZero)
        #expect(rsdp.revision == candidate[15])
        #expect(UInt64(rsdp.rsdtAddress) == le(candidate, at: 16, width: 4))
        #expect(rsdp.revision >= 2 || (rsdp.length == 20 && rsdp.xsdtAddress == nil))
      // Each error is the one the bytes call for, in the order of the checks.
      case .failure(.rsdpTooShort(let count)):
        #expect(count == candidate.count && count < 20)
      case .failure(.badRSDPSignature):
        #expect(candidate.count >= 20 && !signed)
      case .failure(.badRSDPChecksum):
        #expect(candidate.count >= 20 && signed && !headSumsToZero)
      case .failure(.badRSDPLength(let length, let available)):
        #expect(signed && headSumsToZero && candidate[15] >= 2 && available == candidate.count)
        #expect(length < 36 || Int(length) > available)
      case .failure(.badRSDPExtendedChecksum):
        #expect(signed && headSumsToZero && candidate[15] >= 2)
      case .failure(let error):
        Issue.record("RSDP.parse cannot fail with \(error)")
      }
    }
  }

  @Test func randomTablesYieldAPlanOrAnError() async {
    // Random bytes where the RSDT, FADT and DSDT should be, each either raw or
    // wrapped in a valid header, so the walk reaches every stage.
    let region = zip(Gen.uint8().array(of: 0...160), Gen.bool())
    await propertyCheck(count: 200, input: region, region, region) { rsdt, fadtBytes, dsdtBytes in
      var machine = FakeMachine()
      func image(_ signature: String, _ input: ([UInt8], Bool)) -> [UInt8] {
        input.1 ? table(signature, body: input.0) : input.0
      }
      machine.memory[Address.rsdt] = image("RSDT", rsdt)
      machine.memory[Address.fadt] = image("FACP", fadtBytes)
      machine.memory[Address.dsdt] = image("DSDT", dsdtBytes)
      checkPlan(machine, touched: [0, 1, 2])
      // A raw RSDT (no valid header) fails the walk at the RSDT; a wrapped
      // one listing no FADT fails to find it.
      let listed = (0..<rsdt.0.count / 4).map { le(rsdt.0, at: 4 * $0, width: 4) }
      if !rsdt.1 && !rsdt.0.starts(with: Array("RSDT".utf8)) {
        #expect(suspects(machine.failure()) == [0])
      } else if rsdt.1 && !listed.contains(Address.fadt) {
        #expect(machine.failure() == .tableNotFound(.fadt))
      }
    }
  }

  @Test func mutatedMachinesYieldAPlanOrAnError() async {
    let addresses = [Address.rsdt, Address.fadt, Address.dsdt]
    let mutation = zip(Gen.int(in: 0...2), Gen.int(in: 0...200), Gen.uint8())
    await propertyCheck(count: 300, input: mutation.array(of: 1...4), Gen.int(in: 0...200)) {
      mutations, cut in
      let fixture = FakeMachine()
      var machine = fixture
      for (table, position, value) in mutations {
        guard var bytes = machine.memory[addresses[table]], position < bytes.count else { continue }
        bytes[position] = value
        fixChecksum(&bytes, at: 9)  // keep most mutations past the checksum check
        machine.memory[addresses[table]] = bytes
      }
      if let dsdt = machine.memory[Address.dsdt] {
        machine.memory[Address.dsdt] = Array(dsdt.prefix(max(cut, 36)))
      }
      // The tables (0 RSDT, 1 FADT, 2 DSDT) whose bytes now differ.
      let touched = Set(
        addresses.indices.filter { machine.memory[addresses[$0]] != fixture.memory[addresses[$0]] })
      checkPlan(machine, touched: touched)
    }
  }
}

/// Little-endian bytes of `bytes` at `offset`.
private func le(_ bytes: [UInt8], at offset: Int, width: Int) -> UInt64 {
  (0..<width).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << UInt64(8 * $1) }
}

/// The tables (0 RSDT, 1 FADT, 2 DSDT) that can be to blame for `error` on
/// a machine whose RSDP is intact: the table an address-naming error is at
/// (or, at an address no table is at, the one that pointed there), the FADT
/// for its fields, the DSDT for the \_S5 object.
private func suspects(_ error: ACPIError?) -> Set<Int> {
  func at(_ address: UInt64, pointedToBy table: Int) -> Set<Int> {
    switch address {
    case Address.rsdt: [0]
    case Address.fadt: [1]
    case Address.dsdt: [2]
    default: [table]
    }
  }
  switch error {
  case .tableUnreadable(let signature, let address), .badTableLength(let signature, let address, _),
    .badTableChecksum(let signature, let address):
    return at(address, pointedToBy: signature == .dsdt ? 1 : 0)
  case .unexpectedSignature(let expected, _, let address):
    // The DSDT's own signature, or a DSDT pointer gone astray.
    return expected == .dsdt ? (address == Address.dsdt ? [2] : [1]) : at(address, pointedToBy: 0)
  case .tableNotFound(.fadt): return [0, 1]
  case .noDSDT, .noPM1aControlPort, .controlPortOutOfRange: return [1]
  case .noS5, .malformedS5, .sleepTypeOutOfRange: return [2]
  default: return []
  }
}

/// What the plan of a machine whose `touched` tables were changed must be:
/// the same twice; on failure, blamed on a changed table (a malformed \_S5
/// inside the DSDT); on success, with PM1 ports and sleep types read from
/// the FADT and DSDT, and equal to the fixture's for untouched tables.
private func checkPlan(_ machine: FakeMachine, touched: Set<Int>) {
  let plan = machine.plan()
  #expect(machine.plan() == plan, "planning is deterministic")
  switch plan {
  case .success(let plan):
    #expect(plan.pm1aControlPort != 0 && plan.slpTypA <= 7 && plan.slpTypB <= 7)
    if !touched.contains(1) {
      #expect(plan.pm1aControlPort == 0x604 && plan.pm1bControlPort == nil)
      #expect(plan.smiCommandPort == 0xB2 && plan.acpiEnableValue == 0xF1)
      if !touched.contains(2) { #expect(plan.slpTypA == 5 && plan.slpTypB == 5) }
    }
  case .failure(let error):
    #expect(!error.description.isEmpty)
    #expect(
      !suspects(error).isDisjoint(with: touched), "\(error.description) blames an intact table")
    if case .malformedS5(let offset) = error {
      #expect(offset < machine.memory[Address.dsdt]?.count ?? 0)
    }
  }
  if case .success(let directory) = machine.directory() {
    let fake = FakePhysicalMemory(machine.memory)
    #expect(directory.summaries(using: fake.read).count == directory.entries.count + 1)
  }
}
