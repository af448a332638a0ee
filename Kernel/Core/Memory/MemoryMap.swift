// The normalized physical memory map: the firmware's E820-style entries made
// sorted, disjoint and page-exact where it matters, plus the reservations the
// kernel makes on top (kernel image, modules, trampoline, rings, and the
// other partition's memory in a partition's own map).
//
// Normalization rules (`MemoryMap.normalize`):
// - every entry covers [base, base + length); a sum past 2^64 is clipped at
//   2^64-1 (see PhysicalRange), zero-length entries are dropped;
// - where entries overlap, the more restrictive type wins for each byte:
//   bad RAM > reserved (and unrecognized types) > ACPI NVS > ACPI
//   reclaimable > usable (`MemoryType.restrictiveness` says why);
// - usable ranges shrink inward to whole 4 KiB pages (the partial pages at
//   their ends become holes); the other kinds keep their exact bytes, since
//   rounding them would only matter to code that never allocates from them;
// - the result is sorted, has no overlaps and no empty regions, and
//   regions of the same kind that touch are merged.
// Unrecognized firmware types become `reserved(.firmware)`: the number is
// lost here, the raw map (shell `memmap`) still shows it.

/// Why a range is reserved.
public enum ReservationReason: Equatable, Sendable {
  /// The firmware said so (type 2 or a type number we do not know).
  case firmware
  /// The first MiB, kept away from the allocators (real-mode structures,
  /// BIOS data, and room for later real-mode needs).
  case lowMemory
  /// The page the application processors start in (real mode, below 1 MiB).
  case trampoline
  case kernelImage
  case bootInformation
  /// A boot module, by its index in the boot information.
  case module(Int)
  /// The region the two kernel instances share (control and shipping
  /// queues, the hand-off block, module staging).
  case rings
  /// A NUMA node's DTU ring region (`ringmem=`): the receive rings of
  /// endpoints on that node.
  case nodeRings(Int)
  /// The kernel's own page tables, set aside before any allocator exists.
  case pageTables
  /// In the LWK partition's map: memory of the service partition.
  case serviceMemory
  /// In the service partition's map: memory of the LWK partition.
  case lwkMemory
  /// Usable memory neither partition got (`lwkmem=` cap, NUMA constraint).
  case unassigned

  public var description: String {
    switch self {
    case .firmware: "firmware"
    case .lowMemory: "first MiB"
    case .trampoline: "AP trampoline"
    case .kernelImage: "kernel image"
    case .bootInformation: "boot information"
    case .module(let index): "module " + String(index)
    case .rings: "instance shared region"
    case .nodeRings(let node): "DTU rings of node " + String(node)
    case .pageTables: "kernel page tables"
    case .serviceMemory: "service partition"
    case .lwkMemory: "LWK partition"
    case .unassigned: "unassigned"
    }
  }
}

/// What a region of the normalized map is.
public enum MemoryRegionKind: Equatable, Sendable {
  case usable
  case acpiReclaimable
  case acpiNVS
  case reserved(ReservationReason)
  case badRAM

  /// The kind a firmware type becomes.
  public init(_ type: MemoryType) {
    switch type {
    case .available: self = .usable
    case .acpiReclaimable: self = .acpiReclaimable
    case .acpiNVS: self = .acpiNVS
    case .reserved, .unrecognized: self = .reserved(.firmware)
    case .badRAM: self = .badRAM
    }
  }

  /// The same order as `MemoryType.restrictiveness`.
  public var restrictiveness: Int {
    switch self {
    case .usable: 0
    case .acpiReclaimable: 1
    case .acpiNVS: 2
    case .reserved: 3
    case .badRAM: 4
    }
  }

  public var description: String {
    switch self {
    case .usable: "usable"
    case .acpiReclaimable: "ACPI reclaimable"
    case .acpiNVS: "ACPI NVS"
    case .reserved(.firmware): "reserved"
    case .reserved(let reason): "reserved (" + reason.description + ")"
    case .badRAM: "bad RAM"
    }
  }
}

public struct MemoryMapRegion: Equatable, Sendable {
  public var range: PhysicalRange
  public var kind: MemoryRegionKind

  public init(range: PhysicalRange, kind: MemoryRegionKind) {
    self.range = range
    self.kind = kind
  }

  public var description: String { range.description + " " + kind.description }
}

public struct MemoryMap: Equatable, Sendable {
  /// Sorted, disjoint, non-empty; touching regions differ in kind; usable
  /// regions are whole pages.
  public private(set) var entries: [MemoryMapRegion] = []

  public init() {}

  /// The normalized form of a firmware map (rules at the top of the file).
  public static func normalize(_ firmware: [MemoryMapEntry]) -> MemoryMap {
    // Sweep over the boundaries, counting how many entries of each rank
    // cover the stretch between two boundaries; the highest rank wins.
    var events: [(address: UInt64, rank: Int, delta: Int)] = []
    for entry in firmware {
      let range = PhysicalRange(base: entry.base, length: entry.length)
      guard !range.isEmpty else { continue }
      events.append((range.base, entry.type.restrictiveness, 1))
      events.append((range.end, entry.type.restrictiveness, -1))
    }
    events.sort { $0.address < $1.address }

    let kinds: [MemoryRegionKind] = [
      .usable, .acpiReclaimable, .acpiNVS, .reserved(.firmware), .badRAM,
    ]
    var covering = [Int](repeating: 0, count: kinds.count)
    var regions: [MemoryMapRegion] = []
    var index = 0
    while index < events.count {
      let address = events[index].address
      while index < events.count && events[index].address == address {
        covering[events[index].rank] += events[index].delta
        index += 1
      }
      guard index < events.count, let rank = covering.lastIndex(where: { $0 > 0 }) else { continue }
      regions.append(
        MemoryMapRegion(
          range: PhysicalRange(base: address, end: events[index].address), kind: kinds[rank]))
    }

    var map = MemoryMap()
    map.entries = merged(regions)
    map.entries = map.entries.compactMap { region in
      guard region.kind == .usable else { return region }
      return region.range.pageAlignedInward.map { MemoryMapRegion(range: $0, kind: .usable) }
    }
    return map
  }

  /// Touching regions of the same kind become one; empty ones are dropped.
  /// Expects sorted, disjoint regions.
  private static func merged(_ regions: [MemoryMapRegion]) -> [MemoryMapRegion] {
    var result: [MemoryMapRegion] = []
    for region in regions where !region.range.isEmpty {
      if let last = result.last, last.kind == region.kind, last.range.end == region.range.base {
        result[result.count - 1].range = PhysicalRange(base: last.range.base, end: region.range.end)
      } else {
        result.append(region)
      }
    }
    return result
  }

  // MARK: Queries

  public var usableRanges: [PhysicalRange] {
    entries.compactMap { $0.kind == .usable ? $0.range : nil }
  }

  public var usableBytes: UInt64 { totalBytes(of: .usable) }

  /// Every reserved region with its reason, firmware ones included.
  public var reservedRanges: [(range: PhysicalRange, reason: ReservationReason)] {
    entries.compactMap { region in
      if case .reserved(let reason) = region.kind { return (region.range, reason) }
      return nil
    }
  }

  /// Bytes of exactly this kind (for `reserved`, with exactly this reason).
  public func totalBytes(of kind: MemoryRegionKind) -> UInt64 {
    var sum: UInt64 = 0
    for region in entries where region.kind == kind { sum &+= region.range.length }
    return sum
  }

  /// The kind of the byte at `address`, nil in a hole.
  public func kind(at address: UInt64) -> MemoryRegionKind? {
    var low = 0
    var high = entries.count
    while low < high {
      let middle = (low + high) / 2
      if entries[middle].range.end <= address {
        low = middle + 1
      } else {
        high = middle
      }
    }
    guard low < entries.count, entries[low].range.contains(address) else { return nil }
    return entries[low].kind
  }

  /// Whether every byte of `range` is usable.
  public func isUsable(_ range: PhysicalRange) -> Bool {
    entries.contains { $0.kind == .usable && $0.range.contains(range) }
  }

  /// One line per region, for the boot log and the shell.
  public var lines: [String] { entries.map { $0.description } }

  // MARK: Reservations

  /// Marks the usable pages touching `range` (page aligned outward) as
  /// reserved for `reason`, splitting usable regions as needed, and returns
  /// how many bytes that took. Everything else stays as it is: firmware
  /// kinds keep their meaning, and an earlier reservation keeps its reason.
  @discardableResult
  public mutating func reserve(_ range: PhysicalRange, reason: ReservationReason) -> UInt64 {
    guard !range.isEmpty else { return 0 }
    let target = range.pageAlignedOutward
    var result: [MemoryMapRegion] = []
    var taken: UInt64 = 0
    for region in entries {
      guard region.kind == .usable, let overlap = region.range.intersection(target) else {
        result.append(region)
        continue
      }
      result.append(
        MemoryMapRegion(
          range: PhysicalRange(base: region.range.base, end: overlap.base), kind: .usable))
      result.append(MemoryMapRegion(range: overlap, kind: .reserved(reason)))
      result.append(
        MemoryMapRegion(
          range: PhysicalRange(base: overlap.end, end: region.range.end), kind: .usable))
      taken += overlap.length
    }
    entries = MemoryMap.merged(result)
    return taken
  }
}

// MARK: What must survive the boot

/// Where `reserveBootRegions` put the trampoline page and the ring region.
public struct BootRegions: Equatable, Sendable {
  public var trampoline: PhysicalRange
  public var rings: PhysicalRange
}

public enum BootReservationError: Error, Equatable, Sendable {
  /// No usable page left below 1 MiB for the AP trampoline.
  case noTrampolinePage
  /// No usable, 2 MiB aligned stretch of this many bytes for the rings.
  case noRoomForRings(UInt64)

  public var description: String {
    switch self {
    case .noTrampolinePage:
      "no usable page below 1 MiB for the AP trampoline"
    case .noRoomForRings(let bytes):
      "no usable 2 MiB aligned stretch of " + formatSize(bytes) + " for the instance shared region"
    }
  }
}

extension MemoryMap {
  /// The ring region's size when `ringmem=` is not given.
  public static let defaultRingBytes: UInt64 = 4 << 20
  /// Ring regions start on a 2 MiB boundary so both partitions can map them
  /// with large pages.
  public static let ringAlignment: UInt64 = 2 << 20
  public static let lowMemoryEnd: UInt64 = 1 << 20
  /// The trampoline's page when it is usable: a fixed, conventional place
  /// (SIPI vector 0x08) that is easy to recognise in a debugger.
  public static let preferredTrampolinePage: UInt64 = 0x8000

  /// Reserves what must survive the boot, in this order: the kernel image,
  /// the boot information and every module (first, so nothing below lands
  /// on them); one trampoline page below 1 MiB (0x8000 if usable, else the
  /// highest usable page from 0x1000 up: page 0 holds the real-mode
  /// interrupt table); the rest of the first MiB; then the ring region of
  /// `ringBytes` (default 4 MiB, rounded up to whole pages, at least one)
  /// at the lowest usable 2 MiB boundary with room for it, which lies above
  /// 1 MiB and clear of the kernel and modules.
  ///
  /// On an error the map is left unchanged.
  public mutating func reserveBootRegions(
    kernelImage: PhysicalRange, bootInformation: PhysicalRange, modules: [PhysicalRange],
    ringBytes: UInt64? = nil
  ) throws(BootReservationError) -> BootRegions {
    var map = self
    map.reserve(kernelImage, reason: .kernelImage)
    map.reserve(bootInformation, reason: .bootInformation)
    for (index, module) in modules.enumerated() {
      map.reserve(module, reason: .module(index))
    }

    guard let trampoline = map.trampolinePage() else { throw .noTrampolinePage }
    map.reserve(trampoline, reason: .trampoline)
    map.reserve(PhysicalRange(base: 0, end: MemoryMap.lowMemoryEnd), reason: .lowMemory)

    let requested = ringBytes ?? MemoryMap.defaultRingBytes
    guard let size = PhysicalRange.alignUp(max(requested, 1), to: PhysicalRange.pageSize),
      let rings = map.lowestFit(size: size, alignment: MemoryMap.ringAlignment)
    else { throw .noRoomForRings(requested) }
    map.reserve(rings, reason: .rings)

    self = map
    return BootRegions(trampoline: trampoline, rings: rings)
  }

  /// Reserves the lowest aligned stretch of `size` usable bytes at or above
  /// 1 MiB for `reason`; nil (and no change) when none is left.
  public mutating func reserveLowest(size: UInt64, alignment: UInt64, reason: ReservationReason)
    -> PhysicalRange?
  {
    guard let range = lowestFit(size: size, alignment: alignment) else { return nil }
    reserve(range, reason: reason)
    return range
  }

  private func trampolinePage() -> PhysicalRange? {
    let preferred = PhysicalRange(
      base: MemoryMap.preferredTrampolinePage, length: PhysicalRange.pageSize)
    if isUsable(preferred) { return preferred }
    let low = PhysicalRange(base: PhysicalRange.pageSize, end: MemoryMap.lowMemoryEnd)
    // Usable regions are whole pages, so any overlap holds a whole page.
    guard let highest = usableRanges.compactMap({ $0.intersection(low) }).last else { return nil }
    return PhysicalRange(base: highest.end - PhysicalRange.pageSize, end: highest.end)
  }

  /// Reserves, for every NUMA node, the lowest usable 2 MiB aligned
  /// stretch of `bytes` (rounded up to 2 MiB) inside that node's memory:
  /// the node's DTU ring region, so a receive ring sits in its receiver's
  /// node. Without NUMA information (`nodes` empty) node 0 holds all
  /// memory. Returns the regions by node, and the nodes that had no room.
  public mutating func reserveNodeRingRegions(bytes: UInt64, nodes: [NodeMemoryRange]) -> (
    regions: [NodeMemoryRange], missing: [Int]
  ) {
    let everything = [NodeMemoryRange(node: 0, range: PhysicalRange(base: 0, end: UInt64.max))]
    let known = nodes.isEmpty ? everything : nodes
    var ids: [Int] = []
    for entry in known where !ids.contains(entry.node) { ids.append(entry.node) }
    var regions: [NodeMemoryRange] = []
    var missing: [Int] = []
    let size = PhysicalRange.alignUp(max(bytes, 1), to: MemoryMap.ringAlignment) ?? bytes
    for node in ids.sorted() {
      var found: PhysicalRange? = nil
      for entry in known where entry.node == node && found == nil {
        found = lowestFit(size: size, alignment: MemoryMap.ringAlignment, within: entry.range)
      }
      guard let range = found else {
        missing.append(node)
        continue
      }
      reserve(range, reason: .nodeRings(node))
      regions.append(NodeMemoryRange(node: node, range: range))
    }
    return (regions, missing)
  }

  /// The lowest aligned stretch of `size` usable bytes at or above 1 MiB
  /// (and inside `within`).
  private func lowestFit(
    size: UInt64, alignment: UInt64,
    within: PhysicalRange = PhysicalRange(base: 0, end: UInt64.max)
  ) -> PhysicalRange? {
    for usable in usableRanges {
      guard let range = usable.intersection(within), range.end > MemoryMap.lowMemoryEnd else {
        continue
      }
      guard let base = PhysicalRange.alignUp(max(range.base, MemoryMap.lowMemoryEnd), to: alignment)
      else {
        return nil
      }
      let (end, overflow) = base.addingReportingOverflow(size)
      if !overflow && end <= range.end { return PhysicalRange(base: base, end: end) }
    }
    return nil
  }
}
