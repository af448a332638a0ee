import X86

/// A thread: kernel-only (the shell, idle loops) or one thread of a user
/// process. Its saved kernel stack pointer lives in memory of its own, not in
/// a Swift property, because context_switch writes it through a pointer that
/// must stay valid while the thread is switched out.
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
  var state: State = .ready
  /// Changed only through CPUScheduler.setPriority (it picks the queue).
  var priority: Int
  /// The service CPU whose run queue holds this thread.
  let cpu: Int
  /// Top of the kernel stack it enters the kernel on (0: the CPU's boot stack).
  let kernelStackTop: UInt64
  let savedStackPointer: UnsafeMutablePointer<UInt64>
  /// Its process's page-table root (0: a kernel thread), kept here so a
  /// switch needs no walk to the process.
  let pageTableRoot: UInt64
  /// The FS base (thread-local storage) of a user thread.
  var threadPointer: UInt64 = 0
  /// Shipped messages this thread sent (LWK triage tells a shipped call
  /// from one refused before it left).
  var shippedMessages: UInt64 = 0
  /// Timer ticks since it last got the CPU.
  var ticksInSlice = 0
  /// Dead and switched away from: its stack may be freed.
  var retired = false
  /// Asked to end (its thread object was destroyed); it does at its next
  /// way out of the kernel.
  var killRequested = false
  /// Where it waits in IPC, and the endpoint capability it came through
  /// (guarded by KernelLock; see IPC).
  var ipc = IPCWait<Thread>()
  /// The caller this thread received a call from and owes a reply. Not a
  /// counted reference (the IPC path would pay for it twice per call): a
  /// caller that ends clears it first (IPC.cancel).
  unowned(unsafe) var replyTo: Thread? = nil
  /// Its process's capability space, kept here for the IPC path.
  let capabilitySpace: SpaceID?

  /// The user registers saved at the top of its kernel stack on every entry
  /// from user mode (system call or interrupt).
  var userFrame: UnsafeMutablePointer<InterruptFrame> {
    UnsafeMutablePointer(
      bitPattern: UInt(kernelStackTop - UInt64(MemoryLayout<InterruptFrame>.stride)))!
  }

  init(tid: Int, name: String, process: Process?, priority: Int, cpu: Int, kernelStackTop: UInt64) {
    self.tid = tid
    self.name = name
    self.process = process
    self.priority = min(max(priority, 0), Thread.priorities - 1)
    self.cpu = cpu
    self.kernelStackTop = kernelStackTop
    pageTableRoot = process?.space.table.root ?? 0
    capabilitySpace = process?.capabilitySpace
    savedStackPointer = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    savedStackPointer.initialize(to: 0)
  }

  deinit { savedStackPointer.deallocate() }

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
    savedStackPointer.pointee = UInt64(UInt(bitPattern: stack))
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
  }
}
