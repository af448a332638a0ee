import PropertyBased
import Testing

@testable import TesseraCore

// MARK: - Random firmware maps and the page model

/// Where random entries go: a few windows of pages the model checks page by
/// page. Entries start inside a window but may run far past it (up to and
/// beyond 2^64, which must be clipped).
enum AddressWindows {
  static let page: UInt64 = 4096
  /// (first page, page count)
  static let windows: [(first: UInt64, count: UInt64)] = [
    (0, 256),  // low memory, the first MiB
    ((1 << 20) - 32, 64),  // around 4 GiB
    ((1 << 52) - 64, 64),  // the top of the 64-bit space
  ]

  static func window(_ choice: Int) -> (first: UInt64, count: UInt64) {
    switch choice {
    case 0...5: windows[0]
    case 6...7: windows[1]
    default: windows[2]
    }
  }

  /// Every page start the model checks.
  static var pages: [UInt64] {
    windows.flatMap { window in (0..<window.count).map { (window.first + $0) * page } }
  }
}

/// The random parts of one firmware entry; `entry` turns them into one.
/// Negative offsets mean "aligned", so about half the entries are.
struct EntrySeed: Sendable, CustomStringConvertible {
  var window: Int
  var page: Int
  var offset: Int
  var lengthPages: Int
  var lengthOffset: Int
  var lengthKind: Int
  var type: Int

  static let generator = zip(
    Gen.int(in: 0...9), Gen.int(in: 0...255), Gen.int(in: -4095...4095), Gen.int(in: 0...64),
    Gen.int(in: -4095...4095), Gen.int(in: 0...11), Gen.int(in: 0...9)
  ).map {
    EntrySeed(
      window: $0.0, page: $0.1, offset: $0.2, lengthPages: $0.3, lengthOffset: $0.4,
      lengthKind: $0.5, type: $0.6)
  }

  static let maps = generator.array(of: 0...20)

  var base: UInt64 {
    let window = AddressWindows.window(self.window)
    let page = window.first + UInt64(self.page) % window.count
    return page * AddressWindows.page + UInt64(max(0, offset))
  }

  var length: UInt64 {
    switch lengthKind {
    case 0: 0
    case 1: UInt64.max - UInt64(lengthPages)  // overflows unless base is tiny
    case 2: UInt64(lengthPages) << 32  // reaches far past the window
    default: UInt64(lengthPages) * AddressWindows.page + UInt64(max(0, lengthOffset))
    }
  }

  /// Types 1-5 most of the time, sometimes unknown numbers (0, 6, 7, 9...).
  var memoryType: MemoryType {
    switch type {
    case 0...3: .available
    case 4: .reserved
    case 5: .acpiReclaimable
    case 6: .acpiNVS
    case 7: .badRAM
    default: .init(rawValue: UInt32(type == 8 ? 0 : 17))
    }
  }

  var entry: MemoryMapEntry { MemoryMapEntry(base: base, length: length, type: memoryType) }
  var description: String { entry.description }
}

/// The specification, byte by byte (as 128-bit numbers, so nothing can
/// overflow): an entry covers [base, min(base + length, 2^64 - 1)).
struct PageModel {
  struct Span {
    var low: UInt128
    var high: UInt128
    var rank: Int
  }
  var spans: [Span]

  init(_ entries: [MemoryMapEntry]) {
    spans = entries.map { entry in
      let high = min(UInt128(entry.base) + UInt128(entry.length), UInt128(UInt64.max))
      return Span(low: UInt128(entry.base), high: high, rank: entry.type.restrictiveness)
    }.filter { $0.low < $0.high }
  }

  /// -1: nothing usable; 0: usable; 1-4: the most restrictive type touching
  /// the page. Usable only if usable entries cover every byte and nothing
  /// more restrictive touches it.
  func pageClass(_ address: UInt64) -> Int {
    let low = UInt128(address)
    let high = low + 4096
    var restrictive = -1
    var usable: [(UInt128, UInt128)] = []
    for span in spans where span.low < high && span.high > low {
      if span.rank > 0 {
        restrictive = max(restrictive, span.rank)
      } else {
        usable.append((max(span.low, low), min(span.high, high)))
      }
    }
    if restrictive > 0 { return restrictive }
    var covered = low
    for (start, end) in usable.sorted(by: { $0.0 < $1.0 }) where start <= covered {
      covered = max(covered, end)
    }
    return covered >= high ? 0 : -1
  }

  /// The most restrictive rank covering one byte, -1 when none does.
  func byteRank(_ address: UInt64) -> Int {
    let point = UInt128(address)
    var rank = -1
    for span in spans where span.low <= point && point < span.high { rank = max(rank, span.rank) }
    return rank
  }

  /// The bytes where the answer may change: every entry's edges.
  var interestingBytes: [UInt64] {
    var result: [UInt64] = []
    for span in spans {
      for point in [span.low, span.high] {
        for candidate in [point, point &- 1, point + 1] where candidate < UInt128(UInt64.max) {
          result.append(UInt64(candidate))
        }
      }
    }
    return result
  }
}

enum MapChecks {
  /// The same classification as `PageModel.pageClass`, read off a map.
  static func pageClass(_ map: MemoryMap, _ address: UInt64) -> Int {
    let page = PhysicalRange(base: address, length: 4096)
    var restrictive = -1
    var usable = false
    for region in map.entries where region.range.overlaps(page) {
      if region.kind == .usable {
        usable = usable || region.range.contains(page)
      } else {
        restrictive = max(restrictive, region.kind.restrictiveness)
      }
    }
    return restrictive > 0 ? restrictive : (usable ? 0 : -1)
  }

  /// Sorted, disjoint, non-empty, merged, usable in whole pages.
  static func invariantViolations(_ map: MemoryMap) -> [String] {
    var problems: [String] = []
    for region in map.entries {
      if region.range.isEmpty { problems.append("empty: " + region.description) }
      if region.kind == .usable, region.range.base % 4096 != 0 || region.range.end % 4096 != 0 {
        problems.append("unaligned usable: " + region.description)
      }
    }
    for (a, b) in zip(map.entries, map.entries.dropFirst()) {
      if a.range.end > b.range.base {
        problems.append("overlap or unsorted: " + a.description + " / " + b.description)
      }
      if a.range.end == b.range.base && a.kind == b.kind {
        problems.append("not merged: " + a.description + " / " + b.description)
      }
    }
    return problems
  }
}

// MARK: - PhysicalRange

@Suite struct PhysicalRangeTests {
  @Test func basics() {
    let range = PhysicalRange(base: 0x1000, end: 0x3000)
    #expect(range.length == 0x2000)
    #expect(!range.isEmpty)
    #expect(range.contains(0x1000) && range.contains(0x2FFF) && !range.contains(0x3000))
    #expect(range.contains(PhysicalRange(base: 0x1800, end: 0x3000)))
    #expect(range.overlaps(PhysicalRange(base: 0x2FFF, end: 0x4000)))
    #expect(!range.overlaps(PhysicalRange(base: 0x3000, end: 0x4000)))
    #expect(
      range.intersection(PhysicalRange(base: 0x2000, end: 0x9000))
        == PhysicalRange(base: 0x2000, end: 0x3000))
    #expect(range.intersection(PhysicalRange(base: 0x3000, end: 0x9000)) == nil)
    #expect(PhysicalRange(base: 5, end: 2).isEmpty)
  }

  @Test func lengthsThatOverflowAreClipped() {
    let range = PhysicalRange(base: 0xFFFF_FFFF_FFFF_F000, length: 0x2000)
    #expect(range.end == UInt64.max)
    #expect(PhysicalRange(base: UInt64.max, length: UInt64.max).isEmpty)
  }

  @Test func pageRounding() {
    let range = PhysicalRange(base: 0x1001, end: 0x3FFF)
    #expect(range.pageAlignedInward == PhysicalRange(base: 0x2000, end: 0x3000))
    #expect(range.pageAlignedOutward == PhysicalRange(base: 0x1000, end: 0x4000))
    #expect(PhysicalRange(base: 0x1001, end: 0x2FFF).pageAlignedInward == nil)
    #expect(PhysicalRange(base: 0x1000, end: 0x1000).pageAlignedOutward.isEmpty)
    #expect(PhysicalRange(base: UInt64.max - 5, end: UInt64.max).pageAlignedInward == nil)
    #expect(
      PhysicalRange(base: UInt64.max - 5, end: UInt64.max).pageAlignedOutward
        == PhysicalRange(base: 0xFFFF_FFFF_FFFF_F000, end: UInt64.max))
    #expect(PhysicalRange.alignUp(0x200001, to: 0x200000) == 0x400000)
    #expect(PhysicalRange.alignUp(UInt64.max - 3, to: 4096) == nil)
  }

  @Test func description() {
    #expect(
      PhysicalRange(base: 0x100000, end: 0x7FE0000).description
        == "0x0000000000100000-0x0000000007fe0000 (126.8 MiB)")
  }

  @Test func rangeListOperations() {
    let a = [PhysicalRange(base: 0, end: 0x4000), PhysicalRange(base: 0x8000, end: 0xC000)]
    let b = [PhysicalRange(base: 0x2000, end: 0x9000), PhysicalRange(base: 0xB000, end: 0xF000)]
    #expect(
      a.intersection(b) == [
        PhysicalRange(base: 0x2000, end: 0x4000), PhysicalRange(base: 0x8000, end: 0x9000),
        PhysicalRange(base: 0xB000, end: 0xC000),
      ])
    #expect(
      a.subtracting(b) == [
        PhysicalRange(base: 0, end: 0x2000), PhysicalRange(base: 0x9000, end: 0xB000),
      ])
    let split = a.splitLowest(0x5000)
    #expect(
      split.taken == [
        PhysicalRange(base: 0, end: 0x4000), PhysicalRange(base: 0x8000, end: 0x9000),
      ])
    #expect(split.rest == [PhysicalRange(base: 0x9000, end: 0xC000)])
    #expect(a.splitLowest(UInt64.max).taken == a)
    #expect((b + a).sortedAndMerged() == [PhysicalRange(base: 0, end: 0xF000)])
    let touching = [
      PhysicalRange(base: 0x5000, end: 0x6000), PhysicalRange(base: 0x1000, end: 0x2000),
      PhysicalRange(base: 0x7000, end: 0x7000), PhysicalRange(base: 0x2000, end: 0x3000),
    ]
    #expect(
      touching.sortedAndMerged() == [
        PhysicalRange(base: 0x1000, end: 0x3000), PhysicalRange(base: 0x5000, end: 0x6000),
      ])
    #expect(a.totalBytes == 0x8000)
  }
}

// MARK: - MemoryMap

@Suite struct MemoryMapTests {
  static func region(_ base: UInt64, _ end: UInt64, _ kind: MemoryRegionKind) -> MemoryMapRegion {
    MemoryMapRegion(range: PhysicalRange(base: base, end: end), kind: kind)
  }

  static var qemu128MiB: [MemoryMapEntry] {
    get throws {
      try qemuBootInformation.withUnsafeBytes { Multiboot2.parse(ByteView($0)) }.get().memoryMap
    }
  }

  /// The map GRUB passed under QEMU -m 128M: already sorted and disjoint;
  /// only the first usable range loses its partial last page.
  @Test func qemu128MiBMachine() throws {
    let map = MemoryMap.normalize(try Self.qemu128MiB)
    #expect(
      map.entries == [
        Self.region(0, 0x9F000, .usable),
        Self.region(0x9FC00, 0xA0000, .reserved(.firmware)),
        Self.region(0xF0000, 0x100000, .reserved(.firmware)),
        Self.region(0x100000, 0x7FE0000, .usable),
        Self.region(0x7FE0000, 0x8000000, .reserved(.firmware)),
        Self.region(0xFFFC_0000, 0x1_0000_0000, .reserved(.firmware)),
        Self.region(0xFD_0000_0000, 0xFD_0000_0000 + (12 << 30), .reserved(.firmware)),
      ])
    #expect(map.usableBytes == 0x9F000 + 0x7EE0000)
    #expect(map.usableRanges.count == 2)
    #expect(
      map.totalBytes(of: .reserved(.firmware)) == 0x400 + 0x10000 + 0x20000 + 0x40000 + (12 << 30))
    #expect(map.lines[0] == "0x0000000000000000-0x000000000009f000 (636 KiB) usable")
    #expect(map.lines[1] == "0x000000000009fc00-0x00000000000a0000 (1 KiB) reserved")
  }

  /// A representative map of QEMU -m 4G (pc machine): 3 GiB below the PCI
  /// hole, the rest above 4 GiB.
  @Test func holeBelow4GiBAndMemoryAbove() {
    let firmware = [
      MemoryMapEntry(base: 0x1_0000_0000, length: 0x4000_0000, type: .available),
      MemoryMapEntry(base: 0, length: 0x9FC00, type: .available),
      MemoryMapEntry(base: 0x9FC00, length: 0x400, type: .reserved),
      MemoryMapEntry(base: 0xF0000, length: 0x10000, type: .reserved),
      MemoryMapEntry(base: 0x100000, length: 0xBFEE_0000, type: .available),
      MemoryMapEntry(base: 0xBFFE_0000, length: 0x20000, type: .reserved),
      MemoryMapEntry(base: 0xFFFC_0000, length: 0x40000, type: .reserved),
    ]
    let map = MemoryMap.normalize(firmware)
    #expect(
      map.usableRanges == [
        PhysicalRange(base: 0, end: 0x9F000), PhysicalRange(base: 0x100000, end: 0xBFFE_0000),
        PhysicalRange(base: 0x1_0000_0000, end: 0x1_4000_0000),
      ])
    #expect(map.usableBytes == 0x9F000 + 0xBFEE_0000 + 0x4000_0000)
    #expect(map.kind(at: 0xC000_0000) == nil)
    #expect(map.kind(at: 0x1_2000_0000) == .usable)
  }

  @Test func theMoreRestrictiveTypeWins() {
    let firmware = [
      MemoryMapEntry(base: 0, length: 0x10000, type: .available),
      MemoryMapEntry(base: 0x2000, length: 0x2000, type: .acpiReclaimable),
      MemoryMapEntry(base: 0x3000, length: 0x3000, type: .acpiNVS),
      MemoryMapEntry(base: 0x5000, length: 0x2000, type: .reserved),
      MemoryMapEntry(base: 0x6800, length: 0x100, type: .badRAM),
      MemoryMapEntry(base: 0x9000, length: 0x1000, type: .init(rawValue: 12)),
    ]
    #expect(
      MemoryMap.normalize(firmware).entries == [
        Self.region(0, 0x2000, .usable),
        Self.region(0x2000, 0x3000, .acpiReclaimable),
        Self.region(0x3000, 0x5000, .acpiNVS),
        Self.region(0x5000, 0x6800, .reserved(.firmware)),
        Self.region(0x6800, 0x6900, .badRAM),
        Self.region(0x6900, 0x7000, .reserved(.firmware)),
        Self.region(0x7000, 0x9000, .usable),
        Self.region(0x9000, 0xA000, .reserved(.firmware)),
        Self.region(0xA000, 0x10000, .usable),
      ])
    // The order does not depend on the order of the entries.
    #expect(MemoryMap.normalize(firmware.reversed()) == MemoryMap.normalize(firmware))
  }

  @Test func unsortedTouchingAndOverlappingRangesMerge() {
    let firmware = [
      MemoryMapEntry(base: 0x5000, length: 0x3000, type: .available),
      MemoryMapEntry(base: 0x1000, length: 0x2000, type: .available),
      MemoryMapEntry(base: 0x3000, length: 0x2800, type: .available),
      MemoryMapEntry(base: 0x20000, length: 0x100, type: .reserved),
      MemoryMapEntry(base: 0x20100, length: 0x100, type: .reserved),
    ]
    #expect(
      MemoryMap.normalize(firmware).entries == [
        Self.region(0x1000, 0x8000, .usable), Self.region(0x20000, 0x20200, .reserved(.firmware)),
      ])
  }

  @Test func usableShrinksToPagesOthersStayExact() {
    let firmware = [
      MemoryMapEntry(base: 0x1234, length: 0x3000, type: .available),
      MemoryMapEntry(base: 0x8010, length: 0x20, type: .acpiNVS),
      MemoryMapEntry(base: 0x9001, length: 0xFFE, type: .available),  // no whole page
    ]
    #expect(
      MemoryMap.normalize(firmware).entries == [
        Self.region(0x2000, 0x4000, .usable), Self.region(0x8010, 0x8030, .acpiNVS),
      ])
  }

  @Test func emptyAndOverflowingEntries() {
    let firmware = [
      MemoryMapEntry(base: 0x1000, length: 0, type: .badRAM),
      MemoryMapEntry(base: 0xFFFF_FFFF_FFFF_0000, length: 0x20000, type: .available),
      MemoryMapEntry(base: 0xFFFF_FFFF_FFFF_E800, length: UInt64.max, type: .reserved),
    ]
    #expect(
      MemoryMap.normalize(firmware).entries == [
        Self.region(0xFFFF_FFFF_FFFF_0000, 0xFFFF_FFFF_FFFF_E000, .usable),
        Self.region(0xFFFF_FFFF_FFFF_E800, UInt64.max, .reserved(.firmware)),
      ])
    #expect(MemoryMap.normalize([]).entries.isEmpty)
  }

  @Test func reserveSplitsUsableMemoryOnly() {
    var map = MemoryMap.normalize([
      MemoryMapEntry(base: 0, length: 0x10000, type: .available),
      MemoryMapEntry(base: 0x10000, length: 0x1000, type: .acpiNVS),
      MemoryMapEntry(base: 0x11000, length: 0x10000, type: .available),
    ])
    // Page aligned outward: 0x3000-0x5000.
    #expect(map.reserve(PhysicalRange(base: 0x3010, end: 0x4010), reason: .kernelImage) == 0x2000)
    // Over ACPI NVS into the next usable range: only the usable pages.
    #expect(map.reserve(PhysicalRange(base: 0xF000, end: 0x12000), reason: .module(1)) == 0x2000)
    // Already reserved: the earlier reason stays.
    #expect(map.reserve(PhysicalRange(base: 0x3000, end: 0x6000), reason: .rings) == 0x1000)
    #expect(map.reserve(PhysicalRange(base: 0x8000, end: 0x8000), reason: .rings) == 0)
    #expect(
      map.entries == [
        Self.region(0, 0x3000, .usable),
        Self.region(0x3000, 0x5000, .reserved(.kernelImage)),
        Self.region(0x5000, 0x6000, .reserved(.rings)),
        Self.region(0x6000, 0xF000, .usable),
        Self.region(0xF000, 0x10000, .reserved(.module(1))),
        Self.region(0x10000, 0x11000, .acpiNVS),
        Self.region(0x11000, 0x12000, .reserved(.module(1))),
        Self.region(0x12000, 0x21000, .usable),
      ])
    #expect(map.reservedRanges.map(\.reason) == [.kernelImage, .rings, .module(1), .module(1)])
    #expect(map.totalBytes(of: .reserved(.module(1))) == 0x2000)
    #expect(
      map.entries[1].description
        == "0x0000000000003000-0x0000000000005000 (8 KiB) reserved (kernel image)")
  }

  @Test func reasonsAndKindsDescribeThemselves() {
    let reasons: [ReservationReason] = [
      .firmware, .lowMemory, .trampoline, .kernelImage, .bootInformation, .module(2), .rings,
      .nodeRings(1), .serviceMemory, .lwkMemory, .unassigned,
    ]
    #expect(
      reasons.map(\.description) == [
        "firmware", "first MiB", "AP trampoline", "kernel image", "boot information", "module 2",
        "instance shared region", "DTU rings of node 1", "service partition", "LWK partition",
        "unassigned",
      ])
    let kinds: [MemoryRegionKind] = [
      .usable, .acpiReclaimable, .acpiNVS, .reserved(.firmware), .reserved(.rings), .badRAM,
    ]
    #expect(
      kinds.map(\.description) == [
        "usable", "ACPI reclaimable", "ACPI NVS", "reserved", "reserved (instance shared region)",
        "bad RAM",
      ])
  }

  // MARK: boot reservations

  /// QEMU -m 128M with the boot information and module of the fixture
  /// (they share a page) and a kernel image from 1 MiB.
  @Test func bootRegionsOnQEMU128MiB() throws {
    var map = MemoryMap.normalize(try Self.qemu128MiB)
    let before = map.usableBytes
    let regions = try map.reserveBootRegions(
      kernelImage: PhysicalRange(base: 0x100000, end: 0x1A3456),
      bootInformation: PhysicalRange(base: 0x0118_4020, length: 1752),
      modules: [PhysicalRange(base: 0x0118_4000, length: 0x17)])
    #expect(regions.trampoline == PhysicalRange(base: 0x8000, end: 0x9000))
    #expect(regions.rings == PhysicalRange(base: 0x200000, end: 0x600000))
    #expect(
      map.entries.prefix(9) == [
        Self.region(0, 0x8000, .reserved(.lowMemory)),
        Self.region(0x8000, 0x9000, .reserved(.trampoline)),
        Self.region(0x9000, 0x9F000, .reserved(.lowMemory)),
        Self.region(0x9FC00, 0xA0000, .reserved(.firmware)),
        Self.region(0xF0000, 0x100000, .reserved(.firmware)),
        Self.region(0x100000, 0x1A4000, .reserved(.kernelImage)),
        Self.region(0x1A4000, 0x200000, .usable),
        Self.region(0x200000, 0x600000, .reserved(.rings)),
        Self.region(0x600000, 0x0118_4000, .usable),
      ])
    #expect(map.kind(at: 0x0118_4010) == .reserved(.bootInformation))  // first come, first named
    #expect(map.usableBytes == before - 0x9F000 - 0xA4000 - 0x400000 - 0x1000)
    #expect(MapChecks.invariantViolations(map).isEmpty)
  }

  /// One DTU ring region per NUMA node, inside that node's memory, 2 MiB
  /// aligned and rounded up to 2 MiB; a node without room is named.
  @Test func ringRegionsOnePerNode() {
    var map = MemoryMap.normalize([
      MemoryMapEntry(base: 0, length: 0x9F000, type: .available),
      MemoryMapEntry(base: 0x100000, length: 0x3FF0_0000, type: .available),
    ])
    map.reserve(PhysicalRange(base: 0x100000, end: 0x30_0000), reason: .kernelImage)
    let nodes = [
      NodeMemoryRange(node: 0, range: PhysicalRange(base: 0, end: 0x2000_0000)),
      NodeMemoryRange(node: 1, range: PhysicalRange(base: 0x2010_0000, end: 0x4000_0000)),
      NodeMemoryRange(node: 2, range: PhysicalRange(base: 0x5000_0000, end: 0x6000_0000)),
    ]
    let (regions, missing) = map.reserveNodeRingRegions(bytes: 0x10_0000, nodes: nodes)
    #expect(
      regions == [
        NodeMemoryRange(node: 0, range: PhysicalRange(base: 0x40_0000, length: 0x20_0000)),
        NodeMemoryRange(node: 1, range: PhysicalRange(base: 0x2020_0000, length: 0x20_0000)),
      ])
    #expect(missing == [2])  // no memory at all there
    #expect(map.kind(at: 0x40_0000) == .reserved(.nodeRings(0)))
    #expect(map.kind(at: 0x2030_0000) == .reserved(.nodeRings(1)))
    #expect(MapChecks.invariantViolations(map).isEmpty)
    // Without NUMA information node 0 holds everything.
    var flat = MemoryMap.normalize([
      MemoryMapEntry(base: 0x100000, length: 0x0800_0000, type: .available)
    ])
    let (one, none) = flat.reserveNodeRingRegions(bytes: 0x40_0000, nodes: [])
    #expect(
      one == [NodeMemoryRange(node: 0, range: PhysicalRange(base: 0x20_0000, length: 0x40_0000))])
    #expect(none.isEmpty)
  }

  @Test func trampolineFallsBackToTheHighestUsableLowPage() throws {
    var map = MemoryMap.normalize([
      MemoryMapEntry(base: 0, length: 0x7000, type: .available),
      MemoryMapEntry(base: 0x9000, length: 0x96000, type: .available),
      MemoryMapEntry(base: 0x100000, length: 0x1000000, type: .available),
    ])
    let regions = try map.reserveBootRegions(
      kernelImage: PhysicalRange(base: 0x100000, end: 0x300000),
      bootInformation: PhysicalRange(base: 0x9E000, length: 8),
      modules: [], ringBytes: 0)
    // 0x9E000 holds the boot information.
    #expect(regions.trampoline == PhysicalRange(base: 0x9D000, end: 0x9E000))
    #expect(regions.rings == PhysicalRange(base: 0x400000, end: 0x401000))  // ringmem=0: one page
  }

  @Test func failuresLeaveTheMapAlone() {
    let onlyPageZero = MemoryMap.normalize([
      MemoryMapEntry(base: 0, length: 0x1000, type: .available),
      MemoryMapEntry(base: 0x100000, length: 0x1000000, type: .available),
    ])
    var map = onlyPageZero
    #expect(throws: BootReservationError.noTrampolinePage) {
      try map.reserveBootRegions(
        kernelImage: PhysicalRange(base: 0x100000, end: 0x200000),
        bootInformation: PhysicalRange(base: 0, end: 0), modules: [])
    }
    #expect(map == onlyPageZero)

    let small = MemoryMap.normalize([
      MemoryMapEntry(base: 0, length: 0x9F000, type: .available),
      MemoryMapEntry(base: 0x100000, length: 0x500000, type: .available),
    ])
    map = small
    #expect(throws: BootReservationError.noRoomForRings(4 << 20)) {
      try map.reserveBootRegions(
        kernelImage: PhysicalRange(base: 0x100000, end: 0x280000),
        bootInformation: PhysicalRange(base: 0, end: 0), modules: [])
    }
    #expect(map == small)
    #expect(throws: BootReservationError.noRoomForRings(UInt64.max)) {
      try map.reserveBootRegions(
        kernelImage: PhysicalRange(base: 0x100000, end: 0x200000),
        bootInformation: PhysicalRange(base: 0, end: 0), modules: [],
        ringBytes: UInt64.max)
    }
    #expect(
      BootReservationError.noRoomForRings(4 << 20).description
        == "no usable 2 MiB aligned stretch of 4 MiB for the instance shared region")
  }

  // MARK: properties

  /// The normalized map against the page model, for every page of the
  /// windows and every byte at an entry's edge; plus the invariants.
  @Test func normalizedMapsMatchThePageModel() async {
    await propertyCheck(count: 400, input: EntrySeed.maps) { seeds in
      let firmware = seeds.map(\.entry)
      let model = PageModel(firmware)
      let map = MemoryMap.normalize(firmware)
      #expect(MapChecks.invariantViolations(map) == [])
      let wrongPages = AddressWindows.pages.filter {
        MapChecks.pageClass(map, $0) != model.pageClass($0)
      }
      #expect(wrongPages.isEmpty, "pages \(wrongPages.prefix(4).map { hex($0) }) in \(map.lines)")
      let wrongBytes = model.interestingBytes.filter { address in
        let expected = model.byteRank(address)
        let kind = map.kind(at: address)
        if expected > 0 { return kind?.restrictiveness != expected }
        let pageUsable = model.pageClass(address & ~0xFFF) == 0
        return pageUsable ? kind != .usable : kind != nil
      }
      #expect(wrongBytes.isEmpty, "bytes \(wrongBytes.prefix(4).map { hex($0) }) in \(map.lines)")
      #expect(map.usableBytes == map.usableRanges.reduce(0) { $0 + $1.length })
    }
  }

  /// After any reservations, no usable page touches a reserved range, the
  /// usable bytes dropped by exactly what `reserve` reported, and nothing
  /// but usable pages changed.
  @Test func reservationsLeaveNoUsablePageInside() async {
    let reservations = EntrySeed.generator.array(of: 0...8)
    await propertyCheck(count: 300, input: EntrySeed.maps, reservations) { seeds, picks in
      let firmware = seeds.map(\.entry)
      let model = PageModel(firmware)
      var map = MemoryMap.normalize(firmware)
      let original = map
      let ranges = picks.map { PhysicalRange(base: $0.base, length: $0.length) }
      var taken: UInt64 = 0
      for (index, range) in ranges.enumerated() {
        taken += map.reserve(range, reason: index % 2 == 0 ? .kernelImage : .module(index))
      }
      #expect(MapChecks.invariantViolations(map) == [])
      #expect(original.usableBytes - map.usableBytes == taken)
      for range in ranges where !range.isEmpty {
        #expect(
          !map.usableRanges.contains { $0.overlaps(range) }, "\(range.description) still usable")
      }
      let wrongPages = AddressWindows.pages.filter { page in
        let touched = ranges.contains {
          !$0.isEmpty && $0.overlaps(PhysicalRange(base: page, length: 4096))
        }
        let before = model.pageClass(page)
        let expected = before == 0 && touched ? 3 : before
        return MapChecks.pageClass(map, page) != expected
      }
      #expect(wrongPages.isEmpty, "pages \(wrongPages.prefix(4).map { hex($0) })")
      let kept = original.entries.filter { $0.kind != .usable }
      #expect(kept.allSatisfy { map.entries.contains($0) })
    }
  }
}
