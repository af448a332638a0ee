import PropertyBased
import Testing

@testable import TesseraCore

private typealias Tables = ACPITestTables

/// An SRAT: the 12 reserved bytes after the header, then `entries`.
private func sratImage(revision: UInt8 = 3, entries: [[UInt8]]) -> [UInt8] {
  Tables.table(
    "SRAT", revision: revision, body: Tables.le32(1) + Tables.le64(0) + entries.flatMap { $0 })
}

private func srat(_ bytes: [UInt8]) throws -> Result<SRAT, SRATError> {
  try Tables.parse(bytes, SRAT.parse)
}

private enum Entry {
  /// Type 0 with a 32-bit domain split into the low byte and bytes 9-11.
  static func apic(id: UInt8, domain: UInt32, flags: UInt32 = 1) -> [UInt8] {
    let domainBytes = Tables.le32(domain)
    return [0, 16, domainBytes[0], id] + Tables.le32(flags) + [0] + domainBytes[1...3]
      + Tables.le32(0)
  }
  static func memory(domain: UInt32, base: UInt64, length: UInt64, flags: UInt32 = 1) -> [UInt8] {
    [1, 40] + Tables.le32(domain) + [0, 0] + Tables.le64(base) + Tables.le64(length)
      + Tables.le32(0) + Tables.le32(flags) + Tables.le64(0)
  }
  static func x2APIC(id: UInt32, domain: UInt32, flags: UInt32 = 1) -> [UInt8] {
    [2, 24, 0, 0] + Tables.le32(domain) + Tables.le32(id) + Tables.le32(flags) + Tables.le32(0)
      + Tables.le32(0)
  }
}

/// The processor affinities QEMU writes: `perNode` CPUs per node, in order.
private func qemuProcessors(nodes: UInt32, perNode: UInt32) -> [ProcessorAffinity] {
  (0..<nodes * perNode).map {
    ProcessorAffinity(apicID: $0, proximityDomain: $0 / perNode, flags: 1, isX2APIC: false)
  }
}

@Suite struct SRATTests {
  // MARK: QEMU's tables

  /// `-m 512M`, two nodes: node 0 has the memory below 640 KiB and from 1 MiB
  /// to 256 MiB, node 1 the next 256 MiB; QEMU ends with a disabled, empty
  /// entry (a placeholder for hot-plug memory).
  @Test func qemuTwoNodes() throws {
    let parsed = try qemuSMP4NUMA2SRAT.parse(SRAT.parse).get()
    #expect(
      parsed
        == SRAT(
          revision: 1, processorAffinities: qemuProcessors(nodes: 2, perNode: 2),
          memoryAffinities: [
            MemoryAffinity(proximityDomain: 0, base: 0, length: 0xA_0000, flags: 1),
            MemoryAffinity(proximityDomain: 0, base: 0x10_0000, length: 0xFF0_0000, flags: 1),
            MemoryAffinity(proximityDomain: 1, base: 0x1000_0000, length: 0x1000_0000, flags: 1),
            MemoryAffinity(proximityDomain: 0, base: 0, length: 0, flags: 0),
          ]))
    #expect(parsed.description == "SRAT: 4 processor and 3 memory affinities enabled (8 entries)")
    #expect(parsed.memoryAffinities[3].description.hasSuffix("in domain 0 (disabled)"))
  }

  @Test func qemuFourNodes() throws {
    let parsed = try qemuSMP8NUMA4SRAT.parse(SRAT.parse).get()
    #expect(parsed.processorAffinities == qemuProcessors(nodes: 4, perNode: 2))
    #expect(
      parsed.memoryAffinities == [
        MemoryAffinity(proximityDomain: 0, base: 0, length: 0xA_0000, flags: 1),
        MemoryAffinity(proximityDomain: 0, base: 0x10_0000, length: 0xFF0_0000, flags: 1),
        MemoryAffinity(proximityDomain: 1, base: 0x1000_0000, length: 0x1000_0000, flags: 1),
        MemoryAffinity(proximityDomain: 2, base: 0x2000_0000, length: 0x1000_0000, flags: 1),
        MemoryAffinity(proximityDomain: 3, base: 0x3000_0000, length: 0x1000_0000, flags: 1),
        MemoryAffinity(proximityDomain: 0, base: 0, length: 0, flags: 0),
      ])
    #expect(parsed.skippedEntryTypes.isEmpty)
  }

  /// `-m 4G`: node 1's 2 GiB straddle the PCI hole, so QEMU splits them into
  /// the part below 3 GiB and the part above 4 GiB.
  @Test func qemuNodeAcrossThePCIHole() throws {
    let parsed = try qemuSMP2NUMA2At4GSRAT.parse(SRAT.parse).get()
    #expect(parsed.processorAffinities == qemuProcessors(nodes: 2, perNode: 1))
    #expect(
      parsed.memoryAffinities == [
        MemoryAffinity(proximityDomain: 0, base: 0, length: 0xA_0000, flags: 1),
        MemoryAffinity(proximityDomain: 0, base: 0x10_0000, length: 0x7FF0_0000, flags: 1),
        MemoryAffinity(proximityDomain: 1, base: 0x8000_0000, length: 0x4000_0000, flags: 1),
        MemoryAffinity(proximityDomain: 1, base: 0x1_0000_0000, length: 0x4000_0000, flags: 1),
      ])
  }

  // MARK: Every entry type

  @Test func allEntryTypesAndWideDomains() throws {
    let bytes = sratImage(
      revision: 3,
      entries: [
        Entry.apic(id: 7, domain: 0x0102_0304),
        Entry.apic(id: 8, domain: 2, flags: 0),
        Entry.x2APIC(id: 0x1_0000, domain: 0xFFFF_FFFF),
        Entry.memory(domain: 0x0102_0304, base: 0x1_0000_0000, length: 1 << 30, flags: 0b111),
        [3, 18] + [UInt8](repeating: 0, count: 16),  // GICC affinity: skipped
        // Longer than type 1 needs, and a range past 2^64 (clipped).
        (Entry.memory(domain: 5, base: UInt64.max - 10, length: 100) + [9, 9]).with(length: 42),
      ])
    let parsed = try srat(bytes).get()
    #expect(
      parsed
        == SRAT(
          revision: 3,
          processorAffinities: [
            ProcessorAffinity(apicID: 7, proximityDomain: 0x0102_0304, flags: 1, isX2APIC: false),
            ProcessorAffinity(apicID: 8, proximityDomain: 2, flags: 0, isX2APIC: false),
            ProcessorAffinity(
              apicID: 0x1_0000, proximityDomain: 0xFFFF_FFFF, flags: 1, isX2APIC: true),
          ],
          memoryAffinities: [
            MemoryAffinity(
              proximityDomain: 0x0102_0304, base: 0x1_0000_0000, length: 1 << 30, flags: 7),
            MemoryAffinity(proximityDomain: 5, base: UInt64.max - 10, length: 100, flags: 1),
          ],
          skippedEntryTypes: [3]))
    let memory = parsed.memoryAffinities[0]
    #expect(memory.enabled && memory.hotPluggable && memory.nonVolatile)
    #expect(
      parsed.memoryAffinities[1].range == PhysicalRange(base: UInt64.max - 10, end: UInt64.max))
    #expect(parsed.processorAffinities[1].description == "APIC ID 8 in domain 2 (disabled)")
    #expect(parsed.processorAffinities[2].description == "x2APIC ID 65536 in domain 4294967295")
  }

  /// Revision 1 (ACPI 2.0) had 8-bit domains: the bytes that later widened
  /// them were reserved and are ignored.
  @Test func revisionOneUsesTheLowByteOnly() throws {
    let bytes = sratImage(
      revision: 1,
      entries: [
        Entry.apic(id: 1, domain: 0x0102_0304),
        Entry.memory(domain: 0x0102_0304, base: 0, length: 4096),
        Entry.x2APIC(id: 2, domain: 0x0102_0304),  // always 32 bits
      ])
    let parsed = try srat(bytes).get()
    #expect(parsed.processorAffinities.map(\.proximityDomain) == [4, 0x0102_0304])
    #expect(parsed.memoryAffinities.map(\.proximityDomain) == [4])
  }

  // MARK: Malformed tables

  @Test(arguments: [0, 1, 17])
  func bogusEntryLengths(length: UInt8) throws {
    let bytes = sratImage(entries: [
      Entry.apic(id: 0, domain: 0), [0, length] + [UInt8](repeating: 0, count: 14),
    ])
    let result = try srat(bytes)
    #expect(result == .failure(.bogusEntryLength(offset: 64, length: length)))
    if case .failure(let error) = result {
      #expect(error.description == "srat: bogus entry length \(length) at offset 0x40")
    }
  }

  @Test func entriesTooShortForTheirType() throws {
    #expect(
      try srat(
        sratImage(entries: [Array(Entry.apic(id: 0, domain: 0).prefix(12)).with(length: 12)]))
        == .failure(.entryTooShort(type: 0, offset: 48, length: 12, minimum: 16)))
    #expect(
      try srat(
        sratImage(entries: [
          Array(Entry.memory(domain: 0, base: 0, length: 1).prefix(24)).with(length: 24)
        ]))
        == .failure(.entryTooShort(type: 1, offset: 48, length: 24, minimum: 40)))
    #expect(
      try srat(
        sratImage(entries: [Array(Entry.x2APIC(id: 0, domain: 0).prefix(16)).with(length: 16)]))
        == .failure(.entryTooShort(type: 2, offset: 48, length: 16, minimum: 24)))
  }

  @Test func tableWithoutTheReservedFields() throws {
    #expect(
      try srat(Tables.table("SRAT", body: Tables.le32(1))) == .failure(.tableTooShort(length: 40)))
  }

  @Test func anotherTableIsRefused() throws {
    #expect(try qemuSMP1MADT.parse(SRAT.parse) == .failure(.wrongSignature(.madt)))
  }

  @Test func truncatedLengthCutsTheLastEntry() throws {
    // QEMU's last entry (the disabled placeholder) starts at 232.
    let qemu = qemuSMP4NUMA2SRAT.bytes
    #expect(
      try srat(Tables.resized(qemu, to: 250))
        == .failure(.bogusEntryLength(offset: 232, length: 40)))
    #expect(
      try srat(Tables.resized(qemu, to: 233))
        == .failure(.bogusEntryLength(offset: 232, length: nil)))
    #expect(try srat(Tables.resized(qemu, to: 232)).get().memoryAffinities.count == 3)
  }

  @Test func badChecksumIsCaughtBeforeParsing() {
    var corrupted = qemuSMP4NUMA2SRAT.bytes
    corrupted[100] &+= 1
    Tables.read(corrupted, at: qemuSMP4NUMA2SRAT.address) { result in
      #expect(
        result.map { _ in 0 }
          == .failure(.badTableChecksum(.srat, address: qemuSMP4NUMA2SRAT.address)))
    }
  }

  // MARK: Random input never traps

  @Test func randomEntryBytes() async {
    await propertyCheck(
      count: 500, input: Gen.uint8().array(of: 0...160), Gen.bool(), Gen.uint8(in: 1...3)
    ) {
      body, plausible, revision in
      var entries = body
      if plausible {
        var offset = 0
        var index = 0
        while offset + 1 < entries.count {
          let (type, length): (UInt8, Int) = [(0, 16), (1, 40), (2, 24), (0, 12)][index % 4]
          entries[offset] = type
          entries[offset + 1] = UInt8(length)
          offset += length
          index += 1
        }
      }
      let image = sratImage(revision: revision, entries: [entries])
      let result = try srat(image)
      if case .success(let parsed) = result {
        #expect(
          parsed.processorAffinities.count + parsed.memoryAffinities.count <= entries.count / 16)
      }
      // Success or failure, the result is what the bytes say.
      expectSRATMatchesBytes(result, table: image)
      #expect(try srat(image) == result, "parsing is deterministic")
    }
  }

  @Test func mutationsOfTheQEMUTables() async {
    let tables = [qemuSMP4NUMA2SRAT, qemuSMP8NUMA4SRAT, qemuSMP2NUMA2At4GSRAT]
    let mutation = zip(Gen.int(in: 0...415), Gen.uint8())
    await propertyCheck(
      count: 500, input: Gen.int(in: 0...2), mutation.array(of: 1...6), Gen.bool()
    ) { which, mutations, keepChecksum in
      let original = tables[which].bytes
      var bytes = original
      for (position, value) in mutations where position < bytes.count { bytes[position] = value }
      if keepChecksum { Tables.fixChecksum(&bytes) }
      Tables.read(bytes, at: tables[which].address) { table in
        switch table {
        case .success(let table):
          let result = SRAT.parse(table)
          // Mutations confined to the header's text fields change nothing parsed.
          if case .success = result,
            mutations.allSatisfy({ (10..<36).contains($0.0) || $0.0 >= bytes.count })
          {
            #expect(result == (try? tables[which].parse(SRAT.parse)))
          }
          expectSRATMatchesBytes(result, table: table.view.bytes)
        case .failure(let error):
          expectTableErrorFitsMutation(
            error, bytes: bytes, original: original, checksumFixed: keepChecksum,
            address: tables[which].address)
        }
      }
    }
  }
}

extension Array where Element == UInt8 {
  /// The entry with its length byte set to `length`.
  fileprivate func with(length: UInt8) -> [UInt8] {
    var copy = self
    copy[1] = length
    return copy
  }
}

/// The fields each SRAT entry type needs (ACPI 6.5, 5.2.16), kept apart from
/// the parser's own table.
private let sratMinimumLengths: [UInt8: Int] = [0: 16, 1: 40, 2: 24]

/// Checks a parse of `table` (its exact bytes) against an independent reading:
/// a success holds exactly the affinity entries the bytes do, with IDs,
/// domains (32-bit from revision 2, else the low byte) and ranges taken from
/// where the bytes have them; a failure names the entry the walk breaks at.
private func expectSRATMatchesBytes(
  _ result: Result<SRAT, SRATError>, table: [UInt8],
  sourceLocation: SourceLocation = #_sourceLocation
) {
  let walk = RawEntryWalk(table, from: SRAT.entriesOffset)
  func u32(_ offset: Int) -> UInt32 { UInt32(table.littleEndian(at: offset, width: 4)) }
  switch result {
  case .success(let parsed):
    #expect(
      walk.broken == nil && walk.firstTooShort(sratMinimumLengths) == nil,
      sourceLocation: sourceLocation)
    let wide = table[8] >= 2
    #expect(parsed.revision == table[8], sourceLocation: sourceLocation)
    let processors = walk.entries.filter { $0.type == 0 || $0.type == 2 }.map { entry in
      let at = entry.offset
      if entry.type == 2 {
        return ProcessorAffinity(
          apicID: u32(at + 8), proximityDomain: u32(at + 4), flags: u32(at + 12), isX2APIC: true)
      }
      let domain = wide ? UInt32(table[at + 2]) | u32(at + 8) & 0xFFFF_FF00 : UInt32(table[at + 2])
      return ProcessorAffinity(
        apicID: UInt32(table[at + 3]), proximityDomain: domain, flags: u32(at + 4), isX2APIC: false)
    }
    #expect(parsed.processorAffinities == processors, sourceLocation: sourceLocation)
    let memory = walk.entries.filter { $0.type == 1 }.map { entry in
      let at = entry.offset
      return MemoryAffinity(
        proximityDomain: wide ? u32(at + 2) : UInt32(table[at + 2]),
        base: table.littleEndian(at: at + 8, width: 8),
        length: table.littleEndian(at: at + 16, width: 8),
        flags: u32(at + 28))
    }
    #expect(parsed.memoryAffinities == memory, sourceLocation: sourceLocation)
    let skipped = walk.entries.map(\.type).filter { sratMinimumLengths[$0] == nil }
    #expect(parsed.skippedEntryTypes == skipped, sourceLocation: sourceLocation)
  case .failure(.tableTooShort(let length)):
    #expect(length == table.count && length < SRAT.entriesOffset, sourceLocation: sourceLocation)
  case .failure(.wrongSignature(let found)):
    #expect(found.rawValue == u32(0) && found != .srat, sourceLocation: sourceLocation)
  case .failure(.bogusEntryLength(let offset, let length)):
    walk.expectBroken(offset: offset, length: length, sourceLocation: sourceLocation)
  case .failure(.entryTooShort(let type, let offset, let length, let minimum)):
    walk.expectTooShort(
      type: type, offset: offset, length: length, minimum: minimum, minimums: sratMinimumLengths,
      sourceLocation: sourceLocation)
  case .failure(.table(let error)):
    Issue.record(
      "parse of a read table failed as a table: \(error)", sourceLocation: sourceLocation)
  }
}
