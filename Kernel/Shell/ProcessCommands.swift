/// `run`, `ps` and `lsmod`: user programs from the boot modules.
enum ProcessCommands {
  static let runUsage = "usage: run [-c CPU] MODULE [ARGUMENT...] [&]"

  static func run(_ arguments: [String]) {
    var words = arguments
    var cpu = Processor.currentIndex
    if words.first == "-c" {
      guard words.count >= 2, let n = ShellCommand.parseUnsigned(words[1]), n < 4096 else {
        print(runUsage)
        return
      }
      cpu = Int(n)
      words.removeFirst(2)
    }
    var background = false
    if words.last == "&" {
      background = true
      words.removeLast()
    }
    guard let name = words.first else {
      print(runUsage)
      return
    }
    var argument = ""
    for (i, word) in words.dropFirst().enumerated() { argument += (i > 0 ? " " : "") + word }
    print(ProcessRunner.run(name, argument: argument, cpu: cpu, background: background))
  }

  static func caps(_ arguments: [String]) {
    guard arguments.count == 1, let pid = ShellCommand.parseUnsigned(arguments[0]) else {
      print("usage: caps PID")
      return
    }
    guard let process = ProcessRunner.live.first(where: { UInt64($0.pid) == pid }) else {
      print("caps: no running process \(pid)")
      return
    }
    print("process \(process.pid) (\(process.name)):")
    for line in ProcessCapabilities.lines(for: process) { print("  " + line) }
  }

  static func kill(_ arguments: [String]) {
    if let pid = onePID(arguments, "kill") { print(ProcessRunner.kill(pid)) }
  }

  static func wait(_ arguments: [String]) {
    if let pid = onePID(arguments, "wait") { print(ProcessRunner.wait(pid)) }
  }

  /// The single PID argument of `command`; nil, after its usage line, when
  /// there is not exactly one that parses.
  private static func onePID(_ arguments: [String], _ command: String) -> Int? {
    guard arguments.count == 1, let pid = ShellCommand.parseUnsigned(arguments[0]), pid < 1 << 31
    else {
      print("usage: \(command) PID")
      return nil
    }
    return Int(pid)
  }

  static func ps(_ arguments: [String]) {
    guard arguments.isEmpty else {
      print("usage: ps")
      return
    }
    ProcessRunner.reap()
    print("pid  tid  name          cpu  prio  state")
    for scheduler in Scheduler.perCPU {
      guard let scheduler else { continue }
      for thread in [scheduler.current] where thread.process == nil {
        print(
          "-    " + String(thread.tid).padded(to: 5) + thread.name.padded(to: 14)
            + String(thread.cpu).padded(to: 5) + String(thread.priority).padded(to: 6)
            + "kernel thread, " + thread.state.description)
      }
    }
    // Other CPUs start, end and reap processes meanwhile: the lines are
    // made under the lock and printed after it.
    var lines: [String] = []
    KernelLock.held {
      for process in ProcessRunner.live {
        for thread in process.threads {
          var state = thread.state.description
          if thread.state == .blocked, thread.ipc.pointee.state != .none { state += " in IPC" }
          if let status = process.exitStatus, thread.state == .dead { state = status }
          lines.append(
            String(process.pid).padded(to: 5) + String(thread.tid).padded(to: 5)
              + process.name.padded(to: 14)
              + String(thread.cpu).padded(to: 5) + String(thread.priority).padded(to: 6)
              + state)
        }
      }
      for entry in ProcessRunner.history.newest(20) {
        lines.append(
          String(entry.pid).padded(to: 5) + "-    " + entry.name.padded(to: 14) + "-    -     "
            + entry.status)
      }
    }
    for line in lines { print(line) }
  }

  static func lsmod(_ arguments: [String]) {
    guard arguments.isEmpty else {
      print("usage: lsmod")
      return
    }
    guard let modules = boot.bootInfo?.modules, !modules.isEmpty else {
      print("no modules")
      return
    }
    for module in modules {
      print(
        module.commandLine.padded(to: 14) + formatSize(UInt64(module.size)).padded(to: 11)
          + hex(UInt64(module.start)) + "-" + hex(UInt64(module.end) &- 1))
    }
  }
}
