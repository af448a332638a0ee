// The entries of MADT-like ACPI tables: type byte, length byte, body.
// Shared by the MADT and SRAT parsers.

/// One entry of the variable-length lists the MADT and the SRAT end with:
/// a type byte, a length byte (counting both), then the fields.
struct ACPITableEntry {
  var type: UInt8
  /// From the start of the table.
  var offset: Int
  /// Exactly the entry's `length` bytes.
  var view: ByteView

  /// Where the walk lost its footing: the entry's offset and length byte.
  struct BogusLength: Error {
    var offset: Int
    var length: UInt8?
  }

  /// Every entry from `start` to the end of `table`, or the first one whose
  /// length is below 2 (the walk would never advance) or runs past the end.
  static func all(in table: ByteView, from start: Int) -> Result<[ACPITableEntry], BogusLength> {
    var entries: [ACPITableEntry] = []
    var offset = start
    while offset < table.count {
      guard let type = table.u8(offset), let lengthByte = table.u8(offset + 1) else {
        return .failure(BogusLength(offset: offset, length: nil))
      }
      let length = Int(lengthByte)
      guard length >= 2, let view = table.slice(offset, length) else {
        return .failure(BogusLength(offset: offset, length: lengthByte))
      }
      entries.append(ACPITableEntry(type: type, offset: offset, view: view))
      offset += length
    }
    return .success(entries)
  }

  /// Why a table's entries cannot be trusted.
  enum Problem: Error {
    /// A length below 2 or running past the table end (nil: cut off).
    case bogusLength(offset: Int, length: UInt8?)
    /// An entry shorter than the fields its type has.
    case tooShort(type: UInt8, offset: Int, length: Int, minimum: Int)
  }

  /// `all`, then every entry of a type with a `minimumLength` checked against it.
  static func checked(
    in table: ByteView, from start: Int, minimumLength: (UInt8) -> Int?
  ) -> Result<[ACPITableEntry], Problem> {
    switch all(in: table, from: start) {
    case .failure(let bad):
      return .failure(.bogusLength(offset: bad.offset, length: bad.length))
    case .success(let entries):
      for entry in entries {
        if let minimum = minimumLength(entry.type), entry.view.count < minimum {
          return .failure(
            .tooShort(
              type: entry.type, offset: entry.offset, length: entry.view.count, minimum: minimum))
        }
      }
      return .success(entries)
    }
  }

  static func describeBogusLength(offset: Int, length: UInt8?) -> String {
    guard let length else {
      return "entry at offset " + hex(UInt64(truncatingIfNeeded: offset), digits: 2)
        + " is cut off by the table end"
    }
    return "bogus entry length " + String(length) + " at offset "
      + hex(UInt64(truncatingIfNeeded: offset), digits: 2)
  }

  static func describeShort(type: UInt8, offset: Int, length: Int, minimum: Int) -> String {
    "entry of type " + String(type) + " at offset "
      + hex(UInt64(truncatingIfNeeded: offset), digits: 2) + " has "
      + String(length) + " bytes, fewer than the " + String(minimum) + " its type needs"
  }
}
