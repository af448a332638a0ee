import X86

/// Starting user programs (from the shell, at boot for init, or by `spawn`),
/// waiting for them, ending their threads (exit, faults, kill, a destroyed
/// thread object) and reaping what they leave behind.
enum ProcessRunner {
  nonisolated(unsafe) static var nextPID = 1
  /// Processes started and not yet reaped.
  nonisolated(unsafe) static var live: [Process] = []
  /// The last `historyLimit` finished processes, for `ps` and `wait`, in
  /// storage of a fixed size (so `mem since` counts no history growth).
  nonisolated(unsafe) static var history = ProcessHistory(capacity: historyLimit)
  /// The root domain, when the `init` module was started at boot.
  nonisolated(unsafe) static var initProcess: Process? = nil
  static let kernelStackPages = 8
  static let historyLimit = 64
  /// The priority of a program's first thread.
  static let defaultPriority = 1

  /// The process of the thread running on this CPU, if it is a user thread.
  static var current: Process? {
    var process: Process? = nil
    Scheduler.withHere { scheduler in process = scheduler.current.process }
    return process
  }

  enum StartError: Error {
    case badCPU(Int)
    case load(ProgramLoader.LoadError)
    case capabilities(CapabilityError)
    case noKernelStack

    var description: String {
      switch self {
      case .badCPU(let cpu): "CPU \(cpu) is not a running service CPU"
      case .load(let error): error.description
      case .capabilities(let error): "no capabilities: " + error.description
      case .noKernelStack: "no memory for a kernel stack"
      }
    }

    var code: SystemCallError {
      switch self {
      case .badCPU: .badCPU
      case .load(.noSuchModule): .noSuchModule
      case .load(.outOfMemory): .outOfMemory
      case .load: .badModule
      case .capabilities(let error): SystemCallError(error)
      case .noKernelStack: .outOfMemory
      }
    }
  }

  /// Whether `cpu` runs this instance's scheduler (on the LWK instance: an
  /// LWK CPU).
  static func isServiceCPU(_ cpu: Int) -> Bool {
    cpu >= 0 && cpu < Scheduler.perCPU.count && Scheduler.perCPU[cpu] != nil
  }

  /// Loads `name`, gives it its capabilities and starts its first thread on
  /// `cpu`. `parent` is the spawning process (nil from the shell, whose
  /// programs are init's children); `give` a capability of the parent's
  /// to copy into the child's `InitialSlot.given`. Call under KernelLock.
  static func start(
    _ name: String, argument: String, cpu: Int, parent: Process?, give: UInt64 = 0,
    image: ByteView? = nil, startNow: Bool = true
  ) -> Result<Process, StartError> {
    guard isServiceCPU(cpu) else { return .failure(.badCPU(cpu)) }
    // Its memory comes from its CPU's node (where an instance has nodes).
    let previousNode = Frames.loadingForNode
    Frames.loadingForNode = processors[cpu].node
    defer { Frames.loadingForNode = previousNode }
    let pid = nextPID
    let process: Process
    let loaded: LoadedProgram
    let outcome =
      image.map { ProgramLoader.load(image: $0, name: name, pid: pid, argument: argument) }
      ?? ProgramLoader.load(name, pid: pid, argument: argument)
    switch outcome {
    case .success(let program):
      process = program.process
      loaded = program
    case .failure(let error): return .failure(.load(error))
    }
    let owner = parent ?? (initProcess?.exitStatus == nil ? initProcess : nil)
    if let refusal = ProcessCapabilities.populate(
      process, segments: loaded.segments, owner: owner, give: parent == nil ? 0 : give)
    {
      process.destroy()
      return .failure(.capabilities(refusal))
    }
    guard let stack = KernelStacks.allocate(pages: kernelStackPages) else {
      process.destroy()
      return .failure(.noKernelStack)
    }
    nextPID += 1
    process.parentPID = parent?.pid
    let start = loaded.start
    let thread = addUserThread(
      to: process, priority: defaultPriority, cpu: cpu, kernelStack: stack, entry: start.entry,
      stack: start.stackTop, rdi: start.argumentAddress, rsi: start.argumentLength)
    ProcessCapabilities.bindThread(thread, of: process)
    live.append(process)
    if startNow { Scheduler.start(thread) }
    return .success(process)
  }

  /// A new thread of `process` that will enter user mode at `entry` with
  /// `stack` and the given RDI and RSI, on its own kernel stack; not yet
  /// started (Scheduler.start).
  static func addUserThread(
    to process: Process, priority: Int, cpu: Int, kernelStack: UInt64, entry: UInt64,
    stack: UInt64, rdi: UInt64, rsi: UInt64
  ) -> Thread {
    let thread = Thread(
      tid: Scheduler.newTID(), name: process.name, process: process, priority: priority, cpu: cpu,
      kernelStackTop: kernelStack)
    thread.userFrame.initialize(
      to: InterruptFrame(
        r15: 0, r14: 0, r13: 0, r12: 0, r11: 0, r10: 0, r9: 0, r8: 0, rbp: 0, rdi: rdi, rsi: rsi,
        rdx: 0, rcx: 0, rbx: 0, rax: 0, vector: 0, errorCode: 0, rip: entry,
        cs: UserMode.userCodeSelector, rflags: 0x202, rsp: stack, ss: UserMode.userDataSelector))
    // The first switch to it runs enter_user(frame), which leaves through
    // the frame at the top of its kernel stack.
    let frameAddress = UInt64(UInt(bitPattern: thread.userFrame))
    thread.prepareFirstRun(entry: symbol_enter_user(), argument: frameAddress, below: frameAddress)
    process.threads.append(thread)
    return thread
  }

  /// `run`: starts `name` on `cpu`, and waits for it unless `background`.
  /// Returns a line for the shell.
  static func run(_ name: String, argument: String, cpu: Int, background: Bool) -> String {
    reap()
    let started = KernelLock.held { start(name, argument: argument, cpu: cpu, parent: nil) }
    let process: Process
    switch started {
    case .success(let p): process = p
    case .failure(.badCPU(let cpu)): return "run: CPU \(cpu) is not a running service CPU"
    case .failure(let error): return "run: \(name): \(error.description)"
    }
    if background { return "process \(process.pid) (\(name)) started on CPU \(cpu)" }
    waitFor(process)
    awaitFinished(process)
    let line = "process \(process.pid) (\(name)) \(process.exitStatus!)"
    reap()
    return line
  }

  /// Starts the root domain at boot when there is an `init` module.
  static func startInit() {
    guard ProgramLoader.module(named: "init") != nil else { return }
    let started = KernelLock.held { start("init", argument: "", cpu: 0, parent: nil) }
    switch started {
    case .success(let process):
      initProcess = process
      print("boot: init is process \(process.pid), the root domain")
    case .failure(let error): print("boot: init: " + error.description)
    }
  }

  /// Blocks the calling thread until `process` has ended.
  static func waitFor(_ process: Process) {
    guard let me = Scheduler.here?.current else { return }
    KernelLock.held { process.waiters.append(me) }
    Scheduler.block {
      process.exitStatus != nil || me.killRequested || me.process?.killRequested == true
    }
  }

  // MARK: Ending

  // Ending a thread. The dying thread's last frames never resume, so no
  // counted reference may be alive in them when it switches away for good
  // (its release would never run and the thread, its process and the
  // process's page tables would never be freed): the work is done in
  // helpers that return first, and the final switch holds nothing.

  /// Ends the calling thread's whole process: `status` for `ps` and `run`,
  /// `code` for `wait` (nil: killed). Never returns.
  static func endProcess(status: StaticString, code: Int64?) -> Never {
    recordEnd(status, code: code)
    exitThread()
  }

  /// `exit(code)`.
  static func exitProcess(code: Int64) -> Never {
    recordExit(code: code)
    exitThread()
  }

  /// Ends the calling thread; the process ends with its last thread.
  static func exitThread() -> Never {
    x86_cli()
    markCurrentThreadDead()
    Scheduler.exitCurrent()
  }

  // The status strings are made in these two, not by their callers: a
  // caller that never returns would never release its temporary (a
  // status longer than 15 bytes is a heap object: 64 bytes a process).
  @inline(never) private static func recordEnd(_ status: StaticString, code: Int64?) {
    recordEnd(status.description, code: code)
  }

  @inline(never) private static func recordExit(code: Int64) {
    recordEnd("exited with status \(code)", code: code)
  }

  @inline(never) private static func recordEnd(_ status: String, code: Int64?) {
    x86_cli()
    guard let process = Scheduler.here?.current.process else {
      Panic.halt(because: "a user thread ended but none was running")
    }
    let interrupts = KernelLock.acquire()
    markEnded(process, status: status, code: code)
    KernelLock.release(interrupts)
  }

  private static func markCurrentThreadDead() {
    guard let thread = Scheduler.here?.current, let process = thread.process else {
      Panic.halt(because: "a user thread ended but none was running")
    }
    _ = KernelLock.acquire()
    IPC.cancel(thread)
    thread.state = .dead
    if process.allThreadsDead {
      if process.exitStatus == nil { markEnded(process, status: "exited with status 0", code: 0) }
      for waiter in process.deathWaiters { Scheduler.wake(waiter) }
      process.deathWaiters.removeAll()
    }
    KernelLock.release(false)
  }

  /// Records how the process ended (the first reason wins), stops its other
  /// threads and wakes whoever waits for it. Under KernelLock.
  /// A process that `start` loaded with `startNow: false` and that will
  /// never run: it ends without its threads having run, and is reaped like
  /// any other. Under KernelLock.
  static func abandon(_ process: Process) {
    process.exitStatus = "never started"
    process.killRequested = true
    for thread in process.threads {
      thread.state = .dead
      thread.retired = true
    }
  }

  private static func markEnded(_ process: Process, status: String, code: Int64?) {
    if process.exitStatus == nil {
      process.exitStatus = status
      process.exitCode = code
    }
    process.killRequested = true
    for other in process.threads { stop(other) }
    for waiter in process.waiters { Scheduler.wake(waiter) }
    process.waiters.removeAll()
  }

  /// Makes a thread end at its next way out of the kernel: out of any IPC
  /// wait, woken if blocked, interrupted if running elsewhere.
  private static func stop(_ thread: Thread) {
    guard thread.state != .dead, thread !== Scheduler.here?.current else { return }
    thread.killRequested = true
    IPC.cancel(thread)
    Scheduler.wake(thread)
    if thread.cpu != Processor.currentIndex {
      _ = RemoteCall.sendIPI(to: thread.cpu, vector: InterruptVector.reschedule)
    }
  }

  /// Its thread object was destroyed (its last capability went). Under KernelLock.
  static func terminate(_ thread: Thread) {
    guard thread.state != .dead else { return }
    thread.killRequested = true  // stop() skips the calling thread itself
    stop(thread)
  }

  /// Its address space object was destroyed: the process cannot go on.
  /// Under KernelLock.
  static func terminate(_ process: Process) {
    guard process.exitStatus == nil else { return }
    markEnded(process, status: "ended: its address space was destroyed", code: nil)
  }

  /// On every way back to user mode: a thread asked to end does so here.
  static func exitIfRequested() {
    switch pendingEnd() {
    case .process: endProcess(status: "killed", code: nil)
    case .thread: exitThread()
    case .none: return
    }
  }

  private enum PendingEnd { case none, thread, process }

  private static func pendingEnd() -> PendingEnd {
    guard let thread = Scheduler.here?.current, let process = thread.process else { return .none }
    if process.killRequested { return .process }
    return thread.killRequested ? .thread : .none
  }

  /// All its threads are dead and switched away from.
  static func isFinished(_ process: Process) -> Bool {
    process.threads.allSatisfy { $0.state == .dead && $0.retired }
  }

  /// Frees processes whose threads are all dead and switched away from;
  /// the other kernel instance releases the channels they had into its
  /// rings before this returns (`OtherInstance`).
  static func reap() {
    let interrupts = KernelLock.acquire()
    OtherInstance.deferredReleases = []
    var remaining: [Process] = []
    var done: [Process] = []
    for process in live {
      // A child stays (a zombie) until its parent has waited or has ended.
      let awaited =
        process.parentPID.map { parent in
          live.contains { $0.pid == parent && $0.exitStatus == nil }
        } ?? false
      if !awaited && isFinished(process) {
        done.append(process)
      } else {
        remaining.append(process)
      }
    }
    live = remaining
    for process in done {
      history.record(pid: process.pid, name: process.name, status: process.exitStatus ?? "ended")
      if process === initProcess { initProcess = nil }
      process.destroy()
    }
    let releases = OtherInstance.deferredReleases ?? []
    OtherInstance.deferredReleases = nil
    KernelLock.release(interrupts)
    if !releases.isEmpty { OtherInstance.finish(releases) }
    EndpointDelegation.pumpIfQueued()
  }

  /// Asks a process to end: at once if it is waiting, at its next entry to
  /// the kernel if it is running.
  /// Waits until every thread has stopped (each does at its next way out
  /// of the kernel: at once when it waits, within a tick when it runs).
  static func kill(_ pid: Int) -> String {
    guard let me = Scheduler.here?.current else { return "kill: no scheduler" }
    let interrupts = KernelLock.acquire()
    guard let process = live.first(where: { $0.pid == pid }) else {
      KernelLock.release(interrupts)
      return "kill: no running process \(pid)"
    }
    guard process.exitStatus == nil else {
      KernelLock.release(interrupts)
      return "kill: process \(pid) has already ended"
    }
    markEnded(process, status: "killed", code: nil)
    awaitEnd(process, me, interrupts)
    return "kill: process \(pid) (\(process.name)) stopped"
  }

  /// Waits until a process has ended by itself (a background program) and
  /// says how; at once for one that has ended already.
  static func wait(_ pid: Int) -> String {
    guard let me = Scheduler.here?.current else { return "wait: no scheduler" }
    let interrupts = KernelLock.acquire()
    guard let process = live.first(where: { $0.pid == pid }) else {
      let ended = history.entry(pid: pid)
      KernelLock.release(interrupts)
      guard let ended else { return "wait: no process \(pid)" }
      return "process \(pid) (\(ended.name)) \(ended.status)"
    }
    awaitEnd(process, me, interrupts)
    return "process \(pid) (\(process.name)) \(process.exitStatus ?? "ended")"
  }

  /// `kill` and `wait`, called under KernelLock (released here): sleeps
  /// until every thread of `process` is dead, then until it is finished.
  private static func awaitEnd(_ process: Process, _ me: Thread, _ interrupts: Bool) {
    if !process.allThreadsDead { process.deathWaiters.append(me) }
    KernelLock.release(interrupts)
    Scheduler.block { process.allThreadsDead }
    awaitFinished(process)
  }

  /// Its threads end at their next way out of the kernel, on their own
  /// CPUs, and are switched away from just after: give them a moment (at
  /// most 200 ms), so that what comes next (`mem since`, `eps`, the next
  /// program) finds the process gone, not ending.
  static func awaitFinished(_ process: Process) {
    let deadline = x86_rdtsc() + Clock.cycles(microseconds: 200_000)
    while !KernelLock.held({ isFinished(process) }) && x86_rdtsc() < deadline {
      Clock.delay(microseconds: 100)
    }
  }

  /// A page fault that the page tables no longer explain: another CPU
  /// replaced the mapping (a revoked DTU sender's pages go to the sink page:
  /// cleared, then mapped again, under KernelLock) between this CPU's
  /// access and now. The access is retried. Checked under KernelLock, so a
  /// replacement in progress is seen finished.
  static func isStalePageFault(_ frame: InterruptFrame) -> Bool {
    // Only a fault on a page that was not present (error code bit 0 clear)
    // can be stale; a protection fault is the program's.
    guard frame.errorCode & 1 == 0 else { return false }
    let address = x86_read_cr2()
    let write = frame.errorCode & 2 != 0
    let fetch = frame.errorCode & 0x10 != 0
    return KernelLock.held {
      guard let space = current?.space, let translation = space.translate(address) else {
        return false
      }
      let flags = translation.flags
      return flags.contains(.present) && flags.contains(.user)
        && (!write || flags.contains(.writable)) && (!fetch || !flags.contains(.noExecute))
    }
  }

  /// A fault in user mode: one line, the process goes, the kernel goes on.
  static func userFault(_ frame: InterruptFrame) -> Never {
    reportFault(frame)
    exitThread()
  }

  private static func reportFault(_ frame: InterruptFrame) {
    let process = current
    var line =
      "fault: process \(process?.pid ?? 0) (\(process?.name ?? "?")) thread \(Scheduler.here?.current.tid ?? 0): "
    line += exceptionName(frame.vector).description
    line += " at RIP \(hex(frame.rip))"
    if frame.vector == 14 { line += " address \(hex(x86_read_cr2()))" }
    line += "; process destroyed"
    print(line)
    recordEnd("killed by " + exceptionName(frame.vector).description, code: nil)
  }
}
