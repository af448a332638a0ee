// The Multiboot2 boot-information block that GRUB hands the kernel: a fixed
// header (u32 total_size, u32 reserved) followed by 8-byte aligned tags
// (u32 type, u32 size, payload), ending with a tag of type 0 and size 8.
//
// Everything in the block is untrusted. The parser walks every tag, decodes the
// ones the kernel uses and records the rest; any structural problem yields a
// `Multiboot2Error` naming the offset, never a trap.
//
// Decisions where the specification is silent:
// - total_size need not be a multiple of 8: only tag starts are aligned, and a
//   tag header that crosses total_size is reported as such. Bytes after the
//   end tag are ignored.
// - Duplicated single-valued tags (command line, loader name, basic memory,
//   RSDP copies, memory map): the last one wins. Module tags accumulate.
public enum Multiboot2 {
  /// The value a Multiboot2 loader leaves in EAX.
  public static let bootloaderMagic: UInt32 = 0x36d7_6289

  public static func checkMagic(_ value: UInt32) -> Result<Void, Multiboot2Error> {
    value == bootloaderMagic ? .success(()) : .failure(.badMagic(value))
  }

  /// Parses the block `view` starts with. `view.count` is how much the caller
  /// may read; the block's own total_size must fit inside it.
  public static func parse(_ view: ByteView) -> Result<BootInformation, Multiboot2Error> {
    Result { () throws(Multiboot2Error) in try parseBlock(view) }
  }

  private static let headerSize = 8
  private static let tagHeaderSize = 8

  private enum TagType {
    static let end: UInt32 = 0
    static let commandLine: UInt32 = 1
    static let bootLoaderName: UInt32 = 2
    static let module: UInt32 = 3
    static let basicMemory: UInt32 = 4
    static let memoryMap: UInt32 = 6
    static let oldRSDP: UInt32 = 14
    static let newRSDP: UInt32 = 15
  }

  private static func parseBlock(_ view: ByteView) throws(Multiboot2Error) -> BootInformation {
    guard view.count >= headerSize, let totalSizeField = view.u32(0) else {
      throw .blockTooShort(count: view.count)
    }
    let totalSize = Int(totalSizeField)
    guard totalSize >= headerSize else { throw .totalSizeTooSmall(totalSize: totalSizeField) }
    guard totalSize <= view.count else {
      throw .totalSizeExceedsView(totalSize: totalSizeField, viewCount: view.count)
    }
    // From here on only the block itself is visible, so no read can stray
    // past total_size even if a check below were wrong.
    guard let block = view.slice(0, totalSize) else {
      throw .totalSizeExceedsView(totalSize: totalSizeField, viewCount: view.count)
    }

    var info = BootInformation(totalSize: totalSize)
    var offset = headerSize
    while true {
      if offset == totalSize { throw .missingEndTag(offset: offset) }
      guard let type = block.u32(offset), let sizeField = block.u32(offset + 4) else {
        throw .tagHeaderTruncated(offset: offset)
      }
      guard sizeField >= tagHeaderSize else {
        throw .tagSizeTooSmall(offset: offset, type: type, size: sizeField)
      }
      let size = Int(sizeField)
      guard let tag = block.slice(offset, size) else {
        throw .tagOversized(offset: offset, type: type, size: sizeField, totalSize: totalSize)
      }
      if type == TagType.end {
        guard sizeField == UInt32(tagHeaderSize) else {
          throw .malformedEndTag(offset: offset, size: sizeField)
        }
        return info
      }
      info.tags.append(Multiboot2TagLocation(type: type, offset: offset, size: size))
      try decode(tag, type: type, at: offset, into: &info)
      // Both terms are below total_size <= Int(UInt32.max), so this cannot
      // overflow; rounding up keeps every tag start 8-byte aligned.
      offset = (offset + size + 7) & ~7
      if offset > totalSize { throw .missingEndTag(offset: offset) }
    }
  }

  private static func decode(
    _ tag: ByteView, type: UInt32, at offset: Int, into info: inout BootInformation
  ) throws(Multiboot2Error) {
    switch type {
    case TagType.commandLine:
      info.commandLine = try string(in: tag, from: tagHeaderSize, type: type, at: offset)
    case TagType.bootLoaderName:
      info.bootLoaderName = try string(in: tag, from: tagHeaderSize, type: type, at: offset)
    case TagType.module:
      info.modules.append(try module(tag, at: offset))
    case TagType.basicMemory:
      guard let lower = tag.u32(8), let upper = tag.u32(12) else {
        throw .tagTooShort(offset: offset, type: type, size: UInt32(truncatingIfNeeded: tag.count))
      }
      info.basicMemory = BasicMemoryInfo(lowerKiB: lower, upperKiB: upper)
    case TagType.memoryMap:
      info.memoryMap = try memoryMap(tag, at: offset)
    case TagType.oldRSDP:
      info.oldRSDP = rsdpCopy(tag, at: offset)
    case TagType.newRSDP:
      info.newRSDP = rsdpCopy(tag, at: offset)
    default:
      info.unknownTagTypes.append(type)
    }
  }

  private static func string(
    in tag: ByteView, from start: Int, type: UInt32, at offset: Int
  ) throws(Multiboot2Error) -> String {
    guard let text = tag.cString(start, limit: tag.count - start) else {
      throw .unterminatedString(offset: offset, type: type)
    }
    return text
  }

  private static func module(_ tag: ByteView, at offset: Int) throws(Multiboot2Error)
    -> BootModule
  {
    guard let start = tag.u32(8), let end = tag.u32(12) else {
      throw .tagTooShort(
        offset: offset, type: TagType.module, size: UInt32(truncatingIfNeeded: tag.count))
    }
    guard end >= start else { throw .moduleEndBeforeStart(offset: offset, start: start, end: end) }
    let commandLine = try string(in: tag, from: 16, type: TagType.module, at: offset)
    return BootModule(start: start, end: end, commandLine: commandLine)
  }

  private static let memoryMapHeaderSize = 16
  private static let memoryMapEntryMinimumSize = 24

  private static func memoryMap(_ tag: ByteView, at offset: Int) throws(Multiboot2Error)
    -> [MemoryMapEntry]
  {
    guard let entrySizeField = tag.u32(8), tag.u32(12) != nil else {
      throw .tagTooShort(
        offset: offset, type: TagType.memoryMap, size: UInt32(truncatingIfNeeded: tag.count))
    }
    guard entrySizeField >= UInt32(memoryMapEntryMinimumSize) else {
      throw .memoryMapEntrySizeTooSmall(offset: offset, entrySize: entrySizeField)
    }
    let entrySize = Int(entrySizeField)
    let entryBytes = tag.count - memoryMapHeaderSize
    // A partial trailing entry means the sizes are not what the loader meant.
    guard entryBytes % entrySize == 0 else {
      throw .memoryMapEntriesDoNotFit(
        offset: offset, entrySize: entrySizeField, bytes: UInt32(truncatingIfNeeded: entryBytes))
    }
    var entries: [MemoryMapEntry] = []
    entries.reserveCapacity(entryBytes / entrySize)
    var entryOffset = memoryMapHeaderSize
    while entryOffset < tag.count {
      guard let base = tag.u64(entryOffset), let length = tag.u64(entryOffset + 8),
        let type = tag.u32(entryOffset + 16)
      else {
        throw .memoryMapEntriesDoNotFit(
          offset: offset, entrySize: entrySizeField, bytes: UInt32(truncatingIfNeeded: entryBytes))
      }
      entries.append(MemoryMapEntry(base: base, length: length, type: MemoryType(rawValue: type)))
      entryOffset += entrySize
    }
    return entries
  }

  /// The RSDP copy is not validated here: ACPI checks signature and checksums.
  private static func rsdpCopy(_ tag: ByteView, at offset: Int) -> RSDPCopy {
    let payload = tag.slice(tagHeaderSize, tag.count - tagHeaderSize)
    return RSDPCopy(offset: offset + tagHeaderSize, bytes: payload?.bytes ?? [])
  }
}

/// What the kernel learns from the boot-information block.
public struct BootInformation: Equatable, Sendable {
  /// The block's total_size field: how many bytes the kernel must keep.
  public var totalSize: Int
  public var commandLine: String?
  public var bootLoaderName: String?
  public var modules: [BootModule] = []
  public var memoryMap: [MemoryMapEntry] = []
  public var basicMemory: BasicMemoryInfo?
  /// Copy of the ACPI 1.0 RSDP (tag 14).
  public var oldRSDP: RSDPCopy?
  /// Copy of the ACPI 2.0+ RSDP (tag 15).
  public var newRSDP: RSDPCopy?
  /// Every tag before the end tag, in block order.
  public var tags: [Multiboot2TagLocation] = []
  /// Types of the tags that were not decoded, in block order, duplicates kept.
  public var unknownTagTypes: [UInt32] = []

  public init(totalSize: Int) {
    self.totalSize = totalSize
  }

  /// The RSDP to start ACPI from: the 2.0+ copy (it leads to the XSDT) when
  /// the loader gave one.
  public var rsdp: RSDPCopy? { newRSDP ?? oldRSDP }
}

/// A Multiboot2 module: physical range [start, end) and its command line.
public struct BootModule: Equatable, Sendable {
  public var start: UInt32
  public var end: UInt32
  public var commandLine: String

  public init(start: UInt32, end: UInt32, commandLine: String) {
    self.start = start
    self.end = end
    self.commandLine = commandLine
  }

  /// The parser guarantees end >= start.
  public var size: UInt32 { end &- start }
}

/// Memory below 1 MiB and above 1 MiB (up to the first hole), in KiB.
public struct BasicMemoryInfo: Equatable, Sendable {
  public var lowerKiB: UInt32
  public var upperKiB: UInt32

  public init(lowerKiB: UInt32, upperKiB: UInt32) {
    self.lowerKiB = lowerKiB
    self.upperKiB = upperKiB
  }
}

/// The loader's copy of the ACPI RSDP, located by its offset inside the
/// block so the kernel can print its physical address (block address +
/// offset) and parse `bytes` later.
public struct RSDPCopy: Equatable, Sendable {
  public var offset: Int
  public var bytes: [UInt8]

  public init(offset: Int, bytes: [UInt8]) {
    self.offset = offset
    self.bytes = bytes
  }

  public var length: Int { bytes.count }
}

/// Where a tag sits in the block (for listing the tags of a boot).
public struct Multiboot2TagLocation: Equatable, Sendable {
  public var type: UInt32
  public var offset: Int
  public var size: Int

  public init(type: UInt32, offset: Int, size: Int) {
    self.type = type
    self.offset = offset
    self.size = size
  }
}

public enum Multiboot2Error: Error, Equatable {
  case badMagic(UInt32)
  /// Not even the 8-byte fixed header is readable.
  case blockTooShort(count: Int)
  case totalSizeTooSmall(totalSize: UInt32)
  case totalSizeExceedsView(totalSize: UInt32, viewCount: Int)
  /// Fewer than 8 bytes are left for a tag header before total_size.
  case tagHeaderTruncated(offset: Int)
  case tagSizeTooSmall(offset: Int, type: UInt32, size: UInt32)
  /// The tag's size runs past total_size.
  case tagOversized(offset: Int, type: UInt32, size: UInt32, totalSize: Int)
  /// The tag is too small for the fixed fields of its type.
  case tagTooShort(offset: Int, type: UInt32, size: UInt32)
  /// The walk reached total_size without seeing the end tag.
  case missingEndTag(offset: Int)
  case malformedEndTag(offset: Int, size: UInt32)
  case unterminatedString(offset: Int, type: UInt32)
  case memoryMapEntrySizeTooSmall(offset: Int, entrySize: UInt32)
  case memoryMapEntriesDoNotFit(offset: Int, entrySize: UInt32, bytes: UInt32)
  case moduleEndBeforeStart(offset: Int, start: UInt32, end: UInt32)

  public var description: String {
    switch self {
    case .badMagic(let value):
      "multiboot2: bad magic " + hexNumber(value) + " (expected "
        + hexNumber(Multiboot2.bootloaderMagic) + ")"
    case .blockTooShort(let count):
      "multiboot2: block of " + String(count) + " bytes is shorter than its 8-byte header"
    case .totalSizeTooSmall(let totalSize):
      "multiboot2: total_size " + String(totalSize) + " is smaller than the 8-byte header"
    case .totalSizeExceedsView(let totalSize, let viewCount):
      "multiboot2: total_size " + String(totalSize) + " exceeds the " + String(viewCount)
        + " readable bytes"
    case .tagHeaderTruncated(let offset):
      "multiboot2: tag header at offset " + hexNumber(offset) + " crosses total_size"
    case .tagSizeTooSmall(let offset, let type, let size):
      "multiboot2: tag type " + String(type) + " at offset " + hexNumber(offset) + " has size "
        + String(size) + " (< 8)"
    case .tagOversized(let offset, let type, let size, let totalSize):
      "multiboot2: tag type " + String(type) + " at offset " + hexNumber(offset) + " with size "
        + String(size) + " runs past total_size " + String(totalSize)
    case .tagTooShort(let offset, let type, let size):
      "multiboot2: tag type " + String(type) + " at offset " + hexNumber(offset) + " with size "
        + String(size) + " is too short for its fields"
    case .missingEndTag(let offset):
      "multiboot2: no end tag before total_size (walk stopped at offset " + hexNumber(offset) + ")"
    case .malformedEndTag(let offset, let size):
      "multiboot2: end tag at offset " + hexNumber(offset) + " has size " + String(size)
        + " (not 8)"
    case .unterminatedString(let offset, let type):
      "multiboot2: string in tag type " + String(type) + " at offset " + hexNumber(offset)
        + " has no NUL terminator"
    case .memoryMapEntrySizeTooSmall(let offset, let entrySize):
      "multiboot2: memory map at offset " + hexNumber(offset) + " has entry_size "
        + String(entrySize) + " (< 24)"
    case .memoryMapEntriesDoNotFit(let offset, let entrySize, let bytes):
      "multiboot2: memory map at offset " + hexNumber(offset) + ": " + String(bytes)
        + " entry bytes are not a whole number of " + String(entrySize) + "-byte entries"
    case .moduleEndBeforeStart(let offset, let start, let end):
      "multiboot2: module at offset " + hexNumber(offset) + " ends (" + hexNumber(end)
        + ") before it starts (" + hexNumber(start) + ")"
    }
  }
}

private func hexNumber(_ value: some BinaryInteger) -> String {
  "0x" + String(value, radix: 16)
}
