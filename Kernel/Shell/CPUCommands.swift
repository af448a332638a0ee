import Synchronization
import X86

/// `cpus`, `numa`, `parts` and `ipi`: the machine's processors, NUMA nodes,
/// the partition plan, and remote-call round trips.
enum CPUCommands {
  static func cpus(_ arguments: [String]) {
    guard arguments.isEmpty else {
      print("usage: cpus")
      return
    }
    guard let platform else {
      print("no topology")
      return
    }
    print("cpu  apic  acpi  node  partition  state     tsc kHz     bring-up cycles  ticks")
    for descriptor in platform.topology.cpus {
      let cpu = descriptor.index < processors.count ? processors[descriptor.index] : nil
      let partition = platform.cpuPlan.partition(of: descriptor.index)?.description ?? "-"
      let state = descriptor.enabled ? (cpu?.state.description ?? "offline") : "disabled"
      let bringUp =
        descriptor.isBootCPU
        ? "boot CPU" : cpu.map { $0.bringUpCycles > 0 ? String($0.bringUpCycles) : "-" } ?? "-"
      print(
        String(descriptor.index).padded(to: 5) + String(descriptor.apicID).padded(to: 6)
          + String(descriptor.acpiProcessorID).padded(to: 6) + String(descriptor.node).padded(to: 6)
          + partition.padded(to: 11) + state.padded(to: 10)
          + String(cpu?.tscKHz ?? 0).padded(to: 12) + bringUp.padded(to: 17)
          + String(cpu?.ticks.load(ordering: .relaxed) ?? 0))
    }
    for scheduler in Scheduler.perCPU {
      guard let scheduler else { continue }
      print(
        "scheduler on CPU \(scheduler.cpu): \(scheduler.switches) switches, \(scheduler.fastIPC) by the IPC fast path, running \(scheduler.current.name), \(scheduler.ready.count) ready"
      )
    }
    print(
      "local APIC: \(LocalAPIC.x2APIC ? "x2APIC" : "xAPIC") at \(hex(LocalAPIC.physicalBase)); unexpected interrupts: \(unexpectedInterrupts)"
    )
  }

  static func numa(_ arguments: [String]) {
    guard arguments.isEmpty else {
      print("usage: numa")
      return
    }
    guard let topology = platform?.topology else {
      print("no topology")
      return
    }
    for node in topology.nodes {
      print("node \(node.id): CPUs \(cpuList(node.cpus)), memory \(formatSize(node.memoryBytes))")
      for range in node.memory {
        print("  " + hex(range.base) + "-" + hex(range.end &- 1) + "  " + formatSize(range.length))
      }
    }
    if let distances = topology.distances {
      var header = "distances:"
      for node in topology.nodes { header += " " + String(node.id).padded(to: 4) }
      print(header)
      for (i, row) in distances.enumerated() {
        var line =
          "  node " + String(i < topology.nodes.count ? topology.nodes[i].id : i).padded(to: 4)
        for value in row { line += String(value).padded(to: 5) }
        print(line)
      }
    } else {
      print("distances: none (no SLIT)")
    }
    for note in topology.notes { print("note: \(note)") }
  }

  static func parts(_ arguments: [String]) {
    guard arguments.isEmpty else {
      print("usage: parts")
      return
    }
    guard let platform else {
      print("no partition plan")
      return
    }
    for line in platform.summary?.lines ?? ["no memory plan"] { print(line) }
    for message in platform.cpuPlan.messages { print("note: \(message)") }
  }

  static func cpuList(_ cpus: [Int]) -> String {
    var list = CPUList()
    for cpu in cpus { list.insert(cpu) }
    return cpus.isEmpty ? "none" : list.description
  }

  static func ipi(_ arguments: [String]) {
    guard (1...2).contains(arguments.count), let target = ShellCommand.parseUnsigned(arguments[0]),
      target < UInt64(Int.max)
    else {
      print("usage: ipi CPU [N]")
      return
    }
    var rounds: UInt64 = 100
    if arguments.count == 2 {
      guard let n = ShellCommand.parseUnsigned(arguments[1]), n >= 1, n <= 100_000 else {
        print("usage: ipi CPU [N]   (1 <= N <= 100000)")
        return
      }
      rounds = n
    }
    let cpu = Int(target)
    guard cpu != Processor.currentIndex else {
      print("error: CPU \(cpu) is this CPU; pick another")
      return
    }
    var samples: [UInt64] = []
    samples.reserveCapacity(Int(rounds))
    for i in 0..<rounds {
      let start = x86_rdtsc()
      switch RemoteCall.run(on: cpu, echoPlusOne, i) {
      case .success(let answer):
        let cycles = x86_rdtsc() - start
        guard answer == i + 1 else {
          print("error: CPU \(cpu) answered \(answer) to \(i)")
          return
        }
        samples.append(cycles)
      case .failure(let error):
        print("error: \(error.description)")
        return
      }
    }
    let destination = "CPU \(cpu) (node \(processors[cpu].node), \(processors[cpu].partitionName))"
    print(
      "ipi: CPU \(Processor.currentIndex) -> \(destination): \(rounds) round trips, each answer checked"
    )
    print(BenchmarkFigure(samples: samples).line("ipi: round trip to \(destination)"))
  }

}

/// The remote function `ipi` runs: proves the target really executed it.
let echoPlusOne: RemoteFunction = { $0 &+ 1 }
