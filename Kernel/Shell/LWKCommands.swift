import X86

/// `lwk ...` and `poke`: the LWK kernel instance seen from the service
/// shell. Everything but `lwk status` is a request over the control queue
/// (Kernel/Instance/LWKControl.swift); the LWK instance answers, and prints
/// what it has to show itself.
enum LWKCommands {
  static let usage = "usage: lwk [status] | lwk ping [N] | lwk mem | lwk poke ADDRESS [VALUE]"

  static func lwk(_ arguments: [String]) {
    guard let sub = arguments.first else { return status() }
    let rest = Array(arguments.dropFirst())
    switch sub {
    case "status" where rest.isEmpty: status()
    case "ping": ping(rest)
    case "mem" where rest.isEmpty: mem()
    case "poke": poke(rest)
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
    if let image = LWKLoader.image {
      print(
        "  private .data/.bss and boot page tables: \(hex(image.region.base))-\(hex(image.region.end - 1)) (\(formatSize(image.region.length)))"
      )
      print(
        "  shared region: \(hex(SharedRegion.base))-\(hex(SharedRegion.base + SharedRegion.bytes - 1)) (\(formatSize(SharedRegion.bytes)))"
      )
    }
    if let requests = LWKControl.requests {
      let s = requests.statistics
      print("  control requests: \(s.enqueued), doorbells rung: \(s.ipisRequested)")
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
    samples.sort()
    print(
      "lwk ping: CPU \(Processor.currentIndex) -> LWK CPU \(answeringCPU): \(rounds) round trips, \(doorbells) doorbells, cycles min \(samples[0]) median \(samples[samples.count / 2]) max \(samples[samples.count - 1])"
    )
  }

  static func mem() {
    if case .failure(let failure) = LWKControl.call(.memory, (0, 0, 0, 0)) {
      print("error: \(failure.description)")
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
