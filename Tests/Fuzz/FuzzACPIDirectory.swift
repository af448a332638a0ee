// Fuzz target `acpi-root`: the root table that lists all others. The first
// input byte chooses an XSDT (odd) or an RSDT (even); the rest is the
// table, repaired into a valid one and reached from an RSDP. Properties:
// - the directory lists exactly the non-zero whole entries of the table in
//   order (8-byte addresses in an XSDT, 4-byte in an RSDT), a partial
//   trailing entry ignored;
// - an XSDT that does not validate falls back to the RSDT, and with no
//   RSDT address the XSDT's error is the answer;
// - a summary line exists for the root and every entry; looking up a table
//   nobody mapped finds nothing (unless an entry points into the root table
//   itself, at bytes that spell the signature); loading is deterministic.

func fuzzACPIDirectory(_ bytes: [UInt8]) {
  let extended = (bytes.first ?? 0) & 1 == 1
  let signature: ACPISignature = extended ? .xsdt : .rsdt
  let root = FuzzACPI.repaired(Array(bytes.dropFirst()), signature: signature)
  let address = FuzzACPI.tableAddress
  let memory = FuzzPhysicalMemory([(address, root)])
  withExtendedLifetime(memory) {
    let read = memory.reader
    let rsdp = RSDP(
      revision: extended ? 2 : 0, oemID: "TESSRA", rsdtAddress: extended ? 0 : UInt32(address),
      xsdtAddress: extended ? address : nil, length: extended ? 36 : 20)
    guard case .success(let directory) = ACPITableDirectory.load(rsdp: rsdp, using: read) else {
      fatalError("fuzz property violated: acpi-root: a valid root table did not load")
    }
    let width = extended ? 8 : 4
    var expected: [UInt64] = []
    var at = 36
    while at + width <= root.count {
      let entry = root.le(at, width)!
      if entry != 0 { expected.append(entry) }
      at += width
    }
    require(directory.entries == expected, "acpi-root: entries differ from the table's")
    require(directory.root.view.bytes == root, "acpi-root: root table bytes")
    let again = ACPITableDirectory.load(rsdp: rsdp, using: read)
    require((try? again.get())?.entries == expected, "acpi-root: not deterministic")
    let summaries = directory.summaries(using: read)
    require(summaries.count == expected.count + 1, "acpi-root: one summary per table")
    require(summaries[0].isValid && summaries[0].signature == signature, "acpi-root: root summary")
    for summary in summaries { _ = summary.description }
    // A signature no image has: the memory holds only the root table, so
    // only an entry pointing into the root table itself, at the bytes
    // "ZZZZ", can reach such a table (the fuzzer builds one).
    let missing = directory.find(ACPISignature("ZZZZ"), using: read)
    let zzzz = Array("ZZZZ".utf8)
    let embedded = expected.contains { entry in
      entry >= address && entry - address <= UInt64(root.count) - 4
        && Array(root[Int(entry - address)..<Int(entry - address) + 4]) == zzzz
    }
    if case .success = missing, !embedded {
      fatalError("fuzz property violated: acpi-root: found ZZZZ")
    }

    // An XSDT with a broken checksum and an RSDT address: the RSDT answers
    // if it validates, else the XSDT's own error.
    var broken = root
    broken[9] &+= 1
    let fallback = FuzzPhysicalMemory([(address, broken)])
    withExtendedLifetime(fallback) {
      let both = RSDP(
        revision: 2, oemID: "", rsdtAddress: UInt32(address), xsdtAddress: address, length: 36)
      let result = ACPITableDirectory.load(rsdp: both, using: fallback.reader)
      let expectedError = ACPIError.badTableChecksum(signature, address: address)
      switch result {
      case .success: fatalError("fuzz property violated: acpi-root: broken root table loaded")
      case .failure(let error):
        let xsdtError =
          extended
          ? expectedError
          : .unexpectedSignature(expected: .xsdt, found: signature, address: address)
        require(error == xsdtError, "acpi-root: fallback did not report the XSDT's error")
      }
    }
  }
}
