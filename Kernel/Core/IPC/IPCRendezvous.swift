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
// back (until that server answers, ends, or the call is aborted), and a
// thread names a server only while awaitingReply (the fast path's reply
// check is that one compare).
//
// The moves on the general IPC path are always inlined: a call to each
// costs the path its own prologue (about 35 instructions a direction when
// the fast path was still Swift).
//
// Plain memory, not objects: a thread's wait (IPCThread) and an endpoint's
// queues (IPCEndpointQueues) are fixed-layout structs the kernel allocates,
// linked by raw pointers, with the queues threaded through the waiting
// threads themselves. So a move does no reference counting, allocates
// nothing and cannot trap on an array bound, and the kernel's assembly IPC
// fast path (Boot/ipcfast.S) makes the same moves on the same records (their
// offsets in Boot/include/layout.h, checked against this layout). An endpoint clears every wait on it
// before it is destroyed (abort), and a thread leaves everything before it
// goes (cancel), so no pointer outlives what it points to.

public typealias IPCThreadPointer = UnsafeMutablePointer<IPCThread>
public typealias IPCEndpointPointer = UnsafeMutablePointer<IPCEndpointQueues>

/// What a thread waits for in IPC.
public enum IPCWaitState: UInt8 {
  case none, sending, calling, receiving, awaitingReply
}

/// One thread's part of IPC: where it waits, the caller it owes a reply,
/// and its link in an endpoint queue.
public struct IPCThread {
  public var state = IPCWaitState.none
  public var endpoint: IPCEndpointPointer? = nil
  /// The endpoint capability it came through: removing that capability
  /// aborts the wait.
  public var capability = CapabilityID(rawValue: 0)
  /// A sender's: the label of its endpoint capability (0: none).
  public var label: UInt64 = 0
  /// A receiver's: the empty slot for a transferred capability (0: none).
  public var receiveSlot: UInt64 = 0
  /// A caller's: the thread that received the call and owes the reply.
  public var server: IPCThreadPointer? = nil
  /// The caller this thread received a call from and owes a reply.
  public var replyTo: IPCThreadPointer? = nil
  /// The next thread in the queue it waits in.
  public var next: IPCThreadPointer? = nil
  /// The kernel's thread this is part of (opaque here).
  public let owner: UnsafeMutableRawPointer?

  public init(owner: UnsafeMutableRawPointer? = nil) { self.owner = owner }

  /// About to send or receive through `endpoint`, reached through
  /// capability `capability` with `label`.
  @inline(__always)
  public mutating func arrive(
    at endpoint: IPCEndpointPointer, capability: CapabilityID, label: UInt64
  ) {
    self.endpoint = endpoint
    self.capability = capability
    self.label = label
  }

  /// Waits for nothing (the reply it owes, if any, stays owed).
  @inline(__always)
  public mutating func clearWait() {
    state = .none
    endpoint = nil
    capability = CapabilityID(rawValue: 0)
    label = 0
    receiveSlot = 0
    server = nil
  }
}

/// Threads waiting in one direction, oldest first, linked through their
/// `next` fields.
public struct IPCQueue {
  public private(set) var head: IPCThreadPointer? = nil
  private var tail: IPCThreadPointer? = nil

  public init() {}

  /// Where `head` and `tail` lie (the kernel's assembly fast path reads
  /// them; Boot/include/layout.h).
  public static let headOffset = MemoryLayout<IPCQueue>.offset(of: \.head)!
  public static let tailOffset = MemoryLayout<IPCQueue>.offset(of: \.tail)!

  public var isEmpty: Bool { head == nil }

  @inline(__always)
  mutating func append(_ thread: IPCThreadPointer) {
    thread.pointee.next = nil
    if let tail { tail.pointee.next = thread } else { head = thread }
    tail = thread
  }

  @inline(__always)
  mutating func popFirst() -> IPCThreadPointer? {
    guard let first = head else { return nil }
    head = first.pointee.next
    if head == nil { tail = nil }
    first.pointee.next = nil
    return first
  }

  /// Takes `thread` out wherever it is; false when it was not queued here.
  mutating func remove(_ thread: IPCThreadPointer) -> Bool {
    var previous: IPCThreadPointer? = nil
    var cursor = head
    while let current = cursor {
      if current == thread {
        if let previous {
          previous.pointee.next = current.pointee.next
        } else {
          head = current.pointee.next
        }
        if tail == current { tail = previous }
        current.pointee.next = nil
        return true
      }
      previous = current
      cursor = current.pointee.next
    }
    return false
  }

  /// The queued threads, oldest first (aborts and tests; allocates).
  public var threads: [IPCThreadPointer] {
    var all: [IPCThreadPointer] = []
    var cursor = head
    while let current = cursor {
      all.append(current)
      cursor = current.pointee.next
    }
    return all
  }
}

/// A synchronous endpoint's waiting threads. Messages are not buffered; a
/// sender's words stay with it until a receiver takes them.
public struct IPCEndpointQueues {
  /// Blocked in send or call.
  public fileprivate(set) var senders = IPCQueue()
  /// Blocked in receive.
  public fileprivate(set) var receivers = IPCQueue()
  /// Calls delivered through it that wait for their reply.
  public fileprivate(set) var pendingCalls = 0

  public init() {}

  /// Nothing waits on it: aborting has nothing to do.
  public var isIdle: Bool { senders.isEmpty && receivers.isEmpty && pendingCalls == 0 }
}

/// The moves. `me` must already have arrived at its endpoint
/// (IPCThread.arrive).
public enum IPCRendezvous {
  /// `me` sends (or calls) through its endpoint: the oldest receiver, taken
  /// off the queue and still in its receiving state so its receive slot can
  /// be read (finish it with `delivered`), or nil when none waits and `me`
  /// was queued.
  @inline(__always)
  public static func send(_ me: IPCThreadPointer, call: Bool) -> IPCThreadPointer? {
    me.pointee.state = call ? .calling : .sending
    guard let endpoint = me.pointee.endpoint else { return nil }
    guard let receiver = endpoint.pointee.receivers.popFirst() else {
      endpoint.pointee.senders.append(me)
      return nil
    }
    return receiver
  }

  /// `me` receives through its endpoint into `receiveSlot`: the oldest
  /// sender, taken off the queue and still in its sending or calling state
  /// (finish it with `delivered`), or nil when none waits and `me` was
  /// queued.
  @inline(__always)
  public static func receive(_ me: IPCThreadPointer, receiveSlot: UInt64) -> IPCThreadPointer? {
    guard let endpoint = me.pointee.endpoint else { return nil }
    guard let sender = endpoint.pointee.senders.popFirst() else {
      me.pointee.state = .receiving
      me.pointee.receiveSlot = receiveSlot
      endpoint.pointee.receivers.append(me)
      return nil
    }
    return sender
  }

  /// A message went from `sender` to `receiver`: the receiver waits no
  /// more; a plain sender waits no more (true: wake it with success), a
  /// caller now waits for the receiver's reply (false).
  @discardableResult @inline(__always)
  public static func delivered(from sender: IPCThreadPointer, to receiver: IPCThreadPointer) -> Bool
  {
    receiver.pointee.clearWait()
    guard sender.pointee.state == .calling else {
      sender.pointee.clearWait()
      return true
    }
    sender.pointee.endpoint?.pointee.pendingCalls += 1
    sender.pointee.state = .awaitingReply
    sender.pointee.server = receiver
    receiver.pointee.replyTo = sender
    return false
  }

  /// `me` answers the call it owes: the caller, no longer waiting (give it
  /// the reply and wake it), or nil when it owes none or the caller gave up
  /// meanwhile.
  @inline(__always)
  public static func answer(_ me: IPCThreadPointer) -> IPCThreadPointer? {
    guard let caller = me.pointee.replyTo else { return nil }
    me.pointee.replyTo = nil
    guard caller.pointee.state == .awaitingReply, caller.pointee.server == me else { return nil }
    caller.pointee.endpoint?.pointee.pendingCalls -= 1
    caller.pointee.clearWait()
    return caller
  }

  /// `me` gives up whatever it waits for (its IPC failed, or it ends): out
  /// of its queue, a pending call no longer counted and no longer owed.
  public static func abandon(_ me: IPCThreadPointer) {
    switch me.pointee.state {
    case .awaitingReply:
      me.pointee.endpoint?.pointee.pendingCalls -= 1
      if let server = me.pointee.server, server.pointee.replyTo == me {
        server.pointee.replyTo = nil
      }
    case .sending, .calling:
      _ = me.pointee.endpoint?.pointee.senders.remove(me)
    case .receiving:
      _ = me.pointee.endpoint?.pointee.receivers.remove(me)
    case .none:
      break
    }
    me.pointee.clearWait()
  }

  /// `me` ends: it abandons its own wait, and returns the caller that was
  /// waiting for its reply (fail it), if any.
  public static func cancel(_ me: IPCThreadPointer) -> IPCThreadPointer? {
    abandon(me)
    guard let caller = me.pointee.replyTo else { return nil }
    me.pointee.replyTo = nil
    guard caller.pointee.state == .awaitingReply, caller.pointee.server == me else { return nil }
    abandon(caller)
    return caller
  }

  /// Capability `capability` to `endpoint` went (nil: the endpoint itself):
  /// the threads queued on it through that capability, taken off its
  /// queues with their waits cleared (fail each). Calls awaiting their
  /// reply through it are not queued anywhere: the kernel finds those
  /// through its threads and abandons each that `waitsForReply` says.
  public static func abortQueued(_ endpoint: IPCEndpointPointer, through capability: CapabilityID?)
    -> [IPCThreadPointer]
  {
    var aborted: [IPCThreadPointer] = []
    for waiter in endpoint.pointee.senders.threads + endpoint.pointee.receivers.threads
    where capability == nil || waiter.pointee.capability == capability {
      abandon(waiter)
      aborted.append(waiter)
    }
    return aborted
  }

  /// Whether `waiter` awaits a reply to a call made through `endpoint`
  /// (and through `capability`, unless nil): an abort of that capability
  /// ends its wait.
  public static func waitsForReply(
    _ waiter: IPCThreadPointer, on endpoint: IPCEndpointPointer, through capability: CapabilityID?
  ) -> Bool {
    waiter.pointee.state == .awaitingReply && waiter.pointee.endpoint == endpoint
      && (capability == nil || waiter.pointee.capability == capability)
  }
}
