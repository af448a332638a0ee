// Fuzz target `madt`: the input is an MADT ("APIC") image. Properties:
// - the raw input read as a table fails exactly as the header rules say, or
//   shows its header and bytes unchanged;
// - the input repaired into a valid table (signature, length, checksum)
//   parses to exactly what an independent walk of the entries gives, or
//   fails naming the entry (offset inside the table, its length byte or
//   type) where that walk broke or found the first entry too short;
// - a parsed MADT written back as a table parses to the same value;
// - parsing is deterministic.

func fuzzMADT(_ bytes: [UInt8]) {
  FuzzACPI.checkRead(bytes, expecting: .madt, what: "madt")
  let table = FuzzACPI.repaired(bytes, signature: .madt)
  let result = FuzzACPI.parseValid(table, what: "madt", MADT.parse)
  require(result == madtOracle(table), "madt: parser and independent walk disagree")
  switch result {
  case .failure(let error):
    switch error {
    case .bogusEntryLength(let offset, _), .entryTooShort(_, let offset, _, _):
      require(offset >= MADT.entriesOffset && offset < table.count, "madt: error offset outside")
    default: break
    }
    _ = error.description
  case .success(let madt):
    _ = madt.description
    let again = FuzzACPI.parseValid(encodeMADT(madt), what: "madt", MADT.parse)
    require(again == .success(madt), "madt: round trip changed the table")
  }
}

/// The MADT read a second time from the entry layouts (ACPI 6.5, 5.2.12).
private func madtOracle(_ table: [UInt8]) -> Result<MADT, MADTError> {
  guard let address = table.le32(36), let flags = table.le32(40) else {
    return .failure(.tableTooShort(length: table.count))
  }
  let walk = FuzzEntryWalk(table, from: MADT.entriesOffset)
  if let broken = walk.broken {
    return .failure(.bogusEntryLength(offset: broken.offset, length: broken.length))
  }
  let minimum: (UInt8) -> Int? = { [0: 8, 1: 12, 2: 10, 4: 6, 5: 12, 9: 16, 0xA: 12][$0] }
  if let short = walk.firstTooShort(minimum) {
    return .failure(
      .entryTooShort(
        type: short.type, offset: short.offset, length: short.length, minimum: short.minimum))
  }
  var madt = MADT(localAPICAddress32: address, flags: flags)
  for (type, _, e) in walk.entries {
    switch type {
    case 0:
      madt.processors.append(
        MADTProcessor(
          apicID: UInt32(e[3]), acpiProcessorUID: UInt32(e[2]), flags: e.le32(4)!,
          isX2APIC: false))
    case 1:
      madt.ioAPICs.append(
        IOAPICDescriptor(id: e[2], address: UInt64(e.le32(4)!), interruptBase: e.le32(8)!))
    case 2:
      madt.interruptOverrides.append(
        InterruptOverride(sourceIRQ: e[3], globalInterrupt: e.le32(4)!, flags: e.le16(8)!))
    case 4:
      madt.nmis.append(
        LocalAPICNMI(
          acpiProcessorUID: e[2] == 0xFF ? nil : UInt32(e[2]), flags: e.le16(3)!, lint: e[5]))
    case 5:
      if madt.localAPICAddressOverride == nil { madt.localAPICAddressOverride = e.le64(4)! }
    case 9:
      madt.processors.append(
        MADTProcessor(
          apicID: e.le32(4)!, acpiProcessorUID: e.le32(12)!, flags: e.le32(8)!, isX2APIC: true))
    case 0xA:
      let uid = e.le32(4)!
      madt.nmis.append(
        LocalAPICNMI(
          acpiProcessorUID: uid == 0xFFFF_FFFF ? nil : uid, flags: e.le16(2)!, lint: e[8]))
    default:
      madt.skippedEntryTypes.append(type)
    }
  }
  return .success(madt)
}

/// `madt` as a table: processors as type 0 or 9, NMIs as type 0xA (which
/// holds any UID), the override as type 5, skipped types as bare entries.
private func encodeMADT(_ madt: MADT) -> [UInt8] {
  let le = FuzzACPI.le
  var body = le(UInt64(madt.localAPICAddress32), 4) + le(UInt64(madt.flags), 4)
  for p in madt.processors {
    if p.isX2APIC {
      body +=
        [9, 16, 0, 0] + le(UInt64(p.apicID), 4) + le(UInt64(p.flags), 4)
        + le(UInt64(p.acpiProcessorUID), 4)
    } else {
      body += [0, 8, UInt8(p.acpiProcessorUID), UInt8(p.apicID)] + le(UInt64(p.flags), 4)
    }
  }
  for io in madt.ioAPICs {
    body += [1, 12, io.id, 0] + le(io.address, 4) + le(UInt64(io.interruptBase), 4)
  }
  for o in madt.interruptOverrides {
    body += [2, 10, 0, o.sourceIRQ] + le(UInt64(o.globalInterrupt), 4) + le(UInt64(o.flags), 2)
  }
  for n in madt.nmis {
    body +=
      [0xA, 12] + le(UInt64(n.flags), 2) + le(UInt64(n.acpiProcessorUID ?? 0xFFFF_FFFF), 4)
      + [n.lint, 0, 0, 0]
  }
  if let address = madt.localAPICAddressOverride { body += [5, 12, 0, 0] + le(address, 8) }
  for type in madt.skippedEntryTypes { body += [type, 2] }
  return FuzzACPI.table(.madt, body: body)
}
