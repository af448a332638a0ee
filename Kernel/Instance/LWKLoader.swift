import X86

/// The service instance's part in starting the LWK instance, the role
/// mOS's and McKernel's host kernel plays for its LWK: place a fresh copy of
/// the kernel's private data (`.data` as loaded, `.bss` zeroed) in LWK
/// memory, build the page tables the LWK instance starts on, write the
/// hand-off block (once the clock is calibrated), and start the LWK
/// partition's first CPU. Everything else
/// — its frame allocator, heap, IDT, the rest of its CPUs — the LWK
/// instance builds itself from the hand-off block (LWKInstance.swift).
///
/// The LWK instance's tables map the kernel image, the LWK partition's
/// memory, the shared region, the trampoline page and the local APIC page,
/// and nothing of the service partition's memory. `prepare` runs while the
/// boot page tables still map the low 4 GiB, before the service switches to
/// tables that no longer map LWK memory; so the image and its tables go
/// below 4 GiB (the trampoline also loads CR3 in 32-bit mode).
enum LWKLoader {
  struct Image {
    /// The LWK memory holding the private data and the page-table pool.
    var region: PhysicalRange
    var pageTableRoot: UInt64
    var lwkRanges: [PhysicalRange]
  }

  nonisolated(unsafe) static var image: Image? = nil
  /// Why there is no LWK instance, when there is none.
  nonisolated(unsafe) static var absence: String? = nil

  static let twoMiB: UInt64 = 2 << 20
  static let lowLimit: UInt64 = 4 << 30

  /// Places the image and builds its page tables. Returns a boot-log line
  /// when the LWK instance cannot be prepared (its CPUs then park).
  static func prepare(
    plan: MemoryPartitionPlan, platform: PlatformState, features: CPUFeatures
  ) -> String? {
    let lwkCPUs = platform.cpuPlan.lwkCPUs
    let lwkRanges = plan.lwk.usableRanges
    guard !lwkCPUs.isEmpty else { return fail("the LWK partition has no CPUs") }
    guard !lwkRanges.isEmpty else { return fail("the LWK partition has no memory") }
    guard SharedRegion.exists else { return fail("there is no shared region for the rings") }

    // Small sizes and physical addresses below 2^52: rounding cannot overflow.
    let privateBytes = PhysicalRange.alignUp(KernelAddressSpace.privateBytes, to: twoMiB)!
    let tableFrames = KernelAddressSpace.framesNeeded(
      physicalEnd: max(lwkRanges.last!.end, NodeRings.regions.map { $0.range.end }.max() ?? 0),
      ranges: lwkRanges.count + NodeRings.regions.count + 3)
    let imageBytes = privateBytes + PhysicalRange.alignUp(UInt64(tableFrames) * 4096, to: twoMiB)!
    var chosen: PhysicalRange? = nil
    for range in lwkRanges {
      guard let start = PhysicalRange.alignUp(range.base, to: twoMiB) else { continue }
      if start + imageBytes <= range.end && start + imageBytes <= lowLimit {
        chosen = PhysicalRange(base: start, length: imageBytes)
        break
      }
    }
    guard let region = chosen, let destination = PhysicalMemory.pointer(region.base) else {
      return fail("no 2 MiB aligned \(formatSize(imageBytes)) of LWK memory below 4 GiB")
    }

    // A fresh instance: .data as the loader placed it, .bss zeroed.
    let dataBytes = Int(symbol___data_end() - symbol___data_start())
    destination.initializeMemory(
      as: UInt8.self, repeating: 0, count: Int(KernelAddressSpace.privateBytes))
    destination.copyMemory(
      from: UnsafeRawPointer(bitPattern: UInt(symbol_pristine_data()))!, byteCount: dataBytes)

    var next = region.base + privateBytes
    let layout = KernelAddressSpaceLayout(
      privatePhysical: region.base,
      directMap: lwkRanges + NodeRings.regions.map { $0.range } + [
        SharedRegion.range,
        PhysicalRange(base: SMP.trampolinePage, length: 4096),
        PhysicalRange(base: platform.topology.localAPICAddress & ~0xFFF, length: 4096),
      ],
      largest: features.hugePages ? .huge : .large)
    let built = KernelAddressSpace.build(layout) {
      guard next < region.end else { return nil }
      defer { next += 4096 }
      return next
    }
    guard case .success(let table) = built else {
      return fail("cannot build the LWK instance's page tables")
    }

    image = Image(region: region, pageTableRoot: table.root, lwkRanges: lwkRanges)
    return nil
  }

  /// The per-machine facts the LWK instance needs, and its own memory map:
  /// its usable memory by NUMA node, with the loaded image reserved.
  static func handoffBlock(
    platform: PlatformState, lwkRanges: [PhysicalRange], imageRegion: PhysicalRange
  ) -> HandoffBlock {
    var cpus: [HandoffBlock.CPU] = []
    for descriptor in platform.topology.cpus {
      let isLWK = descriptor.enabled && platform.cpuPlan.partition(of: descriptor.index) == .lwk
      cpus.append(
        HandoffBlock.CPU(
          index: UInt32(descriptor.index), apicID: descriptor.apicID,
          node: UInt32(descriptor.node), partition: isLWK ? .lwk : .service))
    }
    var map: [HandoffBlock.MapEntry] = []
    for range in lwkRanges {
      for piece in split(range, around: imageRegion) {
        for (node, part) in byNode(piece.range, platform.topology) {
          map.append(
            HandoffBlock.MapEntry(
              base: part.base, length: part.length, type: piece.isImage ? 2 : 1,
              node: UInt32(node)))
        }
      }
    }
    for region in NodeRings.regions {
      map.append(
        HandoffBlock.MapEntry(
          base: region.range.base, length: region.range.length, type: HandoffBlock.MapEntry.rings,
          node: UInt32(region.node)))
    }
    map.sort { $0.base < $1.base }
    return HandoffBlock(
      tscKHz: Clock.tscKHz, apicTicksPerMillisecond: Clock.apicTicksPerMillisecond,
      localAPICBase: platform.topology.localAPICAddress, cpus: cpus, lwkMap: map,
      lwkImage: imageRegion, sharedRegion: SharedRegion.range,
      kernelImage: PhysicalRange(
        base: symbol___text_start() - KernelAddressSpace.kernelVirtualBase,
        end: symbol___data_start() - KernelAddressSpace.kernelVirtualBase),
      flags: 0)
  }

  /// `range` cut into the parts outside and inside the image region.
  static func split(_ range: PhysicalRange, around image: PhysicalRange) -> [(
    range: PhysicalRange, isImage: Bool
  )] {
    guard range.overlaps(image) else { return [(range, false)] }
    var parts: [(range: PhysicalRange, isImage: Bool)] = []
    if range.base < image.base {
      parts.append((PhysicalRange(base: range.base, end: image.base), false))
    }
    parts.append(
      (PhysicalRange(base: max(range.base, image.base), end: min(range.end, image.end)), true))
    if image.end < range.end {
      parts.append((PhysicalRange(base: image.end, end: range.end), false))
    }
    return parts
  }

  /// `range` cut by the NUMA nodes' memory (node 0 for what no node claims).
  static func byNode(_ range: PhysicalRange, _ topology: Topology) -> [(Int, PhysicalRange)] {
    var parts: [(Int, PhysicalRange)] = []
    var position = range.base
    while position < range.end {
      var node = 0
      var end = range.end
      for candidate in topology.nodes {
        for memory in candidate.memory {
          if memory.contains(position) {
            node = candidate.id
            end = min(end, memory.end)
          } else if memory.base > position {
            end = min(end, memory.base)
          }
        }
      }
      parts.append((node, PhysicalRange(base: position, end: end)))
      position = end
    }
    return parts
  }

  /// Writes the hand-off block, starts the LWK partition's first CPU on
  /// the prepared image and waits, bounded, for the instance to say it is
  /// up. Returns boot-log lines.
  static func start(_ lwkCPUs: [Processor], platform: PlatformState) -> [String] {
    guard let first = lwkCPUs.first else { return [] }
    guard let image else {
      for cpu in lwkCPUs { cpu.state = .parked }
      return ["LWK CPUs park: " + (absence ?? "no LWK instance was prepared")]
    }
    let block = handoffBlock(
      platform: platform, lwkRanges: image.lwkRanges, imageRegion: image.region)
    let bytes = UnsafeMutableRawBufferPointer(
      start: SharedRegion.pointer(SharedRegion.handoffOffset), count: SharedRegion.handoffBytes)
    guard block.encode(into: bytes) != nil else {
      for cpu in lwkCPUs { cpu.state = .parked }
      return [fail("the hand-off block does not fit in its \(SharedRegion.handoffBytes) bytes")]
    }
    guard LWKControl.formatQueues(), FunctionShipping.format(lwkCPUs: lwkCPUs) else {
      for cpu in lwkCPUs { cpu.state = .parked }
      return [fail("cannot format the control queues in the shared region")]
    }
    LWKControl.server = first
    SharedRegion.lwkState = .booting
    let launch = SMP.Launch(
      pageTableRoot: image.pageTableRoot, stackTop: symbol_boot_stack_top(), entry: lwkBootEntry,
      argument: SharedRegion.base + SharedRegion.handoffOffset)
    guard SMP.start(first, launch) else {
      SharedRegion.lwkState = .failed
      first.state = .failed
      return ["LWK instance: CPU \(first.index) did not start; the LWK partition stays down"]
    }
    // The instance builds its allocator (time grows with its memory) and
    // starts its other CPUs itself, each with a bounded wait.
    let limit = SMP.reportMicroseconds * UInt64(lwkCPUs.count) + 5_000_000
    let deadline = x86_rdtsc() + Clock.cycles(microseconds: limit)
    while SharedRegion.lwkState == .booting && x86_rdtsc() < deadline { x86_pause() }
    switch SharedRegion.lwkState {
    case .up:
      for cpu in lwkCPUs { cpu.tscKHz = Clock.tscKHz }  // per machine: one calibration
      return []
    case .failed: return ["LWK instance: failed while starting (see its messages above)"]
    default: return ["LWK instance: did not report in; the LWK partition stays down"]
    }
  }

  static func fail(_ reason: String) -> String {
    absence = reason
    return "no LWK instance: " + reason
  }

}
