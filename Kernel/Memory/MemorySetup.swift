import X86

/// A partition's frame allocator, its free lists kept in RAM through the direct map.
typealias FrameAllocator = BuddyAllocator<DirectMapLinkStorage>

/// This instance's memory. The service instance also keeps what boot
/// decided: the firmware map as normalized, the map with the kernel's
/// reservations and the mOS-style partition plan. Each instance has one
/// frame allocator over its own partition's memory (the LWK instance builds
/// its own from the hand-off block).
struct MemoryState {
  var firmware = MemoryMap.normalize([])
  var reserved = MemoryMap.normalize([])
  var bootRegions: BootRegions? = nil
  var pageTablePool: PhysicalRange? = nil
  var plan: MemoryPartitionPlan? = nil
  var frames: FrameAllocator? = nil
  /// The LWK instance's allocators, one per NUMA node (see Frames).
  var nodes: [Frames.Node] = []
}

nonisolated(unsafe) var memory = MemoryState()

/// Boot's memory sequence, first half: normalize the firmware map and
/// reserve what must survive (kernel, boot information, modules, first MiB,
/// trampoline, rings, the kernel's page-table pool). False when there is no
/// usable map; boot then stays on the early heap and the boot page tables.
func reserveBootMemory() -> Bool {
  guard let info = boot.bootInfo, !info.memoryMap.isEmpty else {
    print(
      "memory: no memory map from the boot loader; staying on the early heap and boot page tables")
    return false
  }
  memory.firmware = MemoryMap.normalize(info.memoryMap)
  var map = memory.firmware
  let kernelImage = PhysicalRange(
    base: symbol___kernel_phys_start(), end: symbol___kernel_phys_end())
  let bootInformation = PhysicalRange(base: boot.bootInfoAddress, length: UInt64(info.totalSize))
  let modules = info.modules.map { PhysicalRange(base: UInt64($0.start), end: UInt64($0.end)) }
  do {
    memory.bootRegions = try map.reserveBootRegions(
      kernelImage: kernelImage, bootInformation: bootInformation, modules: modules)
  } catch {
    print("memory: \(error.description); continuing without it")
    map.reserve(kernelImage, reason: .kernelImage)
    map.reserve(bootInformation, reason: .bootInformation)
    for (i, module) in modules.enumerated() { map.reserve(module, reason: .module(i)) }
  }

  let end = physicalEnd(memory.firmware)
  // The direct map will have a hole per LWK range; 16 covers any plan.
  let tableFrames = UInt64(KernelAddressSpace.framesNeeded(physicalEnd: end, ranges: 16))
  guard
    let pool = map.reserveLowest(
      size: tableFrames * 4096, alignment: 4096, reason: .pageTables),
    pool.end <= PhysicalMemory.bootDirectMapSize
  else {
    print("memory: no room below 4 GiB for the kernel page tables; staying on the boot page tables")
    return false
  }
  memory.pageTablePool = pool
  memory.reserved = map
  return true
}

/// Second half: split the reserved map between the partitions (mOS style,
/// with the NUMA constraint the CPU plan asks for), format the shared region,
/// place the LWK instance's image (while the boot tables still reach LWK
/// memory), switch to the service instance's own page tables (W^X, a direct
/// map of all memory but the LWK partition's), then build the service
/// partition's frame allocator and let the heap grow from it.
func partitionMemory(request: MemoryPartitionRequest, features: CPUFeatures) {
  guard let pool = memory.pageTablePool else { return }
  let end = physicalEnd(memory.firmware)
  // Each node's DTU ring region comes first, so that whichever partition
  // gets the node's memory, the rings stay outside both allocators.
  let (rings, missing) = memory.reserved.reserveNodeRingRegions(
    bytes: boot.commandLine.ringMemory ?? NodeRings.defaultBytes, nodes: request.nodeMemory)
  NodeRings.adopt(rings)
  DTU.start()
  for region in rings {
    print("boot: DTU rings of node \(region.node): \(region.range.description)")
  }
  for node in missing { print("boot: node \(node) has no room for its DTU rings") }
  let plan = MemoryPartitionPlan(splitting: memory.reserved, request: request)
  for message in plan.messages { print("boot: \(message)") }
  memory.plan = plan

  if let rings = memory.bootRegions?.rings, !SharedRegion.format(rings) {
    print(
      "boot: the ring region (\(formatSize(rings.length))) is below the \(formatSize(SharedRegion.minimumBytes)) the shared region needs; no LWK instance"
    )
  }
  KernelInstance.lwkMemory = plan.lwk.usableRanges
  if let platform,
    let problem = LWKLoader.prepare(plan: plan, platform: platform, features: features)
  {
    print("boot: \(problem)")
  }

  let twoMiB: UInt64 = 1 << 21
  let top = (max(end, PhysicalMemory.bootDirectMapSize) + twoMiB - 1) & ~(twoMiB - 1)
  let directMap = PhysicalRange(base: 0, end: top).subtracting(KernelInstance.lwkMemory)
  var next = pool.base
  let layout = KernelAddressSpaceLayout.loaded(
    directMap: directMap, largest: features.hugePages ? .huge : .large)
  let switched = KernelAddressSpace.buildAndSwitch(layout) {
    // The boot pool first; once the allocator exists, service frames (new
    // kernel mappings such as CPU stacks need tables after boot).
    guard next < pool.end else { return Frames.allocate() }
    defer { next += 4096 }
    return next
  }
  if case .failure(let error) = switched {
    Panic.halt(because: "cannot build the kernel page tables: " + error.description)
  }
  SMP.trampolineReady = memory.bootRegions?.trampoline.base == SMP.trampolinePage

  let links = DirectMapLinkStorage(base: PhysicalMemory.pointer(0)!)
  memory.frames = FrameAllocator(ranges: plan.service.usableRanges, storage: links)
  kernelHeap.grow = growKernelHeap
}

/// The end of the highest range that holds RAM (usable or ACPI), which the
/// direct map must reach; reserved ranges far up (device windows) do not count.
func physicalEnd(_ map: MemoryMap) -> UInt64 {
  var end: UInt64 = 0
  for region in map.entries {
    switch region.kind {
    case .usable, .acpiReclaimable, .acpiNVS: end = max(end, region.range.end)
    default: break
    }
  }
  return end
}

/// New heap arenas are whole blocks of this instance's frames.
func growKernelHeap(_ bytes: Int) -> (UnsafeMutableRawPointer, Int)? {
  var order = 0
  while (4096 << order) < bytes && order < FrameAllocator.maxOrder { order += 1 }
  guard (4096 << order) >= bytes, let frame = Frames.allocate(order: order),
    let pointer = PhysicalMemory.pointer(frame)
  else { return nil }
  return (pointer, 4096 << order)
}
