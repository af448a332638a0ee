/// This instance's frames for every CPU it runs, behind one lock, since
/// system calls on several CPUs allocate at once. The service instance has
/// one buddy allocator over its partition. The LWK instance has one per NUMA
/// node of its partition (mOS: process memory comes from the node of the CPU
/// the process runs on): a request is served from the preferred node — the
/// node of the CPU a process is being loaded for, else of the current CPU —
/// and from the others only when that node is out of memory.
/// (Shell diagnostics such as `memtest` and `bench alloc` use the service
/// allocator directly: they measure it, and run on the boot CPU.)
enum Frames {
  static let lock = IRQSpinLock()

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

  /// The NUMA node a frame of this instance's memory sits on.
  static func node(of frame: UInt64) -> Int? {
    nodeIndex(of: frame).map { memory.nodes[$0].node }
  }

  /// Runs `body` on the preferred node's allocator first, then the others.
  private static func take(_ body: (inout FrameAllocator) -> UInt64?) -> UInt64? {
    let interrupts = lock.lock()
    defer { lock.unlock(interrupts) }
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
