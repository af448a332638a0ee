// Fuzz target `multiboot2`: the input is a boot-information block as GRUB
// would hand it over. Properties:
// - `Multiboot2.parse` agrees exactly (value or error) with an independent
//   walk of the tags written here over plain bytes;
// - an error names an offset inside the block (a missing end tag may name
//   the next 8-byte aligned tag start, at most 7 bytes past total_size: the
//   documented walk position);
// - a success re-encoded in canonical layout parses back to the same values;
// - parsing is deterministic.

func fuzzMultiboot2(_ bytes: [UInt8]) {
  let parsed = bytes.withView { Multiboot2.parse($0) }
  let expected = Multiboot2Oracle.parse(bytes)
  require(parsed == expected, "multiboot2: parser and independent walk disagree")
  require(parsed == bytes.withView { Multiboot2.parse($0) }, "multiboot2: not deterministic")
  switch parsed {
  case .failure(let error):
    let totalSize = Int(bytes.le32(0) ?? 0)
    if let offset = Multiboot2Oracle.offset(of: error) {
      let limit = error == .missingEndTag(offset: offset) ? totalSize + 7 : totalSize
      require(offset >= 8 && offset <= limit, "multiboot2: error offset outside the block")
    }
    _ = error.description
  case .success(let info):
    require(info.totalSize >= 8 && info.totalSize <= bytes.count, "multiboot2: total size")
    for tag in info.tags {
      require(tag.offset % 8 == 0 && tag.offset >= 8, "multiboot2: unaligned tag")
      require(tag.offset + tag.size <= info.totalSize, "multiboot2: tag past total_size")
    }
    for module in info.modules { require(module.end >= module.start, "multiboot2: module range") }
    let again = Multiboot2Oracle.encode(info).withView { Multiboot2.parse($0) }
    guard case .success(let reparsed) = again else {
      fatalError("fuzz property violated: multiboot2: canonical re-encoding does not parse")
    }
    require(
      reparsed.commandLine == info.commandLine && reparsed.bootLoaderName == info.bootLoaderName
        && reparsed.modules == info.modules && reparsed.basicMemory == info.basicMemory
        && reparsed.memoryMap == info.memoryMap
        && reparsed.oldRSDP?.bytes == info.oldRSDP?.bytes
        && reparsed.newRSDP?.bytes == info.newRSDP?.bytes
        && reparsed.unknownTagTypes == info.unknownTagTypes,
      "multiboot2: round trip changed the values")
  }
}

/// The Multiboot2 block read a second time, written separately from
/// Kernel/Core/Boot/Multiboot2.swift from the rules in its header comment.
enum Multiboot2Oracle {
  static func parse(_ bytes: [UInt8]) -> Result<BootInformation, Multiboot2Error> {
    guard bytes.count >= 8, let total32 = bytes.le32(0) else {
      return .failure(.blockTooShort(count: bytes.count))
    }
    let total = Int(total32)
    if total < 8 { return .failure(.totalSizeTooSmall(totalSize: total32)) }
    if total > bytes.count {
      return .failure(.totalSizeExceedsView(totalSize: total32, viewCount: bytes.count))
    }
    let block = Array(bytes[0..<total])
    var info = BootInformation(totalSize: total)
    var at = 8
    while true {
      if at == total { return .failure(.missingEndTag(offset: at)) }
      guard at + 8 <= total, let type = block.le32(at), let size32 = block.le32(at + 4) else {
        return .failure(.tagHeaderTruncated(offset: at))
      }
      if size32 < 8 { return .failure(.tagSizeTooSmall(offset: at, type: type, size: size32)) }
      let size = Int(size32)
      if size > total - at {
        return .failure(.tagOversized(offset: at, type: type, size: size32, totalSize: total))
      }
      let tag = Array(block[at..<(at + size)])
      if type == 0 {
        return size == 8 ? .success(info) : .failure(.malformedEndTag(offset: at, size: size32))
      }
      info.tags.append(Multiboot2TagLocation(type: type, offset: at, size: size))
      let short = Multiboot2Error.tagTooShort(offset: at, type: type, size: size32)
      switch type {
      case 1, 2:
        guard let text = cString(tag, from: 8) else {
          return .failure(.unterminatedString(offset: at, type: type))
        }
        if type == 1 { info.commandLine = text } else { info.bootLoaderName = text }
      case 3:
        guard let start = tag.le32(8), let end = tag.le32(12) else { return .failure(short) }
        if end < start {
          return .failure(.moduleEndBeforeStart(offset: at, start: start, end: end))
        }
        guard let text = cString(tag, from: 16) else {
          return .failure(.unterminatedString(offset: at, type: type))
        }
        info.modules.append(BootModule(start: start, end: end, commandLine: text))
      case 4:
        guard let lower = tag.le32(8), let upper = tag.le32(12) else { return .failure(short) }
        info.basicMemory = BasicMemoryInfo(lowerKiB: lower, upperKiB: upper)
      case 6:
        guard let entrySize32 = tag.le32(8), tag.le32(12) != nil else { return .failure(short) }
        if entrySize32 < 24 {
          return .failure(.memoryMapEntrySizeTooSmall(offset: at, entrySize: entrySize32))
        }
        let entrySize = Int(entrySize32)
        let room = size - 16
        if room % entrySize != 0 {
          return .failure(
            .memoryMapEntriesDoNotFit(offset: at, entrySize: entrySize32, bytes: UInt32(room)))
        }
        var entries: [MemoryMapEntry] = []
        for first in stride(from: 16, to: size, by: entrySize) {
          entries.append(
            MemoryMapEntry(
              base: tag.le64(first)!, length: tag.le64(first + 8)!,
              type: MemoryType(rawValue: tag.le32(first + 16)!)))
        }
        info.memoryMap = entries
      case 14, 15:
        let copy = RSDPCopy(offset: at + 8, bytes: Array(tag[8...]))
        if type == 14 { info.oldRSDP = copy } else { info.newRSDP = copy }
      default:
        info.unknownTagTypes.append(type)
      }
      at += (size + 7) / 8 * 8
      if at > total { return .failure(.missingEndTag(offset: at)) }
    }
  }

  /// Text up to the first NUL at or after `start`; nil without one.
  static func cString(_ tag: [UInt8], from start: Int) -> String? {
    guard start <= tag.count, let end = tag[start...].firstIndex(of: 0) else { return nil }
    return String(decoding: tag[start..<end], as: UTF8.self)
  }

  /// The block offset an error names, if it names one.
  static func offset(of error: Multiboot2Error) -> Int? {
    switch error {
    case .badMagic, .blockTooShort, .totalSizeTooSmall, .totalSizeExceedsView: nil
    case .tagHeaderTruncated(let offset), .tagSizeTooSmall(let offset, _, _),
      .tagOversized(let offset, _, _, _), .tagTooShort(let offset, _, _),
      .missingEndTag(let offset), .malformedEndTag(let offset, _),
      .unterminatedString(let offset, _), .memoryMapEntrySizeTooSmall(let offset, _),
      .memoryMapEntriesDoNotFit(let offset, _, _), .moduleEndBeforeStart(let offset, _, _):
      offset
    }
  }

  /// `info` as a block in canonical layout: one tag per value, 8-byte
  /// aligned, memory map entries of 24 bytes, an end tag.
  static func encode(_ info: BootInformation) -> [UInt8] {
    var block: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0]
    func tag(_ type: UInt32, _ payload: [UInt8]) {
      var header = [UInt8](repeating: 0, count: 8)
      header.put(UInt64(type), at: 0, width: 4)
      header.put(UInt64(payload.count + 8), at: 4, width: 4)
      block += header + payload
      while block.count % 8 != 0 { block.append(0) }
    }
    func le(_ value: UInt64, _ width: Int) -> [UInt8] {
      var bytes = [UInt8](repeating: 0, count: width)
      bytes.put(value, at: 0, width: width)
      return bytes
    }
    if let text = info.commandLine { tag(1, Array(text.utf8) + [0]) }
    if let text = info.bootLoaderName { tag(2, Array(text.utf8) + [0]) }
    for module in info.modules {
      tag(
        3,
        le(UInt64(module.start), 4) + le(UInt64(module.end), 4) + Array(module.commandLine.utf8)
          + [0])
    }
    if let memory = info.basicMemory {
      tag(4, le(UInt64(memory.lowerKiB), 4) + le(UInt64(memory.upperKiB), 4))
    }
    if !info.memoryMap.isEmpty {
      var payload = le(24, 4) + le(0, 4)
      for entry in info.memoryMap {
        payload +=
          le(entry.base, 8) + le(entry.length, 8) + le(UInt64(entry.type.rawValue), 4)
          + le(0, 4)
      }
      tag(6, payload)
    }
    if let copy = info.oldRSDP { tag(14, copy.bytes) }
    if let copy = info.newRSDP { tag(15, copy.bytes) }
    for type in info.unknownTagTypes { tag(type, []) }
    tag(0, [])
    block.put(UInt64(block.count), at: 0, width: 4)
    return block
  }
}
