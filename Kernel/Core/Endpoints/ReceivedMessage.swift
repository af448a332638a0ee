// A message as `ChannelReceiver.fetch` hands it out: the validated header
// fields, captured once, and where the payload is. Everything that says who
// sent it (channel, label) comes from the kernel-written config page, not
// from the slot. The length was checked against the slot, so `payload`
// and `length` never reach past the slot; the BYTES behind them, though,
// are in the sender's writable memory and may change until the message is
// acknowledged: a receiver that must not be fooled by a sender changing its
// mind copies what it needs before it acts on it. After `ack` the slot is
// the sender's again and the pointers must not be used.

/// One fetched message; give it back to `ChannelReceiver.ack` when done.
public struct ReceivedMessage: Equatable, @unchecked Sendable {
  /// The channel (the send endpoint) it came on.
  public let channel: Int
  /// The channel's activation it came in; an ack after the channel was
  /// rebound is refused as stale.
  public let generation: UInt32
  // (Declared next to `generation` so the two share a word.)
  public let kind: MessageKind
  /// Its position in the channel, counted from 1 (the header carries the
  /// low 32 bits of it as the sequence).
  public let position: UInt64
  /// The sender's label, from the config page.
  public let label: UInt64
  /// Payload bytes, at most the slot's payload capacity.
  public let length: Int
  /// Chosen by the sender; put it in the reply.
  public let replyLabel: UInt64
  /// The slot's index in the endpoint's ring.
  public let slotIndex: Int
  /// The slot (its header).
  public let slot: UnsafeRawPointer

  public init(
    channel: Int, generation: UInt32, position: UInt64, label: UInt64, kind: MessageKind,
    length: Int, replyLabel: UInt64, slotIndex: Int, slot: UnsafeRawPointer
  ) {
    self.channel = channel
    self.generation = generation
    self.position = position
    self.label = label
    self.kind = kind
    self.length = length
    self.replyLabel = replyLabel
    self.slotIndex = slotIndex
    self.slot = slot
  }

  /// The first payload byte.
  public var payload: UnsafeRawPointer { slot + MessageHeader.size }

  /// The payload as a buffer of `length` bytes.
  public var payloadBytes: UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: payload, count: length)
  }
}
