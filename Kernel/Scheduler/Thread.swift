import X86

/// A thread: kernel-only (the shell, idle loops) or one thread of a user
/// process. What the switch and the IPC fast path touch lives in its
/// control block (plain memory of its own, see ThreadControlBlock); the
/// properties below that read and write it keep the object's interface.
final class Thread {
  enum State {
    case ready, running, blocked, dead

    var description: String {
      switch self {
      case .ready: "ready"
      case .running: "running"
      case .blocked: "blocked"
      case .dead: "dead"
      }
    }
  }

  static let priorities = 4  // 0 lowest ... 3 highest

  let tid: Int
  let name: String
  let process: Process?
  let control: UnsafeMutablePointer<ThreadControlBlock>
  /// Shipped messages this thread sent (LWK triage tells a shipped call
  /// from one refused before it left).
  var shippedMessages: UInt64 = 0
  /// Dead and switched away from: its stack may be freed.
  var retired = false
  /// Its process's capability space, kept here for the IPC path.
  let capabilitySpace: SpaceID?

  var state: State {
    get { control.pointee.state }
    set { control.pointee.state = newValue }
  }
  /// Changed only through CPUScheduler.setPriority (it picks the queue).
  var priority: Int {
    get { control.pointee.priority }
    set { control.pointee.priority = newValue }
  }
  /// The service CPU whose run queue holds this thread.
  var cpu: Int { control.pointee.cpu }
  /// Top of the kernel stack it enters the kernel on (0: the CPU's boot stack).
  var kernelStackTop: UInt64 { control.pointee.kernelStackTop }
  /// The FS base (thread-local storage) of a user thread.
  var threadPointer: UInt64 {
    get { control.pointee.threadPointer }
    set { control.pointee.threadPointer = newValue }
  }
  /// Timer ticks since it last got the CPU.
  var ticksInSlice: Int {
    get { control.pointee.ticksInSlice }
    set { control.pointee.ticksInSlice = newValue }
  }
  /// Asked to end (its thread object was destroyed); it does at its next
  /// way out of the kernel.
  var killRequested: Bool {
    get { control.pointee.killRequested }
    set { control.pointee.killRequested = newValue }
  }
  /// Where it waits in IPC, the endpoint capability it came through, and
  /// the caller it owes a reply (guarded by KernelLock; see IPC).
  var ipc: IPCThreadPointer { control.pointee.ipc }
  /// The user registers saved at the top of its kernel stack on every entry
  /// from user mode (system call or interrupt).
  var userFrame: UnsafeMutablePointer<InterruptFrame> { control.pointee.userFrame }

  /// The thread whose IPC record is `ipc`. Not a counted reference: a
  /// thread leaves IPC (IPC.cancel) before it goes.
  static func of(_ ipc: IPCThreadPointer) -> Thread {
    ThreadControlBlock.of(ipc).pointee.thread.takeUnretainedValue()
  }

  init(tid: Int, name: String, process: Process?, priority: Int, cpu: Int, kernelStackTop: UInt64) {
    self.tid = tid
    self.name = name
    self.process = process
    capabilitySpace = process?.capabilitySpace
    control = .allocate(capacity: 1)
    let ipc = IPCThreadPointer.allocate(capacity: 1)
    ipc.initialize(to: IPCThread(owner: UnsafeMutableRawPointer(control)))
    control.initialize(
      to: ThreadControlBlock(
        ipc: ipc, priority: min(max(priority, 0), Thread.priorities - 1), cpu: cpu,
        kernelStackTop: kernelStackTop, pageTableRoot: process?.space.table.root ?? 0,
        processID: UInt64(process?.pid ?? 0),
        slotCache: process?.slotCache,
        vectorState: process == nil ? nil : ThreadControlBlock.initialVectorState(),
        thread: Unmanaged.passUnretained(self),
        cpuBlock: cpu < processors.count ? processors[cpu].block : nil))
  }

  /// Only once it is retired (or never ran): no CPU's vector registers
  /// belong to it any more (CPUScheduler.switchAwayFromDead).
  deinit {
    control.pointee.vectorState?.deallocate()
    control.pointee.ipc.deallocate()
    control.deallocate()
  }

  /// Lays out a fresh kernel stack so that the first switch to this thread
  /// "returns" into thread_trampoline, which calls `entry(argument)`.
  func prepareFirstRun(entry: UInt64, argument: UInt64, below top: UInt64) {
    let stack = UnsafeMutablePointer<UInt64>(bitPattern: UInt(top - 7 * 8))!
    stack[0] = 0  // r15
    stack[1] = 0  // r14
    stack[2] = argument  // r13
    stack[3] = entry  // r12
    stack[4] = 0  // rbx
    stack[5] = 0  // rbp
    stack[6] = symbol_thread_trampoline()
    control.pointee.savedStackPointer = UInt64(UInt(bitPattern: stack))
  }
}

/// A user program: its address space and the frames behind it, its threads,
/// and how it ended. Destroying it returns every frame and page table.
final class Process {
  let pid: Int
  let name: String
  let space: AddressSpace
  /// Frames it owns and frees when destroyed; on the LWK instance one
  /// entry, the base of a contiguous run (Frames.free gives back the run).
  var frames: [UInt64] = []
  /// Its threads, the first one first; dead ones stay until it is reaped.
  var threads: [Thread] = []
  var exitStatus: String? = nil
  /// The exit code for `wait`: the status of exit, nil when killed.
  var exitCode: Int64? = nil
  var killRequested = false
  var capabilitySpace: SpaceID? = nil
  /// Its endpoint lookups for the IPC fast path (CapabilitySlotCache);
  /// shared by its threads, made with its capability space.
  var slotCache: CapabilitySlotCache? = nil
  /// The object its first thread's capability names, until that thread exists.
  var initialThreadObject: ObjectID? = nil
  /// The process that spawned it (nil: started from the shell).
  var parentPID: Int? = nil
  /// Threads waiting for it to end (the shell's `run`, a parent's `wait`).
  var waiters: [Thread] = []
  /// Threads waiting for its last thread to be dead (the shell's `kill`).
  var deathWaiters: [Thread] = []

  var allThreadsDead: Bool { threads.allSatisfy { $0.state == .dead } }

  init(pid: Int, name: String, space: AddressSpace) {
    self.pid = pid
    self.name = name
    self.space = space
  }

  func destroy() {
    ProcessCapabilities.release(self)
    space.release()
    for frame in frames { Frames.free(frame) }
    frames.removeAll()
    for thread in threads where thread.kernelStackTop != 0 {
      KernelStacks.release(top: thread.kernelStackTop)
    }
    threads.removeAll()
    waiters.removeAll()
    slotCache?.deallocate()
    slotCache = nil
  }
}
