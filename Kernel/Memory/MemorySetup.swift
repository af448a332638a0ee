import X86

/// A partition's frame allocator, its free lists kept in RAM through the direct map.
typealias FrameAllocator = BuddyAllocator<DirectMapLinkStorage>

/// The memory the boot CPU set up: the firmware map as normalized, the map
/// with the kernel's reservations, the mOS-style partition plan and one frame
/// allocator per partition.
struct MemoryState {
  var firmware = MemoryMap.normalize([])
  var reserved = MemoryMap.normalize([])
  var bootRegions: BootRegions? = nil
  var pageTablePool: PhysicalRange? = nil
  var plan: MemoryPartitionPlan? = nil
  var service: FrameAllocator? = nil
  var lwk: FrameAllocator? = nil
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
      kernelImage: kernelImage, bootInformation: bootInformation, modules: modules,
      ringBytes: boot.commandLine.ringMemory)
  } catch {
    print("memory: \(error.description); continuing without it")
    map.reserve(kernelImage, reason: .kernelImage)
    map.reserve(bootInformation, reason: .bootInformation)
    for (i, module) in modules.enumerated() { map.reserve(module, reason: .module(i)) }
  }

  let end = physicalEnd(memory.firmware)
  let tableFrames = UInt64(KernelAddressSpace.framesNeeded(physicalEnd: end))
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
/// with the NUMA constraint the CPU plan asks for), switch to the kernel's own
/// page tables (W^X, all RAM in the direct map), then build the partitions'
/// allocators and let the heap grow from the service partition.
func partitionMemory(request: MemoryPartitionRequest, features: CPUFeatures) {
  guard let pool = memory.pageTablePool else { return }
  let end = physicalEnd(memory.firmware)
  let plan = MemoryPartitionPlan(splitting: memory.reserved, request: request)
  for message in plan.messages { print("boot: \(message)") }
  memory.plan = plan

  var next = pool.base
  let switched = KernelAddressSpace.build(physicalEnd: end, features: features) {
    // The boot pool first; once the allocators exist, service frames (new
    // kernel mappings such as CPU stacks need tables after boot).
    guard next < pool.end else { return Frames.allocate() }
    defer { next += 4096 }
    return next
  }
  if case .failure(let error) = switched {
    Panic.halt(because: "cannot build the kernel page tables: " + error.description)
  }

  let links = DirectMapLinkStorage(base: PhysicalMemory.pointer(0)!)
  memory.service = FrameAllocator(ranges: plan.service.usableRanges, storage: links)
  kernelHeap.grow = growKernelHeap
  memory.lwk = FrameAllocator(ranges: plan.lwk.usableRanges, storage: links)
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

/// New heap arenas are whole blocks of service-partition frames.
func growKernelHeap(_ bytes: Int) -> (UnsafeMutableRawPointer, Int)? {
  var order = 0
  while (4096 << order) < bytes && order < FrameAllocator.maxOrder { order += 1 }
  guard (4096 << order) >= bytes, let frame = Frames.allocate(order: order),
    let pointer = PhysicalMemory.pointer(frame)
  else { return nil }
  return (pointer, 4096 << order)
}
