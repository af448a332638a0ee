// Fuzz target `srat`: the input is an SRAT image. Properties as for the
// MADT: the raw read follows the header rules; the repaired table parses to
// what an independent walk gives (proximity domains widened by revision
// exactly as ACPI 3.0 and later say) or fails at the entry where that walk
// broke, at an offset inside the table; a parsed SRAT written back parses
// to the same value; parsing is deterministic.

func fuzzSRAT(_ bytes: [UInt8]) {
  FuzzACPI.checkRead(bytes, expecting: .srat, what: "srat")
  let table = FuzzACPI.repaired(bytes, signature: .srat)
  let result = FuzzACPI.parseValid(table, what: "srat", SRAT.parse)
  require(result == sratOracle(table), "srat: parser and independent walk disagree")
  switch result {
  case .failure(let error):
    switch error {
    case .bogusEntryLength(let offset, _), .entryTooShort(_, let offset, _, _):
      require(offset >= SRAT.entriesOffset && offset < table.count, "srat: error offset outside")
    default: break
    }
    _ = error.description
  case .success(let srat):
    _ = srat.description
    let again = FuzzACPI.parseValid(encodeSRAT(srat), what: "srat", SRAT.parse)
    require(again == .success(srat), "srat: round trip changed the table")
  }
}

/// The SRAT read a second time from the entry layouts (ACPI 6.5, 5.2.16).
private func sratOracle(_ table: [UInt8]) -> Result<SRAT, SRATError> {
  guard table.count >= SRAT.entriesOffset else {
    return .failure(.tableTooShort(length: table.count))
  }
  let walk = FuzzEntryWalk(table, from: SRAT.entriesOffset)
  if let broken = walk.broken {
    return .failure(.bogusEntryLength(offset: broken.offset, length: broken.length))
  }
  if let short = walk.firstTooShort({ [0: 16, 1: 40, 2: 24][$0] }) {
    return .failure(
      .entryTooShort(
        type: short.type, offset: short.offset, length: short.length, minimum: short.minimum))
  }
  let revision = table[8]
  var srat = SRAT(revision: revision)
  for (type, _, e) in walk.entries {
    switch type {
    case 0:
      // Domain bits 0-7 at byte 2; from revision 2 on, bits 8-31 at 9-11.
      let high = revision >= 2 ? UInt32(e.le(9, 3)!) << 8 : 0
      srat.processorAffinities.append(
        ProcessorAffinity(
          apicID: UInt32(e[3]), proximityDomain: UInt32(e[2]) | high, flags: e.le32(4)!,
          isX2APIC: false))
    case 1:
      let domain = e.le32(2)!
      srat.memoryAffinities.append(
        MemoryAffinity(
          proximityDomain: revision >= 2 ? domain : domain & 0xFF, base: e.le64(8)!,
          length: e.le64(16)!, flags: e.le32(28)!))
    case 2:
      srat.processorAffinities.append(
        ProcessorAffinity(
          apicID: e.le32(8)!, proximityDomain: e.le32(4)!, flags: e.le32(12)!, isX2APIC: true))
    default:
      srat.skippedEntryTypes.append(type)
    }
  }
  return .success(srat)
}

/// `srat` as a table of the same revision; the 12 reserved bytes after the
/// fixed header are zero.
private func encodeSRAT(_ srat: SRAT) -> [UInt8] {
  let le = FuzzACPI.le
  var body = [UInt8](repeating: 0, count: 12)
  for p in srat.processorAffinities {
    if p.isX2APIC {
      body +=
        [2, 24, 0, 0] + le(UInt64(p.proximityDomain), 4) + le(UInt64(p.apicID), 4)
        + le(UInt64(p.flags), 4) + le(0, 8)
    } else {
      let domain = UInt64(p.proximityDomain)
      body +=
        [0, 16, UInt8(domain & 0xFF), UInt8(p.apicID)] + le(UInt64(p.flags), 4) + [0]
        + le(domain >> 8, 3) + le(0, 4)
    }
  }
  for m in srat.memoryAffinities {
    body +=
      [1, 40] + le(UInt64(m.proximityDomain), 4) + le(0, 2) + le(m.base, 8)
      + le(m.length, 8) + le(0, 4) + le(UInt64(m.flags), 4) + le(0, 8)
  }
  for type in srat.skippedEntryTypes { body += [type, 2] }
  return FuzzACPI.table(.srat, revision: srat.revision, body: body)
}
