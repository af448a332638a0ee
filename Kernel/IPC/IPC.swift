import X86

/// Synchronous IPC through endpoints (ABI in Kernel/Core/UserABI/SystemCall.swift).
/// The queues and wait states are Core's (IPCRendezvous); this file moves
/// the message words and schedules the threads a move names.
///
/// A message is four words plus at most one capability. It goes straight
/// from the sender's saved registers into the receiver's, so nothing is
/// buffered or allocated. A call hands the CPU directly to a receiver on the
/// same CPU (no run-queue round trip), and a reply-and-receive hands it back
/// to the caller; a partner on another service CPU is made ready there and
/// woken with an IPI.
///
/// Everything runs under KernelLock. A thread that must wait marks itself
/// blocked under the lock, so a partner on another CPU that makes it ready
/// before it has switched away is not lost (see Scheduler.wake).
enum IPC {
  typealias Frame = UnsafeMutablePointer<InterruptFrame>
  typealias Block = UnsafeMutablePointer<ThreadControlBlock>
  typealias Words = (UInt64, UInt64, UInt64, UInt64)

  // MARK: System calls

  /// send and call: endpoint in RDI, words in RSI, RDX, R10, R8, a
  /// capability to transfer in R9.
  static func send(_ frame: Frame, call: Bool, on scheduler: CPUScheduler) {
    let me = scheduler.current
    guard let space = me.capabilitySpace else { return }
    let interrupts = KernelLock.acquire()
    if let error = resolve(space, slot: frame.pointee.rdi, requiring: .write, for: me) {
      return finish(frame, error, interrupts)
    }
    let transfer = frame.pointee.r9
    if transfer != 0 {
      do throws(CapabilityError) {
        let info = try ProcessCapabilities.system.inspect(
          CapabilityAddress(space: space, slot: transfer))
        guard info.capability.rights.contains(.grant) else {
          me.ipc.pointee.clearWait()
          return finish(frame, .missingRights, interrupts)
        }
      } catch {
        me.ipc.pointee.clearWait()
        return finish(frame, SystemCallError(error), interrupts)
      }
    }
    guard let met = IPCRendezvous.send(me.ipc, call: call) else {
      me.state = .blocked
      return wait(interrupts)
    }
    let receiver = ThreadControlBlock.of(met)
    deliver(
      from: me.control, to: receiver, into: receiver.pointee.userFrame,
      receiveSlot: met.pointee.receiveSlot)
    if !IPCRendezvous.delivered(from: me.ipc, to: met) {
      me.state = .blocked
      return handOff(to: receiver, scheduler, interrupts)
    }
    frame.pointee.rax = 0
    Scheduler.wake(Thread.of(met))
    KernelLock.release(interrupts)
  }

  /// receive: endpoint in RDI, the slot for a transferred capability in RSI.
  static func receive(_ frame: Frame, on scheduler: CPUScheduler) {
    let me = scheduler.current
    let interrupts = KernelLock.acquire()
    receive(
      frame, me: me, endpointSlot: frame.pointee.rdi, receiveSlot: frame.pointee.rsi,
      replied: nil, scheduler, interrupts)
  }

  /// reply: words in RDI, RSI, RDX, R10.
  static func reply(_ frame: Frame, on scheduler: CPUScheduler) {
    let me = scheduler.current
    let words = (frame.pointee.rdi, frame.pointee.rsi, frame.pointee.rdx, frame.pointee.r10)
    let interrupts = KernelLock.acquire()
    guard me.ipc.pointee.replyTo != nil else { return finish(frame, .noReplyPending, interrupts) }
    guard let caller = answer(me.ipc, with: words) else {
      return finish(frame, .ipcAborted, interrupts)
    }
    frame.pointee.rax = 0
    Scheduler.wake(Thread.of(caller))
    KernelLock.release(interrupts)
  }

  /// replyReceive: endpoint in RDI, reply words in RSI, RDX, R10, R8, the
  /// receive slot in R9. Without a call to answer it only receives.
  static func replyReceive(_ frame: Frame, on scheduler: CPUScheduler) {
    let me = scheduler.current
    let words = (frame.pointee.rsi, frame.pointee.rdx, frame.pointee.r10, frame.pointee.r8)
    let (endpointSlot, receiveSlot) = (frame.pointee.rdi, frame.pointee.r9)
    let interrupts = KernelLock.acquire()
    let caller = answer(me.ipc, with: words)
    receive(
      frame, me: me, endpointSlot: endpointSlot, receiveSlot: receiveSlot,
      replied: caller.map(ThreadControlBlock.of), scheduler, interrupts)
  }

  // MARK: Aborting

  /// Capability `id` to `endpoint` went (nil: the endpoint itself): every
  /// IPC blocked through it fails with ipcAborted.
  static func abort(_ endpoint: Endpoint, through id: CapabilityID?) {
    guard !endpoint.isIdle else { return }
    for waiter in IPCRendezvous.abortQueued(endpoint.queues, through: id) {
      fail(Thread.of(waiter))
    }
    // Calls delivered through it and waiting for their reply are found
    // through their processes (rare: not worth a list on the fast path).
    for process in ProcessRunner.live {
      for thread in process.threads
      where IPCRendezvous.waitsForReply(thread.ipc, on: endpoint.queues, through: id) {
        IPCRendezvous.abandon(thread.ipc)
        fail(thread)
      }
    }
  }

  /// A thread ends: it leaves every queue, and a caller waiting for its
  /// reply fails.
  static func cancel(_ thread: Thread) {
    if let caller = IPCRendezvous.cancel(thread.ipc) { fail(Thread.of(caller)) }
  }

  // MARK: Internals

  /// Its wait is over (abandoned): the call ends with ipcAborted.
  private static func fail(_ thread: Thread) {
    thread.userFrame.pointee.rax = UInt64(bitPattern: SystemCallError.ipcAborted.rawValue)
    Scheduler.wake(thread)
  }

  private static func finish(_ frame: Frame, _ error: SystemCallError, _ interrupts: Bool) {
    frame.pointee.rax = UInt64(bitPattern: error.rawValue)
    KernelLock.release(interrupts)
  }

  /// Makes the thread arrive at the endpoint behind `slot` (IPCThread.arrive)
  /// when the capability there has `rights`; else the error. A current entry
  /// of its process's slot cache answers at once (it says what a lookup
  /// would); a full lookup refills it.
  private static func resolve(
    _ space: SpaceID, slot: UInt64, requiring rights: Rights, for thread: Thread
  ) -> SystemCallError? {
    if let entry = thread.control.pointee.slotCache?.find(
      slot, removals: ProcessCapabilities.system.removals, requiring: rights)
    {
      thread.ipc.pointee.clearWait()
      thread.ipc.pointee.arrive(
        at: entry.pointee.endpointQueues, capability: entry.pointee.capability,
        label: entry.pointee.label)
      return nil
    }
    do throws(CapabilityError) {
      let (id, capability) = try ProcessCapabilities.lookup(
        CapabilityAddress(space: space, slot: slot), type: .endpoint, requiring: rights)
      guard let endpoint = KernelObjects.endpoint(capability.object) else { return .invalidObject }
      let label = capability.label ?? 0
      thread.ipc.pointee.clearWait()
      thread.ipc.pointee.arrive(at: endpoint.queues, capability: id, label: label)
      thread.control.pointee.slotCache?.fill(
        slot, removals: ProcessCapabilities.system.removals,
        object: UnsafeMutableRawPointer(endpoint.queues), capability: id,
        rights: capability.rights, label: label)
      return nil
    } catch {
      return SystemCallError(error)
    }
  }

  private static func receive(
    _ frame: Frame, me: Thread, endpointSlot: UInt64, receiveSlot: UInt64, replied: Block?,
    _ scheduler: CPUScheduler, _ interrupts: Bool
  ) {
    guard let space = me.capabilitySpace else {
      if let replied { wake(replied) }
      return finish(frame, .invalidObject, interrupts)
    }
    if let error = resolve(space, slot: endpointSlot, requiring: .read, for: me) {
      me.ipc.pointee.clearWait()
      if let replied { wake(replied) }
      return finish(frame, error, interrupts)
    }
    if let met = IPCRendezvous.receive(me.ipc, receiveSlot: receiveSlot) {
      let sender = ThreadControlBlock.of(met)
      deliver(from: sender, to: me.control, into: frame, receiveSlot: receiveSlot)
      if IPCRendezvous.delivered(from: met, to: me.ipc) {
        sender.pointee.userFrame.pointee.rax = 0
        wake(sender)
      }
      if let replied { wake(replied) }
      KernelLock.release(interrupts)
      return
    }
    me.state = .blocked
    if let replied { return handOff(to: replied, scheduler, interrupts) }
    wait(interrupts)
  }

  /// Gives a reply to the caller `me` owes one; nil when there is none or
  /// it gave up (aborted) meanwhile.
  @inline(__always)
  static func answer(_ me: IPCThreadPointer, with words: Words) -> IPCThreadPointer? {
    guard let caller = IPCRendezvous.answer(me) else { return nil }
    let out = ThreadControlBlock.of(caller).pointee.userFrame
    out.pointee.rax = 0
    out.pointee.rdi = words.0
    out.pointee.rsi = words.1
    out.pointee.rdx = words.2
    out.pointee.r10 = words.3
    return caller
  }

  /// Copies the sender's words (RSI, RDX, R10, R8 of its send or call) and
  /// its label into the receiver's registers, and the capability named in
  /// its R9 into the receiver's `receiveSlot` when both are set and the
  /// copy is allowed.
  private static func deliver(
    from sender: Block, to receiver: Block, into out: Frame, receiveSlot: UInt64
  ) {
    let from = sender.pointee.userFrame
    var landed: UInt64 = 0
    if from.pointee.r9 != 0, receiveSlot != 0,
      let source = sender.pointee.thread.takeUnretainedValue().capabilitySpace,
      let destination = receiver.pointee.thread.takeUnretainedValue().capabilitySpace
    {
      do throws(CapabilityError) {
        try ProcessCapabilities.system.copy(
          CapabilityAddress(space: source, slot: from.pointee.r9),
          to: CapabilityAddress(space: destination, slot: receiveSlot))
        landed = receiveSlot
      } catch {
        landed = 0  // the message arrives without it
      }
    }
    copyWords(from: from, label: sender.pointee.ipc.pointee.label, to: out, landed: landed)
  }

  /// The message itself: RAX 0, the four words, the slot a capability
  /// landed in (0: none) and the sender's label.
  @inline(__always)
  static func copyWords(from: Frame, label: UInt64, to out: Frame, landed: UInt64) {
    out.pointee.rax = 0
    out.pointee.rdi = from.pointee.rsi
    out.pointee.rsi = from.pointee.rdx
    out.pointee.rdx = from.pointee.r10
    out.pointee.r10 = from.pointee.r8
    out.pointee.r8 = landed
    out.pointee.r9 = label
  }

  /// The caller is blocked: run `next` here at once when it lives on this
  /// CPU and nothing of higher priority is ready, else make it ready on its
  /// own CPU and let this one pick.
  private static func handOff(to next: Block, _ scheduler: CPUScheduler, _ interrupts: Bool) {
    if runsAtOnce(next, on: scheduler) {
      switchNow(to: next, scheduler, interrupts)
      return
    }
    wake(next)
    wait(interrupts)
  }

  /// Whether a blocked `next` may take this CPU straight from its partner:
  /// it lives here and nothing of higher priority is ready.
  @inline(__always)
  static func runsAtOnce(_ next: Block, on scheduler: CPUScheduler) -> Bool {
    next.pointee.cpu == scheduler.cpu && next.pointee.state == .blocked
      && next.pointee.priority >= scheduler.highestReadyPriority
  }

  /// Under KernelLock, with the caller marked blocked: switches to `next`
  /// (no run queue on the way), and returns when the caller runs again.
  @inline(__always)
  static func switchNow(to next: Block, _ scheduler: CPUScheduler, _ interrupts: Bool) {
    next.pointee.state = .ready  // not blocked any more: wakers leave it alone
    KernelLock.release(false)
    scheduler.handOff(to: next)
    if scheduler.dying != nil { scheduler.retire() }
    if interrupts { x86_sti() }
  }

  private static func wake(_ block: Block) {
    Scheduler.wake(block.pointee.thread.takeUnretainedValue())
  }

  /// The caller has marked itself blocked under the lock: switch away.
  private static func wait(_ interrupts: Bool) {
    KernelLock.release(false)
    Scheduler.blockMarked()
    if interrupts { x86_sti() }
  }
}
