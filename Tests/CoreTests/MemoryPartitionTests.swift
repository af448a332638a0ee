import PropertyBased
import Testing

@testable import TesseraCore

@Suite struct MemoryPartitionTests {
  static let mib: UInt64 = 1 << 20

  /// QEMU -m 128M after the boot reservations (kernel 1 MiB-1.64 MiB, rings
  /// 2-6 MiB, boot information and module at 0x1184000).
  static func qemu128MiB() throws -> MemoryMap {
    var map = MemoryMap.normalize(try MemoryMapTests.qemu128MiB)
    _ = try map.reserveBootRegions(
      kernelImage: PhysicalRange(base: 0x100000, end: 0x1A3456),
      bootInformation: PhysicalRange(base: 0x0118_4020, length: 1752),
      modules: [PhysicalRange(base: 0x0118_4000, length: 0x17)])
    return map
  }

  static func usable(_ ranges: [(UInt64, UInt64)]) -> MemoryMap {
    MemoryMap.normalize(
      ranges.map { MemoryMapEntry(base: $0.0, length: $0.1 - $0.0, type: .available) })
  }

  /// The map's usable ranges and the ranges reserved for `reason`.
  static func reserved(_ map: MemoryMap, _ reason: ReservationReason) -> [PhysicalRange] {
    map.reservedRanges.filter { $0.reason == reason }.map(\.range)
  }

  @Test func defaultIsAQuarterButAtLeastTheMinimum() throws {
    let map = try Self.qemu128MiB()
    let total = map.usableBytes
    #expect(total == 0x7EE0000 - 0xA4000 - 0x400000 - 0x1000)  // 122.2 MiB
    let plan = MemoryPartitionPlan(splitting: map, request: MemoryPartitionRequest())
    #expect(plan.source == .defaultShare)
    #expect(plan.serviceBytes == 32 * Self.mib)  // a quarter would be 30.6 MiB
    #expect(plan.lwkBytes == total - 32 * Self.mib)
    #expect(plan.unassignedBytes == 0)
    #expect(
      plan.messages == [
        "no mem= given: the service partition gets the default, a quarter of usable memory and at least 32 MiB",
        "memory split: service 32 MiB (default), LWK 90.2 MiB",
      ])
    // The lowest usable memory: 1.64-2 MiB, then from 6 MiB on.
    #expect(
      plan.service.usableRanges == [
        PhysicalRange(base: 0x1A4000, end: 0x200000),
        PhysicalRange(base: 0x600000, end: 0x0118_4000),
        PhysicalRange(base: 0x0118_5000, end: 0x025A_5000),
      ])
    #expect(Self.reserved(plan.lwk, .serviceMemory) == plan.service.usableRanges)
    #expect(Self.reserved(plan.service, .lwkMemory) == plan.lwk.usableRanges)
    #expect(plan.lwk.usableRanges == [PhysicalRange(base: 0x025A_5000, end: 0x7FE_0000)])
  }

  @Test func aLargeMemoryMachineGetsAQuarter() {
    let map = Self.usable([(0x100000, 0x4010_0000)])  // 1 GiB
    let plan = MemoryPartitionPlan(splitting: map, request: MemoryPartitionRequest())
    #expect(plan.serviceBytes == 256 * Self.mib)
    #expect(plan.service.usableRanges == [PhysicalRange(base: 0x100000, end: 0x1010_0000)])
  }

  /// The fixture's own command line: `maxcpus=2 mem=64M`.
  @Test func memFromTheCommandLine() throws {
    let request = MemoryPartitionRequest(commandLine: KernelCommandLine.parse("maxcpus=2 mem=64M"))
    #expect(request == MemoryPartitionRequest(serviceBytes: 64 * Self.mib))
    let plan = MemoryPartitionPlan(splitting: try Self.qemu128MiB(), request: request)
    #expect(plan.source == .commandLine)
    #expect(plan.serviceBytes == 64 * Self.mib)
    #expect(plan.service.usableBytes == 64 * Self.mib)
    #expect(plan.lwkBytes == plan.lwk.usableBytes)
    #expect(plan.messages == ["memory split: service 64 MiB (from mem=), LWK 58.2 MiB"])
  }

  @Test func malformedMemUsesTheDefault() {
    let line = KernelCommandLine.parse("mem=abc")
    #expect(line.serviceMemory == nil && !line.errors.isEmpty)
    let request = MemoryPartitionRequest(commandLine: line)
    #expect(request.serviceBytesMalformed)
    let plan = MemoryPartitionPlan(splitting: Self.usable([(0, 256 * Self.mib)]), request: request)
    #expect(plan.source == .defaultShare)
    #expect(plan.serviceBytes == 64 * Self.mib)
    #expect(
      plan.messages.first?.hasPrefix("mem= is malformed: the service partition gets the default")
        == true)
    // A valid earlier value stays, so it is not malformed.
    #expect(!MemoryPartitionRequest(commandLine: .parse("mem=64M mem=abc")).serviceBytesMalformed)
    #expect(MemoryPartitionRequest(commandLine: .parse("lwkmem=x")).lwkBytesLimitMalformed)
  }

  @Test func memAboveUsableGivesTheServiceEverything() {
    let map = Self.usable([(0x100000, 0x8100000)])
    let plan = MemoryPartitionPlan(
      splitting: map, request: MemoryPartitionRequest(serviceBytes: 4 << 30))
    #expect(plan.source == .limitedToUsable)
    #expect(plan.serviceBytes == 128 * Self.mib && plan.lwkBytes == 0)
    #expect(plan.lwk.usableRanges.isEmpty)
    #expect(
      plan.messages == [
        "mem=4G is more than the 128 MiB of usable memory: the service partition gets all of it, the LWK partition none",
        "the LWK partition gets no memory",
        "memory split: service 128 MiB (mem= limited to usable memory), LWK 0 B",
      ])
  }

  @Test func memBelowTheMinimumIsRaised() {
    let map = Self.usable([(0, 128 * Self.mib)])
    let plan = MemoryPartitionPlan(
      splitting: map, request: MemoryPartitionRequest(serviceBytes: 16 * Self.mib))
    #expect(plan.source == .raisedToMinimum)
    #expect(plan.serviceBytes == 32 * Self.mib)
    #expect(
      plan.messages.first
        == "mem=16M is below the service partition's minimum of 32 MiB: raised to it")

    let tiny = Self.usable([(0, 20 * Self.mib)])
    let small = MemoryPartitionPlan(
      splitting: tiny, request: MemoryPartitionRequest(serviceBytes: 0))
    #expect(small.serviceBytes == 20 * Self.mib && small.lwkBytes == 0)
    #expect(small.messages.contains { $0.hasPrefix("only 20 MiB is usable") })
    let byDefault = MemoryPartitionPlan(splitting: tiny, request: MemoryPartitionRequest())
    #expect(byDefault.serviceBytes == 20 * Self.mib && byDefault.source == .defaultShare)
  }

  @Test func serviceTakesTheLowestPagesAndSplitsARange() {
    let map = Self.usable([(0x300000, 0x1000000), (0x100000, 0x200000)])
    let plan = MemoryPartitionPlan(
      splitting: map, request: MemoryPartitionRequest(serviceBytes: 0x180001, serviceMinimum: 0))
    #expect(plan.serviceBytes == 0x181000)  // rounded up to a page
    #expect(
      plan.service.usableRanges == [
        PhysicalRange(base: 0x100000, end: 0x200000), PhysicalRange(base: 0x300000, end: 0x381000),
      ])
    #expect(plan.lwk.usableRanges == [PhysicalRange(base: 0x381000, end: 0x1000000)])
    #expect(
      plan.lwk.entries.map(\.kind) == [
        .reserved(.serviceMemory), .reserved(.serviceMemory), .usable,
      ])
  }

  @Test func lwkmemCapsTheLWKAndLeavesTheRestUnassigned() {
    let map = Self.usable([(0, 256 * Self.mib)])
    let request = MemoryPartitionRequest(commandLine: .parse("mem=64M lwkmem=100M"))
    let plan = MemoryPartitionPlan(splitting: map, request: request)
    #expect(plan.serviceBytes == 64 * Self.mib && plan.lwkBytes == 100 * Self.mib)
    #expect(plan.unassignedBytes == 92 * Self.mib)
    let unassigned = [PhysicalRange(base: 164 * Self.mib, end: 256 * Self.mib)]
    #expect(Self.reserved(plan.service, .unassigned) == unassigned)
    #expect(Self.reserved(plan.lwk, .unassigned) == unassigned)
    #expect(
      plan.messages == [
        "lwkmem=100M limits the LWK partition; 92 MiB more stays unassigned",
        "memory split: service 64 MiB (from mem=), LWK 100 MiB, unassigned 92 MiB",
      ])
    let generous = MemoryPartitionPlan(
      splitting: map, request: MemoryPartitionRequest(lwkBytesLimit: 1 << 40))
    #expect(generous.lwkBytes == 192 * Self.mib && generous.unassignedBytes == 0)
    #expect(
      generous.messages.contains(
        "lwkmem=1T is more than the 192 MiB left for the LWK partition: it gets that"))
  }

  /// Two NUMA nodes, the LWK on node 1: node 0's memory beyond the service
  /// share stays unassigned, and so does the page split by an unaligned
  /// node boundary.
  @Test func lwkDrawsOnlyFromItsNodes() {
    let map = Self.usable([(0, 512 * Self.mib)])
    let boundary = 256 * Self.mib + 0x800
    let nodes = [
      NodeMemoryRange(node: 0, range: PhysicalRange(base: 0, end: boundary)),
      NodeMemoryRange(node: 1, range: PhysicalRange(base: boundary, end: 512 * Self.mib)),
    ]
    let plan = MemoryPartitionPlan(
      splitting: map,
      request: MemoryPartitionRequest(serviceBytes: 64 * Self.mib, nodeMemory: nodes, lwkNodes: [1])
    )
    #expect(plan.lwk.usableRanges == [PhysicalRange(base: boundary + 0x800, end: 512 * Self.mib)])
    #expect(
      Self.reserved(plan.lwk, .unassigned) == [
        PhysicalRange(base: 64 * Self.mib, end: boundary + 0x800)
      ])
    #expect(plan.unassignedBytes == 192 * Self.mib + 0x1000)
    #expect(
      plan.messages.first == "192 MiB outside the LWK partition's NUMA nodes (1) stays unassigned")

    // Both nodes: everything after the service share.
    let both = MemoryPartitionPlan(
      splitting: map,
      request: MemoryPartitionRequest(
        serviceBytes: 64 * Self.mib, nodeMemory: nodes, lwkNodes: [0, 1]))
    #expect(both.lwkBytes == 448 * Self.mib && both.unassignedBytes == 0)
  }

  /// Without NUMA information node 0 holds everything.
  @Test func withoutNUMAOneNodeHoldsEverything() {
    let map = Self.usable([(0, 128 * Self.mib)])
    let onNode0 = MemoryPartitionPlan(
      splitting: map, request: MemoryPartitionRequest(lwkNodes: [0]))
    #expect(onNode0.lwkBytes == 96 * Self.mib)
    let onNode1 = MemoryPartitionPlan(
      splitting: map, request: MemoryPartitionRequest(lwkNodes: [1]))
    #expect(onNode1.lwkBytes == 0 && onNode1.unassignedBytes == 96 * Self.mib)
  }

  // MARK: properties

  /// The random part of a request.
  struct RequestSeed: Sendable {
    var memKind: Int
    var memValue: UInt64
    var lwkKind: Int
    var lwkValue: UInt64
    var minimumKind: Int
    var nodeKind: Int
    var cuts: (UInt64, UInt64)
    var nodeMask: Int

    static let generator = zip(
      zip(
        Gen.int(in: 0...8), Gen.uint64(in: 0...(1 << 22)), Gen.int(in: 0...4),
        Gen.uint64(in: 0...(1 << 22))),
      zip(
        Gen.int(in: 0...3), Gen.int(in: 0...4), Gen.uint64(in: 0...(1 << 21)),
        Gen.uint64(in: 0...(1 << 21))),
      Gen.int(in: 0...7)
    ).map { a, b, mask in
      RequestSeed(
        memKind: a.0, memValue: a.1, lwkKind: a.2, lwkValue: a.3, minimumKind: b.0, nodeKind: b.1,
        cuts: (b.2, b.3), nodeMask: mask)
    }

    func request(total: UInt64) -> MemoryPartitionRequest {
      let mem: UInt64? =
        switch memKind {
        case 0: nil
        case 1: 0
        case 2: memValue % 0x20000  // tiny, unaligned
        case 3: total
        case 4: total &- memValue % 0x10000
        case 5: UInt64.max
        case 6: total &+ 1
        default: memValue  // up to 4 MiB, unaligned
        }
      let lwk: UInt64? =
        switch lwkKind {
        case 0, 1: nil
        case 2: 0
        case 3: UInt64.max
        default: lwkValue
        }
      let minimum: UInt64 = [0, 0x10000, 0x40001, 32 << 20][minimumKind]
      var nodes: [NodeMemoryRange] = []
      var lwkNodes: [Int]? = nil
      switch nodeKind {
      case 0, 1: break
      case 2: lwkNodes = [0]
      case 3: lwkNodes = [1]
      default:
        // Three nodes cut at two random addresses in the low window.
        let (low, high) = (min(cuts.0, cuts.1), max(cuts.0, cuts.1))
        nodes = [
          NodeMemoryRange(node: 0, range: PhysicalRange(base: 0, end: low)),
          NodeMemoryRange(node: 1, range: PhysicalRange(base: low, end: high)),
          NodeMemoryRange(node: 2, range: PhysicalRange(base: high, end: UInt64.max)),
        ]
        lwkNodes = (0..<3).filter { nodeMask & (1 << $0) != 0 }
      }
      return MemoryPartitionRequest(
        serviceBytes: mem, lwkBytesLimit: lwk, serviceMinimum: minimum, nodeMemory: nodes,
        lwkNodes: lwkNodes)
    }
  }

  /// A page-aligned value rounded up, saturating.
  static func roundUp(_ value: UInt64) -> UInt64 {
    value > UInt64.max - 4095 ? UInt64.max : (value + 4095) & ~4095
  }

  /// The regions with every partition reason turned back into usable and
  /// touching regions of one kind merged: must give the input map back.
  static func restored(_ map: MemoryMap) -> [MemoryMapRegion] {
    var result: [MemoryMapRegion] = []
    for var region in map.entries {
      if case .reserved(let reason) = region.kind,
        [.serviceMemory, .lwkMemory, .unassigned].contains(reason)
      {
        region.kind = .usable
      }
      if let last = result.last, last.kind == region.kind, last.range.end == region.range.base {
        result[result.count - 1].range = PhysicalRange(base: last.range.base, end: region.range.end)
      } else {
        result.append(region)
      }
    }
    return result
  }

  /// Random maps (with some boot-style reservations) and random requests.
  /// Most maps get a usable base of up to 1.5 MiB under the random entries,
  /// so that there is something to split.
  @Test func splitsMatchTheRules() async {
    await propertyCheck(
      count: 500, input: EntrySeed.maps, Gen.int(in: 0...3), EntrySeed.generator.array(of: 0...3),
      RequestSeed.generator
    ) { seeds, baseSize, reservations, requestSeed in
      let base = MemoryMapEntry(base: 0, length: UInt64(baseSize) << 19, type: .available)
      var map = MemoryMap.normalize([base] + seeds.map(\.entry))
      for pick in reservations {
        map.reserve(PhysicalRange(base: pick.base, length: pick.length), reason: .rings)
      }
      let total = map.usableBytes
      let request = requestSeed.request(total: total)
      let plan = MemoryPartitionPlan(splitting: map, request: request)
      let service = plan.service.usableRanges
      let lwk = plan.lwk.usableRanges

      // Everything adds up, and the maps say the same as the numbers.
      #expect(plan.serviceBytes + plan.lwkBytes + plan.unassignedBytes == total)
      #expect(service.totalBytes == plan.serviceBytes && lwk.totalBytes == plan.lwkBytes)
      #expect(MapChecks.invariantViolations(plan.service) == [])
      #expect(MapChecks.invariantViolations(plan.lwk) == [])

      // Each map marks the other partition's memory, and only partition
      // reasons were added: undoing them gives the input back.
      #expect(Self.reserved(plan.lwk, .serviceMemory) == service)
      #expect(Self.reserved(plan.service, .lwkMemory) == lwk)
      #expect(Self.reserved(plan.service, .unassigned) == Self.reserved(plan.lwk, .unassigned))
      #expect(Self.reserved(plan.lwk, .unassigned).totalBytes == plan.unassignedBytes)
      #expect(Self.restored(plan.service) == map.entries)
      #expect(Self.restored(plan.lwk) == map.entries)
      // No page in both (each usable page of one is reserved in the other).
      #expect(!service.contains { s in lwk.contains { $0.overlaps(s) } })

      // The service partition holds the lowest usable pages.
      if let top = service.last?.end {
        let below = map.usableRanges.compactMap {
          $0.intersection(PhysicalRange(base: 0, end: top))
        }
        #expect(below.totalBytes == plan.serviceBytes)
      }

      // Its size follows the documented rules.
      let minimum = Self.roundUp(request.serviceMinimum)
      #expect(plan.serviceBytes >= min(minimum, total) && plan.serviceBytes <= total)
      let expected: (UInt64, ServiceSizeSource)
      if let mem = request.serviceBytes {
        let rounded = Self.roundUp(mem)
        if rounded > total && rounded >= minimum {
          expected = (total, .limitedToUsable)
        } else if rounded < minimum {
          expected = (min(minimum, total), .raisedToMinimum)
        } else {
          expected = (rounded, .commandLine)
        }
      } else {
        expected = (min(max(Self.roundUp(total / 4), minimum), total), .defaultShare)
      }
      #expect(plan.serviceBytes == expected.0 && plan.source == expected.1)
      if plan.source != .commandLine { #expect(plan.messages.count >= 2) }

      // The LWK stays in its nodes and under its cap, and leaves nothing
      // unassigned that it could have had.
      var allowed: [PhysicalRange]? = nil
      if let lwkNodes = request.lwkNodes {
        let nodes =
          request.nodeMemory.isEmpty
          ? [NodeMemoryRange(node: 0, range: PhysicalRange(base: 0, end: UInt64.max))]
          : request.nodeMemory
        allowed = nodes.filter { lwkNodes.contains($0.node) }.map(\.range)
      }
      if let allowed {
        // The test's node ranges are disjoint: a range lies inside them when
        // its overlaps with them add up to its length.
        for range in lwk {
          let inside = allowed.reduce(UInt64(0)) { $0 + ($1.intersection(range)?.length ?? 0) }
          #expect(inside == range.length, "\(range.description) outside the LWK nodes")
        }
      }
      if let limit = request.lwkBytesLimit { #expect(plan.lwkBytes <= Self.roundUp(limit)) }
      let capReached = request.lwkBytesLimit.map { plan.lwkBytes >= Self.roundUp($0) } ?? false
      if !capReached {
        let unassigned = Self.reserved(plan.lwk, .unassigned)
        let claimable = unassigned.contains { range in
          (allowed ?? [PhysicalRange(base: 0, end: UInt64.max)]).contains {
            $0.intersection(range)?.pageAlignedInward != nil
          }
        }
        #expect(!claimable, "unassigned memory the LWK could have had")
      }
    }
  }
}
