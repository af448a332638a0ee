// The receiver's answers (M3's reply): a message whose send endpoint names a
// reply endpoint can be answered on the fast path, without entering the
// kernel, into the channel of that reply endpoint which the kernel bound
// for this sender's replies.
//
// Where the reply goes. In M3 the DTU writes the reply endpoint into the
// message header. Here the sender writes the header, so the kernel says it
// instead: when it binds the sender's channel it binds a channel of the
// sender's reply endpoint as well, writes that channel's number into the
// request channel's record (`ChannelRecord.replyChannel`), and maps the
// reply endpoint's ring into the receiver at the channel's reply window
// (`EndpointWindows`) the way a sender sees a ring. The sender still
// chooses the reply label (header word 1); it is echoed in the reply, so
// the sender can match the answer to its request.
//
// A reply is a message of kind `reply`, sent with a `ChannelSender` over
// the reply window, one per request channel, attached the first time a
// channel's current binding is answered. Before each reply the request
// channel's state word is compared with the one of the message's binding
// (active, the message's generation): a message from a sender revoked or
// replaced since is not answered (`inactive`), so an answer never goes to
// the reply endpoint of a later sender on the same channel.
//
// Attaching reads the reply ring's layout and record through the window,
// which the kernel may replace with its scratch page when the sender is
// revoked. The kernel changes the request channel's record before it
// touches the reply window, so reading the request state word again after
// the attach (a sequence lock) shows whether the window read was from
// before the change; and the kernel keeps the window's first
// `EndpointWindows.replyMappedBytes` mapped all the time, so even a sender
// attached over a window that changed under it cannot fault: it can only
// write into the scratch page or into the channel the kernel mapped there,
// which is this receiver's to write.
//
// Credits. The reply channel has its own credits (its slots, freed when the
// sender's receiver acknowledges the reply): a sender that does not read
// its replies stops getting them (`noCredits`), and only it is held up. A
// reply does not acknowledge the request; `ChannelReceiver.receive` does,
// when the closure that replies returns, so the request's credit comes back
// with the reply.

/// What `reply` did.
public enum ChannelReplyResult: Equatable, Sendable {
  /// Sent. When `wakeSender` is true the sender said it sleeps on its
  /// reply endpoint: make the wake call for this request channel.
  case sent(wakeSender: Bool)
  /// The reply channel is full: the sender has not read its earlier
  /// replies. Nothing was written.
  case noCredits
  /// The payload is longer than a reply slot holds. Nothing was written.
  case tooLarge
  /// The message's sender is revoked or replaced, or its reply endpoint
  /// is gone. Nothing was written.
  case inactive
  /// The message's send endpoint names no reply endpoint.
  case noReplyEndpoint
}

/// Answers the messages of one receive endpoint (single producer per
/// reply channel: use it from the receiving thread only).
public struct ChannelReplier: @unchecked Sendable {
  /// The request endpoint's config page.
  private let config: UnsafeRawPointer
  /// Request channel 0's reply window; channel c's is `stride` * c on.
  private let replyWindows: UnsafeMutableRawPointer
  private let stride: Int
  /// Per request channel: the sender over its reply window, and the
  /// channel's state word that sender was attached for (0: none yet; a
  /// bound word with no sender means "names no reply endpoint").
  private var senders: InlineArray<32, ChannelSender?>
  private var boundWords: InlineArray<32, UInt64>

  /// A replier for the receive endpoint whose config page is at `config`,
  /// with the reply windows of its channels `stride` bytes apart from
  /// `replyWindows`.
  public init(config: UnsafeRawPointer, replyWindows: UnsafeMutableRawPointer, stride: Int) {
    self.config = config
    self.replyWindows = replyWindows
    self.stride = stride
    senders = InlineArray(repeating: nil)
    boundWords = InlineArray(repeating: 0)
  }

  /// A replier for the receive endpoint the kernel activated at window
  /// `receiveWindow` (where its config page is); nil when that address is
  /// not an activation window.
  public init?(receiveWindow: UnsafeRawPointer) {
    let address = UInt64(UInt(bitPattern: receiveWindow))
    guard let first = EndpointWindows.replyWindow(receiveWindow: address, channel: 0),
      let windows = UnsafeMutableRawPointer(bitPattern: UInt(first))
    else { return nil }
    self.init(config: receiveWindow, replyWindows: windows, stride: Int(EndpointWindows.stride))
  }

  /// Sends a reply of `length` bytes to `message`, written in place by
  /// `write` (called only when the reply goes), echoing its reply label.
  @inline(__always)
  public mutating func reply(
    to message: ReceivedMessage, length: Int, _ write: (UnsafeMutableRawPointer) -> Void
  ) -> ChannelReplyResult {
    let channel = message.channel
    guard channel >= 0, channel < ReceiveEndpointLayout.maximumChannels else { return .inactive }
    let word = ChannelRecord.loadStateWord(config: config, channel: channel)
    guard word == ChannelRecord.stateWord(.active, generation: message.generation) else {
      return .inactive
    }
    if boundWords[unchecked: channel] != word, let refused = attach(channel, word) {
      return refused
    }
    guard senders[unchecked: channel] != nil else { return .noReplyEndpoint }
    switch senders[unchecked: channel]!.send(
      kind: .reply, replyLabel: message.replyLabel, length: length, write)
    {
    case .sent(let wake): return .sent(wakeSender: wake)
    case .noCredits: return .noCredits
    case .tooLarge: return .tooLarge
    case .inactive: return .inactive
    }
  }

  /// Copies `length` bytes from `payload` into a reply to `message`.
  public mutating func reply(
    to message: ReceivedMessage, payload: UnsafeRawPointer, length: Int
  ) -> ChannelReplyResult {
    reply(to: message, length: length) { slot in
      if length > 0 { slot.copyMemory(from: payload, byteCount: length) }
    }
  }

  /// Attaches the reply sender of `channel`'s binding whose state word is
  /// `word`; nil when done (with or without a reply endpoint), or why not.
  @inline(never)
  private mutating func attach(_ channel: Int, _ word: UInt64) -> ChannelReplyResult? {
    guard let (record, seen) = ChannelRecord.load(config: config, channel: channel), seen == word
    else { return .inactive }
    senders[unchecked: channel] = nil
    guard let replyChannel = record.replyChannel else {
      boundWords[unchecked: channel] = word
      return nil
    }
    let window = replyWindows + channel &* stride
    guard let layout = try? ReceiveEndpointLayout.read(config: window),
      replyChannel < layout.channelCount,
      let (replyRecord, _) = ChannelRecord.load(config: window, channel: replyChannel),
      let run = try? layout.run(
        channel: replyChannel, firstSlot: replyRecord.firstSlot,
        slotCount: replyRecord.slotCount),
      run.byteOffset + run.byteCount <= EndpointWindows.replyMappedBytes,
      let sender = try? ChannelSender(
        config: window, status: window + ReceiveEndpointLayout.statusOffset,
        slots: window + run.byteOffset, slotBytes: run.byteCount, channel: replyChannel)
    else { return .inactive }
    // Still the same binding: the window was read before any change to it.
    guard ChannelRecord.loadStateWord(config: config, channel: channel) == word else {
      return .inactive
    }
    senders[unchecked: channel] = sender
    boundWords[unchecked: channel] = word
    return nil
  }
}
