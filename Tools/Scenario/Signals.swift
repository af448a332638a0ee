// No QEMU may outlive the runner. Every running session is in SessionRegistry;
// on SIGINT, SIGTERM or SIGHUP the runner stops them all (TERM, then KILL),
// removes its temporary ISOs, and exits.
//
// Why real handlers and not SIG_IGN + DispatchSource: ignored signals stay
// ignored across exec, so QEMU (or a wrapper script) would inherit SIGTERM and
// SIGINT as ignored. Caught signals are reset to the default in the child.
// The handler only writes a byte to a pipe; a watcher thread does the work.
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

final class SessionRegistry: @unchecked Sendable {
  static let shared = SessionRegistry()

  struct ShuttingDown: Error, CustomStringConvertible {
    var description: String { "the runner is shutting down" }
  }

  private let lock = NSLock()
  private var sessions: [ObjectIdentifier: QEMUSession] = [:]
  private var shuttingDown = false
  /// Run after the sessions are stopped on an interrupt (e.g. remove ISOs).
  private var cleanups: [@Sendable () -> Void] = []

  func add(_ session: QEMUSession) throws {
    try lock.withLock {
      guard !shuttingDown else { throw ShuttingDown() }
      sessions[ObjectIdentifier(session)] = session
    }
  }

  func remove(_ session: QEMUSession) {
    lock.withLock { _ = sessions.removeValue(forKey: ObjectIdentifier(session)) }
  }

  /// True once an interrupt is being handled: results after that are noise.
  var isShuttingDown: Bool { lock.withLock { shuttingDown } }

  /// Called by a command when its work has returned: if that was because an
  /// interrupt stopped everything, wait here for the watcher thread to exit
  /// with the signal's status, instead of printing a misleading summary.
  func parkIfShuttingDown() {
    guard isShuttingDown else { return }
    while true { sleep(60) }
  }

  func addCleanup(_ cleanup: @escaping @Sendable () -> Void) {
    lock.withLock { cleanups.append(cleanup) }
  }

  /// Stops every session (in parallel, so the grace period is paid once) and
  /// runs the cleanups. No session can be added afterwards.
  func shutDown() {
    let (running, tasks) = lock.withLock {
      shuttingDown = true
      return (Array(sessions.values), cleanups)
    }
    DispatchQueue.concurrentPerform(iterations: running.count) { running[$0].stop() }
    for task in tasks { task() }
  }
}

enum Signals {
  /// Written by the handler; read by the watcher thread. Set once, before any
  /// handler is installed, so the handler only reads it.
  nonisolated(unsafe) static var pipeWrite: Int32 = -1

  static func install() {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { return }
    // Not inherited by QEMU (Glibc does not export pipe2 to Swift).
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    pipeWrite = fds[1]
    let pipeRead = fds[0]

    let thread = Thread {
      var number: Int32 = 0
      while read(pipeRead, &number, MemoryLayout<Int32>.size) < 0 && errno == EINTR {}
      let name = number == SIGINT ? "interrupt" : number == SIGHUP ? "hangup" : "terminate signal"
      FileHandle.standardError.write(Data("\ntessera-scenario: \(name): stopping QEMU\n".utf8))
      SessionRegistry.shared.shutDown()
      exit(128 + number)
    }
    thread.name = "signal-watcher"
    thread.start()

    // The closures capture nothing, so they convert to C function pointers.
    for number in [SIGINT, SIGTERM, SIGHUP] {
      signal(number) { received in
        var value = received
        _ = write(Signals.pipeWrite, &value, MemoryLayout<Int32>.size)
      }
    }
    // Writing to a QEMU that has died must fail with EPIPE, not kill us.
    signal(SIGPIPE) { _ in }
  }
}
