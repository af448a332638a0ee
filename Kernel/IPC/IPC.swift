import X86

/// Synchronous IPC through endpoints (ABI in Kernel/Core/UserABI/SystemCall.swift).
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
  typealias Words = (UInt64, UInt64, UInt64, UInt64)

  // MARK: System calls

  /// send and call: endpoint in RDI, words in RSI, RDX, R10, R8, a
  /// capability to transfer in R9.
  static func send(_ frame: Frame, call: Bool, on scheduler: CPUScheduler) {
    let me = scheduler.current
    guard let space = me.capabilitySpace else { return }
    let interrupts = KernelLock.acquire()
    let endpoint: Endpoint
    switch resolve(space, slot: frame.pointee.rdi, requiring: .write, for: me) {
    case .success(let found): endpoint = found
    case .failure(let error): return finish(frame, error, interrupts)
    }
    let transfer = frame.pointee.r9
    if transfer != 0 {
      do throws(CapabilityError) {
        let info = try ProcessCapabilities.system.inspect(
          CapabilityAddress(space: space, slot: transfer))
        guard info.capability.rights.contains(.grant) else {
          me.ipc = IPCWait()
          return finish(frame, .missingRights, interrupts)
        }
      } catch {
        me.ipc = IPCWait()
        return finish(frame, SystemCallError(error), interrupts)
      }
    }
    me.ipc.state = call ? .calling : .sending
    guard !endpoint.receivers.isEmpty else {
      endpoint.senders.append(me)
      me.state = .blocked
      return wait(interrupts)
    }
    let receiver = Endpoint.dequeue(&endpoint.receivers)
    deliver(from: me, to: receiver, into: receiver.userFrame, receiveSlot: receiver.ipc.receiveSlot)
    receiver.ipc = IPCWait()
    if call {
      awaitReply(me, from: receiver)
      me.state = .blocked
      return handOff(to: receiver, scheduler, interrupts)
    }
    me.ipc = IPCWait()
    frame.pointee.rax = 0
    Scheduler.wake(receiver)
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
    guard me.replyTo != nil else { return finish(frame, .noReplyPending, interrupts) }
    guard let caller = answer(me, with: words) else {
      return finish(frame, .ipcAborted, interrupts)
    }
    frame.pointee.rax = 0
    Scheduler.wake(caller)
    KernelLock.release(interrupts)
  }

  /// replyReceive: endpoint in RDI, reply words in RSI, RDX, R10, R8, the
  /// receive slot in R9. Without a call to answer it only receives.
  static func replyReceive(_ frame: Frame, on scheduler: CPUScheduler) {
    let me = scheduler.current
    let words = (frame.pointee.rsi, frame.pointee.rdx, frame.pointee.r10, frame.pointee.r8)
    let (endpointSlot, receiveSlot) = (frame.pointee.rdi, frame.pointee.r9)
    let interrupts = KernelLock.acquire()
    let caller = answer(me, with: words)
    receive(
      frame, me: me, endpointSlot: endpointSlot, receiveSlot: receiveSlot, replied: caller,
      scheduler, interrupts)
  }

  // MARK: Aborting

  /// Capability `id` to `endpoint` went (nil: the endpoint itself): every
  /// IPC blocked through it fails with ipcAborted.
  static func abort(_ endpoint: Endpoint, through id: CapabilityID?) {
    guard !endpoint.isIdle else { return }
    for thread in endpoint.senders + endpoint.receivers
    where id == nil || thread.ipc.capability == id {
      endpoint.remove(thread)
      fail(thread)
    }
    // Calls delivered through it and waiting for their reply are found
    // through their processes (rare: not worth a list on the fast path).
    for process in ProcessRunner.live {
      for thread in process.threads
      where thread.ipc.state == .awaitingReply && thread.ipc.endpoint === endpoint
        && (id == nil || thread.ipc.capability == id)
      {
        fail(thread)
      }
    }
  }

  /// A thread ends: it leaves every queue, and a caller waiting for its
  /// reply fails.
  static func cancel(_ thread: Thread) {
    if thread.ipc.state == .awaitingReply {
      thread.ipc.endpoint?.pendingCalls -= 1
      if let server = thread.ipc.server, server.replyTo === thread { server.replyTo = nil }
    } else {
      thread.ipc.endpoint?.remove(thread)
    }
    thread.ipc = IPCWait()
    if let caller = thread.replyTo {
      thread.replyTo = nil
      if caller.ipc.state == .awaitingReply && caller.ipc.server === thread { fail(caller) }
    }
  }

  // MARK: Internals

  private static func fail(_ thread: Thread) {
    if thread.ipc.state == .awaitingReply {
      thread.ipc.endpoint?.pendingCalls -= 1
      if let server = thread.ipc.server, server.replyTo === thread { server.replyTo = nil }
    }
    thread.ipc = IPCWait()
    thread.userFrame.pointee.rax = UInt64(bitPattern: SystemCallError.ipcAborted.rawValue)
    Scheduler.wake(thread)
  }

  private static func finish(_ frame: Frame, _ error: SystemCallError, _ interrupts: Bool) {
    frame.pointee.rax = UInt64(bitPattern: error.rawValue)
    KernelLock.release(interrupts)
  }

  /// The endpoint behind `slot` when its capability has `rights`; records
  /// the capability and its label in the thread's IPC state.
  private static func resolve(
    _ space: SpaceID, slot: UInt64, requiring rights: Rights, for thread: Thread
  ) -> Result<Endpoint, SystemCallError> {
    do throws(CapabilityError) {
      let (id, capability) = try ProcessCapabilities.lookup(
        CapabilityAddress(space: space, slot: slot), type: .endpoint, requiring: rights)
      guard let endpoint = KernelObjects.endpoint(capability.object) else {
        return .failure(.invalidObject)
      }
      thread.ipc = IPCWait(
        state: .none, endpoint: endpoint, capability: id, label: capability.label ?? 0)
      return .success(endpoint)
    } catch {
      return .failure(SystemCallError(error))
    }
  }

  private static func receive(
    _ frame: Frame, me: Thread, endpointSlot: UInt64, receiveSlot: UInt64, replied: Thread?,
    _ scheduler: CPUScheduler, _ interrupts: Bool
  ) {
    guard let space = me.capabilitySpace else {
      if let replied { Scheduler.wake(replied) }
      return finish(frame, .invalidObject, interrupts)
    }
    let endpoint: Endpoint
    switch resolve(space, slot: endpointSlot, requiring: .read, for: me) {
    case .success(let found): endpoint = found
    case .failure(let error):
      me.ipc = IPCWait()
      if let replied { Scheduler.wake(replied) }
      return finish(frame, error, interrupts)
    }
    if !endpoint.senders.isEmpty {
      let sender = Endpoint.dequeue(&endpoint.senders)
      deliver(from: sender, to: me, into: frame, receiveSlot: receiveSlot)
      me.ipc = IPCWait()
      if sender.ipc.state == .calling {
        awaitReply(sender, from: me)
      } else {
        sender.ipc = IPCWait()
        sender.userFrame.pointee.rax = 0
        Scheduler.wake(sender)
      }
      if let replied { Scheduler.wake(replied) }
      KernelLock.release(interrupts)
      return
    }
    me.ipc.state = .receiving
    me.ipc.receiveSlot = receiveSlot
    endpoint.receivers.append(me)
    me.state = .blocked
    if let replied { return handOff(to: replied, scheduler, interrupts) }
    wait(interrupts)
  }

  /// Gives a reply to the caller `me` owes one; nil when there is none or
  /// it gave up (aborted) meanwhile.
  private static func answer(_ me: Thread, with words: Words) -> Thread? {
    guard let caller = me.replyTo else { return nil }
    me.replyTo = nil
    guard caller.ipc.state == .awaitingReply, caller.ipc.server === me else { return nil }
    caller.ipc.endpoint?.pendingCalls -= 1
    caller.ipc = IPCWait()
    let out = caller.userFrame
    out.pointee.rax = 0
    out.pointee.rdi = words.0
    out.pointee.rsi = words.1
    out.pointee.rdx = words.2
    out.pointee.r10 = words.3
    return caller
  }

  private static func awaitReply(_ caller: Thread, from server: Thread) {
    caller.ipc.endpoint?.pendingCalls += 1
    caller.ipc.state = .awaitingReply
    caller.ipc.server = server
    server.replyTo = caller
  }

  /// Copies the sender's words (RSI, RDX, R10, R8 of its send or call) and
  /// its label into the receiver's registers, and the capability named in
  /// its R9 into the receiver's `receiveSlot` when both are set and the copy
  /// is allowed.
  private static func deliver(
    from sender: Thread, to receiver: Thread, into out: Frame, receiveSlot: UInt64
  ) {
    let from = sender.userFrame
    var landed: UInt64 = 0
    if from.pointee.r9 != 0, receiveSlot != 0, let source = sender.capabilitySpace,
      let destination = receiver.capabilitySpace
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
    out.pointee.rax = 0
    let words = (from.pointee.rsi, from.pointee.rdx, from.pointee.r10, from.pointee.r8)
    out.pointee.rdi = words.0
    out.pointee.rsi = words.1
    out.pointee.rdx = words.2
    out.pointee.r10 = words.3
    out.pointee.r8 = landed
    out.pointee.r9 = sender.ipc.label
  }

  /// The caller is blocked: run `next` here at once when it lives on this
  /// CPU and nothing of higher priority is ready, else make it ready on its
  /// own CPU and let this one pick.
  private static func handOff(to next: Thread, _ scheduler: CPUScheduler, _ interrupts: Bool) {
    if next.cpu == scheduler.cpu && next.state == .blocked
      && next.priority >= scheduler.highestReadyPriority
    {
      next.state = .ready  // not blocked any more: wakers leave it alone
      KernelLock.release(false)
      scheduler.handOff(to: next)
      scheduler.retire()
      if interrupts { x86_sti() }
      return
    }
    Scheduler.wake(next)
    wait(interrupts)
  }

  /// The caller has marked itself blocked under the lock: switch away.
  private static func wait(_ interrupts: Bool) {
    KernelLock.release(false)
    Scheduler.blockMarked()
    if interrupts { x86_sti() }
  }
}
