// Where threads wait in synchronous IPC, and how a sender and a receiver
// meet: the endpoint's two queues, each thread's wait state, and the moves
// between them (send, receive, call waiting for its reply, reply, abort,
// cancel). Both kernel instances run IPC through it, and it lives in Core so
// the host tests can drive it against a model. It moves no message words and
// schedules nothing: the kernel's IPC copies registers and wakes or hands
// off to whichever thread a move returns.
//
// The states of one thread, and the moves between them:
//
//   none --send/call, no receiver--> sending/calling  (in endpoint.senders)
//   none --receive, no sender-->     receiving        (in endpoint.receivers)
//   calling, met by a receiver -->   awaitingReply    (endpoint.pendingCalls
//                                                       counts it; the server's
//                                                       replyTo names it)
//   awaitingReply --reply-->         none
//   any --abort or cancel-->         none             (out of every queue)
//
// Invariants (checked by IPCRendezvousTests after every move): a thread is
// in at most one queue, and in one exactly when it is sending, calling or
// receiving; an endpoint's pendingCalls equals the threads awaitingReply
// through it; a thread awaitingReply names a server whose replyTo names it
// back (until that server answers, ends, or the call is aborted).
//
// The moves on the IPC path are always inlined: a call to each costs the
// path its own prologue, which measured about 35 instructions a direction.
//
// Not counted references: the kernel's threads and endpoints are classes,
// and retaining them on every IPC would cost the path a retain and release
// each time a field changes. An endpoint clears every wait on it before it
// is destroyed (abort), and a thread leaves everything before it goes
// (cancel), so no pointer outlives its object.

/// A thread that can wait in IPC: it carries its own wait state and the
/// caller it owes a reply.
public protocol IPCWaiter: AnyObject {
  var ipc: IPCWait<Self> { get set }
  /// The caller this thread received a call from and owes a reply.
  var replyTo: Self? { get set }
}

/// What a thread waits for in IPC.
public enum IPCWaitState {
  case none, sending, calling, receiving, awaitingReply
}

/// Where a thread waits in IPC.
public struct IPCWait<Waiter: AnyObject> {
  public var state = IPCWaitState.none
  public unowned(unsafe) var endpoint: IPCEndpoint<Waiter>? = nil
  /// The endpoint capability it came through: removing that capability
  /// aborts the wait.
  public var capability = CapabilityID(rawValue: 0)
  /// A sender's: the label of its endpoint capability (0: none).
  public var label: UInt64 = 0
  /// A receiver's: the empty slot for a transferred capability (0: none).
  public var receiveSlot: UInt64 = 0
  /// A caller's: the thread that received the call and owes the reply.
  public unowned(unsafe) var server: Waiter? = nil

  public init() {}

  /// About to send or receive through `endpoint`, reached through
  /// capability `capability` with `label`.
  public init(endpoint: IPCEndpoint<Waiter>, capability: CapabilityID, label: UInt64) {
    self.endpoint = endpoint
    self.capability = capability
    self.label = label
  }
}

/// A synchronous endpoint: the threads blocked on it, oldest first.
/// Messages are not buffered; a sender's words stay with it until a
/// receiver takes them.
public final class IPCEndpoint<Waiter: AnyObject> {
  /// Blocked in send or call.
  public private(set) var senders: [Waiter] = []
  /// Blocked in receive.
  public private(set) var receivers: [Waiter] = []
  /// Calls delivered through it that wait for their reply.
  public fileprivate(set) var pendingCalls = 0

  public init() {}

  /// Nothing waits on it: aborting has nothing to do.
  public var isIdle: Bool { senders.isEmpty && receivers.isEmpty && pendingCalls == 0 }

  fileprivate func remove(_ waiter: Waiter) {
    if let index = senders.firstIndex(where: { $0 === waiter }) { senders.remove(at: index) }
    if let index = receivers.firstIndex(where: { $0 === waiter }) { receivers.remove(at: index) }
  }

  /// A queue's oldest thread; with one waiting (the usual case) that is a
  /// removeLast, which moves nothing.
  fileprivate static func dequeue(_ queue: inout [Waiter]) -> Waiter {
    queue.count == 1 ? queue.removeLast() : queue.removeFirst()
  }

  fileprivate func takeSender() -> Waiter? {
    senders.isEmpty ? nil : Self.dequeue(&senders)
  }

  fileprivate func takeReceiver() -> Waiter? {
    receivers.isEmpty ? nil : Self.dequeue(&receivers)
  }

  fileprivate func append(sender: Waiter) { senders.append(sender) }
  fileprivate func append(receiver: Waiter) { receivers.append(receiver) }
}

/// The moves. `me.ipc` must already name the endpoint (IPCWait(endpoint:…)).
public enum IPCRendezvous {
  /// `me` sends (or calls) through its endpoint: the oldest receiver, taken
  /// off the queue and still in its receiving state so its receive slot can
  /// be read (finish it with `delivered`), or nil when none waits and `me`
  /// was queued.
  @inline(__always)
  public static func send<W: IPCWaiter>(_ me: W, call: Bool) -> W? {
    me.ipc.state = call ? .calling : .sending
    guard let endpoint = me.ipc.endpoint else { return nil }
    guard let receiver = endpoint.takeReceiver() else {
      endpoint.append(sender: me)
      return nil
    }
    return receiver
  }

  /// `me` receives through its endpoint into `receiveSlot`: the oldest
  /// sender, taken off the queue and still in its sending or calling state
  /// (finish it with `delivered`), or nil when none waits and `me` was
  /// queued.
  @inline(__always)
  public static func receive<W: IPCWaiter>(_ me: W, receiveSlot: UInt64) -> W? {
    guard let endpoint = me.ipc.endpoint else { return nil }
    guard let sender = endpoint.takeSender() else {
      me.ipc.state = .receiving
      me.ipc.receiveSlot = receiveSlot
      endpoint.append(receiver: me)
      return nil
    }
    return sender
  }

  /// A message went from `sender` to `receiver`: the receiver waits no
  /// more; a plain sender waits no more (true: wake it with success), a
  /// caller now waits for the receiver's reply (false).
  @discardableResult @inline(__always)
  public static func delivered<W: IPCWaiter>(from sender: W, to receiver: W) -> Bool {
    receiver.ipc = IPCWait()
    guard sender.ipc.state == .calling else {
      sender.ipc = IPCWait()
      return true
    }
    sender.ipc.endpoint?.pendingCalls += 1
    sender.ipc.state = .awaitingReply
    sender.ipc.server = receiver
    receiver.replyTo = sender
    return false
  }

  /// `me` answers the call it owes: the caller, no longer waiting (give it
  /// the reply and wake it), or nil when it owes none or the caller gave up
  /// meanwhile.
  @inline(__always)
  public static func answer<W: IPCWaiter>(_ me: W) -> W? {
    guard let caller = me.replyTo else { return nil }
    me.replyTo = nil
    guard caller.ipc.state == .awaitingReply, caller.ipc.server === me else { return nil }
    caller.ipc.endpoint?.pendingCalls -= 1
    caller.ipc = IPCWait()
    return caller
  }

  /// `me` gives up whatever it waits for (its IPC failed, or it ends): out
  /// of its queue, a pending call no longer counted and no longer owed.
  public static func abandon<W: IPCWaiter>(_ me: W) {
    switch me.ipc.state {
    case .awaitingReply:
      me.ipc.endpoint?.pendingCalls -= 1
      if let server = me.ipc.server, server.replyTo === me { server.replyTo = nil }
    case .sending, .calling, .receiving:
      me.ipc.endpoint?.remove(me)
    case .none:
      break
    }
    me.ipc = IPCWait()
  }

  /// `me` ends: it abandons its own wait, and returns the caller that was
  /// waiting for its reply (fail it), if any.
  public static func cancel<W: IPCWaiter>(_ me: W) -> W? {
    abandon(me)
    guard let caller = me.replyTo else { return nil }
    me.replyTo = nil
    guard caller.ipc.state == .awaitingReply, caller.ipc.server === me else { return nil }
    abandon(caller)
    return caller
  }

  /// Capability `capability` to `endpoint` went (nil: the endpoint itself):
  /// the threads queued on it through that capability, taken off its
  /// queues with their waits cleared (fail each). Calls awaiting their
  /// reply through it are not queued anywhere: the kernel finds those
  /// through its threads and abandons each that `waitsForReply` says.
  public static func abortQueued<W: IPCWaiter>(
    _ endpoint: IPCEndpoint<W>, through capability: CapabilityID?
  ) -> [W] {
    var aborted: [W] = []
    for waiter in endpoint.senders + endpoint.receivers
    where capability == nil || waiter.ipc.capability == capability {
      abandon(waiter)
      aborted.append(waiter)
    }
    return aborted
  }

  /// Whether `waiter` awaits a reply to a call made through `endpoint`
  /// (and through `capability`, unless nil): an abort of that capability
  /// ends its wait.
  public static func waitsForReply<W: IPCWaiter>(
    _ waiter: W, on endpoint: IPCEndpoint<W>, through capability: CapabilityID?
  ) -> Bool {
    waiter.ipc.state == .awaitingReply && waiter.ipc.endpoint === endpoint
      && (capability == nil || waiter.ipc.capability == capability)
  }
}
