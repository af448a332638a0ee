// ACPI helpers for the fuzz targets: fake physical memory holding byte
// images at chosen addresses (the reader `ACPITable.read` and the directory
// walk expect), and the repair that turns any input into a table the
// entry parsers get to see (right signature, length and checksum), so the
// fuzzer spends its time on the entries and not on guessing checksums.

/// Byte images at physical addresses, in allocations that stay put while
/// the memory lives (the views the reader hands out point into them).
final class FuzzPhysicalMemory {
  private var regions: [(address: UInt64, buffer: UnsafeMutableRawBufferPointer)] = []

  init(_ contents: [(address: UInt64, bytes: [UInt8])]) {
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

  /// A reader that sees exactly the images: a range must lie inside one.
  var reader: PhysicalMemoryReader {
    { [self] address, length in
      guard length >= 0 else { return nil }
      for region in regions where address >= region.address {
        let start = address - region.address
        guard start <= UInt64(region.buffer.count),
          UInt64(length) <= UInt64(region.buffer.count) - start
        else { continue }
        return ByteView(UnsafeRawBufferPointer(region.buffer)).slice(Int(start), length)
      }
      return nil
    }
  }
}

enum FuzzACPI {
  /// Where the fuzz targets put the table they read.
  static let tableAddress: UInt64 = 0x7FE_1000

  /// `bytes` made into a valid table: at least a header long, `signature`
  /// written, the length field set to the byte count, the checksum fixed.
  static func repaired(_ bytes: [UInt8], signature: ACPISignature) -> [UInt8] {
    var table = bytes + [UInt8](repeating: 0, count: max(0, ACPITableHeader.size - bytes.count))
    table.put(UInt64(signature.rawValue), at: 0, width: 4)
    table.put(UInt64(table.count), at: 4, width: 4)
    fixChecksum(&table)
    return table
  }

  /// Sets byte 9 so that all bytes sum to zero.
  static func fixChecksum(_ table: inout [UInt8]) {
    guard table.count > 9 else { return }
    table[9] = 0
    table[9] = 0 &- table.reduce(0, &+)
  }

  /// A table image: header (length and checksum right) around `body`.
  static func table(_ signature: ACPISignature, revision: UInt8 = 1, body: [UInt8]) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: ACPITableHeader.size) + body
    bytes[8] = revision
    return repaired(bytes, signature: signature)
  }

  /// Little-endian bytes of `value`.
  static func le(_ value: UInt64, _ width: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: width)
    bytes.put(value, at: 0, width: width)
    return bytes
  }

  /// Reads `bytes` at `tableAddress` with `ACPITable.read` and hands the
  /// result to `body` while the memory is alive.
  static func read<R>(
    _ bytes: [UInt8], expecting: ACPISignature? = nil, _ body: (Result<ACPITable, ACPIError>) -> R
  ) -> R {
    let memory = FuzzPhysicalMemory([(tableAddress, bytes)])
    return withExtendedLifetime(memory) {
      body(ACPITable.read(at: tableAddress, expecting: expecting, using: memory.reader))
    }
  }

  /// Reads a valid table image and parses it twice with `parse`: the two
  /// results must agree (determinism); the table must validate.
  static func parseValid<T: Equatable, E: Error & Equatable>(
    _ table: [UInt8], what: String, _ parse: (ACPITable) -> Result<T, E>
  ) -> Result<T, E> {
    read(table) { result in
      guard case .success(let valid) = result else {
        fatalError("fuzz property violated: " + what + ": a repaired table did not validate")
      }
      let first = parse(valid)
      require(first == parse(valid), what + ": parsing is not deterministic")
      return first
    }
  }

  /// What `ACPITable.read` must make of `bytes` placed alone at
  /// `tableAddress`, worked out from the header rules: nil for a success.
  static func expectedReadError(_ bytes: [UInt8], expecting: ACPISignature?) -> ACPIError? {
    guard bytes.count >= ACPITableHeader.size, let raw = bytes.le32(0), let length = bytes.le32(4)
    else { return .tableUnreadable(expecting ?? ACPISignature(rawValue: 0), address: tableAddress) }
    let signature = ACPISignature(rawValue: raw)
    if let expecting, expecting != signature {
      return .unexpectedSignature(expected: expecting, found: signature, address: tableAddress)
    }
    guard length >= 36, length <= 1 << 20 else {
      return .badTableLength(signature, address: tableAddress, length: length)
    }
    guard Int(length) <= bytes.count else {
      return .tableUnreadable(signature, address: tableAddress)
    }
    guard bytes[0..<Int(length)].reduce(0, &+) == 0 else {
      return .badTableChecksum(signature, address: tableAddress)
    }
    return nil
  }

  /// The raw input read as a table agrees with `expectedReadError`, and a
  /// table that validates shows the header fields and exactly its bytes.
  static func checkRead(_ bytes: [UInt8], expecting: ACPISignature?, what: String) {
    let expected = expectedReadError(bytes, expecting: expecting)
    read(bytes, expecting: expecting) { result in
      switch result {
      case .failure(let error):
        require(error == expected, what + ": table read error differs from the header rules")
        _ = error.description
      case .success(let table):
        require(expected == nil, what + ": a table that breaks the header rules was read")
        let length = Int(bytes.le32(4) ?? 0)
        require(table.view.count == length, what + ": table view is not the stated length")
        require(table.view.bytes == Array(bytes[0..<length]), what + ": table view bytes differ")
        require(
          table.header.revision == bytes[8] && table.header.checksum == bytes[9]
            && table.header.oemRevision == bytes.le32(24)
            && table.header.creatorRevision == bytes.le32(32),
          what + ": header fields misread")
        require(table.address == tableAddress, what + ": table address")
      }
    }
  }
}

/// The type/length entry list of an MADT or SRAT walked over plain bytes.
struct FuzzEntryWalk {
  var entries: [(type: UInt8, offset: Int, bytes: [UInt8])] = []
  /// Where the walk broke: the entry's offset and its length byte (nil when
  /// the table ends before it).
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
      entries.append((table[offset], offset, Array(table[offset..<(offset + length)])))
      offset += length
    }
  }

  /// The first entry shorter than `minimum` gives for its type.
  func firstTooShort(_ minimum: (UInt8) -> Int?) -> (
    type: UInt8, offset: Int, length: Int, minimum: Int
  )? {
    for entry in entries {
      if let needed = minimum(entry.type), entry.bytes.count < needed {
        return (entry.type, entry.offset, entry.bytes.count, needed)
      }
    }
    return nil
  }
}
