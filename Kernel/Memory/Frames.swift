/// This instance's frames for every CPU it runs, behind one lock, since
/// system calls on several CPUs allocate at once. The service instance has
/// one buddy allocator over its partition. The LWK instance has one per NUMA
/// node of its partition (mOS: process memory comes from the node of the CPU
/// the process runs on): a request is served from the preferred node — the
/// node of the CPU a process is being loaded for, else of the current CPU —
/// and from the others only when that node is out of memory.
/// Shell diagnostics (`memtest`, `vmtest`, `bench alloc`) use the service
/// allocator itself, through `withServiceAllocator`, under the same lock: a
/// program on another CPU may be allocating while they run.
enum Frames {
  static let lock = IRQSpinLock()

  /// Allocations and frees so far, under `lock` (and per CPU in
  /// `Processor.frameOperationsHere`): a shell diagnostic, which no thread
  /// preempts, compares the allocator's statistics before and after only
  /// when no other CPU used it meanwhile.
  nonisolated(unsafe) private(set) static var operations: UInt64 = 0

  /// The service allocator's statistics with the operation counts, read
  /// together under the lock.
  struct ServiceSnapshot {
    let statistics: BuddyStatistics
    let ranges: Int
    let operations: UInt64
    let operationsHere: UInt64

    /// Operations by other CPUs between `self` and `later`.
    func othersUntil(_ later: ServiceSnapshot) -> UInt64 {
      (later.operations &- operations) &- (later.operationsHere &- operationsHere)
    }
  }

  /// One node's share of the LWK partition.
  struct Node {
    let node: Int
    let ranges: [PhysicalRange]
    var allocator: FrameAllocator
  }

  /// Set while a process is loaded for a CPU: its frames come from that
  /// CPU's node.
  nonisolated(unsafe) static var loadingForNode: Int? = nil

  static func allocate(order: Int = 0) -> UInt64? {
    take { $0.allocate(order: order) }
  }

  /// `count` physically contiguous frames filled with zeros (the LWK's
  /// process memory); free the run with `free(base)`.
  static func zeroedRun(_ count: Int) -> UInt64? {
    guard let base = take({ $0.allocate(frames: count) }), let start = PhysicalMemory.pointer(base)
    else { return nil }
    start.initializeMemory(as: UInt8.self, repeating: 0, count: count * 4096)
    return base
  }

  /// A frame filled with zeros.
  static func zeroed() -> UInt64? {
    guard let frame = allocate(), let page = PhysicalMemory.pointer(frame) else { return nil }
    page.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
    return frame
  }

  static func free(_ frame: UInt64) {
    let interrupts = lock.lock()
    defer { lock.unlock(interrupts) }
    count()
    if let index = nodeIndex(of: frame) {
      _ = memory.nodes[index].allocator.free(frame)
    } else {
      _ = memory.frames?.free(frame)
    }
  }

  /// Free frames of every allocator of this instance.
  static var freeFrames: Int {
    let interrupts = lock.lock()
    defer { lock.unlock(interrupts) }
    var total = memory.frames?.statistics.freeFrames ?? 0
    for node in memory.nodes { total += node.allocator.statistics.freeFrames }
    return total
  }

  /// Runs `body` on the service partition's allocator under the lock (nil
  /// when this instance has none); every call counts as one operation.
  static func withServiceAllocator<Result>(_ body: (inout FrameAllocator) -> Result) -> Result? {
    let interrupts = lock.lock()
    defer { lock.unlock(interrupts) }
    guard memory.frames != nil else { return nil }
    count()
    return body(&memory.frames!)
  }

  /// Nothing allocates under `lock` (the kernel heap grows by taking it),
  /// so the statistics are copied into room made before.
  static var serviceSnapshot: ServiceSnapshot? {
    var statistics = BuddyStatistics.zeroed(orders: FrameAllocator.maxOrder + 1)
    let interrupts = lock.lock()
    defer { lock.unlock(interrupts) }
    guard memory.frames != nil else { return nil }
    memory.frames!.copyStatistics(into: &statistics)
    return ServiceSnapshot(
      statistics: statistics, ranges: memory.frames!.ranges.count, operations: operations,
      operationsHere: Processor.frameOperationsHere)
  }

  /// Each LWK node's allocator statistics, read under the lock (see
  /// `serviceSnapshot`), with its node and number of ranges.
  static var nodeSnapshots: [(node: Int, ranges: Int, statistics: BuddyStatistics)] {
    var snapshots = memory.nodes.map {
      (
        node: $0.node, ranges: $0.ranges.count,
        statistics: BuddyStatistics.zeroed(orders: FrameAllocator.maxOrder + 1)
      )
    }
    let interrupts = lock.lock()
    defer { lock.unlock(interrupts) }
    for index in snapshots.indices {
      memory.nodes[index].allocator.copyStatistics(into: &snapshots[index].statistics)
    }
    return snapshots
  }

  /// Under `lock`.
  private static func count() {
    operations &+= 1
    Processor.frameOperationsHere &+= 1
  }

  /// The NUMA node a frame of this instance's memory sits on.
  static func node(of frame: UInt64) -> Int? {
    nodeIndex(of: frame).map { memory.nodes[$0].node }
  }

  /// Runs `body` on the preferred node's allocator first, then the others.
  private static func take(_ body: (inout FrameAllocator) -> UInt64?) -> UInt64? {
    let interrupts = lock.lock()
    defer { lock.unlock(interrupts) }
    count()
    guard !memory.nodes.isEmpty else {
      guard memory.frames != nil else { return nil }
      return body(&memory.frames!)
    }
    let cpu = Processor.currentIndex
    let preferred = loadingForNode ?? (cpu < processors.count ? processors[cpu].node : 0)
    if let first = memory.nodes.firstIndex(where: { $0.node == preferred }),
      let frame = body(&memory.nodes[first].allocator)
    {
      return frame
    }
    for index in memory.nodes.indices where memory.nodes[index].node != preferred {
      if let frame = body(&memory.nodes[index].allocator) { return frame }
    }
    return nil
  }

  private static func nodeIndex(of frame: UInt64) -> Int? {
    memory.nodes.firstIndex { node in node.ranges.contains { $0.contains(frame) } }
  }
}
