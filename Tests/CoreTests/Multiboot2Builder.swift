// Assembles Multiboot2 boot-information blocks for tests: tags are laid out
// 8-byte aligned with zero padding, total_size is filled in, and an end tag is
// appended unless a test asks for a broken block.
import TesseraCore

struct Multiboot2Builder {
  /// Complete tags (header and payload), unpadded.
  private(set) var tags: [[UInt8]] = []

  /// Adds a tag whose size field is the real payload size plus 8.
  mutating func tag(type: UInt32, payload: [UInt8]) {
    tags.append(Self.le32(type) + Self.le32(UInt32(payload.count + 8)) + payload)
  }

  /// Adds a tag with a chosen size field, for malformed blocks.
  mutating func tag(type: UInt32, sizeField: UInt32, payload: [UInt8]) {
    tags.append(Self.le32(type) + Self.le32(sizeField) + payload)
  }

  mutating func commandLine(_ text: String) { tag(type: 1, payload: Self.cString(text)) }

  mutating func bootLoaderName(_ text: String) { tag(type: 2, payload: Self.cString(text)) }

  mutating func module(start: UInt32, end: UInt32, commandLine: String) {
    tag(type: 3, payload: Self.le32(start) + Self.le32(end) + Self.cString(commandLine))
  }

  mutating func basicMemory(lowerKiB: UInt32, upperKiB: UInt32) {
    tag(type: 4, payload: Self.le32(lowerKiB) + Self.le32(upperKiB))
  }

  /// Entries larger than 24 bytes get zero padding, as a future entry
  /// version with extra fields would.
  mutating func memoryMap(_ entries: [MemoryMapEntry], entrySize: UInt32 = 24) {
    var payload = Self.le32(entrySize) + Self.le32(0)
    for entry in entries {
      var bytes =
        Self.le64(entry.base) + Self.le64(entry.length) + Self.le32(entry.type.rawValue)
        + Self.le32(0)
      bytes += [UInt8](repeating: 0, count: max(0, Int(entrySize) - bytes.count))
      payload += bytes.prefix(Int(entrySize))
    }
    tag(type: 6, payload: payload)
  }

  mutating func oldRSDP(_ bytes: [UInt8]) { tag(type: 14, payload: bytes) }

  mutating func newRSDP(_ bytes: [UInt8]) { tag(type: 15, payload: bytes) }

  mutating func endTag() { tag(type: 0, payload: []) }

  /// Offset of each added tag in the built block.
  var tagOffsets: [Int] {
    var offsets: [Int] = []
    var offset = 8
    for tag in tags {
      offsets.append(offset)
      offset += padded(tag.count)
    }
    return offsets
  }

  /// The block with total_size set to its length.
  func build(withEndTag: Bool = true) -> [UInt8] {
    var body: [UInt8] = []
    var all = tags
    if withEndTag { all.append(Self.le32(0) + Self.le32(8)) }
    for tag in all {
      body += tag + [UInt8](repeating: 0, count: padded(tag.count) - tag.count)
    }
    return Self.le32(UInt32(body.count + 8)) + Self.le32(0) + body
  }

  private func padded(_ count: Int) -> Int { (count + 7) & ~7 }
}

extension Multiboot2Builder {
  static func le32(_ value: UInt32) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian, Array.init)
  }
  static func le64(_ value: UInt64) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian, Array.init)
  }
  static func cString(_ text: String) -> [UInt8] { Array(text.utf8) + [0] }

  /// Overwrites four bytes of `bytes` with a little-endian value.
  static func patch32(_ bytes: inout [UInt8], at offset: Int, _ value: UInt32) {
    bytes.replaceSubrange(offset..<offset + 4, with: le32(value))
  }

  /// Parses `bytes` the way the kernel does, through a ByteView over them.
  static func parse(_ bytes: [UInt8]) -> Result<BootInformation, Multiboot2Error> {
    bytes.withUnsafeBytes { Multiboot2.parse(ByteView($0)) }
  }
}
