// Fuzz target `rsdp`: the input is memory that may hold an RSDP at its
// start (the loader's copy) and more on 16-byte boundaries (the BIOS areas
// `search` scans). Properties:
// - `RSDP.parse` agrees exactly with the rules checked independently here
//   (signature, the 20-byte checksum, and from revision 2 the length field
//   and the extended checksum), and a success quotes the fields as stored;
// - `search` returns the first 16-byte aligned offset where a parse
//   succeeds, and nil only when there is none;
// - both are deterministic.

func fuzzRSDP(_ bytes: [UInt8]) {
  let parsed = bytes.withView { RSDP.parse($0) }
  require(parsed == RSDP.parse(bytes: bytes), "rsdp: the two parse entry points disagree")
  require(parsed == rsdpOracle(bytes), "rsdp: parser and independent check disagree")
  if case .failure(let error) = parsed { _ = error.description }
  var first: Int?
  var offset = 0
  while offset + 20 <= bytes.count {
    if case .success = rsdpOracle(Array(bytes[offset...])) {
      first = offset
      break
    }
    offset += 16
  }
  let found = bytes.withView { RSDP.search(in: $0) }
  require(found == first, "rsdp: search does not find the first valid RSDP")
  require(found == bytes.withView { RSDP.search(in: $0) }, "rsdp: search is not deterministic")
}

private func rsdpOracle(_ bytes: [UInt8]) -> Result<RSDP, ACPIError> {
  guard bytes.count >= 20 else { return .failure(.rsdpTooShort(count: bytes.count)) }
  guard Array(bytes[0..<8]) == Array("RSD PTR ".utf8) else { return .failure(.badRSDPSignature) }
  guard bytes[0..<20].reduce(0, &+) == 0 else { return .failure(.badRSDPChecksum) }
  let oem = bytes[9..<15].prefix { $0 != 0 }
  let revision = bytes[15]
  var rsdp = RSDP(
    revision: revision, oemID: String(decoding: oem, as: UTF8.self),
    rsdtAddress: bytes.le32(16)!, xsdtAddress: nil, length: 20)
  guard revision >= 2 else { return .success(rsdp) }
  let length = bytes.le32(20) ?? 0
  guard length >= 36, Int(length) <= bytes.count else {
    return .failure(.badRSDPLength(length: length, available: bytes.count))
  }
  guard bytes[0..<Int(length)].reduce(0, &+) == 0 else {
    return .failure(.badRSDPExtendedChecksum)
  }
  rsdp.xsdtAddress = bytes.le64(24)
  rsdp.length = Int(length)
  return .success(rsdp)
}
