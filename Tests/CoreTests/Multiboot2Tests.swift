import PropertyBased
import Testing

@testable import TesseraCore

private typealias MB = Multiboot2Builder

private func parsed(_ bytes: [UInt8]) -> BootInformation? {
  try? MB.parse(bytes).get()
}

private func failure(_ bytes: [UInt8]) -> Multiboot2Error? {
  if case .failure(let error) = MB.parse(bytes) { return error }
  return nil
}

/// 20 bytes standing in for an RSDP (the parser does not validate it).
private let fakeOldRSDP: [UInt8] = Array("RSD PTR ".utf8) + [UInt8](repeating: 0x11, count: 12)
private let fakeNewRSDP: [UInt8] = Array("RSD PTR ".utf8) + [UInt8](repeating: 0x22, count: 28)

/// A block with every decoded tag type plus two the parser skips.
private func fullBuilder() -> MB {
  var builder = MB()
  builder.commandLine("maxcpus=2 mem=64M")
  builder.bootLoaderName("GRUB 2.12")
  builder.module(start: 0x20_0000, end: 0x20_1234, commandLine: "init")
  builder.tag(type: 8, payload: [UInt8](repeating: 0xAB, count: 13))  // framebuffer
  builder.module(start: 0x30_0000, end: 0x30_0000, commandLine: "")
  builder.basicMemory(lowerKiB: 639, upperKiB: 129_920)
  builder.memoryMap([
    MemoryMapEntry(base: 0, length: 0x9_fc00, type: .available),
    MemoryMapEntry(base: 0x9_fc00, length: 0x400, type: .reserved),
    MemoryMapEntry(base: 0x10_0000, length: 0x7ee_0000, type: .available),
    MemoryMapEntry(base: 0x7fe_0000, length: 0x2_0000, type: .acpiReclaimable),
    MemoryMapEntry(base: 0xfeff_c000, length: 0x4000, type: .acpiNVS),
    MemoryMapEntry(base: 0x1_0000_0000, length: 0x1_4000_0000, type: .available),
    MemoryMapEntry(base: 0xfd_0000_0000, length: 0x3_0000_0000, type: .badRAM),
  ])
  builder.oldRSDP(fakeOldRSDP)
  builder.tag(type: 21, payload: MB.le32(0x10_0000))  // image load base
  builder.newRSDP(fakeNewRSDP)
  return builder
}

@Suite struct Multiboot2Tests {
  // MARK: well-formed blocks

  @Test func decodesEveryTagType() throws {
    let builder = fullBuilder()
    let bytes = builder.build()
    let info = try #require(parsed(bytes))
    #expect(info.totalSize == bytes.count)
    #expect(info.commandLine == "maxcpus=2 mem=64M")
    #expect(info.bootLoaderName == "GRUB 2.12")
    #expect(
      info.modules == [
        BootModule(start: 0x20_0000, end: 0x20_1234, commandLine: "init"),
        BootModule(start: 0x30_0000, end: 0x30_0000, commandLine: ""),
      ])
    #expect(info.modules.map(\.size) == [0x1234, 0])
    #expect(info.basicMemory == BasicMemoryInfo(lowerKiB: 639, upperKiB: 129_920))
    #expect(info.memoryMap.count == 7)
    #expect(
      info.memoryMap[5]
        == MemoryMapEntry(base: 0x1_0000_0000, length: 0x1_4000_0000, type: .available))
    #expect(info.memoryMap[6].type == .badRAM)
    #expect(info.memoryMap[6].end == 0x100_0000_0000)
    #expect(info.unknownTagTypes == [8, 21])
    #expect(info.tags.map(\.type) == [1, 2, 3, 8, 3, 4, 6, 14, 21, 15])
    #expect(info.tags.map(\.offset) == builder.tagOffsets)
  }

  @Test func recordsRSDPCopiesByOffsetAndPrefersTheNewOne() throws {
    let builder = fullBuilder()
    let bytes = builder.build()
    let info = try #require(parsed(bytes))
    let old = try #require(info.oldRSDP)
    let new = try #require(info.newRSDP)
    #expect(old.offset == builder.tagOffsets[7] + 8)
    #expect(old.bytes == fakeOldRSDP && old.length == 20)
    #expect(new.offset == builder.tagOffsets[9] + 8)
    #expect(new.bytes == fakeNewRSDP && new.length == 36)
    #expect(Array(bytes[new.offset..<new.offset + new.length]) == fakeNewRSDP)
    #expect(info.rsdp == new)
  }

  @Test func usesTheOldRSDPWhenItIsTheOnlyOne() throws {
    var builder = MB()
    builder.oldRSDP(fakeOldRSDP)
    let info = try #require(parsed(builder.build()))
    #expect(info.rsdp == info.oldRSDP && info.newRSDP == nil && info.rsdp != nil)
  }

  @Test func acceptsABlockWithOnlyTheEndTag() throws {
    let info = try #require(parsed(MB().build()))
    #expect(info.totalSize == 16)
    #expect(info.commandLine == nil && info.bootLoaderName == nil && info.basicMemory == nil)
    #expect(info.modules.isEmpty && info.memoryMap.isEmpty && info.tags.isEmpty)
    #expect(info.rsdp == nil && info.unknownTagTypes.isEmpty)
  }

  @Test func decodesAnEmptyCommandLine() throws {
    var builder = MB()
    builder.commandLine("")
    #expect(parsed(builder.build())?.commandLine == "")
  }

  @Test func stopsStringsAtTheFirstNUL() throws {
    var builder = MB()
    builder.tag(type: 1, payload: Array("abc".utf8) + [0, 0x41, 0])
    #expect(parsed(builder.build())?.commandLine == "abc")
  }

  @Test func lastDuplicateWinsExceptForModules() throws {
    var builder = MB()
    builder.commandLine("first")
    builder.module(start: 1, end: 2, commandLine: "a")
    builder.memoryMap([MemoryMapEntry(base: 0, length: 1, type: .available)])
    builder.commandLine("second")
    builder.module(start: 3, end: 4, commandLine: "b")
    builder.memoryMap([MemoryMapEntry(base: 8, length: 8, type: .reserved)])
    let info = try #require(parsed(builder.build()))
    #expect(info.commandLine == "second")
    #expect(info.modules.map(\.commandLine) == ["a", "b"])
    #expect(info.memoryMap == [MemoryMapEntry(base: 8, length: 8, type: .reserved)])
  }

  @Test func mapsMemoryTypesAndKeepsUnrecognizedOnes() throws {
    var builder = MB()
    builder.memoryMap(
      (1...9).map {
        MemoryMapEntry(base: UInt64($0) << 12, length: 4096, type: MemoryType(rawValue: UInt32($0)))
      })
    let info = try #require(parsed(builder.build()))
    #expect(
      info.memoryMap.map(\.type) == [
        .available, .reserved, .acpiReclaimable, .acpiNVS, .badRAM,
        .unrecognized(6), .unrecognized(7), .unrecognized(8), .unrecognized(9),
      ])
    #expect(info.memoryMap.map(\.type.rawValue) == Array(1...9))
    #expect(info.memoryMap.filter(\.type.isAvailable).count == 1)
    #expect(MemoryType.unrecognized(7).description == "reserved (type 7)")
    #expect(MemoryType.acpiNVS.description == "ACPI NVS")
  }

  @Test func readsLargerMemoryMapEntriesByTheirEntrySize() throws {
    var builder = MB()
    let entries = [
      MemoryMapEntry(base: 0x1000, length: 0x2000, type: .available),
      MemoryMapEntry(base: 0x2_0000_0000, length: 0x1000, type: .acpiNVS),
    ]
    builder.memoryMap(entries, entrySize: 40)
    #expect(parsed(builder.build())?.memoryMap == entries)
  }

  @Test func reportsAnOverflowingRangeEndAsNil() {
    #expect(MemoryMapEntry(base: UInt64.max - 1, length: 2, type: .reserved).end == nil)
    #expect(MemoryMapEntry(base: UInt64.max - 1, length: 1, type: .reserved).end == UInt64.max)
  }

  @Test func acceptsATotalSizeThatIsNotAMultipleOfEight() throws {
    var builder = MB()
    builder.commandLine("x")
    var bytes = builder.build() + [0xEE, 0xEE, 0xEE]
    MB.patch32(&bytes, at: 0, UInt32(bytes.count))
    #expect(parsed(bytes)?.commandLine == "x")
  }

  @Test func readsOnlyTotalSizeBytesOfALargerView() throws {
    var builder = MB()
    builder.bootLoaderName("GRUB")
    let bytes = builder.build()
    let info = try #require(parsed(bytes + [UInt8](repeating: 0xFF, count: 64)))
    #expect(info.totalSize == bytes.count && info.bootLoaderName == "GRUB")
  }

  @Test func checksTheBootloaderMagic() {
    #expect((try? Multiboot2.checkMagic(0x36d7_6289).get()) != nil)
    guard case .failure(let error) = Multiboot2.checkMagic(0x2bad_b002) else {
      Issue.record("a Multiboot1 magic was accepted")
      return
    }
    #expect(error == .badMagic(0x2bad_b002))
    #expect(error.description.contains("0x2badb002"))
  }

  // MARK: malformed blocks, one per error

  @Test(arguments: 0...7) func rejectsABlockShorterThanItsHeader(count: Int) {
    #expect(failure([UInt8](repeating: 0x10, count: count)) == .blockTooShort(count: count))
  }

  @Test func rejectsATotalSizeBelowTheHeaderSize() {
    var bytes = MB().build()
    MB.patch32(&bytes, at: 0, 4)
    #expect(failure(bytes) == .totalSizeTooSmall(totalSize: 4))
  }

  @Test func rejectsATotalSizeLargerThanTheView() {
    var bytes = MB().build()
    MB.patch32(&bytes, at: 0, 24)
    #expect(failure(bytes) == .totalSizeExceedsView(totalSize: 24, viewCount: 16))
  }

  @Test func rejectsATagHeaderThatCrossesTotalSize() {
    var bytes = MB().build()
    MB.patch32(&bytes, at: 0, 12)
    #expect(failure(bytes) == .tagHeaderTruncated(offset: 8))
  }

  @Test(arguments: [UInt32(0), 4, 7]) func rejectsATagSizeBelowEight(size: UInt32) {
    var builder = MB()
    builder.tag(type: 1, sizeField: size, payload: [])
    #expect(failure(builder.build()) == .tagSizeTooSmall(offset: 8, type: 1, size: size))
  }

  @Test func rejectsAnOversizedTag() {
    var builder = MB()
    builder.tag(type: 1, sizeField: 0x1000, payload: MB.cString("abc"))
    let bytes = builder.build()
    #expect(
      failure(bytes) == .tagOversized(offset: 8, type: 1, size: 0x1000, totalSize: bytes.count))
  }

  @Test func rejectsAnOversizedTagEvenWithTheLargestSize() {
    var builder = MB()
    builder.tag(type: 99, sizeField: UInt32.max, payload: [])
    let bytes = builder.build()
    #expect(
      failure(bytes) == .tagOversized(offset: 8, type: 99, size: UInt32.max, totalSize: bytes.count)
    )
  }

  @Test func rejectsABlockWithoutEndTag() {
    var builder = MB()
    builder.commandLine("no end")
    let bytes = builder.build(withEndTag: false)
    #expect(failure(bytes) == .missingEndTag(offset: bytes.count))
  }

  @Test func rejectsAPaddedTagThatRunsPastAnUnalignedTotalSize() {
    // A 13-byte tag ending exactly at total_size = 21: rounding the next tag
    // start up to 8-byte alignment (24) leaves the block.
    var builder = MB()
    builder.commandLine("abcd")
    var bytes = Array(builder.build(withEndTag: false).prefix(21))
    MB.patch32(&bytes, at: 0, 21)
    #expect(failure(bytes) == .missingEndTag(offset: 24))
  }

  @Test func rejectsAnEndTagWithASizeOtherThanEight() {
    var builder = MB()
    builder.tag(type: 0, payload: [0, 0, 0, 0, 0, 0, 0, 0])
    #expect(failure(builder.build(withEndTag: false)) == .malformedEndTag(offset: 8, size: 16))
  }

  @Test(arguments: [UInt32(1), 2]) func rejectsAStringTagWithoutNUL(type: UInt32) {
    var builder = MB()
    builder.tag(type: type, payload: Array("unterminated".utf8))
    #expect(failure(builder.build()) == .unterminatedString(offset: 8, type: type))
  }

  @Test func rejectsAnEmptyStringTag() {
    var builder = MB()
    builder.tag(type: 2, payload: [])
    #expect(failure(builder.build()) == .unterminatedString(offset: 8, type: 2))
  }

  @Test func rejectsAModuleStringWithoutNUL() {
    var builder = MB()
    builder.commandLine("ok")
    builder.tag(type: 3, payload: MB.le32(0x1000) + MB.le32(0x2000) + Array("init".utf8))
    #expect(failure(builder.build()) == .unterminatedString(offset: builder.tagOffsets[1], type: 3))
  }

  @Test func rejectsAModuleThatEndsBeforeItStarts() {
    var builder = MB()
    builder.module(start: 0x2000, end: 0x1fff, commandLine: "bad")
    #expect(
      failure(builder.build()) == .moduleEndBeforeStart(offset: 8, start: 0x2000, end: 0x1fff))
  }

  @Test(arguments: [(UInt32(3), 4), (3, 7), (4, 4), (6, 4)])
  func rejectsTagsTooShortForTheirFields(type: UInt32, payloadSize: Int) {
    var builder = MB()
    builder.tag(type: type, payload: [UInt8](repeating: 1, count: payloadSize))
    let expected = Multiboot2Error.tagTooShort(offset: 8, type: type, size: UInt32(payloadSize + 8))
    #expect(failure(builder.build()) == expected)
  }

  @Test(arguments: [UInt32(0), 16, 23]) func rejectsAMemoryMapEntrySizeBelow24(entrySize: UInt32) {
    var builder = MB()
    builder.memoryMap([MemoryMapEntry(base: 0, length: 1, type: .available)], entrySize: entrySize)
    #expect(
      failure(builder.build()) == .memoryMapEntrySizeTooSmall(offset: 8, entrySize: entrySize))
  }

  @Test func rejectsMemoryMapEntriesThatDoNotFit() {
    var builder = MB()
    let entry = MB.le64(0) + MB.le64(0x1000) + MB.le32(1) + MB.le32(0)
    // Two entries less six bytes: the second entry is cut short.
    builder.tag(type: 6, payload: MB.le32(24) + MB.le32(0) + entry + entry.prefix(18))
    #expect(
      failure(builder.build()) == .memoryMapEntriesDoNotFit(offset: 8, entrySize: 24, bytes: 42))
  }

  @Test func describesErrorsWithTheirOffset() {
    let error = Multiboot2Error.tagOversized(offset: 0x38, type: 6, size: 4096, totalSize: 120)
    #expect(error.description.contains("0x38"))
    #expect(error.description.contains("4096"))
    #expect(Multiboot2Error.missingEndTag(offset: 16).description.contains("end tag"))
  }

  // MARK: random input never traps

  @Test func randomBytesYieldAValueOrAnError() async {
    await propertyCheck(count: 400, input: Gen.uint8().array(of: 0...600)) { bytes in
      checkInvariants(bytes)
    }
  }

  @Test func randomTagsBehindAPlausibleHeaderYieldAValueOrAnError() async {
    // Random bytes rarely get past total_size; fix it up so the tag walk runs.
    await propertyCheck(count: 400, input: Gen.uint8().array(of: 8...600)) { bytes in
      var block = bytes
      MB.patch32(&block, at: 0, UInt32(block.count))
      checkInvariants(block)
    }
  }

  @Test func randomWellFramedTagsYieldAValueOrAnError() async {
    // Correct framing with random types and payloads reaches every decoder.
    let tag = zip(Gen.uint32(in: 1...22), Gen.uint8().array(of: 0...48))
    await propertyCheck(count: 400, input: tag.array(of: 0...8)) { tags in
      var builder = MB()
      for (type, payload) in tags { builder.tag(type: type, payload: payload) }
      checkInvariants(builder.build())
    }
  }

  @Test func mutatedValidBlocksYieldAValueOrAnError() async {
    let valid = fullBuilder().build()
    let offsets = fullBuilder().tagOffsets
    let flips = zip(Gen.int(in: 0...(valid.count - 1)), Gen.uint8()).array(of: 0...6)
    let sizes = zip(Gen.int(in: 0...(offsets.count - 1)), Gen.uint32(in: 0...600)).array(of: 0...2)
    await propertyCheck(count: 400, input: flips, sizes, Gen.int(in: 0...valid.count)) {
      flips, sizes, keep in
      var block = valid
      for (position, value) in flips { block[position] = value }
      for (tag, size) in sizes { MB.patch32(&block, at: offsets[tag] + 4, size) }
      checkInvariants(Array(block.prefix(keep)))
    }
  }
}

/// What every successful parse must satisfy; errors must describe themselves.
private func checkInvariants(_ bytes: [UInt8]) {
  switch MB.parse(bytes) {
  case .success(let info):
    #expect(info.totalSize >= 16 && info.totalSize <= bytes.count)
    for tag in info.tags {
      #expect(tag.offset % 8 == 0 && tag.size >= 8 && tag.offset + tag.size <= info.totalSize)
    }
    for module in info.modules { #expect(module.end >= module.start) }
    if let rsdp = info.rsdp { #expect(rsdp.offset + rsdp.length <= info.totalSize) }
  case .failure(let error):
    #expect(!error.description.isEmpty)
    #expect(claimHolds(error, bytes), "\(error.description)")
  }
  #expect(MB.parse(bytes) == MB.parse(bytes), "parsing is deterministic")
}

/// Whether what `error` says about `bytes` is true: sizes it quotes are the
/// block's, and a tag offset it names is one the walk from offset 8 (each
/// tag's start plus its size, rounded up to 8) reaches, with the type and
/// size quoted from that tag header.
private func claimHolds(_ error: Multiboot2Error, _ bytes: [UInt8]) -> Bool {
  func u32(_ offset: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << UInt32(8 * $1) }
  }
  let totalSize = bytes.count >= 8 ? Int(u32(0)) : 0
  /// The tag starts before `offset` on the walk, then `offset` itself.
  func onWalk(_ offset: Int) -> Bool {
    var tag = 8
    while tag < offset, tag + 8 <= totalSize { tag = (tag + Int(u32(tag + 4)) + 7) & ~7 }
    return tag == offset
  }
  /// A tag header the walk reaches, inside the block, with `type` and `size`.
  func tag(_ offset: Int, _ type: UInt32, _ size: UInt32) -> Bool {
    onWalk(offset) && offset + 8 <= totalSize && u32(offset) == type && u32(offset + 4) == size
  }
  switch error {
  case .badMagic: return false  // the loader's register, not the block
  case .blockTooShort(let count): return count == bytes.count && count < 8
  case .totalSizeTooSmall(let size): return bytes.count >= 8 && size == u32(0) && size < 8
  case .totalSizeExceedsView(let size, let viewCount):
    return viewCount == bytes.count && Int(size) == totalSize && totalSize > viewCount
  case .tagHeaderTruncated(let offset): return onWalk(offset) && offset + 8 > totalSize
  case .tagSizeTooSmall(let offset, let type, let size): return tag(offset, type, size) && size < 8
  case .tagOversized(let offset, let type, let size, let total):
    return tag(offset, type, size) && total == totalSize && offset + Int(size) > totalSize
  case .malformedEndTag(let offset, let size): return tag(offset, 0, size) && size != 8
  case .missingEndTag(let offset): return onWalk(offset) && offset >= totalSize
  case .tagTooShort(let offset, let type, let size): return tag(offset, type, size)
  case .unterminatedString(let offset, let type): return tag(offset, type, u32(offset + 4))
  case .memoryMapEntrySizeTooSmall(let offset, _), .memoryMapEntriesDoNotFit(let offset, _, _):
    return tag(offset, 6, u32(offset + 4))
  case .moduleEndBeforeStart(let offset, let start, let end):
    return tag(offset, 3, u32(offset + 4)) && start == u32(offset + 8) && end == u32(offset + 12)
      && end < start
  }
}
