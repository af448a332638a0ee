/// `run`, `ps` and `lsmod`: user programs from the boot modules.
enum ProcessCommands {
  static func run(_ arguments: [String]) {
    guard let name = arguments.first else {
      print("usage: run MODULE [ARGUMENT...]")
      return
    }
    var argument = ""
    for (i, word) in arguments.dropFirst().enumerated() { argument += (i > 0 ? " " : "") + word }
    print(ProcessRunner.run(name, argument: argument))
  }

  static func ps(_ arguments: [String]) {
    guard arguments.isEmpty else {
      print("usage: ps")
      return
    }
    print("pid  name          state")
    if let process = ProcessRunner.current {
      print(String(process.pid).padded(to: 5) + process.name.padded(to: 14) + "running")
    }
    for entry in ProcessRunner.history.suffix(20) {
      print(String(entry.pid).padded(to: 5) + entry.name.padded(to: 14) + entry.status)
    }
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
