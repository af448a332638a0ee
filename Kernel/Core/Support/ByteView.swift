// A bounds-checked little-endian view over bytes the kernel did not produce
// (boot information, firmware tables, user buffers). Every read returns nil
// instead of trapping when it would leave the buffer, so parsers built on it
// turn malformed input into error values.
public struct ByteView {
  public let base: UnsafeRawPointer?
  public let count: Int

  public init(base: UnsafeRawPointer?, count: Int) {
    self.base = base
    self.count = base == nil ? 0 : max(0, count)
  }

  public init(_ buffer: UnsafeRawBufferPointer) {
    self.init(base: buffer.baseAddress, count: buffer.count)
  }

  /// True when `length` bytes starting at `offset` lie inside the view.
  public func contains(offset: Int, length: Int) -> Bool {
    offset >= 0 && length >= 0 && offset <= count && length <= count - offset
  }

  public func u8(_ offset: Int) -> UInt8? {
    guard contains(offset: offset, length: 1), let base else { return nil }
    return base.load(fromByteOffset: offset, as: UInt8.self)
  }

  public func u16(_ offset: Int) -> UInt16? {
    guard contains(offset: offset, length: 2), let base else { return nil }
    return UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
  }

  public func u32(_ offset: Int) -> UInt32? {
    guard contains(offset: offset, length: 4), let base else { return nil }
    return UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
  }

  public func u64(_ offset: Int) -> UInt64? {
    guard contains(offset: offset, length: 8), let base else { return nil }
    return UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
  }

  /// A sub-view, or nil when the range does not fit.
  public func slice(_ offset: Int, _ length: Int) -> ByteView? {
    guard contains(offset: offset, length: length), let base else { return nil }
    return ByteView(base: base + offset, count: length)
  }

  /// The bytes of the view, copied.
  public var bytes: [UInt8] {
    guard let base, count > 0 else { return [] }
    return Array(UnsafeRawBufferPointer(start: base, count: count))
  }

  /// A NUL-terminated string starting at `offset` and ending before
  /// `offset + limit`; nil when no terminator is found in range. Invalid UTF-8
  /// is repaired, never trusted.
  public func cString(_ offset: Int, limit: Int) -> String? {
    guard contains(offset: offset, length: limit), let base else { return nil }
    let bytes = UnsafeRawBufferPointer(start: base + offset, count: limit)
    guard let end = bytes.firstIndex(of: 0) else { return nil }
    return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<end]), as: UTF8.self)
  }

  /// Sum of all bytes modulo 256 (ACPI-style checksums must be zero).
  public var byteSum: UInt8 {
    guard let base else { return 0 }
    var sum: UInt8 = 0
    for i in 0..<count { sum &+= base.load(fromByteOffset: i, as: UInt8.self) }
    return sum
  }
}
