import X86

/// What the LWK instance does for each control request (LWKControl.swift).
/// Output the user asked for (`lwk mem`, a poke's fault) the instance
/// prints itself: COM1 is per machine, and the service shell waits for the
/// reply before it prints its prompt.
enum LWKRequests {
  static func handle(_ request: ControlMessage) -> ControlMessage {
    switch request.kind {
    case .ping:
      return .reply(
        .ok, tag: request.tag, (request.words.0 &+ 1, UInt64(Processor.currentIndex), 0, 0))
    case .memory:
      switch request.words.0 {
      case 1: MemoryCommands.mem(["mark"])
      case 2:
        ProcessRunner.reap()
        MemoryCommands.mem(["since"])
      default: printMemory()
      }
      return .reply(.ok, tag: request.tag)
    case .poke:
      return poke(request)
    case .run: return run(request)
    case .start: return start(request)
    case .state: return state(request)
    case .kill: return kill(request)
    case .processes:
      processes()
      return .reply(.ok, tag: request.tag)
    case .capabilities:
      capabilities(request)
      return .reply(.ok, tag: request.tag)
    case .triage:
      triage()
      return .reply(.ok, tag: request.tag)
    case .dtuConnect:
      let reply = OtherInstance.reply(fromWord: request.words.3)
      let connected = KernelLock.held {
        DTU.connectFromOtherInstance(
          name: request.words.0, credits: Int(min(request.words.1, 1 << 20)),
          label: request.words.2, reply: reply)
      }
      switch connected {
      case .success(let (ring, channel)):
        return .reply(.ok, tag: request.tag, (ring, UInt64(channel), 0, 0))
      case .failure(let error):
        return .reply(.refused, tag: request.tag, (UInt64(bitPattern: error.rawValue), 0, 0, 0))
      }
    case .dtuRelease:
      let unread = KernelLock.held {
        DTU.releaseFromOtherInstance(ring: request.words.0, channel: Int(request.words.1))
      }
      guard let unread else { return .reply(.refused, tag: request.tag) }
      return .reply(.ok, tag: request.tag, (unread, 0, 0, 0))
    case .dtuWake:
      KernelLock.held { DTU.wakeFromOtherInstance(ring: request.words.0) }
      return .reply(.ok, tag: request.tag)
    case .dtuDeactivate:
      OtherInstance.serveDeactivate(ring: request.words.0, channel: request.words.1)
      return .reply(.ok, tag: request.tag)
    case .endpoints:
      if request.words.1 == 1 {
        DTUCommands.dtu([], prefix: "lwk: ")
      } else {
        let node = request.words.0 == 0 ? [] : [String(request.words.0 - 1)]
        DTUCommands.eps(node, prefix: "lwk: ")
      }
      return .reply(.ok, tag: request.tag)
    case .capabilityBundle:
      // Served with its bundle by LWKControl.answer; without one it is garbage.
      return .reply(.refused, tag: request.tag)
    case .crash:
      // Carried out by LWKControl.answer once the reply is on its way.
      guard (1...4).contains(request.words.0) else { return .reply(.refused, tag: request.tag) }
      return .reply(.ok, tag: request.tag)
    case nil:
      print("lwk: unknown control request \(request.code); refused")
      return .reply(.refused, tag: request.tag)
    }
  }

  /// `lwk mem`: the instance's own map, allocator and heap.
  static func printMemory() {
    guard let block = LWKInstance.handoff else { return }
    print("lwk: memory map from the hand-off block (\(block.lwkMap.count) entries):")
    for entry in block.lwkMap {
      let kind =
        switch entry.type {
        case HandoffBlock.MapEntry.usable: "usable"
        case HandoffBlock.MapEntry.rings: "DTU rings (shared)"
        default: "LWK instance image"
        }
      print(
        "lwk:   \(hex(entry.base))-\(hex(entry.base + entry.length - 1))  \(formatSize(entry.length).padded(to: 10))  node \(entry.node)  \(kind)"
      )
    }
    for node in Frames.nodeSnapshots {
      print(
        "lwk: frame allocator, node \(node.node): "
          + node.statistics.description(rangeCount: node.ranges))
    }
    let heap = MemoryCommands.heapStatistics
    print(
      "lwk: kernel heap: \(heap.arenas) arenas, \(formatSize(UInt64(heap.totalPages) * 4096)), \(formatSize(UInt64(heap.bytesInUse))) in use by \(heap.allocations) allocations"
    )
  }

  /// `lwk poke`: touch a physical address through this instance's direct
  /// map. Service-partition memory is not mapped here, so that faults; the
  /// fault is reported and the instance carries on.
  static func poke(_ request: ControlMessage) -> ControlMessage {
    let physical = request.words.0
    let write = request.words.1 == 1
    let (virtual, overflow) = PhysicalMemory.directMapBase.addingReportingOverflow(physical)
    guard !overflow, physical < (1 << 52) else {
      print("lwk: poke: \(hex(physical)) is not a physical address; refused")
      return .reply(.refused, tag: request.tag)
    }
    let outcome: Result<UInt64, Probe.Fault> =
      write ? Probe.write(virtual, request.words.2).map { request.words.2 } : Probe.read(virtual)
    switch outcome {
    case .success(let value):
      return .reply(.ok, tag: request.tag, (value, 0, 0, 0))
    case .failure(let fault):
      print(
        "lwk: CPU \(Processor.currentIndex): \(exceptionName(fault.vector)) \(write ? "writing" : "reading") \(hex(fault.address)) (physical \(hex(physical))): not mapped by the LWK instance; the instance carries on"
      )
      return .reply(.faulted, tag: request.tag, (fault.vector, fault.address, fault.errorCode, 0))
    }
  }
}

/// The process requests: `lwk run`, its wait, `lwk ps`, `lwk kill`,
/// `lwk caps`, `triage`.
extension LWKRequests {
  /// Where `lwk run` stages a program: its name, its argument string, and
  /// the ELF image from the first page boundary on.
  static let stagedNameOffset: UInt64 = 0
  static let stagedArgumentOffset: UInt64 = 256
  static let stagedImageOffset: UInt64 = 4096
  static let stagedStringLimit: UInt64 = 255

  static func run(_ request: ControlMessage) -> ControlMessage {
    ProcessRunner.reap()
    let (imageLength, nameLength, argumentLength, wanted) = request.words
    func refuse(_ error: SystemCallError) -> ControlMessage {
      .reply(.refused, tag: request.tag, (UInt64(bitPattern: error.rawValue), 0, 0, 0))
    }
    guard nameLength >= 1, nameLength <= stagedStringLimit, argumentLength <= stagedStringLimit,
      imageLength <= UInt64(SharedRegion.stagingBytes) - stagedImageOffset,
      let staging = SharedRegion.pointer(SharedRegion.stagingOffset)
    else { return refuse(.badLength) }
    let name = string(staging + Int(stagedNameOffset), Int(nameLength))
    let argument = string(staging + Int(stagedArgumentOffset), Int(argumentLength))
    let image = ByteView(
      base: UnsafeRawPointer(staging + Int(stagedImageOffset)), count: Int(imageLength))
    let cpu = wanted == UInt64.max ? leastLoadedCPU() : Int(truncatingIfNeeded: wanted)
    let started = KernelLock.held {
      ProcessRunner.start(
        name, argument: argument, cpu: cpu, parent: nil, image: image, startNow: false)
    }
    switch started {
    case .success(let process):
      loaded.append(process)
      return .reply(.ok, tag: request.tag, (UInt64(process.pid), UInt64(cpu), 0, 0))
    case .failure(let error):
      print("lwk: run \(name): \(error.description)")
      return refuse(error.code)
    }
  }

  /// Loaded by `run`, waiting for `start`.
  nonisolated(unsafe) static var loaded: [Process] = []

  static func start(_ request: ControlMessage) -> ControlMessage {
    let pid = Int(truncatingIfNeeded: request.words.0)
    guard let index = loaded.firstIndex(where: { $0.pid == pid }) else {
      return .reply(.refused, tag: request.tag)
    }
    let process = loaded.remove(at: index)
    if let thread = process.threads.first { Scheduler.start(thread) }
    return .reply(.ok, tag: request.tag)
  }

  static func string(_ base: UnsafeMutableRawPointer, _ count: Int) -> String {
    String(decoding: UnsafeRawBufferPointer(start: base, count: count), as: UTF8.self)
  }

  /// mOS placement: the LWK CPU running the fewest threads (the control
  /// thread counts on its CPU, so programs go elsewhere when they can).
  /// A process that has ended counts for nothing, even while its last
  /// thread is still on its way out: otherwise a program started just after
  /// another ended would tie with the control thread's CPU and share it.
  static func leastLoadedCPU() -> Int {
    var best = -1
    var bestCount = Int.max
    for cpu in processors where !cpu.isService && cpu.state == .online {
      guard ProcessRunner.isServiceCPU(cpu.index) else { continue }
      var count = cpu.index == LWKControl.serverIndex ? 1 : 0
      for process in ProcessRunner.live where process.exitStatus == nil {
        count += process.threads.filter { $0.cpu == cpu.index && $0.state != .dead }.count
      }
      if count < bestCount {
        best = cpu.index
        bestCount = count
      }
    }
    return best
  }

  static func state(_ request: ControlMessage) -> ControlMessage {
    let pid = Int(truncatingIfNeeded: request.words.0)
    let found = KernelLock.held {
      (ProcessRunner.live.first { $0.pid == pid }, ProcessRunner.history.entry(pid: pid))
    }
    guard let process = found.0 else {
      guard let ended = found.1 else {
        return .reply(.ok, tag: request.tag, (1, 0, 0, 1))
      }
      print("lwk: process \(pid) (\(ended.name)) \(ended.status)")
      return .reply(.ok, tag: request.tag, (1, 0, 0, 0))
    }
    guard let status = process.exitStatus, ProcessRunner.isFinished(process) else {
      return .reply(.ok, tag: request.tag, (0, 0, 0, 0))
    }
    let code = process.exitCode.map { UInt64(bitPattern: $0) } ?? 0
    print("lwk: process \(pid) (\(process.name)) \(status)")
    ProcessRunner.reap()
    return .reply(.ok, tag: request.tag, (1, code, process.exitCode == nil ? 0 : 1, 0))
  }

  static func kill(_ request: ControlMessage) -> ControlMessage {
    print("lwk: " + ProcessRunner.kill(Int(truncatingIfNeeded: request.words.0)))
    ProcessRunner.reap()
    return .reply(.ok, tag: request.tag)
  }

  /// `lwk ps`: each process with its threads' CPUs and states, and its
  /// memory by page size.
  static func processes() {
    ProcessRunner.reap()
    print("lwk: pid  name          threads  cpu  state     memory")
    for process in ProcessRunner.live {
      let threads = process.threads.filter { $0.state != .dead }
      let cpus = CPUCommands.cpuList(threads.map { $0.cpu })
      let state =
        process.exitStatus == nil ? (threads.first?.state.description ?? "ended") : "ending"
      print(
        "lwk: " + String(process.pid).padded(to: 5) + process.name.padded(to: 14)
          + String(threads.count).padded(to: 9) + cpus.padded(to: 5) + state.padded(to: 10)
          + process.space.pageSummary)
    }
    for entry in KernelLock.held({ ProcessRunner.history.newest(4) }) {
      print(
        "lwk: " + String(entry.pid).padded(to: 5) + entry.name.padded(to: 14) + "ended: "
          + entry.status)
    }
  }

  static func capabilities(_ request: ControlMessage) {
    ProcessCommands.caps([String(request.words.0)])
  }

  static func triage() {
    for line in TriageCounts.total.lines() { print("lwk: " + line) }
  }
}
