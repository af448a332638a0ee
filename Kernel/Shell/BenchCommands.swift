import X86

/// `bench`: in-kernel micro-benchmarks timed with rdtsc. Under QEMU
/// `-icount shift=0` the TSC advances one tick per guest instruction, so the
/// figures become exact instruction counts.
enum BenchCommands {
  static let usage = "usage: bench alloc [N] | bench ipc [N] [CPU]"

  static func bench(_ arguments: [String]) {
    if arguments.first == "ipc" {
      ipc(Array(arguments.dropFirst()))
      return
    }
    guard arguments.first == "alloc", arguments.count <= 2 else {
      print(usage)
      return
    }
    var rounds: UInt64 = 10_000
    if arguments.count == 2 {
      guard let n = ShellCommand.parseUnsigned(arguments[1]), n > 0, n <= 10_000_000 else {
        print("usage: bench alloc [N]   (1 <= N <= 10000000)")
        return
      }
      rounds = n
    }
    guard memory.frames != nil else {
      print("bench: no service frame allocator")
      return
    }
    // N pairs in batches of N/10 (at least 1): each sample is the mean
    // cost of a pair over one batch, so one rdtsc pair times many pairs.
    let batches = min(rounds, 10)
    let perBatch = rounds / batches
    print("bench: \(batches) batches of \(perBatch) pairs each; a sample is a batch's mean")
    /// `batches` means of `perBatch` pairs each; nil when a pair failed.
    func figure(_ pairs: (UInt64) -> UInt64?) -> BenchmarkFigure? {
      var samples: [UInt64] = []
      for _ in 0..<batches {
        guard let cycles = pairs(perBatch) else { return nil }
        samples.append(cycles / perBatch)
      }
      return BenchmarkFigure(samples: samples)
    }
    for (order, label) in [(0, "4 KiB"), (9, "2 MiB")] {
      guard let frames = figure({ framePairs(order: order, rounds: $0) }) else {
        print("bench: no free block of \(label)")
        return
      }
      print(frames.line("bench: \(label) frame alloc+free, per pair"))
    }
    guard let heap = figure(heapPairs) else {
      print("bench: the kernel heap has no 64 B block")
      return
    }
    print(heap.line("bench: 64 B kernel heap alloc+free, per pair"))
  }

  /// TSC ticks for `rounds` allocate/free pairs of one block order, each
  /// under the allocator's lock (as the kernel's own allocations are).
  static func framePairs(order: Int, rounds: UInt64) -> UInt64? {
    let start = x86_rdtsc()
    for _ in 0..<rounds {
      let pair = Frames.withServiceAllocator { allocator -> Bool in
        guard let frame = allocator.allocate(order: order) else { return false }
        _ = allocator.free(frame)
        return true
      }
      guard pair == true else { return nil }
    }
    return x86_rdtsc() - start
  }

  /// TSC ticks for `rounds` 64-byte kernel-heap pairs, each under the
  /// heap's lock, as every allocation is: a program on another CPU may be
  /// allocating too.
  static func heapPairs(rounds: UInt64) -> UInt64? {
    let start = x86_rdtsc()
    for _ in 0..<rounds {
      let interrupts = HeapLock.lock()
      let block = kernelHeap.allocate(size: 64)
      if let block { _ = kernelHeap.free(block) }
      HeapLock.unlock(interrupts)
      if block == nil { return nil }
    }
    return x86_rdtsc() - start
  }

  /// `bench ipc [N] [CPU]`: runs the ipcbench program (N iterations per
  /// figure; CPU is the second service CPU for the cross-CPU figures).
  static func ipc(_ arguments: [String]) {
    guard arguments.count <= 2 else {
      print(usage)
      return
    }
    var rounds: UInt64 = 1000
    if let text = arguments.first {
      guard let n = ShellCommand.parseUnsigned(text), n >= 10, n <= 1_000_000 else {
        print("usage: bench ipc [N] [CPU]   (10 <= N <= 1000000)")
        return
      }
      rounds = n
    }
    var other = -1
    if arguments.count == 2 {
      guard let cpu = ShellCommand.parseUnsigned(arguments[1]), cpu < 4096 else {
        print(usage)
        return
      }
      other = Int(cpu)
    } else {
      // The next service CPU after this one, if there is one.
      for cpu in 0..<Scheduler.perCPU.count where cpu != Processor.currentIndex {
        if Scheduler.perCPU[cpu] != nil {
          other = cpu
          break
        }
      }
    }
    let argument = String(rounds) + (other >= 0 ? " " + String(other) : "")
    print(
      ProcessRunner.run(
        "ipcbench", argument: argument, cpu: Processor.currentIndex, background: false))
  }
}
