import X86

/// The LWK kernel instance: the same kernel binary, started by the service
/// instance's loader (LWKLoader.swift) on the LWK partition's first CPU with
/// a private `.data`/`.bss` of its own. From the hand-off block alone it
/// builds everything a kernel instance has: its heap (the early arena in its
/// own `.bss`), frame allocator (from its partition's E820-style map), page
/// tables, IDT, per-CPU blocks and GDT/TSS (on its heap), and it starts the
/// rest of its partition's CPUs itself. mOS policies: no timer and no device
/// interrupts on its CPUs, only the IPIs it asks for.
enum LWKInstance {
  /// This instance's view of the machine, decoded from the hand-off block.
  nonisolated(unsafe) static var handoff: HandoffBlock? = nil

  /// The LWK boot CPU's path: never returns.
  static func boot(cpu index: Int, handoff physical: UInt64) -> Never {
    KernelInstance.kind = .lwk
    initializeKernelHeap()
    // Until the block is read, the direct map is only known to reach it.
    SharedRegion.base = physical - SharedRegion.handoffOffset
    SharedRegion.bytes = SharedRegion.minimumBytes
    PhysicalMemory.directMapSize = SharedRegion.base + SharedRegion.minimumBytes
    guard let view = PhysicalMemory.view(physical, SharedRegion.handoffBytes) else {
      stop(index, "the hand-off block is not mapped")
    }
    let block: HandoffBlock
    switch HandoffBlock.decode(view) {
    case .success(let decoded): block = decoded
    case .failure(let error): stop(index, "malformed hand-off block: " + error.description)
    }
    handoff = block
    SharedRegion.base = block.sharedRegion.base
    SharedRegion.bytes = block.sharedRegion.length
    var end = block.sharedRegion.end
    for entry in block.lwkMap { end = max(end, entry.base + entry.length) }
    PhysicalMemory.directMapSize = max(end, block.localAPICBase + 4096)
    KernelInstance.lwkMemory = block.lwkMap.filter { $0.type != HandoffBlock.MapEntry.rings }.map {
      PhysicalRange(base: $0.base, length: $0.length)
    }
    NodeRings.adopt(
      block.ringRegions.map {
        NodeMemoryRange(node: Int($0.node), range: PhysicalRange(base: $0.base, length: $0.length))
      })
    DTU.start()
    Clock.tscKHz = block.tscKHz
    Clock.apicTicksPerMillisecond = block.apicTicksPerMillisecond

    bootDescriptorTables = DescriptorTables(
      doubleFaultStackTop: symbol_ist_df_stack_top(), nmiStackTop: symbol_ist_nmi_stack_top())
    interruptTable = InterruptTable()
    interruptTable!.load()
    var list: [Processor] = []
    for cpu in block.cpus {
      list.append(
        Processor(
          index: Int(cpu.index), apicID: cpu.apicID, node: Int(cpu.node),
          isService: cpu.partition == .service))
    }
    processors = list
    guard index < processors.count, !processors[index].isService else {
      stop(index, "started on a CPU the hand-off block does not give the LWK")
    }
    let me = processors[index]
    me.tables = bootDescriptorTables
    me.installPerCPUBlock()
    // Reported in: the loader now waits for the whole instance (`.up`).
    me.state = .online
    UserMode.enableOnThisCPU()
    LocalAPIC.choose(physicalBase: block.localAPICBase)
    LocalAPIC.enable()
    LocalAPIC.maskTimer()
    me.tscKHz = Clock.tscKHz

    let links = DirectMapLinkStorage(base: PhysicalMemory.pointer(0)!)
    // One allocator per node of its own map (mOS: node-local memory).
    var byNode: [(node: Int, ranges: [PhysicalRange])] = []
    for entry in block.lwkMap where entry.type == HandoffBlock.MapEntry.usable {
      let range = PhysicalRange(base: entry.base, length: entry.length)
      if let index = byNode.firstIndex(where: { $0.node == Int(entry.node) }) {
        byNode[index].ranges.append(range)
      } else {
        byNode.append((Int(entry.node), [range]))
      }
    }
    memory.nodes = byNode.map {
      Frames.Node(
        node: $0.node, ranges: $0.ranges,
        allocator: FrameAllocator(ranges: $0.ranges, storage: links))
    }
    kernelHeap.grow = growKernelHeap
    if let problem = LWKControl.attachQueues() { stop(index, "control queues: " + problem) }
    let serviceBoot = block.cpus.first { $0.partition == .service }?.apicID ?? 0
    if let problem = FunctionShipping.attach(serviceBootAPIC: serviceBoot) {
      stop(index, "function shipping: " + problem)
    }
    KernelAddressSpace.table = PageTable(
      root: x86_read_cr3() & 0x000F_FFFF_FFFF_F000,
      memory: DirectMapTableMemory { Frames.allocate() })
    SMP.trampolineReady = true
    // The same scheduler as the service's, without a tick: this context
    // becomes the control thread.
    Scheduler.perCPU = Array(repeating: nil, count: processors.count)
    Scheduler.startOnThisCPU(bootName: "lwk-control", bootIsIdle: false)
    LWKControl.server = me

    let others = processors.filter { !$0.isService && $0.index != index }
    for line in SMP.start(others, entry: lwkAPEntry) { print("lwk: \(line)") }
    SharedRegion.lwkState = .up
    report()
    LWKControl.serve()
  }

  /// The instance's first words on the console.
  static func report() {
    let cpus = processors.filter { !$0.isService && $0.state == .online }.map { $0.index }
    let free = Frames.freeFrames
    let nodes = memory.nodes.map { $0.node }
    print(
      "lwk: kernel instance up on CPUs \(CPUCommands.cpuList(cpus)): \(formatSize(UInt64(free) * 4096)) free in its own frame allocators (nodes \(CPUCommands.cpuList(nodes))), tickless"
    )
  }

  /// An LWK CPU with nothing to run sleeps until an IPI it asked for (the
  /// interrupt's end switches to a thread placed here).
  static func idle() -> Never {
    while true { x86_sti_hlt() }
  }

  /// Gives up on the instance: says why, tells the service side, stops.
  static func stop(_ cpu: Int, _ reason: String) -> Never {
    SharedRegion.lwkState = .failed
    Panic.halt(because: "LWK instance on CPU \(cpu): " + reason)
  }
}

/// Where the trampoline lands on the LWK boot CPU (the loader starts it).
let lwkBootEntry: @convention(c) (UInt64, UInt64) -> Void = { index, handoff in
  LWKInstance.boot(cpu: Int(index), handoff: handoff)
}

/// Where the trampoline lands on the LWK instance's other CPUs.
let lwkAPEntry: @convention(c) (UInt64, UInt64) -> Void = { index, _ in
  let cpu = processors[Int(index)]
  SMP.joinInstance(cpu)
  LocalAPIC.maskTimer()
  Scheduler.startOnThisCPU(bootName: "idle", bootIsIdle: true)
  cpu.state = .online
  LWKInstance.idle()
}
