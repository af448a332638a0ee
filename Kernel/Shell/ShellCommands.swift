import X86

/// One shell command: its name, its usage and one line of help.
struct ShellCommandEntry {
  let name: String
  let usage: String
  let summary: String
  let run: ([String]) -> Void
}

enum ShellCommands {
  static let all: [ShellCommandEntry] = [
    ShellCommandEntry(
      name: "help", usage: "help [COMMAND]", summary: "list the commands, or one command's usage",
      run: help),
    ShellCommandEntry(name: "echo", usage: "echo [WORD...]", summary: "print the words", run: echo),
    ShellCommandEntry(
      name: "bootinfo", usage: "bootinfo [raw]",
      summary: "boot loader, command line and modules (raw: hex dump of the block)", run: bootinfo),
    ShellCommandEntry(
      name: "memmap", usage: "memmap", summary: "the firmware memory map as parsed", run: memmap),
    ShellCommandEntry(
      name: "mem", usage: "mem [mark|since]",
      summary: "memory maps, the partitions and allocators; mark/since: what is held since a mark",
      run: MemoryCommands.mem),
    ShellCommandEntry(
      name: "memtest", usage: "memtest [N]",
      summary: "allocate, fill, check and free N random blocks of service memory",
      run: MemoryCommands.memtest),
    ShellCommandEntry(
      name: "run", usage: "run [-c CPU] MODULE [ARG...] [&]",
      summary: "run a user program from a boot module (on a service CPU; & = don't wait)",
      run: ProcessCommands.run),
    ShellCommandEntry(
      name: "eps", usage: "eps [NODE]",
      summary: "DTU endpoints: id, kind, node, owner, label, credits, slots used, and each ring",
      run: DTUCommands.eps),
    ShellCommandEntry(
      name: "dtu", usage: "dtu [stats]",
      summary: "the DTUs: ring regions by node, endpoints, wakes and sleeps", run: DTUCommands.dtu),
    ShellCommandEntry(
      name: "caps", usage: "caps PID",
      summary: "a process's capabilities: slot, object, rights, label, derived-from",
      run: ProcessCommands.caps),
    ShellCommandEntry(
      name: "kill", usage: "kill PID", summary: "stop a running process", run: ProcessCommands.kill),
    ShellCommandEntry(
      name: "wait", usage: "wait PID", summary: "wait for a background process to end",
      run: ProcessCommands.wait),
    ShellCommandEntry(
      name: "ps", usage: "ps", summary: "threads and processes: id, CPU, priority, state",
      run: ProcessCommands.ps),
    ShellCommandEntry(
      name: "lsmod", usage: "lsmod", summary: "the boot modules with their sizes",
      run: ProcessCommands.lsmod),
    ShellCommandEntry(
      name: "cpus", usage: "cpus", summary: "CPUs: APIC ID, node, partition, state, TSC kHz",
      run: CPUCommands.cpus),
    ShellCommandEntry(
      name: "numa", usage: "numa", summary: "NUMA nodes: CPUs, memory, SLIT distances",
      run: CPUCommands.numa),
    ShellCommandEntry(
      name: "parts", usage: "parts",
      summary: "the partition plan: CPUs and memory per partition and where they came from",
      run: CPUCommands.parts),
    ShellCommandEntry(
      name: "lwk", usage: "lwk [SUBCOMMAND ...]",
      summary:
        "the LWK instance: status, run, wait, ps, kill, caps, mem, ping, poke, crash, restart (lwk ?)",
      run: LWKCommands.lwk),
    ShellCommandEntry(
      name: "triage", usage: "triage",
      summary: "LWK system calls served locally or shipped, messages and doorbells",
      run: LWKCommands.triage),
    ShellCommandEntry(
      name: "poke", usage: "poke ADDRESS",
      summary: "read a physical address through the service instance's page tables",
      run: LWKCommands.servicePoke),
    ShellCommandEntry(
      name: "ipi", usage: "ipi CPU [N]",
      summary: "N remote-call round trips to a CPU: min/median/max cycles", run: CPUCommands.ipi),
    ShellCommandEntry(
      name: "acpi", usage: "acpi [dump SIG]",
      summary: "ACPI tables with addresses, lengths and checksums; dump one in hex",
      run: ACPICommands.acpi),
    ShellCommandEntry(
      name: "vmtest", usage: "vmtest",
      summary: "build an address space, map 4 KiB and 2 MiB pages, switch to it, unmap, destroy",
      run: AddressSpaceCommands.vmtest),
    ShellCommandEntry(
      name: "bench", usage: "bench alloc [N] | bench ipc [N] [CPU]",
      summary: "time frame and heap alloc+free, or run ipcbench (rdtsc ticks)",
      run: BenchCommands.bench),
    ShellCommandEntry(
      name: "fault", usage: "fault pf|ud|gp|de|stack|wx|nx|free",
      summary: "raise that exception on purpose to show the panic report", run: fault),
    ShellCommandEntry(
      name: "poweroff", usage: "poweroff", summary: "switch the machine off (ACPI S5)",
      run: poweroff),
  ]

  /// The usage column is as wide as the widest usage that fits in 40
  /// columns; a longer usage gets a line of its own, so every summary
  /// starts in the same column.
  static func help(_ arguments: [String]) {
    if let name = arguments.first {
      guard arguments.count == 1, let command = all.first(where: { $0.name == name }) else {
        print(
          arguments.count == 1
            ? "help: no command \"\(name)\" (help lists them)" : "usage: help [COMMAND]")
        return
      }
      print("usage: \(command.usage)")
      print("  \(command.summary)")
      return
    }
    let width = all.map { $0.usage.utf8.count }.filter { $0 <= 40 }.max() ?? 0
    for command in all {
      if command.usage.utf8.count > width {
        print("  " + command.usage)
        print("  " + "".padded(to: width) + " " + command.summary)
      } else {
        print("  \(command.usage.padded(to: width)) \(command.summary)")
      }
    }
  }

  static func echo(_ arguments: [String]) {
    var line = ""
    for (i, word) in arguments.enumerated() {
      if i > 0 { line += " " }
      line += word
    }
    print(line)
  }

  static func bootinfo(_ arguments: [String]) {
    if let error = boot.bootInfoError {
      print("boot information unusable: \(error)")
      return
    }
    guard let info = boot.bootInfo else {
      print("no boot information")
      return
    }
    if arguments.first == "raw" {
      dumpHex(address: boot.bootInfoAddress, count: info.totalSize)
      return
    }
    guard arguments.isEmpty else {
      print("usage: bootinfo [raw]")
      return
    }
    print("loader:       \(info.bootLoaderName ?? "(not given)")")
    print("command line: \(info.commandLine ?? "")")
    for option in boot.commandLine.options { print("  option \(option.description)") }
    for warning in boot.commandLine.warnings { print("  warning: \(warning)") }
    for error in boot.commandLine.errors { print("  error: \(error.description)") }
    print("boot info:    \(hex(boot.bootInfoAddress)), \(info.totalSize) bytes")
    if info.modules.isEmpty { print("modules:      none") }
    for (i, module) in info.modules.enumerated() {
      print(
        "module \(i):     \(hex(UInt64(module.start)))-\(hex(UInt64(module.end))) \(formatSize(UInt64(module.size))) \"\(module.commandLine)\""
      )
    }
    if let rsdp = info.rsdp {
      print(
        "ACPI RSDP:    copy at \(hex(boot.bootInfoAddress + UInt64(rsdp.offset))), \(rsdp.length) bytes"
      )
    }
  }

  static func memmap(_ arguments: [String]) {
    guard arguments.isEmpty else {
      print("usage: memmap")
      return
    }
    guard let info = boot.bootInfo else {
      print("no memory map (boot information unusable)")
      return
    }
    printMemoryMap(info.memoryMap)
  }

  static func fault(_ arguments: [String]) {
    guard arguments.count == 1 else {
      print("usage: fault pf|ud|gp|de|stack|wx|nx|free")
      return
    }
    switch arguments[0] {
    case "pf":
      // An address in the unmapped lower half above the identity map.
      UnsafeMutablePointer<UInt64>(bitPattern: 0x0000_7000_0000_0000)!.pointee = 1
    case "ud": x86_ud2()
    case "gp": x86_load_noncanonical()
    case "de": x86_divide_by_zero()
    case "stack": print(x86_overflow_stack(1))
    case "wx":
      // Kernel text is mapped read-only: this write must fault.
      UnsafeMutablePointer<UInt8>(bitPattern: UInt(symbol___text_start()))!.pointee = 0x90
    case "nx":
      // Data is mapped no-execute: jumping into it must fault.
      x86_call_address(symbol___data_start())
    case "free":
      // Instances share no heap: freeing memory of the other partition's
      // instance must stop the kernel with a report naming both.
      guard let lwk = KernelInstance.lwkMemory.first else {
        print("error: there is no LWK memory to free")
        return
      }
      tesseraFree(
        UnsafeMutableRawPointer(bitPattern: UInt(PhysicalMemory.directMapBase + lwk.base)))
    default:
      print("error: unknown fault kind \"\(arguments[0])\" (pf, ud, gp, de, stack, wx, nx, free)")
    }
  }

  static func poweroff(_ arguments: [String]) {
    PowerOff.run()
  }

  static func dumpHex(address: UInt64, count: Int) {
    guard let view = PhysicalMemory.view(address, count) else {
      print("error: \(hex(address)) is not in the direct map")
      return
    }
    var offset = 0
    while offset < count {
      var line = hex(address + UInt64(offset), digits: 8) + ":"
      for i in offset..<min(offset + 16, count) {
        let byte = view.u8(i) ?? 0
        line += (byte < 16 ? " 0" : " ") + String(byte, radix: 16)
      }
      print(line)
      offset += 16
    }
  }
}
