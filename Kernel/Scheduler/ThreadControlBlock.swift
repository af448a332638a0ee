/// A thread's state that the IPC fast path and the switch read and write:
/// plain fields at a known place, reached through a raw pointer, so neither
/// counts references, unwraps an optional or checks an array bound. The
/// Thread object owns it and presents its fields as properties, so the rest
/// of the kernel goes on using threads as objects. The assembly fast path
/// (Boot/ipcfast.S) reads it at the offsets of Boot/include/layout.h:
/// reorder a field and the boot check (IPCFastPathLayout) names it.
struct ThreadControlBlock {
  /// Its part in IPC (Core's record; that record's owner is this block).
  let ipc: IPCThreadPointer
  var state: Thread.State = .ready
  /// Changed only through CPUScheduler.setPriority (it picks the queue).
  var priority: Int
  /// The service CPU whose run queue holds it.
  let cpu: Int
  /// Top of the kernel stack it enters the kernel on (0: the CPU's boot stack).
  let kernelStackTop: UInt64
  /// Where context_switch keeps its kernel stack pointer while it is
  /// switched out.
  var savedStackPointer: UInt64 = 0
  /// Its process's page-table root (0: a kernel thread).
  let pageTableRoot: UInt64
  /// The FS base (thread-local storage) of a user thread.
  var threadPointer: UInt64 = 0
  /// Timer ticks since it last got the CPU.
  var ticksInSlice = 0
  /// Asked to end; it does at its next way out of the kernel.
  var killRequested = false
  /// Its process's ID (0: a kernel thread).
  let processID: UInt64
  /// Its process's capability lookups (nil: a kernel thread).
  let slotCache: CapabilitySlotCache?
  /// A user thread's vector registers while another user thread has the
  /// CPU's (fxsave layout; nil: a kernel thread, which never uses them).
  let vectorState: UnsafeMutableRawPointer?
  /// The object this block belongs to.
  let thread: Unmanaged<Thread>
  /// The per-CPU block of its CPU (another CPU's fast path hands it over
  /// through it).
  let cpuBlock: UnsafeMutablePointer<PerCPUBlock>?

  static let vectorStateBytes = 512

  /// A fresh thread's vector registers: as after FNINIT, with every SSE
  /// exception masked (MXCSR 0x1F80), like a process starting on Linux.
  static func initialVectorState() -> UnsafeMutableRawPointer {
    let area = UnsafeMutableRawPointer.allocate(byteCount: vectorStateBytes, alignment: 16)
    area.initializeMemory(as: UInt8.self, repeating: 0, count: vectorStateBytes)
    area.storeBytes(of: 0x037F, toByteOffset: 0, as: UInt16.self)  // FCW
    area.storeBytes(of: 0x1F80, toByteOffset: 24, as: UInt32.self)  // MXCSR
    return area
  }

  /// The block whose IPC record is `ipc`.
  @inline(__always)
  static func of(_ ipc: IPCThreadPointer) -> UnsafeMutablePointer<ThreadControlBlock> {
    ipc.pointee.owner.unsafelyUnwrapped.assumingMemoryBound(to: ThreadControlBlock.self)
  }

  /// The user registers saved at the top of its kernel stack on every entry
  /// from user mode.
  @inline(__always)
  var userFrame: UnsafeMutablePointer<InterruptFrame> {
    UnsafeMutablePointer(
      bitPattern: UInt(kernelStackTop - UInt64(MemoryLayout<InterruptFrame>.stride))
    ).unsafelyUnwrapped
  }
}
