// Independent readings of raw ACPI table bytes, for the fuzz and mutation
// tests to check the parsers' results against: a parser that misreads a
// field, skips an entry or blames the wrong one disagrees with these.
import Testing

@testable import TesseraCore

extension Array where Element == UInt8 {
  /// The little-endian unsigned integer of `width` bytes at `offset`
  /// (the caller keeps it inside the array).
  func littleEndian(at offset: Int, width: Int) -> UInt64 {
    (0..<width).reduce(UInt64(0)) { $0 | UInt64(self[offset + $1]) << UInt64(8 * $1) }
  }
}

/// The type/length entry list of an MADT or SRAT, walked over plain bytes.
struct RawEntryWalk {
  var entries: [(type: UInt8, offset: Int, length: Int)] = []
  /// Where the walk could not go on: the entry's offset and its length byte
  /// (nil when the table ends before it).
  var broken: (offset: Int, length: UInt8?)?

  init(_ table: [UInt8], from start: Int) {
    var offset = start
    while offset < table.count {
      guard offset + 1 < table.count else {
        broken = (offset, nil)
        return
      }
      let length = Int(table[offset + 1])
      guard length >= 2, offset + length <= table.count else {
        broken = (offset, table[offset + 1])
        return
      }
      entries.append((table[offset], offset, length))
      offset += length
    }
  }

  /// The first entry shorter than `minimum` requires for its type.
  func firstTooShort(_ minimum: [UInt8: Int]) -> (
    type: UInt8, offset: Int, length: Int, minimum: Int
  )? {
    for entry in entries {
      if let needed = minimum[entry.type], entry.length < needed {
        return (entry.type, entry.offset, entry.length, needed)
      }
    }
    return nil
  }

  /// A `bogusEntryLength` error names where this walk broke.
  func expectBroken(
    offset: Int, length: UInt8?, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(broken?.offset == offset && broken?.length == length, sourceLocation: sourceLocation)
  }

  /// An `entryTooShort` error names the first entry below its type's
  /// minimum, in a walk that did not break.
  func expectTooShort(
    type: UInt8, offset: Int, length: Int, minimum: Int, minimums: [UInt8: Int],
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let short = firstTooShort(minimums)
    #expect(broken == nil, sourceLocation: sourceLocation)
    #expect(
      short?.type == type && short?.offset == offset && short?.length == length
        && short?.minimum == minimum, sourceLocation: sourceLocation)
  }
}

/// A failure of `ACPITable.read` on a mutated copy of a valid table fits the
/// mutation: with the length field intact the only possible fault is the
/// checksum (and only when it was not fixed); a changed length may give a
/// length, readability or checksum error, at the table's address.
func expectTableErrorFitsMutation(
  _ error: ACPIError, bytes: [UInt8], original: [UInt8], checksumFixed: Bool, address: UInt64,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  let signature = ACPISignature(rawValue: UInt32(bytes.littleEndian(at: 0, width: 4)))
  if bytes[4..<8] == original[4..<8] {
    #expect(!checksumFixed, sourceLocation: sourceLocation)
    #expect(error == .badTableChecksum(signature, address: address), sourceLocation: sourceLocation)
    return
  }
  switch error {
  case .badTableLength(signature, address, _), .tableUnreadable(signature, address),
    .badTableChecksum(signature, address):
    break
  default: Issue.record("unexpected \(error) for a changed length", sourceLocation: sourceLocation)
  }
}
