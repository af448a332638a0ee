/// A synchronous IPC endpoint: the threads blocked on it. Messages are not
/// buffered; a sender's words stay in its saved registers until a receiver
/// takes them (see IPC).
final class Endpoint {
  /// Blocked in send or call, oldest first.
  var senders: [Thread] = []
  /// Blocked in receive, oldest first.
  var receivers: [Thread] = []
  /// Calls delivered through this endpoint and waiting for their reply.
  var callers: [Thread] = []

  func remove(_ thread: Thread) {
    senders.removeAll { $0 === thread }
    receivers.removeAll { $0 === thread }
    callers.removeAll { $0 === thread }
  }
}

/// Where a thread waits in IPC. Guarded by KernelLock.
struct IPCWait {
  enum State { case none, sending, calling, receiving, awaitingReply }
  var state = State.none
  var endpoint: Endpoint? = nil
  /// The endpoint capability it came through: removing that capability
  /// aborts the wait.
  var capability = CapabilityID(rawValue: 0)
  /// A sender's: the label of its endpoint capability (0: none).
  var label: UInt64 = 0
  /// A receiver's: the empty slot for a transferred capability (0: none).
  var receiveSlot: UInt64 = 0
  /// A caller's: the thread that received the call and owes the reply.
  var server: Thread? = nil
}
