import X86

/// Starting user programs as threads on a service CPU, waiting for them,
/// ending them (exit, faults, kill) and reaping what they leave behind.
enum ProcessRunner {
  nonisolated(unsafe) static var nextPID = 1
  /// Processes started and not yet reaped.
  nonisolated(unsafe) static var live: [Process] = []
  /// Finished processes, newest last, for `ps`.
  nonisolated(unsafe) static var history: [(pid: Int, name: String, status: String)] = []
  static let kernelStackPages = 8

  static let exitedNormally: UInt64 = 0
  static let faulted: UInt64 = 1

  /// The process of the thread running on this CPU, if it is a user thread.
  static var current: Process? { Scheduler.here?.current.process }

  /// Loads `name` and starts it on `cpu`; waits for it unless `background`.
  /// Returns a line for the shell.
  static func run(_ name: String, argument: String, cpu: Int, background: Bool) -> String {
    reap()
    guard cpu >= 0, cpu < Scheduler.perCPU.count, Scheduler.perCPU[cpu] != nil else {
      return "run: CPU \(cpu) is not a running service CPU"
    }
    let pid = nextPID
    nextPID += 1
    let process: Process
    switch ProgramLoader.load(name, pid: pid, argument: argument) {
    case .success(let loaded): process = loaded
    case .failure(let error): return "run: \(name): \(error.description)"
    }
    guard let start = process.start, let stack = KernelStacks.allocate(pages: kernelStackPages)
    else {
      process.destroy()
      return "run: no memory for a kernel stack"
    }
    let thread = Thread(
      tid: Scheduler.newTID(), name: name, process: process, priority: 1, cpu: cpu,
      kernelStackTop: stack)
    // The frame enter_user leaves the kernel through, at the top of the stack.
    let frameAddress = stack - UInt64(MemoryLayout<InterruptFrame>.stride)
    UnsafeMutablePointer<InterruptFrame>(bitPattern: UInt(frameAddress))!.initialize(
      to: InterruptFrame(
        r15: 0, r14: 0, r13: 0, r12: 0, r11: 0, r10: 0, r9: 0, r8: 0, rbp: 0,
        rdi: start.argumentAddress, rsi: start.argumentLength, rdx: 0, rcx: 0, rbx: 0, rax: 0,
        vector: 0, errorCode: 0, rip: start.entry, cs: UserMode.userCodeSelector,
        rflags: 0x202, rsp: start.stackTop, ss: UserMode.userDataSelector))
    thread.prepareFirstRun(entry: symbol_enter_user(), argument: frameAddress, below: frameAddress)
    process.thread = thread
    live.append(process)
    if !background { process.waiter = Scheduler.here?.current }
    Scheduler.start(thread)
    if background { return "process \(pid) (\(name)) started on CPU \(cpu)" }
    while process.exitStatus == nil { Scheduler.block() }
    let line = "process \(pid) (\(name)) \(process.exitStatus!)"
    reap()
    return line
  }

  /// Ends the user thread running on this CPU (exit, fault or kill).
  static func finish(status: String, outcome: UInt64) -> Never {
    x86_cli()
    guard let thread = Scheduler.here?.current, let process = thread.process else {
      Panic.halt(because: "a user thread ended but none was running")
    }
    process.exitStatus = status
    if let waiter = process.waiter { Scheduler.wake(waiter) }
    Scheduler.exitCurrent()
  }

  /// Frees processes whose thread is dead and switched away from.
  static func reap() {
    var remaining: [Process] = []
    for process in live {
      if let thread = process.thread, thread.state == .dead, thread.retired {
        history.append((process.pid, process.name, process.exitStatus ?? "ended"))
        process.destroy()
      } else {
        remaining.append(process)
      }
    }
    live = remaining
  }

  /// Asks a process to end: at once if it is waiting in a queue, at its next
  /// entry to the kernel if it is running.
  static func kill(_ pid: Int) -> String {
    guard let process = live.first(where: { $0.pid == pid }), let thread = process.thread else {
      return "kill: no running process \(pid)"
    }
    guard thread.state != .dead else { return "kill: process \(pid) has already ended" }
    process.killRequested = true
    _ = RemoteCall.sendIPI(to: thread.cpu, vector: InterruptVector.reschedule)
    return "kill: process \(pid) (\(process.name)) will be stopped"
  }

  /// A fault in user mode: one line, the process goes, the kernel goes on.
  static func userFault(_ frame: InterruptFrame) -> Never {
    let process = current
    var line =
      "fault: process \(process?.pid ?? 0) (\(process?.name ?? "?")) thread \(Scheduler.here?.current.tid ?? 0): "
    line += exceptionName(frame.vector).description
    line += " at RIP \(hex(frame.rip))"
    if frame.vector == 14 { line += " address \(hex(x86_read_cr2()))" }
    line += "; process destroyed"
    print(line)
    finish(status: "killed by " + exceptionName(frame.vector).description, outcome: faulted)
  }
}
