import X86

/// The block each CPU's GS base points at: what the system-call entry, the
/// switch and the assembly IPC fast path (Boot/ipcfast.S) need of this CPU,
/// as plain fields one gs-relative move reaches, without looking the CPU or
/// its scheduler up. The instance that runs a CPU allocates its block
/// (Processor); the CPU's scheduler keeps its hot state here (CPUScheduler's
/// `running`, `needsReschedule` and the rest are views of these fields).
/// Offsets: Boot/include/layout.h, checked at boot (IPCFastPathLayout).
struct PerCPUBlock {
  /// Its own address, for a pointer to it without an MSR read.
  var selfAddress: UInt64 = 0
  /// The CPU's logical number.
  let cpu: UInt64
  /// syscall_entry's scratch word for the user stack pointer.
  var userStack: UInt64 = 0
  /// The kernel stack a system call from user mode switches to.
  var kernelStackTop: UInt64 = 0
  /// The address of this CPU's TSS.RSP0 (0 before its tables exist).
  var tssStackField: UInt64 = 0
  /// Frame allocations and frees made on this CPU (Frames).
  var frameOperations: UInt64 = 0
  /// This CPU's scheduler, unretained (perCPU keeps it), 0 before it has one.
  var scheduler: UnsafeMutableRawPointer? = nil
  /// The running thread's control block (set with the scheduler).
  var running: UnsafeMutablePointer<ThreadControlBlock>? = nil
  /// The user thread whose vector registers this CPU holds.
  var vectorOwner: UnsafeMutablePointer<ThreadControlBlock>? = nil
  /// The FS base this CPU has.
  var fsBase: UInt64 = 0
  /// Thread switches on this CPU.
  var switches: UInt64 = 0
  /// IPC operations the fast path did on this CPU.
  var fastIPC: UInt64 = 0
  /// The highest priority with a ready thread (-1: none): the run queue's,
  /// copied on every change of it.
  var highestReady = -1
  /// The capability system's removal count (what a slot cache entry must
  /// match), for the fast path.
  var removals: UnsafePointer<UInt64>? = nil
  /// The byte of the kernel lock (KernelLock), for the fast path.
  var kernelLock: UnsafeMutableRawPointer? = nil
  /// A switch is due (set by whoever made a thread ready).
  var needsReschedule = false
  /// A dead thread waits to be retired once the CPU left its stack.
  var retiring = false
  /// Not 0 unless the IPC fast path may run here (a service CPU,
  /// `nofastpath` not given, the layout checked). Two bytes, so that the
  /// fast path's entry tests it and the two flags above with one 32-bit
  /// compare.
  var ipcFastPathOff: UInt16 = 1
  /// The CPU's idle thread, which the fast path switches to when it hands
  /// its partner to another CPU and nothing else is ready here.
  var idle: UnsafeMutablePointer<ThreadControlBlock>? = nil
  /// A thread the fast path on another CPU made ready for this one (under
  /// `schedulerLock`): the next pick takes it (CPUScheduler.pickNext).
  var handoff: UnsafeMutablePointer<ThreadControlBlock>? = nil
  /// The byte of this CPU's scheduler lock, for other CPUs' fast paths.
  var schedulerLock: UnsafeMutableRawPointer? = nil
  /// The kernel's own page tables, which a kernel thread runs on.
  var kernelRoot: UInt64 = 0
  /// This CPU's local APIC ID, the destination of IPIs to it.
  var apicID: UInt64 = 0
  /// Where an xAPIC takes an IPI command (its ICR low word, in the direct
  /// map; the high word is 16 bytes above); 0 in x2APIC mode (MSR 0x830).
  var apicCommand: UInt64 = 0
  /// Where an xAPIC takes the end of an interrupt (in the direct map); 0 in
  /// x2APIC mode (MSR 0x80B).
  var apicEndOfInterrupt: UInt64 = 0

  init(cpu: Int) { self.cpu = UInt64(cpu) }

  /// A zeroed block for CPU `cpu` that knows its own address.
  static func allocate(cpu: Int) -> UnsafeMutablePointer<PerCPUBlock> {
    let block = UnsafeMutablePointer<PerCPUBlock>.allocate(capacity: 1)
    block.initialize(to: PerCPUBlock(cpu: cpu))
    block.pointee.selfAddress = UInt64(UInt(bitPattern: block))
    return block
  }
}
