import PropertyBased
import Testing

@testable import TesseraCore

private typealias Tables = ACPITestTables

/// What every QEMU pc machine's MADT lists besides the processors.
private enum QEMUInterrupts {
  static let ioAPICs = [IOAPICDescriptor(id: 0, address: 0xFEC0_0000, interruptBase: 0)]
  /// IRQ 0 (the PIT) on GSI 2; the PCI link IRQs level-triggered, active high.
  static let overrides = [
    InterruptOverride(sourceIRQ: 0, globalInterrupt: 2, flags: 0),
    InterruptOverride(sourceIRQ: 5, globalInterrupt: 5, flags: 0xD),
    InterruptOverride(sourceIRQ: 9, globalInterrupt: 9, flags: 0xD),
    InterruptOverride(sourceIRQ: 10, globalInterrupt: 10, flags: 0xD),
    InterruptOverride(sourceIRQ: 11, globalInterrupt: 11, flags: 0xD),
  ]
  static let nmis = [LocalAPICNMI(acpiProcessorUID: nil, flags: 0, lint: 1)]

  /// The MADT QEMU builds for processors with APIC IDs (and UIDs) 0..<count,
  /// the first `enabled` of them enabled.
  static func madt(processors count: UInt32, enabled: UInt32? = nil) -> MADT {
    MADT(
      localAPICAddress32: 0xFEE0_0000, flags: 1,
      processors: (0..<count).map {
        MADTProcessor(
          apicID: $0, acpiProcessorUID: $0, flags: $0 < (enabled ?? count) ? 1 : 0, isX2APIC: false)
      },
      ioAPICs: ioAPICs, interruptOverrides: overrides, nmis: nmis)
  }
}

/// An MADT body: the local APIC address, the flags, then `entries`.
private func madtImage(address: UInt32 = 0xFEE0_0000, flags: UInt32 = 1, entries: [[UInt8]])
  -> [UInt8]
{
  Tables.table(
    "APIC", revision: 5, body: Tables.le32(address) + Tables.le32(flags) + entries.flatMap { $0 })
}

private func madt(_ bytes: [UInt8]) throws -> Result<MADT, MADTError> {
  try Tables.parse(bytes, MADT.parse)
}

private enum Entry {
  static func localAPIC(uid: UInt8, id: UInt8, flags: UInt32) -> [UInt8] {
    [0, 8, uid, id] + Tables.le32(flags)
  }
  static func x2APIC(id: UInt32, flags: UInt32, uid: UInt32) -> [UInt8] {
    [9, 16, 0, 0] + Tables.le32(id) + Tables.le32(flags) + Tables.le32(uid)
  }
  static func ioAPIC(id: UInt8, address: UInt32, base: UInt32) -> [UInt8] {
    [1, 12, id, 0] + Tables.le32(address) + Tables.le32(base)
  }
  static func override(irq: UInt8, gsi: UInt32, flags: UInt16) -> [UInt8] {
    [2, 10, 0, irq] + Tables.le32(gsi) + Tables.le16(flags)
  }
  static func nmi(uid: UInt8, flags: UInt16, lint: UInt8) -> [UInt8] {
    [4, 6, uid] + Tables.le16(flags) + [lint]
  }
  static func addressOverride(_ address: UInt64) -> [UInt8] {
    [5, 12, 0, 0] + Tables.le64(address)
  }
  static func x2APICNMI(uid: UInt32, flags: UInt16, lint: UInt8) -> [UInt8] {
    [0xA, 12] + Tables.le16(flags) + Tables.le32(uid) + [lint, 0, 0, 0]
  }
}

@Suite struct MADTTests {
  // MARK: QEMU's tables

  @Test func qemuSingleCPU() throws {
    let parsed = try qemuSMP1MADT.parse(MADT.parse).get()
    #expect(parsed == QEMUInterrupts.madt(processors: 1))
    #expect(parsed.localAPICAddress == 0xFEE0_0000)
    #expect(parsed.hasLegacyPICs)
    #expect(parsed.interruptOverrides[0].activeLow == false)
    #expect(parsed.interruptOverrides[1].levelTriggered && !parsed.interruptOverrides[1].activeLow)
    #expect(
      parsed.description
        == "MADT: local APIC 0xfee00000, processors 1 (1 enabled), IOAPICs 1, interrupt overrides 5, local NMIs 1"
    )
  }

  @Test func qemuFourAndEightCPUs() throws {
    #expect(try qemuSMP4NUMA2MADT.parse(MADT.parse).get() == QEMUInterrupts.madt(processors: 4))
    #expect(try qemuSMP8NUMA4MADT.parse(MADT.parse).get() == QEMUInterrupts.madt(processors: 8))
    #expect(try qemuSMP2NUMA2At4GMADT.parse(MADT.parse).get() == QEMUInterrupts.madt(processors: 2))
  }

  /// `-smp 2,maxcpus=4`: the two possible but absent CPUs are listed disabled
  /// (and, in this old MADT revision, without the online-capable bit).
  @Test func qemuHotPluggableCPUsAreDisabled() throws {
    let parsed = try qemuHotplugMADT.parse(MADT.parse).get()
    #expect(parsed == QEMUInterrupts.madt(processors: 4, enabled: 2))
    #expect(parsed.processors.map(\.enabled) == [true, true, false, false])
    #expect(parsed.processors.allSatisfy { !$0.onlineCapable })
    #expect(parsed.processors[2].description == "APIC ID 2, processor UID 2, disabled")
  }

  // MARK: Every entry type

  @Test func allEntryTypesAndUnknownOnesSkipped() throws {
    let bytes = madtImage(
      address: 0xFEE0_0000, flags: 0,
      entries: [
        Entry.localAPIC(uid: 1, id: 0, flags: 1),
        Entry.localAPIC(uid: 2, id: 1, flags: 2),  // online capable, not enabled
        Entry.x2APIC(id: 300, flags: 1, uid: 3),
        Entry.ioAPIC(id: 8, address: 0xFEC0_0000, base: 0),
        Entry.ioAPIC(id: 9, address: 0xFEC0_1000, base: 24),
        [3, 8] + Tables.le16(0) + Tables.le32(0),  // NMI source: known, not used
        Entry.override(irq: 0, gsi: 2, flags: 0),
        Entry.nmi(uid: 1, flags: 0x5, lint: 1),
        Entry.addressOverride(0x1_FEE0_0000),
        Entry.addressOverride(0x2_FEE0_0000),  // only the first counts
        Entry.x2APICNMI(uid: 0xFFFF_FFFF, flags: 0, lint: 1),
        Entry.x2APICNMI(uid: 3, flags: 0xF, lint: 0),
        [0x7F, 5, 1, 2, 3],  // unknown type
        [0, 10, 4, 5] + Tables.le32(1) + [0xAA, 0xBB],  // longer than type 0 needs
      ])
    let parsed = try madt(bytes).get()
    #expect(
      parsed
        == MADT(
          localAPICAddress32: 0xFEE0_0000, flags: 0,
          processors: [
            MADTProcessor(apicID: 0, acpiProcessorUID: 1, flags: 1, isX2APIC: false),
            MADTProcessor(apicID: 1, acpiProcessorUID: 2, flags: 2, isX2APIC: false),
            MADTProcessor(apicID: 300, acpiProcessorUID: 3, flags: 1, isX2APIC: true),
            MADTProcessor(apicID: 5, acpiProcessorUID: 4, flags: 1, isX2APIC: false),
          ],
          ioAPICs: [
            IOAPICDescriptor(id: 8, address: 0xFEC0_0000, interruptBase: 0),
            IOAPICDescriptor(id: 9, address: 0xFEC0_1000, interruptBase: 24),
          ],
          interruptOverrides: [InterruptOverride(sourceIRQ: 0, globalInterrupt: 2, flags: 0)],
          nmis: [
            LocalAPICNMI(acpiProcessorUID: 1, flags: 5, lint: 1),
            LocalAPICNMI(acpiProcessorUID: nil, flags: 0, lint: 1),
            LocalAPICNMI(acpiProcessorUID: 3, flags: 0xF, lint: 0),
          ],
          localAPICAddressOverride: 0x1_FEE0_0000, skippedEntryTypes: [3, 0x7F]))
    #expect(parsed.localAPICAddress == 0x1_FEE0_0000)
    #expect(!parsed.hasLegacyPICs)
    #expect(parsed.processors[1].onlineCapable && !parsed.processors[1].enabled)
    #expect(
      parsed.processors[2].description == "x2APIC ID 300, processor UID 3, enabled")
    #expect(parsed.nmis[1].description == "NMI on LINT1 of all processors, flags 0x0000")
    #expect(parsed.nmis[2].description == "NMI on LINT0 of processor UID 3, flags 0x000f")
  }

  @Test func noEntriesAtAll() throws {
    #expect(
      try madt(madtImage(entries: [])).get() == MADT(localAPICAddress32: 0xFEE0_0000, flags: 1))
  }

  // MARK: Malformed tables

  @Test(arguments: [0, 1])
  func entryLengthBelowTwo(length: UInt8) throws {
    let bytes = madtImage(entries: [Entry.localAPIC(uid: 0, id: 0, flags: 1), [0, length, 0, 0]])
    #expect(try madt(bytes) == .failure(.bogusEntryLength(offset: 52, length: length)))
  }

  @Test func entryLengthPastTheEnd() throws {
    let bytes = madtImage(entries: [
      Entry.localAPIC(uid: 0, id: 0, flags: 1), [0, 9, 1, 1] + Tables.le32(1),
    ])
    let result = try madt(bytes)
    #expect(result == .failure(.bogusEntryLength(offset: 52, length: 9)))
    if case .failure(let error) = result {
      #expect(error.description == "madt: bogus entry length 9 at offset 0x34")
    }
  }

  @Test func oneByteLeftAfterTheLastEntry() throws {
    let result = try madt(madtImage(entries: [Entry.localAPIC(uid: 0, id: 0, flags: 1), [0]]))
    #expect(result == .failure(.bogusEntryLength(offset: 52, length: nil)))
    if case .failure(let error) = result {
      #expect(error.description == "madt: entry at offset 0x34 is cut off by the table end")
    }
  }

  @Test func entriesTooShortForTheirType() throws {
    let cases: [(entry: [UInt8], type: UInt8, minimum: Int)] = [
      ([0, 6, 0, 0, 1, 0], 0, 8),
      ([1, 8, 0, 0, 0, 0, 0xC0, 0xFE], 1, 12),
      ([2, 8, 0, 0, 2, 0, 0, 0], 2, 10),
      ([4, 5, 0xFF, 0, 0], 4, 6),
      ([5, 4, 0, 0], 5, 12),
      ([9, 12] + [UInt8](repeating: 0, count: 10), 9, 16),
      ([0xA, 8, 0, 0, 0, 0, 0, 0], 0xA, 12),
    ]
    for (entry, type, minimum) in cases {
      let result = try madt(madtImage(entries: [entry]))
      #expect(
        result
          == .failure(
            .entryTooShort(type: type, offset: 44, length: entry.count, minimum: minimum)))
    }
    if case .failure(let error) = try madt(madtImage(entries: [cases[0].entry])) {
      #expect(
        error.description
          == "madt: entry of type 0 at offset 0x2c has 6 bytes, fewer than the 8 its type needs")
    }
  }

  @Test func tableWithoutTheFixedFields() throws {
    #expect(
      try madt(Tables.table("APIC", body: [0, 0, 0xE0, 0xFE]))
        == .failure(.tableTooShort(length: 40)))
    #expect(try madt(Tables.table("APIC", body: [])) == .failure(.tableTooShort(length: 36)))
  }

  @Test func anotherTableIsRefused() throws {
    #expect(
      try Tables.parse(qemuSMP4NUMA2SRAT.bytes, MADT.parse)
        == .failure(.wrongSignature(ACPISignature("SRAT"))))
  }

  /// The header's length shortened (checksum fixed): the last entry, the
  /// 6-byte NMI at offset 138, no longer fits.
  @Test func truncatedLengthCutsTheLastEntry() throws {
    let qemu = qemuSMP4NUMA2MADT.bytes
    #expect(
      try madt(Tables.resized(qemu, to: 143)) == .failure(.bogusEntryLength(offset: 138, length: 6))
    )
    #expect(
      try madt(Tables.resized(qemu, to: 139))
        == .failure(.bogusEntryLength(offset: 138, length: nil)))
    // Cut exactly between entries: a shorter but well-formed table.
    let cut = try madt(Tables.resized(qemu, to: 138)).get()
    #expect(cut.nmis.isEmpty && cut.processors.count == 4)
  }

  @Test func badChecksumAndLengthAreCaughtBeforeParsing() {
    var corrupted = qemuSMP1MADT.bytes
    corrupted[50] ^= 0x01
    Tables.read(corrupted, at: 0x7FE_1A00) { result in
      #expect(result.map { _ in 0 } == .failure(.badTableChecksum(.madt, address: 0x7FE_1A00)))
    }
    // A length past the readable bytes.
    var long = qemuSMP1MADT.bytes
    long.replaceSubrange(4..<8, with: Tables.le32(4096))
    Tables.fixChecksum(&long)
    Tables.read(long) { result in
      #expect(result.map { _ in 0 } == .failure(.tableUnreadable(.madt, address: 0x10_0000)))
    }
  }

  // MARK: Random input never traps

  @Test func randomEntryBytes() async {
    await propertyCheck(count: 500, input: Gen.uint8().array(of: 0...120), Gen.bool()) {
      body, plausible in
      // Half the time, draw types and lengths from the real ones.
      var entries = body
      if plausible {
        var offset = 0
        for length in [8, 12, 10, 6, 12, 16, 12, 8] where offset + 1 < entries.count {
          entries[offset] = [0, 1, 2, 4, 5, 9, 0xA, 3][length % 8]
          entries[offset + 1] = UInt8(length)
          offset += length
        }
      }
      let image = madtImage(entries: [entries])
      let result = try madt(image)
      if case .success(let parsed) = result {
        #expect(parsed.processors.count <= entries.count / 8)
      }
      // Success or failure, the result is what the bytes say.
      expectMADTMatchesBytes(result, table: image)
      #expect(try madt(image) == result, "parsing is deterministic")
    }
  }

  @Test func randomWholeTables() async {
    await propertyCheck(count: 300, input: Gen.uint8().array(of: 0...100)) { bytes in
      var image =
        Array("APIC".utf8) + Tables.le32(UInt32(36 + bytes.count))
        + [UInt8](repeating: 0, count: 28)
      image += bytes
      Tables.fixChecksum(&image)
      Tables.read(image) { table in
        // Length and checksum are right, so the table always validates, and
        // whatever it parses to must be what its bytes say.
        guard case .success(let table) = table else {
          Issue.record("a consistent table did not validate: \(table)")
          return
        }
        expectMADTMatchesBytes(MADT.parse(table), table: image)
      }
    }
  }

  @Test func mutationsOfTheQEMUTables() async {
    let tables = [qemuSMP1MADT, qemuSMP4NUMA2MADT, qemuSMP8NUMA4MADT, qemuHotplugMADT]
    let mutation = zip(Gen.int(in: 0...199), Gen.uint8())
    await propertyCheck(
      count: 500, input: Gen.int(in: 0...3), mutation.array(of: 1...6), Gen.bool()
    ) { which, mutations, keepChecksum in
      let original = tables[which].bytes
      var bytes = original
      for (position, value) in mutations where position < bytes.count { bytes[position] = value }
      if keepChecksum { Tables.fixChecksum(&bytes) }
      Tables.read(bytes, at: tables[which].address) { table in
        switch table {
        case .success(let table):
          let result = MADT.parse(table)
          if case .success(let parsed) = result {
            // Every processor entry takes at least 8 bytes after the fixed part.
            #expect(parsed.processors.count <= (bytes.count - MADT.entriesOffset) / 8)
            // Mutations confined to the header's text fields change nothing parsed.
            if mutations.allSatisfy({ (10..<36).contains($0.0) || $0.0 >= bytes.count }) {
              #expect(result == (try? tables[which].parse(MADT.parse)))
            }
          }
          expectMADTMatchesBytes(result, table: table.view.bytes)
        case .failure(let error):
          expectTableErrorFitsMutation(
            error, bytes: bytes, original: original, checksumFixed: keepChecksum,
            address: tables[which].address)
        }
      }
    }
  }
}

/// The fields each MADT entry type needs (ACPI 6.5, 5.2.12), kept apart from
/// the parser's own table so a wrong minimum there shows.
private let madtMinimumLengths: [UInt8: Int] = [0: 8, 1: 12, 2: 10, 4: 6, 5: 12, 9: 16, 0xA: 12]

/// Checks a parse of `table` (its exact bytes) against an independent reading:
/// a success lists exactly the entries the bytes hold, with the fields where
/// the bytes have them; a failure names the entry the walk breaks at (the
/// first bogus length, else the first entry too short for its type).
private func expectMADTMatchesBytes(
  _ result: Result<MADT, MADTError>, table: [UInt8],
  sourceLocation: SourceLocation = #_sourceLocation
) {
  let walk = RawEntryWalk(table, from: MADT.entriesOffset)
  switch result {
  case .success(let parsed):
    #expect(
      walk.broken == nil && walk.firstTooShort(madtMinimumLengths) == nil,
      sourceLocation: sourceLocation)
    #expect(
      parsed.localAPICAddress32 == UInt32(table.littleEndian(at: 36, width: 4)),
      sourceLocation: sourceLocation)
    #expect(
      parsed.flags == UInt32(table.littleEndian(at: 40, width: 4)), sourceLocation: sourceLocation)
    let processors = walk.entries.filter { $0.type == 0 || $0.type == 9 }.map { entry in
      entry.type == 0
        ? MADTProcessor(
          apicID: UInt32(table[entry.offset + 3]),
          acpiProcessorUID: UInt32(table[entry.offset + 2]),
          flags: UInt32(table.littleEndian(at: entry.offset + 4, width: 4)), isX2APIC: false)
        : MADTProcessor(
          apicID: UInt32(table.littleEndian(at: entry.offset + 4, width: 4)),
          acpiProcessorUID: UInt32(table.littleEndian(at: entry.offset + 12, width: 4)),
          flags: UInt32(table.littleEndian(at: entry.offset + 8, width: 4)), isX2APIC: true)
    }
    #expect(parsed.processors == processors, sourceLocation: sourceLocation)
    let ioAPICs = walk.entries.filter { $0.type == 1 }.map {
      IOAPICDescriptor(
        id: table[$0.offset + 2], address: table.littleEndian(at: $0.offset + 4, width: 4),
        interruptBase: UInt32(table.littleEndian(at: $0.offset + 8, width: 4)))
    }
    #expect(parsed.ioAPICs == ioAPICs, sourceLocation: sourceLocation)
    let overrides = walk.entries.filter { $0.type == 2 }.map {
      InterruptOverride(
        sourceIRQ: table[$0.offset + 3],
        globalInterrupt: UInt32(table.littleEndian(at: $0.offset + 4, width: 4)),
        flags: UInt16(table.littleEndian(at: $0.offset + 8, width: 2)))
    }
    #expect(parsed.interruptOverrides == overrides, sourceLocation: sourceLocation)
    #expect(
      parsed.nmis.count == walk.entries.filter { $0.type == 4 || $0.type == 0xA }.count,
      sourceLocation: sourceLocation)
    let override = walk.entries.first { $0.type == 5 }.map {
      table.littleEndian(at: $0.offset + 4, width: 8)
    }
    #expect(parsed.localAPICAddressOverride == override, sourceLocation: sourceLocation)
    let skipped = walk.entries.map(\.type).filter { madtMinimumLengths[$0] == nil }
    #expect(parsed.skippedEntryTypes == skipped, sourceLocation: sourceLocation)
  case .failure(.tableTooShort(let length)):
    #expect(length == table.count && length < MADT.entriesOffset, sourceLocation: sourceLocation)
  case .failure(.wrongSignature(let found)):
    #expect(
      found.rawValue == UInt32(table.littleEndian(at: 0, width: 4)) && found != .madt,
      sourceLocation: sourceLocation)
  case .failure(.bogusEntryLength(let offset, let length)):
    walk.expectBroken(offset: offset, length: length, sourceLocation: sourceLocation)
  case .failure(.entryTooShort(let type, let offset, let length, let minimum)):
    walk.expectTooShort(
      type: type, offset: offset, length: length, minimum: minimum, minimums: madtMinimumLengths,
      sourceLocation: sourceLocation)
  case .failure(.table(let error)):
    Issue.record(
      "parse of a read table failed as a table: \(error)", sourceLocation: sourceLocation)
  }
}
