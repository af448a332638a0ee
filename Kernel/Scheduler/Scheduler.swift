import X86

/// One CPU's scheduler: the Core run queue (by priority, round robin within
/// a level), the running thread and an idle thread. On service CPUs user
/// threads are preempted by the timer tick; on LWK CPUs (no tick) they run
/// to completion; kernel threads (the shell, the LWK's control thread) run
/// until they block. All of
/// it runs with interrupts off; other CPUs reach a queue only through `lock`.
///
/// The state the switch and the IPC fast path (Boot/ipcfast.S) share lives
/// in the CPU's per-CPU block; the properties below are views of it.
final class CPUScheduler {
  let cpu: Int
  let block: UnsafeMutablePointer<PerCPUBlock>
  /// Its highest level is copied to the block on every change, for the
  /// fast path's check that nothing of higher priority is ready.
  var ready = RunQueue<Thread>(priorities: Thread.priorities) {
    didSet { block.pointee.highestReady = ready.highestPriority }
  }
  let boot: Thread
  let idle: Thread
  let lock = IRQSpinLock()
  /// A thread that died on this CPU; its stack is still in use until the
  /// switch away from it has happened.
  var dying: Thread? = nil {
    didSet { block.pointee.retiring = dying != nil }
  }

  /// `boot` is the context already running on this CPU (the shell on the
  /// boot CPU, the idle loop elsewhere); `idle` runs when nothing else can.
  init(cpu: Int, block: UnsafeMutablePointer<PerCPUBlock>, boot: Thread, idle: Thread) {
    self.cpu = cpu
    self.block = block
    self.boot = boot
    self.idle = idle
    block.pointee.running = boot.control
    boot.state = .running
  }

  /// The running thread's control block (a plain pointer: switching
  /// counts no references). Its thread is kept alive by its process, or
  /// by `boot` and `idle` above.
  private(set) var running: UnsafeMutablePointer<ThreadControlBlock> {
    @inline(__always) get { block.pointee.running.unsafelyUnwrapped }
    @inline(__always) set { block.pointee.running = newValue }
  }

  /// The user thread whose vector registers this CPU holds (nil: none).
  /// Kernel code never touches them, so they stay while kernel threads
  /// run, and are saved only when another user thread takes the CPU.
  private var vectorOwner: UnsafeMutablePointer<ThreadControlBlock>? {
    get { block.pointee.vectorOwner }
    set { block.pointee.vectorOwner = newValue }
  }

  /// The FS base this CPU has (only the switches and setThreadPointer
  /// write it), so a switch between threads with the same one skips the
  /// MSR write.
  var fsBase: UInt64 {
    get { block.pointee.fsBase }
    set { block.pointee.fsBase = newValue }
  }

  var switches: UInt64 { block.pointee.switches }

  /// IPC calls and reply-receives done by the fast path on this CPU, shown
  /// by `cpus`.
  var fastIPC: UInt64 { block.pointee.fastIPC }

  /// Set by interrupt handlers that made a thread ready; acted on at the end
  /// of the interrupt.
  var needsReschedule: Bool {
    @inline(__always) get { block.pointee.needsReschedule }
    @inline(__always) set { block.pointee.needsReschedule = newValue }
  }

  var current: Thread { running.pointee.thread.takeUnretainedValue() }

  func enqueue(_ thread: Thread) {
    let interrupts = lock.lock()
    thread.state = .ready
    ready.append(thread, priority: thread.priority)
    needsReschedule = true
    lock.unlock(interrupts)
  }

  /// Queues a blocked thread; false when it was not blocked (already woken,
  /// or handed the CPU directly).
  func wake(_ thread: Thread) -> Bool {
    let interrupts = lock.lock()
    defer { lock.unlock(interrupts) }
    guard thread.state == .blocked else { return false }
    thread.state = .ready
    ready.append(thread, priority: thread.priority)
    needsReschedule = true
    return true
  }

  /// Gives a thread of this CPU a new priority; a ready one moves to the
  /// back of its new level's queue.
  func setPriority(_ thread: Thread, _ priority: Int) {
    let interrupts = lock.lock()
    defer { lock.unlock(interrupts) }
    let old = thread.priority
    thread.priority = min(max(priority, 0), Thread.priorities - 1)
    guard thread.state == .ready, old != thread.priority,
      ready.move(thread, from: old, to: thread.priority)
    else { return }
    needsReschedule = true
  }

  /// True when the running thread, which has just marked itself blocked,
  /// was asked to end before it did: the kill found it still running (its
  /// wake did nothing, its IPI landed in the kernel), so nothing would ever
  /// wake it. It stays running instead and ends on its way out to user
  /// mode. Interrupts off.
  func keepsRunningToEnd() -> Bool {
    _ = lock.lock()
    defer { lock.unlock(false) }
    guard running.pointee.killRequested, running.pointee.state == .blocked else { return false }
    running.pointee.state = .running
    return true
  }

  /// The highest priority with a ready thread (-1: none).
  var highestReadyPriority: Int { ready.highestPriority }

  /// Switches to `next`, which is in no queue, without queueing the caller
  /// (it is blocked or dead): IPC's direct hand-off. Interrupts off.
  @inline(__always)
  func handOff(to next: UnsafeMutablePointer<ThreadControlBlock>) {
    if dying != nil { retire() }
    if running.pointee.state == .running { running.pointee.state = .ready }
    switchTo(next)
  }

  /// Picks the next thread and switches to it. Call with interrupts off;
  /// returns (with interrupts still off) when the caller runs again.
  func reschedule() {
    retire()
    let next = pickNext()
    guard next.control != running else {
      running.pointee.state = .running
      return
    }
    switchTo(next.control)
  }

  /// The dead current thread's last switch. Its frames never resume, so
  /// the counted references are all taken and dropped in a helper that
  /// returns before the switch.
  func switchAwayFromDead() {
    retire()
    let (save, stack) = prepareFinalSwitch()
    context_switch(save, stack)
  }

  @inline(never)
  private func prepareFinalSwitch() -> (UnsafeMutablePointer<UInt64>, UInt64) {
    dying = current
    let previous = running
    if vectorOwner == previous { vectorOwner = nil }  // nothing to keep
    let next = pickNext().control
    prepareSwitch(to: next)
    return (savedStackPointer(of: previous), next.pointee.savedStackPointer)
  }

  /// The next thread to run: the first of the highest non-empty level, or
  /// idle; a still-runnable current thread goes behind its own level first.
  /// A thread handed over by another CPU's IPC fast path runs first unless
  /// something of higher priority is ready (then it queues like any woken
  /// thread).
  private func pickNext() -> Thread {
    _ = lock.lock()
    defer { lock.unlock(false) }
    needsReschedule = false
    if running.pointee.state == .running && running != idle.control {
      running.pointee.state = .ready
      ready.append(current, priority: running.pointee.priority)
    }
    if let handed = block.pointee.handoff {
      block.pointee.handoff = nil
      let thread = handed.pointee.thread.takeUnretainedValue()
      guard handed.pointee.priority < ready.highestPriority else { return thread }
      ready.append(thread, priority: handed.pointee.priority)
    }
    return ready.popHighest() ?? idle
  }

  /// Once the CPU runs on another stack, a dead thread's stack and address
  /// space may be freed (by whoever reaps its process).
  func retire() {
    guard let thread = dying, thread.control != running else { return }
    thread.retired = true
    dying = nil
  }

  @inline(__always)
  private func switchTo(_ next: UnsafeMutablePointer<ThreadControlBlock>) {
    let previous = running
    prepareSwitch(to: next)
    context_switch(savedStackPointer(of: previous), next.pointee.savedStackPointer)
  }

  /// Where context_switch saves `block`'s stack pointer.
  @inline(__always)
  private func savedStackPointer(of block: UnsafeMutablePointer<ThreadControlBlock>)
    -> UnsafeMutablePointer<UInt64>
  {
    withUnsafeMutablePointer(to: &block.pointee.savedStackPointer) { $0 }
  }

  /// Everything of a switch but the stack: the running block, the kernel
  /// stack for entries from user mode, the page tables, the FS base.
  @inline(__always)
  private func prepareSwitch(to next: UnsafeMutablePointer<ThreadControlBlock>) {
    let previousRoot = running.pointee.pageTableRoot
    running = next
    next.pointee.state = .running
    next.pointee.ticksInSlice = 0
    block.pointee.switches &+= 1
    let top = next.pointee.kernelStackTop
    if top != 0 { UserMode.setKernelStack(top) }
    // A kernel thread switches to the kernel's own tables: the last
    // process's may be freed while it runs.
    let root = next.pointee.pageTableRoot
    if root != 0 {
      if x86_read_cr3() & 0x000F_FFFF_FFFF_F000 != root { x86_write_cr3(root) }
    } else if previousRoot != 0 {
      KernelAddressSpace.activate()
    }
    let threadPointer = next.pointee.threadPointer
    if threadPointer != fsBase {
      x86_write_fs_base(threadPointer)
      fsBase = threadPointer
    }
    switchVectorState(to: next)
  }

  /// Gives the CPU's vector registers to `next` if it is a user thread
  /// that does not hold them already, saving the previous holder's.
  @inline(__always)
  private func switchVectorState(to next: UnsafeMutablePointer<ThreadControlBlock>) {
    guard let area = next.pointee.vectorState, vectorOwner != next else { return }
    // An owner is a user thread: it has an area.
    if let owner = vectorOwner { x86_fxsave(owner.pointee.vectorState.unsafelyUnwrapped) }
    x86_fxrstor(area)
    vectorOwner = next
  }

}

enum Scheduler {
  /// Per CPU of this instance; nil for the other instance's CPUs. LWK CPUs
  /// run the same scheduler without a tick, and run to completion.
  nonisolated(unsafe) static var perCPU: [CPUScheduler?] = []
  nonisolated(unsafe) static var nextTID = 1
  static let sliceTicks = 2  // 20 ms at 100 Hz

  static var here: CPUScheduler? {
    let cpu = Processor.currentIndex
    return cpu < perCPU.count ? perCPU[cpu] : nil
  }

  static func newTID() -> Int {
    defer { nextTID += 1 }
    return nextTID
  }

  /// Makes this CPU schedulable: the running context becomes `boot`, and an
  /// idle thread is made (on the boot CPU) or the boot context itself idles.
  static func startOnThisCPU(bootName: String, bootIsIdle: Bool) {
    let cpu = Processor.currentIndex
    while perCPU.count <= cpu { perCPU.append(nil) }
    let boot = Thread(
      tid: newTID(), name: bootName, process: nil, priority: 3, cpu: cpu, kernelStackTop: 0)
    var idle = boot
    if !bootIsIdle, let stack = KernelStacks.allocate(pages: 2) {
      idle = Thread(
        tid: newTID(), name: "idle", process: nil, priority: 0, cpu: cpu, kernelStackTop: stack)
      idle.prepareFirstRun(
        entry: UInt64(UInt(bitPattern: unsafeBitCast(idleLoop, to: UnsafeRawPointer.self))),
        argument: 0, below: stack)
    }
    let block = processors[cpu].block
    let scheduler = CPUScheduler(cpu: cpu, block: block, boot: boot, idle: idle)
    perCPU[cpu] = scheduler
    // Schedulers live as long as the kernel (perCPU keeps them), so the
    // system-call path may use this one without counting a reference.
    block.pointee.scheduler = Unmanaged.passUnretained(scheduler).toOpaque()
    IPCFastPathLayout.enable(on: block, for: scheduler)
  }

  /// This CPU's scheduler for the system-call path: from the per-CPU block,
  /// no array, optional or reference count on the way; `body` must not keep
  /// it. Only on a CPU that runs user threads (so it has one).
  @inline(__always)
  static func withHere(_ body: (CPUScheduler) -> Void) {
    let raw = UInt(x86_read_gs_qword(UInt64(PERCPU_SCHEDULER)))
    guard let pointer = UnsafeRawPointer(bitPattern: raw) else { return }
    Unmanaged<CPUScheduler>.fromOpaque(pointer)._withUnsafeGuaranteedRef(body)
  }

  /// `withHere` for the system-call path: a system call comes from a user
  /// thread, and user threads run only on CPUs with a scheduler.
  @inline(__always)
  static func withHereFromUser(_ body: (CPUScheduler) -> Void) {
    let raw = UInt(x86_read_gs_qword(UInt64(PERCPU_SCHEDULER)))
    Unmanaged<CPUScheduler>.fromOpaque(UnsafeRawPointer(bitPattern: raw).unsafelyUnwrapped)
      ._withUnsafeGuaranteedRef(body)
  }

  /// Puts `thread` on its CPU's queue, waking that CPU if it is another.
  static func start(_ thread: Thread) {
    guard thread.cpu < perCPU.count, let target = perCPU[thread.cpu] else { return }
    target.enqueue(thread)
    if thread.cpu != Processor.currentIndex {
      _ = RemoteCall.sendIPI(to: thread.cpu, vector: InterruptVector.reschedule)
    }
  }

  /// Blocks the calling thread until someone makes it ready.
  static func block() {
    guard let scheduler = here else { return }
    let interruptsWereOn = x86_read_rflags() & (1 << 9) != 0
    x86_cli()
    scheduler.running.pointee.state = .blocked
    if !scheduler.keepsRunningToEnd() {
      scheduler.reschedule()
      scheduler.retire()
    }
    if interruptsWereOn { x86_sti() }
  }

  /// Blocks the calling thread until `done()` holds; re-checked after every
  /// wakeup. Whoever makes it hold must call `wake` afterwards.
  static func block(until done: () -> Bool) {
    guard let scheduler = here else { return }
    let interruptsWereOn = x86_read_rflags() & (1 << 9) != 0
    while true {
      let interrupts = scheduler.lock.lock()
      if done() {
        scheduler.lock.unlock(interrupts)
        break
      }
      // Marked under the lock that wake takes: a wakeup after the check
      // finds it blocked and queues it.
      scheduler.running.pointee.state = .blocked
      scheduler.lock.unlock(false)
      scheduler.reschedule()
      scheduler.retire()
      if interruptsWereOn { x86_sti() }
    }
    if interruptsWereOn { x86_sti() }
  }

  /// Switches away from a thread that marked itself blocked (under a lock
  /// its wakers hold). Interrupts off.
  static func blockMarked() {
    withHere { scheduler in
      if scheduler.keepsRunningToEnd() { return }
      scheduler.reschedule()
      scheduler.retire()
    }
  }

  /// Makes a blocked thread ready (from any CPU, also from interrupts),
  /// waking its CPU when that is another.
  static func wake(_ thread: Thread) {
    guard thread.cpu < perCPU.count, let target = perCPU[thread.cpu] else { return }
    guard target.wake(thread) else { return }
    if thread.cpu != Processor.currentIndex {
      _ = RemoteCall.sendIPI(to: thread.cpu, vector: InterruptVector.reschedule)
    }
  }

  /// Lets another ready thread of this CPU run first (interrupts end up on).
  static func yield() {
    x86_cli()
    here?.reschedule()
    x86_sti()
  }

  /// Ends the calling thread for good.
  static func exitCurrent() -> Never {
    x86_cli()
    guard let scheduler = here else {
      Panic.halt(because: "a thread exited on a CPU without a scheduler")
    }
    scheduler.running.pointee.state = .dead
    scheduler.switchAwayFromDead()
    Panic.halt(because: "a dead thread was scheduled again")
  }

  /// The timer tick: a user thread that used its slice makes way for other
  /// ready threads (this CPU only; interrupts are off).
  static func tick(fromUser: Bool) -> Bool {
    var switchDue = false
    withHere { scheduler in switchDue = tick(fromUser: fromUser, on: scheduler) }
    return switchDue
  }

  private static func tick(fromUser: Bool, on scheduler: CPUScheduler) -> Bool {
    scheduler.retire()
    let thread = scheduler.running
    thread.pointee.ticksInSlice += 1
    if fromUser && thread.pointee.ticksInSlice >= sliceTicks { return true }
    return scheduler.needsReschedule
  }

  /// At the end of an interrupt: switch if a thread was made ready and the
  /// interrupted code may be preempted (user code, or the idle loop).
  static func preemptIfNeeded(fromUser: Bool, requested: Bool) {
    withHere { scheduler in preempt(fromUser: fromUser, requested: requested, on: scheduler) }
  }

  private static func preempt(fromUser: Bool, requested: Bool, on scheduler: CPUScheduler) {
    let running = scheduler.running
    let idle = scheduler.idle.control
    let sliceUsed = fromUser && running.pointee.ticksInSlice >= sliceTicks
    guard requested || sliceUsed || scheduler.needsReschedule else { return }
    if fromUser { ProcessRunner.exitIfRequested() }
    guard fromUser || running == idle else { return }
    // mOS: an LWK thread runs until it blocks, yields or exits; only a
    // thread of higher priority (the control thread) may take its CPU.
    if KernelInstance.kind == .lwk && running != idle
      && scheduler.highestReadyPriority <= running.pointee.priority
    {
      return
    }
    scheduler.reschedule()
    scheduler.retire()
    if fromUser { ProcessRunner.exitIfRequested() }
  }
}

/// The idle thread: sleeps until an interrupt; the interrupt's end switches
/// to whatever became ready. A thread that died on this CPU is retired here
/// too: otherwise it would stay unretired (and its process unreaped) until
/// this CPU next had something to run.
let idleLoop: @convention(c) (UInt64) -> Void = { _ in
  while true {
    x86_cli()
    Scheduler.withHere { $0.retire() }
    x86_sti_hlt()
  }
}
