import X86

/// `mem` and `memtest`: the memory maps, the partition split and the
/// allocators, and a self-test of the service partition's frame allocator.
/// Programs on other CPUs allocate while these run, so every allocator is
/// read and used under its own lock (Frames.lock, HeapLock).
enum MemoryCommands {
  static func rangeLine(_ range: PhysicalRange, _ what: String) -> String {
    "  " + hex(range.base) + "-" + hex(range.end &- 1) + "  "
      + formatSize(range.length).padded(to: 11)
      + " " + what
  }

  /// What `mem mark` saw: free service frames, capability-system counts
  /// and kernel-heap bytes in use.
  nonisolated(unsafe) static var mark:
    (frames: Int, capabilities: Int, objects: Int, spaces: Int, heap: Int)? =
      nil

  static func current() -> (frames: Int, capabilities: Int, objects: Int, spaces: Int, heap: Int) {
    let system = KernelLock.held {
      (
        ProcessCapabilities.system.capabilityCount, ProcessCapabilities.system.objectCount,
        ProcessCapabilities.system.spaceCount
      )
    }
    return (Frames.freeFrames, system.0, system.1, system.2, heapStatistics.bytesInUse)
  }

  static var heapStatistics: KernelHeapStatistics {
    let interrupts = HeapLock.lock()
    defer { HeapLock.unlock(interrupts) }
    return kernelHeap.statistics
  }

  /// What a diagnostic says of the service allocator's statistics: equal
  /// before and after is only meaningful when nobody else used it meanwhile.
  static func comparison(before: Frames.ServiceSnapshot, after: Frames.ServiceSnapshot) -> String {
    let others = before.othersUntil(after)
    guard others == 0 else {
      return "statistics not compared (\(others) allocator operations by other CPUs meanwhile)"
    }
    return before.statistics == after.statistics ? "statistics match" : "statistics DIFFER"
  }

  static func mem(_ arguments: [String]) {
    if arguments == ["mark"] {
      ProcessRunner.reap()
      let now = current()
      mark = now
      print(
        "mem: marked: \(now.frames) \(KernelInstance.kind.name) frames free, \(now.capabilities) capabilities, \(now.objects) objects, \(now.spaces) spaces"
      )
      return
    }
    if arguments == ["since"] {
      guard let before = mark else {
        print("mem: no mark (mem mark first)")
        return
      }
      ProcessRunner.reap()
      let now = current()
      print(
        "mem: since the mark: \(before.frames - now.frames) frames, \(now.capabilities - before.capabilities) capabilities, \(now.objects - before.objects) objects, \(now.spaces - before.spaces) spaces held; kernel heap \(now.heap - before.heap) bytes more"
      )
      return
    }
    guard arguments.isEmpty else {
      print("usage: mem [mark|since]")
      return
    }
    guard let plan = memory.plan else {
      print("no memory plan (the memory map was unusable: see the boot log)")
      return
    }
    print("normalized firmware map (\(memory.firmware.entries.count) regions):")
    for region in memory.firmware.entries {
      print(rangeLine(region.range, region.kind.description))
    }
    print(
      "usable: \(formatSize(memory.firmware.usableBytes)) (\(memory.firmware.usableBytes) bytes)")
    print("reserved by the kernel:")
    for (range, reason) in memory.reserved.reservedRanges where reason != .firmware {
      print(rangeLine(range, reason.description))
    }
    print(
      "service partition: \(formatSize(plan.serviceBytes)) (\(plan.serviceBytes) bytes, \(plan.source.description))"
    )
    for range in plan.service.usableRanges { print(rangeLine(range, "service")) }
    print("LWK partition: \(formatSize(plan.lwkBytes)) (\(plan.lwkBytes) bytes)")
    for range in plan.lwk.usableRanges { print(rangeLine(range, "LWK")) }
    if plan.unassignedBytes > 0 { print("unassigned: \(formatSize(plan.unassignedBytes))") }
    if let service = Frames.serviceSnapshot {
      print(
        "service frame allocator: " + service.statistics.description(rangeCount: service.ranges))
    }
    if plan.lwkBytes > 0 {
      print("LWK frame allocator: the LWK instance's own (lwk mem shows it)")
    }
    let heap = heapStatistics
    print(
      "kernel heap: \(heap.arenas) arenas, \(formatSize(UInt64(heap.totalPages) * 4096)), \(formatSize(UInt64(heap.bytesInUse))) in use by \(heap.allocations) allocations"
    )
  }

  /// Random blocks from the service partition, each filled with a pattern
  /// derived from its address and checked before it is freed. The allocator's
  /// statistics must be the same before and after.
  static func memtest(_ arguments: [String]) {
    var count: UInt64 = 1000
    if let word = arguments.first {
      guard arguments.count == 1, let n = ShellCommand.parseUnsigned(word), n > 0, n <= 10_000_000
      else {
        print("usage: memtest [N]   (1 <= N <= 10000000 blocks)")
        return
      }
      count = n
    }
    guard let before = Frames.serviceSnapshot else {
      print("memtest: no service frame allocator")
      return
    }
    print(
      "before: \(before.statistics.freeFrames) of \(before.statistics.totalFrames) frames free, largest block order \(before.statistics.largestFreeOrder ?? -1)"
    )
    func free(_ address: UInt64) -> Result<Void, BuddyError> {
      Frames.withServiceAllocator { $0.free(address) }!
    }
    var live: [(address: UInt64, frames: Int)] = []
    var state = x86_rdtsc() | 1
    func random() -> UInt64 {
      state ^= state << 13
      state ^= state >> 7
      state ^= state << 17
      return state
    }
    var allocated: UInt64 = 0
    var failures = 0
    var corrupt = 0
    for _ in 0..<count {
      // Mostly small blocks; keep at most 64 alive so the test also frees.
      if live.count >= 64 || (!live.isEmpty && random() % 3 == 0) {
        let block = live.remove(at: Int(random() % UInt64(live.count)))
        if !check(block.address, frames: block.frames) { corrupt += 1 }
        if case .failure(let error) = free(block.address) {
          print("memtest: free failed: \(error.description)")
          failures += 1
        }
      }
      let frames = Int(1 + (random() % 100 < 90 ? random() % 4 : random() % 300))
      guard let address = Frames.withServiceAllocator({ $0.allocate(frames: frames) })!
      else { continue }
      fill(address, frames: frames)
      live.append((address, frames))
      allocated += 1
    }
    for block in live {
      if !check(block.address, frames: block.frames) { corrupt += 1 }
      if case .failure = free(block.address) { failures += 1 }
    }
    let after = Frames.serviceSnapshot!
    print(
      "after:  \(after.statistics.freeFrames) of \(after.statistics.totalFrames) frames free, largest block order \(after.statistics.largestFreeOrder ?? -1)"
    )
    print(
      "memtest: \(allocated) blocks allocated and freed, \(corrupt) corrupted, \(failures) failed frees; \(comparison(before: before, after: after))"
    )
  }

  static func pattern(_ address: UInt64) -> UInt64 { address &* 0x9E37_79B9_7F4A_7C15 ^ 0x5A5A }

  static func fill(_ address: UInt64, frames: Int) {
    let words = PhysicalMemory.pointer(address)!.bindMemory(to: UInt64.self, capacity: frames * 512)
    // First and last word of every frame: enough to catch overlapping blocks.
    for frame in 0..<frames {
      words[frame * 512] = pattern(address + UInt64(frame) * 4096)
      words[frame * 512 + 511] = ~pattern(address + UInt64(frame) * 4096)
    }
  }

  static func check(_ address: UInt64, frames: Int) -> Bool {
    let words = PhysicalMemory.pointer(address)!.bindMemory(to: UInt64.self, capacity: frames * 512)
    for frame in 0..<frames {
      let p = pattern(address + UInt64(frame) * 4096)
      if words[frame * 512] != p || words[frame * 512 + 511] != ~p { return false }
    }
    return true
  }
}
