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

  /// call: returns when the general path must do it; when it can be done
  /// here it does not return: the caller parks (its reply will arrive in
  /// its frame) and the receiver runs. (Not inlined: the dispatcher of
  /// every other call stays as small as it was.)
  @inline(never)
  static func fastCall(_ frame: Frame, on scheduler: CPUScheduler) {
    let me = scheduler.running
    guard frame.pointee.r9 == 0, let cache = me.pointee.slotCache, scheduler.mayParkRunning
    else { return }
    let interrupts = KernelLock.acquire()
    guard
      let entry = cache.find(
        frame.pointee.rdi, removals: ProcessCapabilities.system.removals, requiring: .write),
      case let queues = entry.pointee.endpointQueues,
      let waiting = queues.pointee.receivers.head,
      mayResume(ThreadControlBlock.of(waiting), on: scheduler)
    else {
      KernelLock.release(interrupts)
      return
    }
    let mine = me.pointee.ipc
    mine.pointee.arrive(
      at: queues, capability: entry.pointee.capability, label: entry.pointee.label)
    let receiver = IPCRendezvous.send(mine, call: true).unsafelyUnwrapped  // `waiting`
    copyWords(
      from: frame, label: entry.pointee.label,
      to: ThreadControlBlock.of(receiver).pointee.userFrame, landed: 0)
    IPCRendezvous.delivered(from: mine, to: receiver)  // a call: it awaits the reply
    leave(to: ThreadControlBlock.of(receiver), scheduler)
  }

  /// replyReceive: returns when the general path must do it; when it can
  /// be done here it does not return: the reply goes into the caller's
  /// frame, this thread parks waiting on its endpoint, and the caller runs.
  @inline(never)
  static func fastReplyReceive(_ frame: Frame, on scheduler: CPUScheduler) {
    let me = scheduler.running
    guard let cache = me.pointee.slotCache, scheduler.mayParkRunning else { return }
    let mine = me.pointee.ipc
    let interrupts = KernelLock.acquire()
    // A thread names a server only while it awaits that server's reply.
    guard let waiting = mine.pointee.replyTo, waiting.pointee.server == mine,
      let entry = cache.find(
        frame.pointee.rdi, removals: ProcessCapabilities.system.removals, requiring: .read),
      case let queues = entry.pointee.endpointQueues,
      queues.pointee.senders.isEmpty,
      mayResume(ThreadControlBlock.of(waiting), on: scheduler)
    else {
      KernelLock.release(interrupts)
      return
    }
    let words = (frame.pointee.rsi, frame.pointee.rdx, frame.pointee.r10, frame.pointee.r8)
    let caller = ThreadControlBlock.of(answer(mine, with: words).unsafelyUnwrapped)  // `waiting`
    mine.pointee.arrive(
      at: queues, capability: entry.pointee.capability, label: entry.pointee.label)
    _ = IPCRendezvous.receive(mine, receiveSlot: frame.pointee.r9)  // no sender: it waits
    leave(to: caller, scheduler)
  }

  /// Whether the blocked partner `next` may have this CPU at once and
  /// leave straight to user mode: it lives here, nothing of higher
  /// priority is ready, and it was not asked to end.
  @inline(__always)
  private static func mayResume(_ next: Block, on scheduler: CPUScheduler) -> Bool {
    runsAtOnce(next, on: scheduler) && !next.pointee.killRequested
  }

  /// The running thread blocks (its IPC state says on what), `next` runs:
  /// under KernelLock, released here.
  @inline(__always)
  private static func leave(to next: Block, _ scheduler: CPUScheduler) -> Never {
    scheduler.running.pointee.state = .blocked
    next.pointee.state = .ready  // not blocked any more: wakers leave it alone
    scheduler.fastIPC &+= 1
    KernelLock.release(false)
    scheduler.parkAndSwitch(to: next)
  }
}
