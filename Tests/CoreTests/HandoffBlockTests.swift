import PropertyBased
import Testing

@testable import TesseraCore

/// The hand-off block (Kernel/Core/Instances/HandoffBlock.swift): what the
/// service kernel writes the LWK kernel reads back unchanged, the layout is
/// the one documented, and every way the bytes can be wrong is refused with
/// its own error instead of a trap. The LWK boots from these bytes, so a
/// refusal here is what stands between a service-side bug and an LWK that
/// maps the wrong memory.
struct HandoffBlockTests {
  // MARK: helpers

  /// A machine as `-smp 4 -numa node,nodeid=0 -numa node,nodeid=1 -m 512M
  /// maxcpus=2` would give: CPUs 0 and 1 on node 0 serve, 2 and 3 on node 1
  /// run the LWK, which gets node 1's 256 MiB. The first 2 MiB of it are
  /// reserved for the LWK instance's private data; the rings sit in the
  /// top 4 MiB of node 0.
  static let realistic = HandoffBlock(
    tscKHz: 2_400_000, apicTicksPerMillisecond: 62_500, localAPICBase: 0xFEE0_0000,
    cpus: [
      .init(index: 0, apicID: 0, node: 0, partition: .service),
      .init(index: 1, apicID: 1, node: 0, partition: .service),
      .init(index: 2, apicID: 2, node: 1, partition: .lwk),
      .init(index: 3, apicID: 3, node: 1, partition: .lwk),
    ],
    lwkMap: [
      .init(base: 0x1000_0000, length: 0x20_0000, type: 2, node: 1),
      .init(base: 0x1020_0000, length: 0xFE0_0000, type: 1, node: 1),
      .init(base: 0x2020_0000, length: 0x20_0000, type: 3, node: 1),
    ],
    lwkImage: PhysicalRange(base: 0x1000_0000, length: 0x10_0000),
    sharedRegion: PhysicalRange(base: 0xFC0_0000, length: 0x40_0000),
    kernelImage: PhysicalRange(base: 0x10_1000, length: 0x3_0000))

  /// Where the realistic block's records start.
  static func cpuRecord(_ index: Int) -> Int { HandoffBlock.headerBytes + index * 16 }
  static func mapRecord(_ index: Int) -> Int { HandoffBlock.headerBytes + 4 * 16 + index * 24 }

  func encoded(_ block: HandoffBlock) -> [UInt8] {
    var bytes = [UInt8](repeating: 0xAA, count: block.encodedByteCount)
    let written = bytes.withUnsafeMutableBytes { block.encode(into: $0) }
    #expect(written == bytes.count)
    return bytes
  }

  func decode(_ bytes: [UInt8]) -> Result<HandoffBlock, HandoffBlockError> {
    bytes.withUnsafeBytes { HandoffBlock.decode(ByteView($0)) }
  }

  func decode(_ block: HandoffBlock) -> Result<HandoffBlock, HandoffBlockError> {
    decode(encoded(block))
  }

  /// The checksum recomputed over the stated length, as a writer would.
  func resealed(_ bytes: [UInt8]) -> [UInt8] {
    var bytes = bytes
    let length = bytes.withUnsafeBytes { ByteView($0).u32(12) }.map(Int.init) ?? 0
    let sum = bytes.withUnsafeBytes { HandoffBlock.checksum(ByteView($0), length: length) }
    put(&bytes, 16, sum)
    return bytes
  }

  func put(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt64) {
    for index in 0..<8 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
  }

  func put32(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt32) {
    for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
  }

  /// The realistic block's bytes with one field changed and the checksum
  /// made right again, so the decoder reaches the rule under test.
  func edited(_ edit: (inout [UInt8]) -> Void) -> [UInt8] {
    var bytes = encoded(Self.realistic)
    edit(&bytes)
    return resealed(bytes)
  }

  func block(_ change: (inout HandoffBlock) -> Void) -> HandoffBlock {
    var block = Self.realistic
    change(&block)
    return block
  }

  // MARK: round trips and layout

  @Test func realisticBlockRoundTrips() throws {
    let bytes = encoded(Self.realistic)
    #expect(bytes.count == 112 + 4 * 16 + 3 * 24)
    let decoded = try decode(bytes).get()
    #expect(decoded == Self.realistic)
    #expect(decoded.lwkCPUs.map(\.index) == [2, 3])
    #expect(decoded.lwkCPUs.allSatisfy { $0.node == 1 })
    #expect(decoded.usableLWKRanges == [PhysicalRange(base: 0x1020_0000, end: 0x2000_0000)])
    // A node's ring region is mapped, never handed out.
    #expect(
      decoded.ringRegions.map { $0.range } == [PhysicalRange(base: 0x2020_0000, length: 0x20_0000)])
  }

  /// The documented offsets, byte for byte: a reader of the layout comment
  /// (or a hex dump) must be able to trust it.
  @Test func layoutIsTheDocumentedOne() {
    let bytes = encoded(Self.realistic)
    func u64(_ offset: Int) -> UInt64? { bytes.withUnsafeBytes { ByteView($0).u64(offset) } }
    func u32(_ offset: Int) -> UInt32? { bytes.withUnsafeBytes { ByteView($0).u32(offset) } }
    #expect(Array(bytes[0..<8]) == Array("TESSERAH".utf8))
    #expect(u32(8) == 2)
    #expect(u32(12) == UInt32(bytes.count))
    #expect(
      u64(16) == bytes.withUnsafeBytes { HandoffBlock.checksum(ByteView($0), length: bytes.count) })
    #expect(u64(24) == 2_400_000)
    #expect(u64(32) == 62_500)
    #expect(u64(40) == 0xFEE0_0000)
    #expect(u64(48) == 0)
    #expect(u32(56) == 4)
    #expect(u32(60) == 3)
    #expect([u64(64), u64(72)] == [0x1000_0000, 0x10_0000])
    #expect([u64(80), u64(88)] == [0xFC0_0000, 0x40_0000])
    #expect([u64(96), u64(104)] == [0x10_1000, 0x3_0000])
    let third = Self.cpuRecord(2)
    #expect([u32(third), u32(third + 4), u32(third + 8), u32(third + 12)] == [2, 2, 1, 1])
    let second = Self.mapRecord(1)
    #expect([u64(second), u64(second + 8)] == [0x1020_0000, 0xFE0_0000])
    #expect([u32(second + 16), u32(second + 20)] == [1, 1])
    let rings = Self.mapRecord(2)
    #expect([u64(rings), u64(rings + 8)] == [0x2020_0000, 0x20_0000])
    #expect([u32(rings + 16), u32(rings + 20)] == [3, 1])
    #expect(rings + 24 == bytes.count)
  }

  /// The largest block the limits allow is exactly `maximumBytes` and still
  /// decodes.
  @Test func largestBlockFitsMaximumBytes() throws {
    let big = block {
      $0.cpus = (0..<256).map {
        .init(
          index: UInt32($0), apicID: UInt32($0), node: UInt32($0 / 32),
          partition: $0 < 8 ? .service : .lwk)
      }
      $0.lwkMap = (0..<128).map {
        .init(
          base: 0x1000_0000 + UInt64($0) * 0x20_0000, length: 0x10_0000, type: $0 == 0 ? 2 : 1,
          node: 1)
      }
    }
    #expect(big.encodedByteCount == HandoffBlock.maximumBytes)
    #expect(try decode(big).get() == big)
    #expect(big.lwkCPUs.count == 248)
    #expect(big.usableLWKRanges.count == 127)
  }

  @Test func encodeRefusesTooSmallBuffersAndWritesNothing() throws {
    let needed = Self.realistic.encodedByteCount
    for size in [0, 1, HandoffBlock.headerBytes, needed - 1] {
      var bytes = [UInt8](repeating: 0xAA, count: size)
      let written = bytes.withUnsafeMutableBytes { Self.realistic.encode(into: $0) }
      #expect(written == nil, "size \(size)")
      #expect(bytes.allSatisfy { $0 == 0xAA })
    }
    // A bigger buffer: the block at its start, the rest untouched.
    var roomy = [UInt8](repeating: 0xAA, count: needed + 100)
    #expect(roomy.withUnsafeMutableBytes { Self.realistic.encode(into: $0) } == needed)
    #expect(roomy[needed...].allSatisfy { $0 == 0xAA })
    #expect(try decode(roomy).get() == Self.realistic)
    // More records than the layout allows cannot be encoded at all.
    var huge = [UInt8](repeating: 0, count: HandoffBlock.maximumBytes + 4096)
    let tooManyCPUs = block { block in
      block.cpus = (0..<257).map {
        .init(index: UInt32($0), apicID: UInt32($0), node: 0, partition: .lwk)
      }
    }
    let tooManyEntries = block { block in
      block.lwkMap += (0..<127).map {
        .init(base: 0x4000_0000 + UInt64($0) << 12, length: 4096, type: 1, node: 1)
      }
    }
    #expect(huge.withUnsafeMutableBytes { tooManyCPUs.encode(into: $0) } == nil)
    #expect(huge.withUnsafeMutableBytes { tooManyEntries.encode(into: $0) } == nil)
  }

  // MARK: every malformation has its error

  @Test func headerMalformations() throws {
    let good = encoded(Self.realistic)
    #expect(decode([]) == .failure(.truncated(offset: 0)))
    #expect(decode(Array(good.prefix(111))) == .failure(.truncated(offset: 111)))
    var magic = good
    magic[0] = UInt8(ascii: "t")
    #expect(decode(magic) == .failure(.badMagic(offset: 0, found: 0x4841_5245_5353_4574)))
    #expect(
      decode(edited { put32(&$0, 8, 1) }) == .failure(.unsupportedVersion(offset: 8, found: 1)))
    #expect(
      decode(edited { put32(&$0, 12, 111) })
        == .failure(.lengthBelowHeader(offset: 12, length: 111)))
    #expect(
      decode(Array(good.dropLast()))
        == .failure(
          .lengthBeyondBuffer(offset: 12, length: UInt32(good.count), available: good.count - 1)))
    // A length that is in the buffer but disagrees with the counts.
    #expect(
      decode(edited { put32(&$0, 12, UInt32($0.count - 24)) })
        == .failure(
          .lengthMismatch(offset: 12, length: UInt32(good.count - 24), expected: good.count)))
    #expect(
      decode(edited { put32(&$0, 60, 2) })
        == .failure(
          .lengthMismatch(offset: 12, length: UInt32(good.count), expected: good.count - 24)))
    var corrupted = good
    corrupted[Self.mapRecord(1) + 3] ^= 0x10
    let computed = corrupted.withUnsafeBytes {
      HandoffBlock.checksum(ByteView($0), length: good.count)
    }
    let stored = good.withUnsafeBytes { ByteView($0).u64(16) } ?? 0
    #expect(
      decode(corrupted)
        == .failure(.checksumMismatch(offset: 16, stored: stored, computed: computed)))
    #expect(decode(edited { put32(&$0, 56, 0) }) == .failure(.noCPUs(offset: 56)))
    #expect(
      decode(edited { put32(&$0, 56, 257) }) == .failure(.tooManyCPUs(offset: 56, count: 257)))
    #expect(
      decode(edited { put32(&$0, 60, 129) }) == .failure(.tooManyMapEntries(offset: 60, count: 129))
    )
    #expect(decode(block { $0.tscKHz = 0 }) == .failure(.zeroClockRate(offset: 24)))
    #expect(
      decode(block { $0.apicTicksPerMillisecond = 0 }) == .failure(.zeroClockRate(offset: 32)))
    #expect(
      decode(block { $0.localAPICBase = 0xFEE0_0010 })
        == .failure(.misalignedLocalAPICBase(offset: 40, address: 0xFEE0_0010)))
    // Flags mean nothing in version 2 and come back as written.
    #expect(try decode(block { $0.flags = .max }).get().flags == .max)
  }

  @Test func rangeMalformations() {
    for field in [HandoffBlock.Field.lwkImage, .sharedRegion, .kernelImage] {
      let offset = field.offset
      #expect(
        decode(edited { put(&$0, offset + 8, 0) }) == .failure(.emptyRange(field, offset: offset)))
      #expect(
        decode(edited { put(&$0, offset, 0x10_0800) })
          == .failure(.misalignedRange(field, offset: offset)))
      #expect(
        decode(edited { put(&$0, offset + 8, 0x1800) })
          == .failure(.misalignedRange(field, offset: offset)))
      // Aligned, but past 2^64: PhysicalRange would clip it, the decoder
      // must not.
      #expect(
        decode(edited { put(&$0, offset + 8, UInt64.max - 0xFFF) })
          == .failure(.overflowingRange(field, offset: offset)))
    }
  }

  @Test func cpuMalformations() {
    #expect(
      decode(block { $0.cpus[2].index = 5 })
        == .failure(.cpuIndexMismatch(offset: Self.cpuRecord(2), index: 5, expected: 2)))
    #expect(
      decode(block { $0.cpus[3].apicID = 1 })
        == .failure(.duplicateAPICID(offset: Self.cpuRecord(3) + 4, apicID: 1, firstIndex: 1)))
    let partition = Self.cpuRecord(1) + 12
    #expect(
      decode(edited { put32(&$0, partition, 2) })
        == .failure(.unknownPartition(offset: partition, value: 2)))
    #expect(
      decode(edited { put32(&$0, partition, .max) })
        == .failure(.unknownPartition(offset: partition, value: .max)))
  }

  @Test func mapMalformations() {
    let second = Self.mapRecord(1)
    #expect(decode(block { $0.lwkMap[1].length = 0 }) == .failure(.emptyMapEntry(offset: second)))
    #expect(
      decode(block { $0.lwkMap[1].base = 0xFFFF_FFFF_FFFF_0000 })
        == .failure(.overflowingMapEntry(offset: second)))
    // Ending exactly at 2^64 wraps too (PhysicalRange cannot describe it).
    #expect(
      decode(block { $0.lwkMap[1].base = 0 &- $0.lwkMap[1].length })
        == .failure(.overflowingMapEntry(offset: second)))
    #expect(
      decode(block { $0.lwkMap[1].base += 0x10 }) == .failure(.misalignedMapEntry(offset: second)))
    #expect(
      decode(block { $0.lwkMap[1].length -= 1 }) == .failure(.misalignedMapEntry(offset: second)))
    for type: UInt32 in [0, 4, 5, .max] {
      #expect(
        decode(block { $0.lwkMap[1].type = type })
          == .failure(.unknownMapType(offset: second + 16, type: type)))
    }
    #expect(decode(block { $0.lwkMap.swapAt(0, 1) }) == .failure(.unsortedMap(offset: second)))
    #expect(
      decode(
        block {
          $0.lwkMap[1].base -= 0x1000
          $0.lwkMap[1].length += 0x1000
        })
        == .failure(.overlappingMap(offset: second)))
    // Touching entries are fine.
    #expect(
      (try? decode(
        block {
          $0.lwkMap[0].length = 0x10_0000
          $0.lwkMap[1].base = 0x1010_0000
          $0.lwkMap[1].length = 0xFF0_0000
        }
      ).get()) != nil)
  }

  @Test func placementMalformations() {
    let image = HandoffBlock.Field.lwkImage.offset
    // In usable memory, straddling reserved and usable, outside the map,
    // and with no map at all.
    for misplaced in [
      PhysicalRange(base: 0x1020_0000, length: 0x1000),
      PhysicalRange(base: 0x1010_0000, length: 0x20_0000),
      PhysicalRange(base: 0x3000_0000, length: 0x1000),
    ] {
      #expect(
        decode(block { $0.lwkImage = misplaced }) == .failure(.lwkImageNotReserved(offset: image)))
    }
    #expect(decode(block { $0.lwkMap = [] }) == .failure(.lwkImageNotReserved(offset: image)))
    // The whole reserved entry is fine.
    #expect(
      (try? decode(block { $0.lwkImage = PhysicalRange(base: 0x1000_0000, length: 0x20_0000) })
        .get()) != nil)

    let shared = HandoffBlock.Field.sharedRegion.offset
    #expect(
      decode(block { $0.sharedRegion = PhysicalRange(base: 0x1FC0_0000, length: 0x40_0000) })
        == .failure(.sharedRegionOverlapsLWKMap(offset: shared, entryOffset: Self.mapRecord(1))))
    #expect(
      decode(block { $0.sharedRegion = PhysicalRange(base: 0xFF0_0000, length: 0x20_0000) })
        == .failure(.sharedRegionOverlapsLWKMap(offset: shared, entryOffset: Self.mapRecord(0))))

    let kernel = HandoffBlock.Field.kernelImage.offset
    #expect(
      decode(block { $0.kernelImage = PhysicalRange(base: 0x1FFF_F000, length: 0x2000) })
        == .failure(.kernelImageInUsableLWKMemory(offset: kernel, entryOffset: Self.mapRecord(1))))
  }

  /// Every error names its offset in its text and has some text at all.
  @Test func descriptionsNameTheOffset() {
    let errors: [HandoffBlockError] = [
      .truncated(offset: 7), .badMagic(offset: 0, found: 1),
      .checksumMismatch(offset: 16, stored: 1, computed: 2),
      .emptyRange(.kernelImage, offset: 96),
      .duplicateAPICID(offset: 132, apicID: 1, firstIndex: 0),
      .sharedRegionOverlapsLWKMap(offset: 80, entryOffset: 200),
    ]
    for error in errors {
      #expect(error.description.hasPrefix("hand-off block: "))
      #expect(error.description.hasSuffix("(offset \(error.offset))"), "\(error.description)")
    }
    #expect(
      HandoffBlockError.emptyRange(.kernelImage, offset: 96).description
        == "hand-off block: kernel image is empty (offset 96)")
  }

  // MARK: properties

  /// Random valid blocks: 1 to 64 CPUs with distinct APIC IDs on up to 8
  /// nodes, 1 to 20 sorted, disjoint, aligned map entries (the first one
  /// reserved and holding the LWK image), the shared region and the kernel
  /// image below the map; half of them pushed to the top of the address
  /// space, where a careless sum wraps.
  static let validBlocks = zip(
    zip(Gen.int(in: 0...7), Gen.bool()).array(of: 1...64),
    zip(Gen.uint64(in: 0...4096), Gen.uint64(in: 1...65536), Gen.bool(), Gen.uint32(in: 0...7))
      .array(of: 0...19),
    zip(Gen.uint64(in: 1...64), Gen.uint64(in: 0...63), Gen.uint64(in: 1...64)),
    zip(Gen.uint32(in: 1...3), Gen.uint32(in: 0...1000), Gen.bool()),
    zip(Gen.uint64(in: 1...UInt64.max), Gen.uint64(in: 1...UInt64.max), Gen.uint64(), Gen.uint64()),
    Gen.bool()
  ).map { cpuSeeds, entrySeeds, image, apic, numbers, high in
    let page: UInt64 = 4096
    let cpus = cpuSeeds.enumerated().map { position, seed in
      let order = apic.2 ? UInt32(cpuSeeds.count - 1 - position) : UInt32(position)
      return HandoffBlock.CPU(
        index: UInt32(position), apicID: apic.1 + order * apic.0, node: UInt32(seed.0),
        partition: seed.1 ? .lwk : .service)
    }
    // Pages, relative to the start of the layout: the kernel image, a
    // gap, the shared region, a gap, then the map.
    let kernelPages = image.0
    let sharedStart = kernelPages + 16
    let sharedPages = image.2
    var next = sharedStart + sharedPages + 1
    let firstLength = image.1 + 1 + 64
    var entries = [(start: next, pages: firstLength, reserved: true, node: UInt32(0))]
    next += firstLength
    for seed in entrySeeds {
      let start = next + seed.0
      entries.append((start, seed.1, !seed.2, seed.3))
      next = start + seed.1
    }
    // The layout spans `next` pages; put it at 1 MiB, or so that it ends
    // one page below 2^64.
    let origin = high ? (0 &- (next + 1) * page) : 0x10_0000
    func address(_ pages: UInt64) -> UInt64 { origin + pages * page }
    return HandoffBlock(
      tscKHz: numbers.0, apicTicksPerMillisecond: numbers.1, localAPICBase: numbers.2 & ~(page - 1),
      cpus: cpus,
      lwkMap: entries.map {
        .init(
          base: address($0.start), length: $0.pages * page, type: $0.reserved ? 2 : 1, node: $0.node
        )
      },
      lwkImage: PhysicalRange(base: address(entries[0].start + image.1), length: 64 * page),
      sharedRegion: PhysicalRange(base: address(sharedStart), length: sharedPages * page),
      kernelImage: PhysicalRange(base: address(0), length: kernelPages * page),
      flags: numbers.3)
  }

  @Test func randomValidBlocksRoundTrip() async {
    await propertyCheck(count: 300, input: Self.validBlocks) { block in
      let bytes = encoded(block)
      #expect(bytes.count == block.encodedByteCount)
      #expect(decode(bytes) == .success(block))
      #expect(block.lwkCPUs == block.cpus.filter { $0.partition == .lwk })
      #expect(block.usableLWKRanges.totalBytes <= block.lwkMap.reduce(0) { $0 + $1.length })
    }
  }

  /// Every bit of the realistic block, flipped alone, is refused (the
  /// checksum sees what the other rules would not), without a trap.
  @Test func everySingleBitFlipIsRefused() {
    let good = encoded(Self.realistic)
    for position in good.indices {
      for bit in 0..<8 {
        var bytes = good
        bytes[position] ^= 1 << bit
        guard case .failure(let error) = decode(bytes) else {
          Issue.record("byte \(position) bit \(bit) accepted")
          continue
        }
        #expect(!error.description.isEmpty)
        // The first broken rule is the flipped field's: magic, version or
        // length in their own words, anything else as a checksum mismatch
        // quoting the stored checksum.
        let stored = bytes.withUnsafeBytes { ByteView($0).u64(16) }
        switch position {
        case 0..<8:
          #expect(
            error == .badMagic(offset: 0, found: bytes.withUnsafeBytes { ByteView($0).u64(0) }!))
        case 8..<12:
          #expect(
            error
              == .unsupportedVersion(
                offset: 8, found: HandoffBlock.version ^ (1 << (8 * (position - 8) + bit))))
        case 12..<16:
          if case .checksumMismatch = error {} else { #expect(error.offset == 12) }
        default:
          guard case .checksumMismatch(16, stored, _) = error else {
            Issue.record("byte \(position) bit \(bit): \(error)")
            continue
          }
        }
      }
    }
  }

  /// A random byte of a random valid block replaced by another value is
  /// refused.
  @Test func randomSingleByteCorruptionsAreRefused() async {
    await propertyCheck(
      count: 500, input: Self.validBlocks, Gen.int(in: 0...Int.max), Gen.uint8(in: 1...255)
    ) { block, spot, delta in
      var bytes = encoded(block)
      let position = spot % bytes.count
      bytes[position] &+= delta
      guard case .failure(let error) = decode(bytes) else {
        Issue.record("byte \(position) changed by \(delta) accepted")
        return
      }
      #expect(error.offset >= 0 && error.offset <= bytes.count)
    }
  }

  /// Corruptions with the checksum made right again reach every later
  /// rule: whatever the decoder accepts encodes back to the same bytes,
  /// whatever it refuses it refuses with an offset inside the block.
  @Test func resealedCorruptionsNeverTrap() async {
    let change = zip(Gen.int(in: 0...Int.max), Gen.uint8()).array(of: 1...4)
    await propertyCheck(count: 500, input: Self.validBlocks, change) { block, changes in
      var bytes = encoded(block)
      for (spot, value) in changes { bytes[spot % bytes.count] = value }
      check(resealed(bytes))
    }
  }

  /// Random bytes, raw, and with a plausible header (magic, version,
  /// length and counts that agree, the realistic block's clock and ranges,
  /// a right checksum) over random records.
  @Test func randomBytesNeverTrap() async {
    await propertyCheck(
      count: 500, input: Gen.uint8().array(of: 0...600), Gen.uint32(in: 0...12),
      Gen.uint32(in: 0...12), Gen.bool()
    ) { noise, cpus, entries, plausible in
      guard plausible else { return check(noise) }
      let length = 112 + 16 * Int(cpus) + 24 * Int(entries)
      var bytes = Array((noise + [UInt8](repeating: 0, count: length)).prefix(length))
      put(&bytes, 0, HandoffBlock.magic)
      put32(&bytes, 8, HandoffBlock.version)
      put32(&bytes, 12, UInt32(length))
      put32(&bytes, 56, cpus)
      put32(&bytes, 60, entries)
      let realistic = encoded(Self.realistic)
      bytes.replaceSubrange(24..<56, with: realistic[24..<56])
      bytes.replaceSubrange(64..<112, with: realistic[64..<112])
      check(resealed(bytes), headerIsSound: true)
    }
  }

  /// Whatever decodes encodes back to the same bytes; a refusal names an
  /// offset inside the block (the end of the buffer only for a truncated
  /// header, inside the stated length once the length passed), and a value
  /// it quotes is the one at that offset. Decoding twice gives the same.
  func check(_ bytes: [UInt8], headerIsSound: Bool = false) {
    let result = decode(bytes)
    #expect(decode(bytes) == result, "decoding is deterministic")
    switch result {
    case .success(let block):
      let length = block.encodedByteCount
      #expect(encoded(block) == Array(bytes.prefix(length)))
    case .failure(let error):
      #expect(error.offset >= 0 && error.offset <= bytes.count, "\(error.description)")
      #expect(!error.description.isEmpty)
      let view = { (width: Int) -> UInt64? in
        bytes.withUnsafeBytes { buffer in
          let view = ByteView(buffer)
          return width == 8 ? view.u64(error.offset) : view.u32(error.offset).map(UInt64.init)
        }
      }
      let stated = bytes.count >= 16 ? Int(view4(bytes, 12)) : 0
      switch error {
      case .truncated(let offset): #expect(offset == bytes.count && bytes.count < 112)
      case .badMagic(_, let found): #expect(view(8) == found)
      case .unsupportedVersion(_, let found): #expect(view(4) == UInt64(found))
      case .lengthBelowHeader(_, let length): #expect(view(4) == UInt64(length) && length < 112)
      case .lengthBeyondBuffer(_, let length, let available):
        #expect(view(4) == UInt64(length) && available == bytes.count && Int(length) > available)
      case .checksumMismatch(_, let stored, _): #expect(view(8) == stored)
      case .tooManyCPUs(_, let count), .tooManyMapEntries(_, let count):
        #expect(view(4) == UInt64(count))
      default: #expect(error.offset < stated, "\(error.description) lies past the stated length")
      }
      // With magic, version, length and checksum right, no header rule fails.
      if headerIsSound {
        switch error {
        case .truncated, .badMagic, .unsupportedVersion, .lengthBelowHeader, .lengthBeyondBuffer,
          .checksumMismatch:
          Issue.record("sound header refused: \(error.description)")
        default: break
        }
      }
    }
  }
}

/// The little-endian u32 at `offset` of `bytes`.
private func view4(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
  bytes.withUnsafeBytes { ByteView($0).u32(offset) } ?? 0
}
