// Fuzz target `capability-bundle`: the bundles of capability messages one
// kernel-to-kernel exchange carries. Properties:
// - the header is checked as its layout says (magic, count at most 7, only
//   flag bit 0, reserved zero, all entries inside the view);
// - an entry error names an index below the count and is exactly the
//   error that entry's 48 bytes give on their own;
// - a decoded bundle has the entries and extra words as stored, and
//   encodes back to exactly the bytes it was decoded from.

func fuzzCapabilityBundle(_ bytes: [UInt8]) {
  let result = bytes.withView { view in
    Result { () throws(EndpointCapabilityBundleError) in
      try EndpointCapabilityBundle.decode(view)
    }
  }
  let expected = bundleOracle(bytes)
  require(result == expected, "capability-bundle: decoder and layout disagree")
  switch result {
  case .failure(let error): _ = error.description
  case .success(let bundle):
    var encoded = [UInt8](repeating: 0, count: bundle.byteCount)
    let written = encoded.withUnsafeMutableBytes { bundle.encode(into: $0) }
    require(
      written == encoded.count && encoded == Array(bytes.prefix(encoded.count)),
      "capability-bundle: round trip changed the bytes")
  }
}

private func bundleOracle(_ b: [UInt8]) -> Result<
  EndpointCapabilityBundle, EndpointCapabilityBundleError
> {
  guard let magic = b.le32(0), let count = b.le8(4), let flags = b.le8(5), let reserved = b.le16(6)
  else { return .failure(.truncated(needed: 8, have: b.count)) }
  if magic != EndpointCapabilityBundle.magic { return .failure(.badMagic(magic)) }
  if count > 7 { return .failure(.tooMany(Int(count))) }
  if flags > 1 || reserved != 0 {
    return .failure(.reservedNotZero(UInt64(flags & 0xFE) | UInt64(reserved) << 8))
  }
  let needed = 8 + 64 * Int(count)
  if b.count < needed { return .failure(.truncated(needed: needed, have: b.count)) }
  var entries: [EndpointCapabilityEnvelope] = []
  for index in 0..<Int(count) {
    let start = 8 + 64 * index
    switch capabilityMessageOracle(Array(b[start..<(start + 48)])) {
    case .failure(let error): return .failure(.message(index: index, error))
    case .success(let message):
      entries.append(
        EndpointCapabilityEnvelope(
          message, extra0: b.le64(start + 48)!, extra1: b.le64(start + 56)!))
    }
  }
  return .success(EndpointCapabilityBundle(entries, more: flags == 1))
}
