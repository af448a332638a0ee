/// The IPC fast path: `call` and `replyReceive` when nothing is unusual,
/// in a few compares and a direct switch. It touches only plain memory (the
/// threads' control blocks, the endpoint's queues, the process's slot
/// cache) and runs the same Core moves (IPCRendezvous) as the slow path in
/// IPC.swift, which it leaves everything else to: a capability to transfer,
/// a lookup the slot cache does not hold or that lacks the right, a partner
/// on another CPU or not waiting, a thread of higher priority ready, a
/// reschedule or kill pending. So every error and every unusual case goes
/// through the one general implementation, and the fast path decides
/// before it changes anything.
///
/// The `nofastpath` boot option turns it off, to measure what it buys and
/// to run the same tests through the slow path alone.
extension IPC {
  nonisolated(unsafe) static var fastPathEnabled = true

  /// call: true when it was done here (the caller has been switched away
  /// from and its reply is in its frame), false to take the slow path.
  @inline(__always)
  static func fastCall(_ frame: Frame, on scheduler: CPUScheduler) -> Bool {
    let me = scheduler.running
    guard frame.pointee.r9 == 0, let cache = me.pointee.slotCache, !me.pointee.killRequested,
      !scheduler.needsReschedule
    else { return false }
    let interrupts = KernelLock.acquire()
    guard
      let entry = cache.find(
        frame.pointee.rdi, removals: ProcessCapabilities.system.removals, requiring: .write),
      let queues = entry.pointee.object?.assumingMemoryBound(to: IPCEndpointQueues.self),
      let waiting = queues.pointee.receivers.head,
      runsAtOnce(ThreadControlBlock.of(waiting), on: scheduler)
    else {
      KernelLock.release(interrupts)
      return false
    }
    let mine = me.pointee.ipc
    mine.pointee.arrive(
      at: queues, capability: entry.pointee.capability, label: entry.pointee.label)
    let receiver = IPCRendezvous.send(mine, call: true).unsafelyUnwrapped  // `waiting`
    copyWords(
      from: frame, label: entry.pointee.label,
      to: ThreadControlBlock.of(receiver).pointee.userFrame, landed: 0)
    IPCRendezvous.delivered(from: mine, to: receiver)  // a call: it awaits the reply
    me.pointee.state = .blocked
    scheduler.fastIPC &+= 1
    switchNow(to: ThreadControlBlock.of(receiver), scheduler, interrupts)
    return true
  }

  /// replyReceive: true when it was done here (the reply is in the caller's
  /// frame, this thread waits on its endpoint and was switched away from),
  /// false to take the slow path.
  @inline(__always)
  static func fastReplyReceive(_ frame: Frame, on scheduler: CPUScheduler) -> Bool {
    let me = scheduler.running
    guard let cache = me.pointee.slotCache, !me.pointee.killRequested,
      !scheduler.needsReschedule
    else { return false }
    let mine = me.pointee.ipc
    let interrupts = KernelLock.acquire()
    guard let waiting = mine.pointee.replyTo, waiting.pointee.state == .awaitingReply,
      waiting.pointee.server == mine,
      let entry = cache.find(
        frame.pointee.rdi, removals: ProcessCapabilities.system.removals, requiring: .read),
      let queues = entry.pointee.object?.assumingMemoryBound(to: IPCEndpointQueues.self),
      queues.pointee.senders.isEmpty,
      runsAtOnce(ThreadControlBlock.of(waiting), on: scheduler)
    else {
      KernelLock.release(interrupts)
      return false
    }
    let caller = ThreadControlBlock.of(IPCRendezvous.answer(mine).unsafelyUnwrapped)  // `waiting`
    let out = caller.pointee.userFrame
    out.pointee.rax = 0
    out.pointee.rdi = frame.pointee.rsi
    out.pointee.rsi = frame.pointee.rdx
    out.pointee.rdx = frame.pointee.r10
    out.pointee.r10 = frame.pointee.r8
    mine.pointee.arrive(
      at: queues, capability: entry.pointee.capability, label: entry.pointee.label)
    _ = IPCRendezvous.receive(mine, receiveSlot: frame.pointee.r9)  // no sender: it waits
    me.pointee.state = .blocked
    scheduler.fastIPC &+= 1
    switchNow(to: caller, scheduler, interrupts)
    return true
  }
}
