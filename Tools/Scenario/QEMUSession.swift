// One QEMU process with its serial console on stdin/stdout: start it, type
// into it, wait (with a deadline) for its output to satisfy a check, and stop
// it for certain.
//
// Output is read by two background threads (stdout, stderr) into buffers
// guarded by one condition variable; waiters re-check whenever bytes arrive or
// the process exits. Input is written by a third thread in small chunks: QEMU
// reads stdin only while the guest UART has room, so a big `send` may block
// for a while, and the steps must keep running (and timing out) meanwhile.
//
// Foundation's Process starts the child in its own process group, so stop()
// signals the whole group: a wrapper script and anything it started go too.
// If the runner itself dies without cleaning up (a crash, SIGKILL), QEMU is
// still killed: it is started through `setpriv --pdeathsig KILL` (util-linux),
// which sets the parent-death signal and then execs, keeping the pid. (Linux
// sends that signal when the *thread* that started the child ends; a session
// is started and stopped by one worker thread that outlives it.)
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

final class QEMUSession: @unchecked Sendable {
  struct Exit: Sendable, CustomStringConvertible {
    var status: Int32
    var bySignal: Bool

    var description: String {
      bySignal ? "QEMU was killed by signal \(status)" : "QEMU exited with code \(status)"
    }
  }

  enum WaitOutcome<T> {
    case satisfied(T)
    case timedOut
    case exited(Exit)
  }

  /// Bytes per write to QEMU's stdin: small enough to look like typing.
  static let chunkSize = 32
  /// How long stop() lets QEMU shut down after SIGTERM before SIGKILL.
  static let terminateGrace = 1.0
  /// How long to keep reading after the process exits, to collect its last output.
  static let drainTime = 0.5

  let executable: String
  let arguments: [String]
  private let process = Process()
  private let stdinPipe = Pipe()
  private let stdoutPipe = Pipe()
  private let stderrPipe = Pipe()

  // Guarded by `state`.
  private let state = NSCondition()
  private var rawOutput: [UInt8] = []
  private var text: [UInt8] = []
  private var errorOutput: [UInt8] = []
  private var stdoutClosed = false
  private var exit: Exit?
  private var exitTime: Date?
  private(set) var startInstant: ContinuousClock.Instant?

  // Guarded by `input`.
  private let input = NSCondition()
  private var pendingInput: [[UInt8]] = []
  private var inputClosed = false

  /// Held for the whole of stop(), so a second caller (the Ctrl-C handler)
  /// returns only once QEMU is really gone.
  private let stopLock = NSLock()
  private var stopped = false

  static let setpriv = "/usr/bin/setpriv"

  init(executable: String, arguments: [String], workingDirectory: String) {
    self.executable = executable
    self.arguments = arguments
    if FileManager.default.isExecutableFile(atPath: Self.setpriv) {
      process.executableURL = URL(fileURLWithPath: Self.setpriv)
      process.arguments = ["--pdeathsig", "KILL", "--", executable] + arguments
    } else {
      process.executableURL = URL(fileURLWithPath: executable)
      process.arguments = arguments
    }
    process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory)
    // The runner needs the plain serial console on stdio: QEMU_SERIAL (qemu.sh's
    // knob for interactive use) would mix in the monitor and its Ctrl-A keys.
    var environment = ProcessInfo.processInfo.environment
    environment.removeValue(forKey: "QEMU_SERIAL")
    process.environment = environment
    process.standardInput = stdinPipe
    process.standardOutput = stdoutPipe
    process.standardError = stderrPipe
  }

  var commandDescription: String { ([executable] + arguments).joined(separator: " ") }

  /// Starts QEMU. Registers with `SessionRegistry` first, so an interrupt that
  /// arrives at any moment after this call still finds the process to kill.
  func start() throws {
    try SessionRegistry.shared.add(self)
    process.terminationHandler = { [weak self] finished in
      self?.processExited(
        status: finished.terminationStatus, bySignal: finished.terminationReason == .uncaughtSignal)
    }
    do {
      try process.run()
    } catch {
      SessionRegistry.shared.remove(self)
      throw error
    }
    state.lock()
    startInstant = ContinuousClock.now
    state.unlock()
    startReader(stdoutPipe.fileHandleForReading, isStdout: true)
    startReader(stderrPipe.fileHandleForReading, isStdout: false)
    let writer = Thread { [self] in writeLoop() }
    writer.name = "qemu-stdin"
    writer.start()
  }

  // MARK: Output

  private func startReader(_ handle: FileHandle, isStdout: Bool) {
    let thread = Thread { [self] in
      // Plain read(2): FileHandle's read APIs either wait for a full count or
      // trap on errors; we want "whatever has arrived".
      let fd = handle.fileDescriptor
      var buffer = [UInt8](repeating: 0, count: 4096)
      while true {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        let chunk = buffer[0..<count]
        state.lock()
        if isStdout {
          rawOutput.append(contentsOf: chunk)
          text.append(contentsOf: chunk.lazy.filter { $0 != 0x0D })
        } else {
          errorOutput.append(contentsOf: chunk)
        }
        state.broadcast()
        state.unlock()
      }
      state.lock()
      if isStdout { stdoutClosed = true }
      state.broadcast()
      state.unlock()
      withExtendedLifetime(handle) {}
    }
    thread.name = isStdout ? "qemu-stdout" : "qemu-stderr"
    thread.start()
  }

  private func processExited(status: Int32, bySignal: Bool) {
    state.lock()
    exit = Exit(status: status, bySignal: bySignal)
    exitTime = Date()
    state.broadcast()
    state.unlock()
  }

  /// The serial output exactly as received (CR LF line ends and all).
  var rawTranscript: [UInt8] { state.withLock { rawOutput } }
  /// The serial output with CR removed: what checks search.
  var normalizedOutput: [UInt8] { state.withLock { text } }
  var normalizedLength: Int { state.withLock { text.count } }
  var stderrOutput: [UInt8] { state.withLock { errorOutput } }
  var exitStatus: Exit? { state.withLock { exit } }

  /// Waits until `check` returns a value for the output so far (CR removed),
  /// the process has exited (after collecting its last output), or `timeout`
  /// seconds have passed. `check` runs with the output locked; keep it quick.
  func wait<T>(timeout: Double, until check: ([UInt8]) -> T?) -> WaitOutcome<T> {
    let deadline = Date(timeIntervalSinceNow: timeout)
    state.lock()
    defer { state.unlock() }
    while true {
      if let result = check(text) { return .satisfied(result) }
      var wakeUp = deadline
      if let exit, let exitTime {
        let drained = exitTime.addingTimeInterval(Self.drainTime)
        if stdoutClosed || Date() >= drained { return .exited(exit) }
        wakeUp = min(wakeUp, drained)
      }
      if Date() >= deadline { return .timedOut }
      _ = state.wait(until: wakeUp)
    }
  }

  /// Waits for the process to exit; nil if it is still running after `timeout`.
  func waitForExit(timeout: Double) -> Exit? {
    switch wait(timeout: timeout, until: { _ in Optional<Void>.none }) {
    case .exited(let exit): exit
    case .satisfied, .timedOut: exitStatus
    }
  }

  // MARK: Input

  /// Queues bytes for QEMU's stdin and returns at once.
  func send(_ bytes: [UInt8]) {
    input.lock()
    defer { input.unlock() }
    guard !inputClosed else { return }
    var offset = 0
    while offset < bytes.count {
      let end = min(offset + Self.chunkSize, bytes.count)
      pendingInput.append(Array(bytes[offset..<end]))
      offset = end
    }
    input.signal()
  }

  private func writeLoop() {
    let handle = stdinPipe.fileHandleForWriting
    while true {
      input.lock()
      while pendingInput.isEmpty && !inputClosed { input.wait() }
      if inputClosed {
        input.unlock()
        break
      }
      let chunk = pendingInput.removeFirst()
      input.unlock()
      do {
        // Blocks while the pipe is full; EPIPE (QEMU gone) ends the loop.
        // SIGPIPE is caught by a no-op handler (see Signals.swift), so
        // it arrives here as an error instead of killing the runner.
        try handle.write(contentsOf: chunk)
      } catch {
        input.lock()
        inputClosed = true
        pendingInput.removeAll()
        input.unlock()
        break
      }
    }
    try? handle.close()
  }

  // MARK: Stopping

  /// Ends QEMU for certain: SIGTERM to its process group, SIGKILL after a
  /// short grace, then waits until it has been reaped. Safe to call more than
  /// once and from any thread.
  func stop() {
    stopLock.lock()
    defer { stopLock.unlock() }
    guard !stopped else { return }
    stopped = true
    defer { SessionRegistry.shared.remove(self) }

    input.lock()
    inputClosed = true
    input.signal()
    input.unlock()

    let pid = process.processIdentifier
    guard pid > 0 else { return }  // never started
    // TERM lets QEMU exit cleanly; then KILL the whole group regardless, for
    // a QEMU that ignored TERM or for what a wrapper script started (which
    // may hold the console pipes open). Both are sent even if QEMU has
    // already exited. (Waiting for "the group is empty" instead does not work
    // reliably: killed grandchildren stay zombies until init reaps them.)
    kill(-pid, SIGTERM)
    _ = waitForExit(timeout: Self.terminateGrace)
    kill(-pid, SIGKILL)
    _ = waitForExit(timeout: 5)
  }
}
