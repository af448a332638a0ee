// What every fuzz target shares: the way a broken property is reported (a
// trap with a message, which libFuzzer records as a crash and saves the
// input for), and little-endian reads over plain byte arrays. The targets'
// oracles read the input through these, not through Core's `ByteView`, so a
// bug in the view cannot hide itself from the checks built on it.

/// Stops the run when a property does not hold; libFuzzer keeps the input.
func require(
  _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
  file: StaticString = #file, line: UInt = #line
) {
  if !condition() { fatalError("fuzz property violated: " + message(), file: file, line: line) }
}

extension Array where Element == UInt8 {
  /// The little-endian value of `width` bytes at `offset`, or nil when they
  /// are not all inside the array.
  func le(_ offset: Int, _ width: Int) -> UInt64? {
    guard offset >= 0, width >= 0, offset <= count - width else { return nil }
    var value: UInt64 = 0
    for index in 0..<width { value |= UInt64(self[offset + index]) << UInt64(8 * index) }
    return value
  }

  func le8(_ offset: Int) -> UInt8? { le(offset, 1).map { UInt8($0) } }
  func le16(_ offset: Int) -> UInt16? { le(offset, 2).map { UInt16($0) } }
  func le32(_ offset: Int) -> UInt32? { le(offset, 4).map { UInt32($0) } }
  func le64(_ offset: Int) -> UInt64? { le(offset, 8) }

  /// Overwrites `width` bytes at `offset` with `value`, little-endian; bytes
  /// past the end are dropped.
  mutating func put(_ value: UInt64, at offset: Int, width: Int) {
    for index in 0..<width where offset + index < count {
      self[offset + index] = UInt8(truncatingIfNeeded: value >> UInt64(8 * index))
    }
  }

  /// The bytes as a `ByteView` for the duration of `body`.
  func withView<R>(_ body: (ByteView) -> R) -> R {
    withUnsafeBytes { body(ByteView($0)) }
  }
}

/// Bytes from the fuzz input consumed front to back, for the targets whose
/// input is a sequence of choices rather than one structure. Reads past the
/// end give zeros, so every input is a complete program.
struct FuzzInput {
  private let bytes: [UInt8]
  private var position = 0

  init(_ bytes: [UInt8]) { self.bytes = bytes }

  var isAtEnd: Bool { position >= bytes.count }

  mutating func byte() -> UInt8 {
    defer { position += 1 }
    return position < bytes.count ? bytes[position] : 0
  }

  mutating func u16() -> UInt16 { UInt16(byte()) | UInt16(byte()) << 8 }

  mutating func u64() -> UInt64 {
    var value: UInt64 = 0
    for index in 0..<8 { value |= UInt64(byte()) << UInt64(8 * index) }
    return value
  }
}
