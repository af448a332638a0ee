import UserSystem

/// Synchronous IPC: four-word messages over endpoint capabilities, with at
/// most one capability transferred (ABI in Kernel/Core/UserABI/SystemCall.swift).
struct Message {
  var words: (UInt64, UInt64, UInt64, UInt64)

  init(_ w0: UInt64 = 0, _ w1: UInt64 = 0, _ w2: UInt64 = 0, _ w3: UInt64 = 0) {
    words = (w0, w1, w2, w3)
  }
}

/// What a receive brought: the status (0 or an error), the words, the slot
/// a transferred capability landed in (0: none), the sender's label.
struct Received {
  var status: Int64
  var message: Message
  var capabilitySlot: UInt64
  var label: UInt64
}

enum IPC {
  @discardableResult
  static func send(_ endpoint: UInt64, _ message: Message, transfer: UInt64 = 0) -> Int64 {
    let w = message.words
    return user_syscall(SystemCallNumber.send.rawValue, endpoint, w.0, w.1, w.2, w.3, transfer)
  }

  static func receive(_ endpoint: UInt64, into slot: UInt64 = 0) -> Received {
    exchange(.receive, endpoint, slot, 0, 0, 0, 0)
  }

  /// The reply's status and words.
  static func call(_ endpoint: UInt64, _ message: Message, transfer: UInt64 = 0) -> (Int64, Message)
  {
    let w = message.words
    let result = exchange(.call, endpoint, w.0, w.1, w.2, w.3, transfer)
    return (result.status, result.message)
  }

  @discardableResult
  static func reply(_ message: Message) -> Int64 {
    let w = message.words
    return user_syscall(SystemCallNumber.reply.rawValue, w.0, w.1, w.2, w.3, 0, 0)
  }

  static func replyReceive(_ endpoint: UInt64, _ message: Message, into slot: UInt64 = 0)
    -> Received
  {
    let w = message.words
    return exchange(.replyReceive, endpoint, w.0, w.1, w.2, w.3, slot)
  }

  private static func exchange(
    _ number: SystemCallNumber, _ a0: UInt64, _ a1: UInt64, _ a2: UInt64, _ a3: UInt64,
    _ a4: UInt64, _ a5: UInt64
  ) -> Received {
    let (status, out) = System.callWithResults(number, a0, a1, a2, a3, a4, a5)
    return Received(
      status: status, message: Message(out.0, out.1, out.2, out.3), capabilitySlot: out.4,
      label: out.5)
  }
}
