/// A synchronous IPC endpoint: the threads blocked on it. Messages are not
/// buffered; a sender's words stay in its saved registers until a receiver
/// takes them (see IPC).
final class Endpoint {
  /// Blocked in send or call, oldest first.
  var senders: [Thread] = []
  /// Blocked in receive, oldest first.
  var receivers: [Thread] = []
  /// Calls delivered through it that wait for their reply.
  var pendingCalls = 0

  /// Nothing is blocked on it: aborting has nothing to do.
  var isIdle: Bool { senders.isEmpty && receivers.isEmpty && pendingCalls == 0 }

  /// Takes a queue's oldest thread; with one waiting (the usual case) that
  /// is a removeLast, which moves nothing.
  static func dequeue(_ queue: inout [Thread]) -> Thread {
    queue.count == 1 ? queue.removeLast() : queue.removeFirst()
  }

  func remove(_ thread: Thread) {
    if let index = senders.firstIndex(where: { $0 === thread }) { senders.remove(at: index) }
    if let index = receivers.firstIndex(where: { $0 === thread }) { receivers.remove(at: index) }
  }
}

/// Where a thread waits in IPC. Guarded by KernelLock.
struct IPCWait {
  enum State { case none, sending, calling, receiving, awaitingReply }
  var state = State.none
  // Not counted references: an endpoint clears every wait on it before it
  // is destroyed (IPC.abort), and a thread's callers are failed before it
  // goes (IPC.cancel). Counting them would cost the IPC path a retain and a
  // release each time they change.
  unowned(unsafe) var endpoint: Endpoint? = nil
  /// The endpoint capability it came through: removing that capability
  /// aborts the wait.
  var capability = CapabilityID(rawValue: 0)
  /// A sender's: the label of its endpoint capability (0: none).
  var label: UInt64 = 0
  /// A receiver's: the empty slot for a transferred capability (0: none).
  var receiveSlot: UInt64 = 0
  /// A caller's: the thread that received the call and owes the reply.
  unowned(unsafe) var server: Thread? = nil
}
