import X86

/// `lwk ...` and `poke`: the LWK kernel instance seen from the service
/// shell. Everything but `lwk status` is a request over the control queue
/// (Kernel/Instance/LWKControl.swift); the LWK instance answers, and prints
/// what it has to show itself.
enum LWKCommands {
  static let usage =
    "usage: lwk [status] | lwk run [-c CPU] MODULE [ARG...] [&] | lwk wait PID | lwk ps | lwk kill PID | lwk caps PID | lwk mem [mark|since] | lwk eps [NODE] | lwk dtu | lwk ping [N] | lwk poke ADDRESS [VALUE] | lwk crash panic|hang|corrupt-ring|scribble | lwk restart"

  static func lwk(_ arguments: [String]) {
    guard let sub = arguments.first else { return status() }
    let rest = Array(arguments.dropFirst())
    switch sub {
    case "status" where rest.isEmpty: status()
    case "ping": ping(rest)
    case "mem" where rest.isEmpty: mem()
    case "mem" where rest == ["mark"]: simple(.memory, 1)
    case "mem" where rest == ["since"]: simple(.memory, 2)
    case "poke": poke(rest)
    case "crash": crash(rest)
    case "restart" where rest.isEmpty:
      for line in LWKRestart.restart() { print(line) }
    case "run": run(rest)
    case "ps" where rest.isEmpty: simple(.processes, 0)
    case "eps" where rest.isEmpty: simple(.endpoints, 0)
    case "eps" where rest.count == 1:
      guard let node = ShellCommand.parseUnsigned(rest[0]), node < 1 << 16 else {
        print("usage: lwk eps [NODE]")
        return
      }
      simple(.endpoints, node + 1)
    case "dtu" where rest.isEmpty || rest == ["stats"]:
      if case .failure(let failure) = LWKControl.call(.endpoints, (0, 1, 0, 0)) {
        print("error: \(failure.description)")
      }
    case "wait":
      guard rest.count == 1, let pid = ShellCommand.parseUnsigned(rest[0]) else {
        print("usage: lwk wait PID")
        return
      }
      waitForEnd(pid: pid)
    case "kill", "caps":
      guard rest.count == 1, let pid = ShellCommand.parseUnsigned(rest[0]) else {
        print("usage: lwk \(sub) PID")
        return
      }
      simple(sub == "kill" ? .kill : .capabilities, pid)
    default: print(usage)
    }
  }

  static func status() {
    let lwkCPUs = processors.filter { !$0.isService }
    guard !lwkCPUs.isEmpty else {
      print("LWK instance: none (the LWK partition has no CPUs)")
      return
    }
    let online = lwkCPUs.filter { $0.state == .online }.map { $0.index }
    print(
      "LWK instance: \(SharedRegion.lwkState.description), CPUs \(CPUCommands.cpuList(online)) online of \(CPUCommands.cpuList(lwkCPUs.map { $0.index }))"
    )
    if let absence = LWKLoader.absence { print("  why: \(absence)") }
    if LWKWatchdog.detected != .none {
      print("  failed: \(LWKWatchdog.detected.description)\(LWKWatchdog.detectionText)")
      let taken = LWKWatchdog.contained
      print(
        LWKWatchdog.containmentPending
          ? "  contained: not yet"
          : "  contained: \(taken.ours) send endpoints into its rings and \(taken.theirs) of its channels on ours taken back"
      )
    }
    print(
      "  watchdog: a ping every \(LWKWatchdog.period * 1000 / Timer.hertz) ms, a hang declared after \(LWKWatchdog.missedLimit + 1) pings without a heartbeat; failures detected: \(LWKWatchdog.failures); longest silence \(LWKWatchdog.longestSilence * Int(LWKWatchdog.period) * 1000 / Int(Timer.hertz)) ms"
    )
    if let image = LWKLoader.image {
      print(
        "  private .data/.bss and boot page tables: \(hex(image.region.base))-\(hex(image.region.end - 1)) (\(formatSize(image.region.length)))"
      )
      print(
        "  shared region: \(hex(SharedRegion.base))-\(hex(SharedRegion.base + SharedRegion.bytes - 1)) (\(formatSize(SharedRegion.bytes)))"
      )
    }
    if let requests = LWKControl.requests, let served = SharedRegion.controlWord(0),
      let busy = SharedRegion.controlWord(1)
    {
      let s = requests.statistics
      let now = x86_load_acquire(busy)
      let doing =
        now == 0
        ? "waiting"
        : "serving "
          + (ControlMessage.Kind(rawValue: UInt32(truncatingIfNeeded: now)).map { "\($0)" } ?? "?")
      print(
        "  control requests: \(s.enqueued) sent, \(x86_load_acquire(served)) served, \(s.pending) pending, doorbells rung: \(s.ipisRequested); control thread \(doing)"
      )
    }
  }

  static let crashUsage = "usage: lwk crash panic|hang|corrupt-ring|scribble"

  /// `lwk crash MODE`: fault injection. The LWK instance answers, then
  /// panics, hangs with interrupts off, or answers with a corrupted slot of
  /// its reply queue; the watchdog must notice, and the service carry on.
  static func crash(_ arguments: [String]) {
    let mode: UInt64
    switch arguments.count == 1 ? arguments[0] : "" {
    case "panic": mode = 1
    case "hang": mode = 2
    case "corrupt-ring": mode = 3
    case "scribble": mode = 4
    default:
      print(crashUsage)
      return
    }
    switch LWKControl.call(.crash, (mode, 0, 0, 0)) {
    case .success(let reply) where reply.status == .ok:
      print("lwk crash: the LWK instance acknowledged; the watchdog is to notice")
    case .success: print("lwk crash: refused by the LWK instance")
    case .failure(let failure): print("lwk crash: \(failure.description)")
    }
  }

  /// N control round trips: service CPU -> LWK boot CPU -> back.
  static func ping(_ arguments: [String]) {
    var rounds: UInt64 = 100
    if let text = arguments.first {
      guard arguments.count == 1, let n = ShellCommand.parseUnsigned(text), n >= 1, n <= 100_000
      else {
        print("usage: lwk ping [N]   (1 <= N <= 100000)")
        return
      }
      rounds = n
    }
    var samples: [UInt64] = []
    samples.reserveCapacity(Int(rounds))
    var answeringCPU: UInt64 = 0
    let doorbellsBefore = LWKControl.requests?.statistics.ipisRequested ?? 0
    for i in 0..<rounds {
      let start = x86_rdtsc()
      switch LWKControl.call(.ping, (i, 0, 0, 0)) {
      case .success(let reply):
        let cycles = x86_rdtsc() - start
        guard reply.status == .ok, reply.words.0 == i &+ 1 else {
          print("error: the LWK instance answered \(reply.words.0) to \(i)")
          return
        }
        answeringCPU = reply.words.1
        samples.append(cycles)
      case .failure(let failure):
        print("error: \(failure.description)")
        return
      }
    }
    let doorbells = (LWKControl.requests?.statistics.ipisRequested ?? 0) - doorbellsBefore
    print(
      "lwk ping: CPU \(Processor.currentIndex) -> LWK CPU \(answeringCPU): \(rounds) round trips, \(doorbells) doorbells"
    )
    print(
      BenchmarkFigure(samples: samples).line(
        "lwk ping: control round trip to LWK CPU \(answeringCPU)"))
  }

  static func mem() { simple(.memory, 0) }

  /// A request whose output the LWK instance prints itself.
  static func simple(_ kind: ControlMessage.Kind, _ argument: UInt64) {
    if case .failure(let failure) = LWKControl.call(kind, (argument, 0, 0, 0)) {
      print("error: \(failure.description)")
    }
  }

  /// `triage`: the LWK's system calls, served locally or shipped, and the
  /// shipped messages against the doorbells they rang.
  static func triage(_ arguments: [String]) {
    guard arguments.isEmpty else {
      print("usage: triage")
      return
    }
    simple(.triage, 0)
    print(
      "shipping server (service CPU 0): \(FunctionShipping.served) requests served, \(FunctionShipping.refused) refused, \(FunctionShipping.pendingReads.count) reads waiting for input, \(FunctionShipping.cancelledReads) cancelled"
    )
    let (received, doorbells) = (FunctionShipping.received, FunctionShipping.doorbells)
    print(
      "shipping endpoint: \(received) messages, \(doorbells) doorbells, \(received - min(received, doorbells)) rode on a drain already running"
    )
  }

  static let runUsage = "usage: lwk run [-c CPU] MODULE [ARG...] [&]"

  /// `lwk run`: stage the module in the shared region, have the LWK
  /// instance validate, load and start it, and wait for its end unless `&`.
  static func run(_ arguments: [String]) {
    var words = arguments
    var background = false
    if words.last == "&" {
      background = true
      words.removeLast()
    }
    var cpu = UInt64.max
    if words.first == "-c" {
      guard words.count >= 2, let chosen = ShellCommand.parseUnsigned(words[1]) else {
        print(runUsage)
        return
      }
      cpu = chosen
      words.removeFirst(2)
    }
    guard let name = words.first else {
      print(runUsage)
      return
    }
    var argument = ""
    for (i, word) in words.dropFirst().enumerated() { argument += (i == 0 ? "" : " ") + word }
    guard let module = ProgramLoader.module(named: name) else {
      print("lwk run: no module named \"\(name)\" (see lsmod)")
      return
    }
    if SharedRegion.lwkState == .failed {
      print("lwk run: " + LWKControl.Failure.failed.description)
      return
    }
    guard SharedRegion.lwkState == .up else {
      print(
        "error: there is no LWK instance: "
          + (LWKLoader.absence ?? SharedRegion.lwkState.description))
      return
    }
    let nameBytes = Array(name.utf8)
    let argumentBytes = Array(argument.utf8)
    let room = UInt64(SharedRegion.stagingBytes) - LWKRequests.stagedImageOffset
    guard nameBytes.count <= Int(LWKRequests.stagedStringLimit),
      argumentBytes.count <= Int(LWKRequests.stagedStringLimit)
    else {
      print("lwk run: the name or the arguments are longer than 255 bytes")
      return
    }
    guard UInt64(module.size) <= room,
      let staging = SharedRegion.pointer(SharedRegion.stagingOffset),
      let image = PhysicalMemory.pointer(UInt64(module.start))
    else {
      print(
        "lwk run: \(name) (\(module.size) bytes) does not fit the \(formatSize(room)) staging area")
      return
    }
    nameBytes.withUnsafeBytes { staging.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    argumentBytes.withUnsafeBytes {
      if let base = $0.baseAddress {
        (staging + Int(LWKRequests.stagedArgumentOffset)).copyMemory(
          from: base, byteCount: $0.count)
      }
    }
    (staging + Int(LWKRequests.stagedImageOffset)).copyMemory(
      from: image, byteCount: Int(module.size))
    let request = (
      UInt64(module.size), UInt64(nameBytes.count), UInt64(argumentBytes.count), cpu
    )
    let reply: ControlMessage
    switch LWKControl.call(.run, request) {
    case .success(let answer): reply = answer
    case .failure(let failure):
      print("error: \(failure.description)")
      return
    }
    guard reply.status == .ok else {
      let code = SystemCallError(rawValue: Int64(bitPattern: reply.words.0))
      print("lwk run: \(name): refused by the LWK instance (\(code?.name ?? "unknown reason"))")
      return
    }
    let pid = reply.words.0
    FunctionShipping.knownProcess(Int(pid), true)
    // Said before it runs, so the program's first output comes after.
    if background { print("process \(pid) (\(name)) started on LWK CPU \(reply.words.1)") }
    if case .failure(let failure) = LWKControl.call(.start, (pid, 0, 0, 0)) {
      print("error: \(failure.description)")
      return
    }
    if !background { waitForEnd(pid: pid) }
  }

  /// Polls the LWK instance every 2 ms until the process has ended (it says
  /// how); the doorbells of shipped calls keep arriving on this CPU
  /// meanwhile. The shell waits at a program's priority and yields between
  /// polls, so the programs of its CPU run on: one may be what the LWK
  /// program waits for (its DTU partner).
  static func waitForEnd(pid: UInt64) {
    FunctionShipping.foreground = true
    let scheduler = Scheduler.here
    let shell = scheduler?.current
    let priority = shell?.priority ?? 0
    if let shell { scheduler?.setPriority(shell, ProcessRunner.defaultPriority) }
    defer {
      if let shell { scheduler?.setPriority(shell, priority) }
      FunctionShipping.foreground = false
    }
    while true {
      x86_cli()
      FunctionShipping.inputArrived()  // what was typed ahead
      x86_sti()
      switch LWKControl.call(.state, (pid, 0, 0, 0)) {
      case .success(let reply) where reply.words.3 == 1:
        print("lwk: no process \(pid)")
        return
      case .success(let reply) where reply.words.0 == 1:
        FunctionShipping.knownProcess(Int(pid), false)
        return
      case .success:
        // A short busy wait, not hlt: under -icount a machine whose CPUs
        // all halt lets QEMU's virtual clock run on host time, and the LWK
        // figures measured in the foreground would count host idle time.
        let end = x86_rdtsc() + Clock.cycles(microseconds: 2_000)
        while x86_rdtsc() < end {
          // A racy look first: the switch (interrupts off) only when some
          // thread is ready, so a doorbell is taken at once meanwhile.
          if let scheduler, scheduler.highestReadyPriority >= 0 {
            x86_cli()
            scheduler.reschedule()
            x86_sti()
          }
          x86_pause()
        }
      case .failure(let failure):
        print("error: \(failure.description)")
        return
      }
    }
  }

  /// `lwk poke ADDRESS [VALUE]`: the LWK kernel reads (or writes) a
  /// physical address through its own page tables.
  static func poke(_ arguments: [String]) {
    guard (1...2).contains(arguments.count), let address = ShellCommand.parseUnsigned(arguments[0])
    else {
      print("usage: lwk poke ADDRESS [VALUE]   (a physical address)")
      return
    }
    var value: UInt64 = 0
    if arguments.count == 2 {
      guard let parsed = ShellCommand.parseUnsigned(arguments[1]) else {
        print("usage: lwk poke ADDRESS [VALUE]   (a physical address)")
        return
      }
      value = parsed
    }
    let write: UInt64 = arguments.count == 2 ? 1 : 0
    switch LWKControl.call(.poke, (address, write, value, 0)) {
    case .success(let reply):
      switch reply.status {
      case .ok:
        print(
          write == 1
            ? "lwk poke: wrote \(hex(value)) at \(hex(address))"
            : "lwk poke: \(hex(address)) holds \(hex(reply.words.0))")
      case .faulted:
        print(
          "lwk poke: the LWK instance faulted at \(hex(address)) (\(exceptionName(reply.words.0))) and reported it"
        )
      case .refused, nil: print("lwk poke: refused by the LWK instance")
      }
    case .failure(let failure):
      print("error: \(failure.description)")
    }
  }

  /// `poke ADDRESS`: the service kernel reads a physical address through
  /// its own page tables (LWK memory is not mapped there).
  static func servicePoke(_ arguments: [String]) {
    guard arguments.count == 1, let address = ShellCommand.parseUnsigned(arguments[0]),
      address < (1 << 52)
    else {
      print("usage: poke ADDRESS   (a physical address)")
      return
    }
    switch Probe.read(PhysicalMemory.directMapBase + address) {
    case .success(let value): print("poke: \(hex(address)) holds \(hex(value))")
    case .failure(let fault):
      print(
        "poke: \(exceptionName(fault.vector)) reading \(hex(address)): not mapped by the service instance"
      )
    }
  }
}
