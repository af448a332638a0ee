// `tessera-scenario profile`: boots the kernel under -icount shift=0 with
// QEMU executing one instruction per translation block, turns QEMU's exec
// log on through its monitor just before a shell command and off once the
// command's output has come, and prints where the kernel's instructions went
// on each kind of system call (ExecProfile). This is how the figures of
// `make bench` are taken apart before a fast path is designed.
import ArgumentParser
import Foundation

extension TesseraScenario {
  struct Profile: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Profile the kernel instructions of each system call a shell command causes.",
      discussion: """
        Example: tessera-scenario profile --cmdline maxcpus=2 --module build/user/ipcbench.elf \\
        --send "bench ipc 10" --until "exited with status". The exec log grows by about 80 bytes \\
        per guest instruction while it is on (1.5 GB for 'bench ipc 10'); it is deleted afterwards \\
        unless --keep-log is given.
        """
    )

    @Option(help: "The kernel ELF to boot (default: build/tessera.elf in the repository).")
    var kernel: String?

    @Option(help: "CPUs.")
    var smp = 2

    @Option(help: "Memory, e.g. 256M.")
    var mem = "256M"

    @Option(help: "NUMA nodes (0: no -numa).")
    var numa = 0

    @Option(help: "Kernel command line.")
    var cmdline = ""

    @Option(name: .customLong("module"), help: "A user program to load as a module (repeatable).")
    var modules: [String] = []

    @Option(help: "The shell command to profile.")
    var send: String

    @Option(help: "Output that ends the profiled part.")
    var until: String

    @Option(help: "Seconds allowed for the boot and for the command.")
    var timeout = 300.0

    @Option(help: "How many kinds of kernel entry to print.")
    var top = 8

    @Option(help: "Where QEMU writes the exec log.")
    var log = "build/profile/exec.log"

    @Flag(help: "Keep the exec log.")
    var keepLog = false

    func run() throws {
      Signals.install()
      let environment = RunnerEnvironment(kernel: kernel)
      let isos = ISOCache(environment: environment)
      SessionRegistry.shared.addCleanup { isos.removeAll() }
      defer { isos.removeAll() }
      let iso = try isos.iso(commandLine: cmdline, modules: modules)
      let logPath = RunnerEnvironment.absolute(log, relativeTo: environment.root)
      try FileManager.default.createDirectory(
        atPath: (logPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
      try? FileManager.default.removeItem(atPath: logPath)
      let socket = FileManager.default.temporaryDirectory
        .appendingPathComponent("tessera-monitor-\(UUID().uuidString).sock").path
      defer { try? FileManager.default.removeItem(atPath: socket) }

      let session = QEMUSession(
        executable: environment.qemu,
        arguments: [
          iso, "\(smp)", mem, "\(numa)", "-icount", "shift=0", "-singlestep", "-D", logPath,
        ]
          + ["-monitor", "unix:\(socket),server,nowait"],
        workingDirectory: environment.root)
      try session.start()
      defer { session.stop() }
      let prompt = Array("tessera> ".utf8)
      guard
        case .satisfied = session.wait(
          timeout: timeout, until: { Matching.find(prompt, in: $0, from: 0) })
      else { throw ProfileError("no prompt within \(timeout) s") }
      let monitor = try MonitorSocket(path: socket)
      let start = session.normalizedLength
      try monitor.command("log exec,nochain")
      session.send(Array((send + "\r").utf8))
      let end = Array(until.utf8)
      let outcome = session.wait(timeout: timeout) { Matching.find(end, in: $0, from: start) }
      try monitor.command("log none")
      session.stop()
      guard case .satisfied = outcome else {
        throw ProfileError("'\(until)' did not come within \(timeout) s of '\(send)'")
      }
      defer { if !keepLog { try? FileManager.default.removeItem(atPath: logPath) } }

      let functions = try symbols(environment)
      let profile = ExecProfile(
        symbols: functions, entry: try entryAddress(functions, kernel: environment.kernel))
      let windows = try profile.windows(logPath: logPath)
      print("\(windows.count) kernel entries through syscall_entry while '\(send)' ran")
      let report = ExecProfile.report(ExecProfile.groups(windows), top: top)
      print(demangled(report))
    }

    /// The kernel's functions from `nm -n`.
    private func symbols(_ environment: RunnerEnvironment) throws -> [ExecProfile.Symbol] {
      let run = ToolRun.run(
        "/usr/bin/env", ["nm", "-n", environment.kernel], workingDirectory: environment.root,
        timeout: 60)
      guard run.succeeded else { throw ProfileError("nm failed: \(run.summary)") }
      return run.output.split(separator: "\n").compactMap { line in
        let fields = line.split(separator: " ", maxSplits: 2)
        guard fields.count == 3, "tTwW".contains(fields[1]),
          let address = UInt64(fields[0], radix: 16)
        else { return nil }
        return ExecProfile.Symbol(address: address, name: String(fields[2]))
      }
    }

    private func entryAddress(_ functions: [ExecProfile.Symbol], kernel: String) throws -> UInt64 {
      guard let entry = functions.first(where: { $0.name == "syscall_entry" }) else {
        throw ProfileError("no syscall_entry in \(kernel)")
      }
      return entry.address
    }

    /// Swift names in the report made readable (swift-demangle).
    private func demangled(_ report: String) -> String {
      let mangled = Set(
        report.split(separator: "\n").compactMap { line -> String? in
          let name = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().joined(
            separator: " ")
          return name.hasPrefix("$e") || name.hasPrefix("$s") ? name : nil
        })
      guard !mangled.isEmpty else { return report }
      let names = Array(mangled)
      let run = ToolRun.run(
        "/usr/bin/env", ["swift-demangle", "--simplified", "--compact"] + names,
        workingDirectory: FileManager.default.currentDirectoryPath, timeout: 60)
      let readable = run.output.split(separator: "\n", omittingEmptySubsequences: false)
      guard run.succeeded, readable.count >= names.count else { return report }
      var text = report
      for (name, plain) in zip(names, readable) {
        text = text.replacingOccurrences(of: name, with: String(plain))
      }
      return text
    }
  }
}

/// A client of QEMU's human monitor on a Unix socket: one command at a
/// time, its answer read and dropped.
final class MonitorSocket {
  private let descriptor: Int32

  init(path: String) throws {
    descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw ProfileError("cannot make a socket") }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
      throw ProfileError("socket path too long: \(path)")
    }
    withUnsafeMutableBytes(of: &address.sun_path) { buffer in
      for (index, byte) in bytes.enumerated() { buffer[index] = byte }
    }
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
      }
    }
    guard connected == 0 else {
      throw ProfileError("cannot connect to the QEMU monitor at \(path)")
    }
    drain()
  }

  deinit { close(descriptor) }

  func command(_ text: String) throws {
    let bytes = Array((text + "\n").utf8)
    guard write(descriptor, bytes, bytes.count) == bytes.count else {
      throw ProfileError("cannot write to the QEMU monitor")
    }
    drain()
  }

  /// Reads what the monitor printed (its banner, an echo and the prompt),
  /// waiting up to half a second for it.
  private func drain() {
    var buffer = [UInt8](repeating: 0, count: 4096)
    var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
    while poll(&poller, 1, 500) > 0 {
      if read(descriptor, &buffer, buffer.count) <= 0 { return }
      if String(decoding: buffer, as: UTF8.self).contains("(qemu)") { return }
    }
  }
}
