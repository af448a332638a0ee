import X86

/// Runs a user program on the calling CPU until it exits or faults (there is
/// no scheduler yet: the shell waits). The thread enters user mode through
/// `user_run`; `exit` and user faults come back through `user_return`, which
/// lands here with the outcome.
enum ProcessRunner {
  nonisolated(unsafe) static var nextPID = 1
  nonisolated(unsafe) static var current: Process? = nil
  /// Finished processes, newest last, for `ps`.
  nonisolated(unsafe) static var history: [(pid: Int, name: String, status: String)] = []
  nonisolated(unsafe) static var userEntryStacks: [UInt64] = []

  static let exitedNormally: UInt64 = 0
  static let faulted: UInt64 = 1

  /// Loads `name` and runs it; returns a line for the shell.
  static func run(_ name: String, argument: String) -> String {
    let pid = nextPID
    nextPID += 1
    let process: Process
    switch ProgramLoader.load(name, pid: pid, argument: argument) {
    case .success(let loaded): process = loaded
    case .failure(let error): return "run: \(name): \(error.description)"
    }
    guard let thread = process.thread, let stack = userEntryStack() else {
      process.destroy()
      return "run: no kernel stack for the program"
    }
    // The frame user_run enters user mode with, at the top of the entry stack.
    let framePointer = UnsafeMutablePointer<InterruptFrame>(
      bitPattern: UInt(stack - UInt64(MemoryLayout<InterruptFrame>.stride)))!
    framePointer.initialize(
      to: InterruptFrame(
        r15: 0, r14: 0, r13: 0, r12: 0, r11: 0, r10: 0, r9: 0, r8: 0, rbp: 0,
        rdi: thread.argument.address, rsi: thread.argument.length, rdx: 0, rcx: 0, rbx: 0, rax: 0,
        vector: 0, errorCode: 0, rip: thread.entry, cs: UserMode.userCodeSelector,
        rflags: 0x202, rsp: thread.userStackTop, ss: UserMode.userDataSelector))
    UserMode.setKernelStack(stack)
    current = process
    thread.state = "running"
    process.space.activate()
    let outcome = withUnsafeMutablePointer(to: &thread.savedKernelRSP) { saved in
      user_run(UnsafeMutableRawPointer(framePointer), saved)
    }
    KernelAddressSpace.activate()
    x86_write_fs_base(0)
    current = nil
    let status = process.exitStatus ?? (outcome == faulted ? "faulted" : "exited")
    history.append((pid, name, status))
    process.destroy()
    return "process \(pid) (\(name)) \(status)"
  }

  /// One user-entry stack per CPU, made on first use.
  static func userEntryStack() -> UInt64? {
    let cpu = Processor.currentIndex
    while userEntryStacks.count <= cpu { userEntryStacks.append(0) }
    if userEntryStacks[cpu] == 0, let top = KernelStacks.allocate(pages: 8) {
      userEntryStacks[cpu] = top
    }
    return userEntryStacks[cpu] == 0 ? nil : userEntryStacks[cpu]
  }

  /// Ends the running process from inside the kernel (exit or a fault).
  static func finish(status: String, outcome: UInt64) -> Never {
    guard let process = current, let thread = process.thread else {
      Panic.halt(because: "a user thread ended but none was running")
    }
    process.exitStatus = status
    thread.state = "done"
    user_return(thread.savedKernelRSP, outcome)
  }

  /// A fault in user mode: one line, the process goes, the kernel goes on.
  static func userFault(_ frame: InterruptFrame) -> Never {
    var line = "fault: process \(current?.pid ?? 0) (\(current?.name ?? "?")) thread 1: "
    line += exceptionName(frame.vector).description
    line += " at RIP \(hex(frame.rip))"
    if frame.vector == 14 { line += " address \(hex(x86_read_cr2()))" }
    line += "; process destroyed"
    print(line)
    finish(status: "killed by " + exceptionName(frame.vector).description, outcome: faulted)
  }
}
