import X86

/// The assembly IPC fast path (Boot/ipcfast.S) reads the kernel's plain
/// structures at the offsets Boot/include/layout.h claims. Swift decides
/// those layouts, so the kernel checks every claim at boot, before any CPU
/// may take the fast path, and halts naming the first wrong one: a moved
/// field is a build mistake to correct in layout.h, never a silent
/// corruption. (IPCLayoutTests checks the Core ones on the host as well.)
///
/// It also turns the fast path on per CPU: a service CPU's per-CPU block
/// gets the addresses the assembly needs and its `ipcFastPathOff` cleared, unless
/// the `nofastpath` boot option was given.
enum IPCFastPathLayout {
  /// Cleared by `nofastpath` (before any CPU's scheduler starts).
  nonisolated(unsafe) static var requested = true
  nonisolated(unsafe) private static var verified = false

  /// Lets the fast path run on the CPU of `scheduler` (block `block`) when
  /// it may.
  static func enable(on block: UnsafeMutablePointer<PerCPUBlock>, for scheduler: CPUScheduler) {
    guard requested, KernelInstance.kind == .service else { return }
    if !verified {
      verify()
      verified = true
    }
    block.pointee.removals = ProcessCapabilities.removalsAddress
    block.pointee.kernelLock = KernelLock.lock.word
    block.pointee.idle = scheduler.idle.control
    block.pointee.schedulerLock = scheduler.lock.word
    block.pointee.kernelRoot = KernelAddressSpace.table?.root ?? 0
    block.pointee.apicID = UInt64(processors[scheduler.cpu].apicID)
    if !LocalAPIC.x2APIC {
      let registers = PhysicalMemory.directMapBase + LocalAPIC.physicalBase
      block.pointee.apicCommand =
        registers + UInt64(LocalAPIC.Register.interruptCommandLow.rawValue)
      block.pointee.apicEndOfInterrupt =
        registers + UInt64(LocalAPIC.Register.endOfInterrupt.rawValue)
    }
    block.pointee.ipcFastPathOff = 0
  }

  /// Halts unless every offset in layout.h is the one Swift chose.
  static func verify() {
    typealias Block = PerCPUBlock
    typealias TCB = ThreadControlBlock
    typealias Entry = CapabilitySlotCacheEntry
    typealias Queues = IPCEndpointQueues
    check("PERCPU_SELF", PERCPU_SELF, MemoryLayout<Block>.offset(of: \.selfAddress))
    check("PERCPU_CPU", PERCPU_CPU, MemoryLayout<Block>.offset(of: \.cpu))
    check("PERCPU_USER_STACK", PERCPU_USER_STACK, MemoryLayout<Block>.offset(of: \.userStack))
    check(
      "PERCPU_KERNEL_STACK_TOP", PERCPU_KERNEL_STACK_TOP,
      MemoryLayout<Block>.offset(of: \.kernelStackTop))
    check(
      "PERCPU_TSS_STACK_FIELD", PERCPU_TSS_STACK_FIELD,
      MemoryLayout<Block>.offset(of: \.tssStackField))
    check(
      "PERCPU_FRAME_OPERATIONS", PERCPU_FRAME_OPERATIONS,
      MemoryLayout<Block>.offset(of: \.frameOperations))
    check("PERCPU_SCHEDULER", PERCPU_SCHEDULER, MemoryLayout<Block>.offset(of: \.scheduler))
    check("PERCPU_RUNNING", PERCPU_RUNNING, MemoryLayout<Block>.offset(of: \.running))
    check(
      "PERCPU_VECTOR_OWNER", PERCPU_VECTOR_OWNER, MemoryLayout<Block>.offset(of: \.vectorOwner))
    check("PERCPU_FS_BASE", PERCPU_FS_BASE, MemoryLayout<Block>.offset(of: \.fsBase))
    check("PERCPU_SWITCHES", PERCPU_SWITCHES, MemoryLayout<Block>.offset(of: \.switches))
    check("PERCPU_FAST_IPC", PERCPU_FAST_IPC, MemoryLayout<Block>.offset(of: \.fastIPC))
    check(
      "PERCPU_HIGHEST_READY", PERCPU_HIGHEST_READY, MemoryLayout<Block>.offset(of: \.highestReady))
    check("PERCPU_REMOVALS", PERCPU_REMOVALS, MemoryLayout<Block>.offset(of: \.removals))
    check("PERCPU_KERNEL_LOCK", PERCPU_KERNEL_LOCK, MemoryLayout<Block>.offset(of: \.kernelLock))
    check(
      "PERCPU_NEEDS_RESCHEDULE", PERCPU_NEEDS_RESCHEDULE,
      MemoryLayout<Block>.offset(of: \.needsReschedule))
    check("PERCPU_RETIRING", PERCPU_RETIRING, MemoryLayout<Block>.offset(of: \.retiring))
    check(
      "PERCPU_IPC_FAST_PATH_OFF", PERCPU_IPC_FAST_PATH_OFF,
      MemoryLayout<Block>.offset(of: \.ipcFastPathOff))
    check("PERCPU_IDLE", PERCPU_IDLE, MemoryLayout<Block>.offset(of: \.idle))
    check("PERCPU_HANDOFF", PERCPU_HANDOFF, MemoryLayout<Block>.offset(of: \.handoff))
    check(
      "PERCPU_SCHEDULER_LOCK", PERCPU_SCHEDULER_LOCK,
      MemoryLayout<Block>.offset(of: \.schedulerLock))
    check("PERCPU_KERNEL_ROOT", PERCPU_KERNEL_ROOT, MemoryLayout<Block>.offset(of: \.kernelRoot))
    check("PERCPU_APIC_ID", PERCPU_APIC_ID, MemoryLayout<Block>.offset(of: \.apicID))
    check(
      "PERCPU_APIC_COMMAND", PERCPU_APIC_COMMAND, MemoryLayout<Block>.offset(of: \.apicCommand))
    check(
      "PERCPU_APIC_END_OF_INTERRUPT", PERCPU_APIC_END_OF_INTERRUPT,
      MemoryLayout<Block>.offset(of: \.apicEndOfInterrupt))

    check("TCB_IPC", TCB_IPC, MemoryLayout<TCB>.offset(of: \.ipc))
    check("TCB_STATE", TCB_STATE, MemoryLayout<TCB>.offset(of: \.state))
    check("TCB_PRIORITY", TCB_PRIORITY, MemoryLayout<TCB>.offset(of: \.priority))
    check("TCB_CPU", TCB_CPU, MemoryLayout<TCB>.offset(of: \.cpu))
    check(
      "TCB_KERNEL_STACK_TOP", TCB_KERNEL_STACK_TOP, MemoryLayout<TCB>.offset(of: \.kernelStackTop))
    check(
      "TCB_SAVED_STACK_POINTER", TCB_SAVED_STACK_POINTER,
      MemoryLayout<TCB>.offset(of: \.savedStackPointer))
    check(
      "TCB_PAGE_TABLE_ROOT", TCB_PAGE_TABLE_ROOT, MemoryLayout<TCB>.offset(of: \.pageTableRoot))
    check("TCB_THREAD_POINTER", TCB_THREAD_POINTER, MemoryLayout<TCB>.offset(of: \.threadPointer))
    check("TCB_TICKS_IN_SLICE", TCB_TICKS_IN_SLICE, MemoryLayout<TCB>.offset(of: \.ticksInSlice))
    check("TCB_KILL_REQUESTED", TCB_KILL_REQUESTED, MemoryLayout<TCB>.offset(of: \.killRequested))
    check("TCB_SLOT_CACHE", TCB_SLOT_CACHE, MemoryLayout<TCB>.offset(of: \.slotCache))
    check("TCB_VECTOR_STATE", TCB_VECTOR_STATE, MemoryLayout<TCB>.offset(of: \.vectorState))
    check("TCB_CPU_BLOCK", TCB_CPU_BLOCK, MemoryLayout<TCB>.offset(of: \.cpuBlock))
    checkValue("THREAD_READY", THREAD_READY, storedByte(Thread.State.ready))
    checkValue("THREAD_RUNNING", THREAD_RUNNING, storedByte(Thread.State.running))
    checkValue("THREAD_BLOCKED", THREAD_BLOCKED, storedByte(Thread.State.blocked))

    check("IPC_STATE", IPC_STATE, MemoryLayout<IPCThread>.offset(of: \.state))
    check("IPC_ENDPOINT", IPC_ENDPOINT, MemoryLayout<IPCThread>.offset(of: \.endpoint))
    check("IPC_CAPABILITY", IPC_CAPABILITY, MemoryLayout<IPCThread>.offset(of: \.capability))
    check("IPC_LABEL", IPC_LABEL, MemoryLayout<IPCThread>.offset(of: \.label))
    check("IPC_RECEIVE_SLOT", IPC_RECEIVE_SLOT, MemoryLayout<IPCThread>.offset(of: \.receiveSlot))
    check("IPC_SERVER", IPC_SERVER, MemoryLayout<IPCThread>.offset(of: \.server))
    check("IPC_REPLY_TO", IPC_REPLY_TO, MemoryLayout<IPCThread>.offset(of: \.replyTo))
    check("IPC_NEXT", IPC_NEXT, MemoryLayout<IPCThread>.offset(of: \.next))
    check("IPC_OWNER", IPC_OWNER, MemoryLayout<IPCThread>.offset(of: \.owner))
    checkValue("IPC_WAIT_NONE", IPC_WAIT_NONE, Int(IPCWaitState.none.rawValue))
    checkValue("IPC_WAIT_RECEIVING", IPC_WAIT_RECEIVING, Int(IPCWaitState.receiving.rawValue))
    checkValue(
      "IPC_WAIT_AWAITING_REPLY", IPC_WAIT_AWAITING_REPLY,
      Int(IPCWaitState.awaitingReply.rawValue))
    check(
      "QUEUES_SENDERS_HEAD", QUEUES_SENDERS_HEAD,
      MemoryLayout<Queues>.offset(of: \.senders).map { $0 + IPCQueue.headOffset })
    check(
      "QUEUES_RECEIVERS_HEAD", QUEUES_RECEIVERS_HEAD,
      MemoryLayout<Queues>.offset(of: \.receivers).map { $0 + IPCQueue.headOffset })
    check(
      "QUEUES_RECEIVERS_TAIL", QUEUES_RECEIVERS_TAIL,
      MemoryLayout<Queues>.offset(of: \.receivers).map { $0 + IPCQueue.tailOffset })
    check(
      "QUEUES_PENDING_CALLS", QUEUES_PENDING_CALLS,
      MemoryLayout<Queues>.offset(of: \.pendingCalls))

    check("CACHE_ENTRY_SLOT", CACHE_ENTRY_SLOT, MemoryLayout<Entry>.offset(of: \.slot))
    check("CACHE_ENTRY_REMOVALS", CACHE_ENTRY_REMOVALS, MemoryLayout<Entry>.offset(of: \.removals))
    check("CACHE_ENTRY_OBJECT", CACHE_ENTRY_OBJECT, MemoryLayout<Entry>.offset(of: \.object))
    check(
      "CACHE_ENTRY_CAPABILITY", CACHE_ENTRY_CAPABILITY,
      MemoryLayout<Entry>.offset(of: \.capability))
    check("CACHE_ENTRY_RIGHTS", CACHE_ENTRY_RIGHTS, MemoryLayout<Entry>.offset(of: \.rights))
    check("CACHE_ENTRY_LABEL", CACHE_ENTRY_LABEL, MemoryLayout<Entry>.offset(of: \.label))
    checkValue("CACHE_ENTRY_BYTES", CACHE_ENTRY_BYTES, MemoryLayout<Entry>.stride)
    checkValue("CACHE_ENTRIES", CACHE_ENTRIES, CapabilitySlotCache.size)
    checkValue("RIGHT_READ", RIGHT_READ, Int(Rights.read.rawValue))
    checkValue("RIGHT_WRITE", RIGHT_WRITE, Int(Rights.write.rawValue))

    check("FRAME_R10", FRAME_R10, MemoryLayout<InterruptFrame>.offset(of: \.r10))
    check("FRAME_R9", FRAME_R9, MemoryLayout<InterruptFrame>.offset(of: \.r9))
    check("FRAME_R8", FRAME_R8, MemoryLayout<InterruptFrame>.offset(of: \.r8))
    check("FRAME_RDI", FRAME_RDI, MemoryLayout<InterruptFrame>.offset(of: \.rdi))
    check("FRAME_RSI", FRAME_RSI, MemoryLayout<InterruptFrame>.offset(of: \.rsi))
    check("FRAME_RDX", FRAME_RDX, MemoryLayout<InterruptFrame>.offset(of: \.rdx))
    check("FRAME_RAX", FRAME_RAX, MemoryLayout<InterruptFrame>.offset(of: \.rax))
    checkValue("FRAME_BYTES", FRAME_BYTES, MemoryLayout<InterruptFrame>.stride)

    checkValue("SYSCALL_CALL", SYSCALL_CALL, Int(SystemCallNumber.call.rawValue))
    checkValue(
      "SYSCALL_REPLY_RECEIVE", SYSCALL_REPLY_RECEIVE, Int(SystemCallNumber.replyReceive.rawValue))
    checkValue("RESCHEDULE_VECTOR", RESCHEDULE_VECTOR, Int(InterruptVector.reschedule))
  }

  private static func check(_ name: StaticString, _ claimed: Int32, _ actual: Int?) {
    checkValue(name, claimed, actual ?? -1)
  }

  private static func checkValue(_ name: StaticString, _ claimed: Int32, _ actual: Int) {
    guard Int(claimed) != actual else { return }
    Panic.halt(
      because:
        "Boot/include/layout.h: \(name) is \(claimed), but Swift lays it out at \(actual); correct the header"
    )
  }

  /// The byte Swift stores for a case of a payload-free enum.
  private static func storedByte(_ state: Thread.State) -> Int {
    var copy = state
    return withUnsafeBytes(of: &copy) { Int($0[0]) }
  }
}
