// Why receive-endpoint memory was refused (a sender or receiver attaching to
// pages it was given) or a kernel operation on the config page failed.
// Attaching validates once, up front, what later fast paths rely on (the
// magic, the geometry, the channel's run), so the fast paths check only what
// can change under them (a channel's state word, sequence numbers, lengths).

/// Why an endpoint could not be attached or a channel operation was refused.
public enum ReceiveEndpointError: Error, Equatable, Sendable {
  /// The config page's first word is not `ReceiveEndpointLayout.magic`:
  /// never configured, or another layout version.
  case badMagic(UInt64)
  /// A reserved config-page byte at `offset` is not zero.
  case reservedNotZero(offset: Int)
  /// The geometry in the config page, or a channel run, is invalid.
  case layout(ReceiveEndpointLayoutError)
  /// `channel` is not below the endpoint's channel count.
  case noSuchChannel(channel: Int, count: Int)
  /// The channel is `found`; the operation needs it `expected`.
  case wrongState(channel: Int, found: ChannelState, expected: ChannelState)
  /// The run given to `setChannel` shares slots with a live channel.
  case channelsOverlap(channel: Int, other: Int)
  /// `retireChannel`: the receiver has not freed every accepted message.
  case notDrained(channel: Int, unread: UInt64)
  /// The slot memory given to a sender is smaller than its channel's run.
  case slotMemoryTooSmall(needed: Int, have: Int)
  /// The channel record kept changing while it was read (a kernel was
  /// rewriting it on another CPU): try again.
  case recordChanging(channel: Int)

  public var description: String {
    switch self {
    // Not `hex` from Support/Format.swift: user programs compile this file
    // without that one.
    case .badMagic(let value): "receive endpoint magic is 0x" + String(value, radix: 16)
    case .reservedNotZero(let offset):
      "receive endpoint config byte " + String(offset) + " is reserved but not zero"
    case .layout(let error): error.description
    case .noSuchChannel(let channel, let count):
      "channel " + String(channel) + " does not exist (the endpoint has " + String(count) + ")"
    case .wrongState(let channel, let found, let expected):
      "channel " + String(channel) + " is " + found.name + ", not " + expected.name
    case .channelsOverlap(let channel, let other):
      "channel " + String(channel) + " would share slots with channel " + String(other)
    case .notDrained(let channel, let unread):
      "channel " + String(channel) + " still has " + String(unread) + " unread messages"
    case .slotMemoryTooSmall(let needed, let have):
      "channel slots need " + String(needed) + " bytes, " + String(have) + " given"
    case .recordChanging(let channel):
      "channel " + String(channel) + " is being rewritten"
    }
  }
}
