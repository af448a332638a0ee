// Assembles synthetic ELF64 executables for tests: the 64-byte header, the
// program header table right after it, then each segment's bytes at the next
// 16-byte boundary. Every header field is a variable so a test can break
// exactly one of them; `nil` offsets, sizes and counts come from the layout.
import TesseraCore

struct ELFBuilder {
  /// One program header and the file bytes it describes.
  struct ProgramHeader {
    var type: UInt32 = 1  // PT_LOAD
    var flags: UInt32
    /// The p_offset field; nil: where `build` puts `data`. A set offset
    /// only changes the field, the data still goes to its place.
    var offset: UInt64? = nil
    var virtualAddress: UInt64
    var physicalAddress: UInt64 = 0
    /// nil: `data.count`.
    var fileSize: UInt64? = nil
    var memorySize: UInt64
    var alignment: UInt64 = 0x1000
    var data: [UInt8] = []
  }

  static let r: UInt32 = 4
  static let w: UInt32 = 2
  static let x: UInt32 = 1

  // e_ident
  var magic: [UInt8] = [0x7F, 0x45, 0x4C, 0x46]
  var elfClass: UInt8 = 2
  var dataEncoding: UInt8 = 1
  var identVersion: UInt8 = 1
  var osABI: UInt8 = 0
  // The rest of the header.
  var type: UInt16 = 2
  var machine: UInt16 = 62
  var version: UInt32 = 1
  var entry: UInt64 = 0
  var programHeaderOffset: UInt64 = 64
  var headerSize: UInt16 = 64
  var programHeaderEntrySize: UInt16 = 56
  /// nil: `programHeaders.count`.
  var programHeaderCount: UInt16? = nil
  var programHeaders: [ProgramHeader] = []

  /// Adds a PT_LOAD segment holding `data`, `memorySize` bytes in memory
  /// (default: the data's size).
  mutating func load(
    at virtualAddress: UInt64, flags: UInt32, data: [UInt8], memorySize: UInt64? = nil
  ) {
    programHeaders.append(
      ProgramHeader(
        flags: flags, virtualAddress: virtualAddress,
        memorySize: memorySize ?? UInt64(data.count), data: data))
  }

  /// Where each program header's data goes: after the table (at its
  /// default offset), 16-byte aligned, in order.
  var dataOffsets: [UInt64] {
    var next = 64 + programHeaders.count * 56
    var offsets: [UInt64] = []
    for header in programHeaders {
      next = (next + 15) & ~15
      offsets.append(UInt64(next))
      next += header.data.count
    }
    return offsets
  }

  func build() -> [UInt8] {
    var file = magic + [elfClass, dataEncoding, identVersion, osABI]
    file += [UInt8](repeating: 0, count: 8)
    file += Self.le16(type) + Self.le16(machine) + Self.le32(version) + Self.le64(entry)
    file += Self.le64(programHeaderOffset) + Self.le64(0)  // e_phoff, e_shoff
    file += Self.le32(0) + Self.le16(headerSize) + Self.le16(programHeaderEntrySize)
    file += Self.le16(programHeaderCount ?? UInt16(programHeaders.count))
    file += Self.le16(64) + Self.le16(0) + Self.le16(0)  // e_shentsize, e_shnum, e_shstrndx
    let offsets = dataOffsets
    var table: [UInt8] = []
    for (header, offset) in zip(programHeaders, offsets) {
      table += Self.le32(header.type) + Self.le32(header.flags)
      table += Self.le64(header.offset ?? offset)
      table += Self.le64(header.virtualAddress) + Self.le64(header.physicalAddress)
      table += Self.le64(header.fileSize ?? UInt64(header.data.count))
      table += Self.le64(header.memorySize) + Self.le64(header.alignment)
    }
    Self.place(table, at: 64, in: &file)
    for (header, offset) in zip(programHeaders, offsets) where !header.data.isEmpty {
      Self.place(header.data, at: Int(offset), in: &file)
    }
    return file
  }

  /// Writes `bytes` at `offset`, growing the file with zeros as needed.
  private static func place(_ bytes: [UInt8], at offset: Int, in file: inout [UInt8]) {
    if file.count < offset + bytes.count {
      file += [UInt8](repeating: 0, count: offset + bytes.count - file.count)
    }
    file.replaceSubrange(offset..<offset + bytes.count, with: bytes)
  }
}

extension ELFBuilder {
  static func le16(_ value: UInt16) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian, Array.init)
  }
  static func le32(_ value: UInt32) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian, Array.init)
  }
  static func le64(_ value: UInt64) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian, Array.init)
  }

  /// Validates `bytes` the way the kernel does, through a ByteView.
  static func validate(_ bytes: [UInt8], userSpace: ClosedRange<UInt64>) -> Result<
    ELFLoadPlan, ELFError
  > {
    bytes.withUnsafeBytes { ELFImage.validate(ByteView($0), userSpace: userSpace) }
  }

  /// A small program as a linker would lay it out: code (r-x) at
  /// `base`, and 0x30 bytes of data followed by 0x2000 bytes of bss (rw-)
  /// two pages up; the entry point is 4 bytes into the code.
  static func twoSegmentProgram(base: UInt64 = 0x100_0000_0000) -> ELFBuilder {
    var builder = ELFBuilder()
    builder.entry = base + 4
    builder.load(at: base, flags: r | x, data: [UInt8](repeating: 0x90, count: 0x40))
    builder.load(
      at: base + 0x2010, flags: r | w, data: [UInt8](repeating: 0xA5, count: 0x30),
      memorySize: 0x2030)
    return builder
  }
}
