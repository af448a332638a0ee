// The 16-byte header at the start of every slot of a receive endpoint: two
// little-endian 64-bit words, written by the sender into its own slot and
// validated by the receiver before anything else is believed.
//
//   word 0 (at +0), the publishing word, stored last with release:
//     bits 31...0   sequence: the message's position in its channel (the
//                   first message is 1), truncated to 32 bits
//     bits 47...32  length: payload bytes after the header
//     bits 55...48  kind: 1 message, 2 reply; any other value is invalid
//     bits 63...56  flags: none are defined in this version; a non-zero
//                   value is invalid (a flag that means something later
//                   comes with a new layout version, so an old receiver
//                   refuses it rather than misreading it)
//   word 1 (at +8): the reply label, opaque to the ring: chosen by the
//                   sender and echoed in the reply so the sender can match
//                   a reply to its request
//
// The sequence sits in the same word as length and kind so that one atomic
// load gives the receiver a consistent triple: the sender stores the whole
// word at once, after the payload and word 1, so a receiver that sees the
// sequence it waits for also sees the length and kind of that message.
// Thirty-two bits of sequence are enough because a channel never has more
// than its slot count (at most 2^14) messages in flight: the receiver only
// ever compares the head slot's sequence with the one it expects next, and
// that slot holds either that message or one exactly a slot count older.
//
// Trust. The header is written by the sender, which may write anything into
// its own slots at any time, so nothing in it can name the sender: the
// label that identifies the sender is taken by the receiver from the
// kernel-written channel table (`ChannelRecord`), never from here. Decoding
// checks the kind, the flags and the length (against the slot's payload
// capacity, so a payload view never leaves the slot) in that order and
// reports the first failure.

/// What a message is. Anything but these two values in the kind byte makes
/// the header invalid.
public enum MessageKind: UInt8, Sendable {
  case message = 1
  case reply = 2
}

/// Why a header was not accepted.
public enum MessageHeaderError: Error, Equatable, Sendable {
  /// The kind byte is neither `message` (1) nor `reply` (2).
  case unknownKind(UInt8)
  /// A flag bit is set; this layout version defines none.
  case reservedFlags(UInt8)
  /// The length is larger than the slot's payload capacity.
  case lengthTooLarge(length: Int, limit: Int)

  public var description: String {
    switch self {
    case .unknownKind(let kind): "message kind " + String(kind) + " is unknown"
    case .reservedFlags(let flags): "message flags " + String(flags) + " are reserved"
    case .lengthTooLarge(let length, let limit):
      "message length " + String(length) + " is more than the slot's " + String(limit)
    }
  }
}

/// A decoded, validated slot header.
public struct MessageHeader: Equatable, Sendable {
  /// Bytes before the payload in every slot.
  public static let size = 16

  /// The message's position in its channel, truncated to 32 bits.
  public var sequence: UInt32
  /// Payload bytes.
  public var length: Int
  public var kind: MessageKind
  /// Opaque; echoed back in the reply.
  public var replyLabel: UInt64

  public init(sequence: UInt32, length: Int, kind: MessageKind, replyLabel: UInt64) {
    self.sequence = sequence
    self.length = length
    self.kind = kind
    self.replyLabel = replyLabel
  }

  static let lengthShift: UInt64 = 32
  static let kindShift: UInt64 = 48
  static let flagsShift: UInt64 = 56

  /// Word 0 for these fields (flags zero). `length` must already be
  /// checked to fit the slot; only its low 16 bits are kept.
  @inline(__always)
  public static func word0(sequence: UInt32, length: Int, kind: MessageKind) -> UInt64 {
    UInt64(sequence) | UInt64(UInt16(truncatingIfNeeded: length)) << lengthShift
      | UInt64(kind.rawValue) << kindShift
  }

  /// Word 0 of this header.
  public var word0: UInt64 { Self.word0(sequence: sequence, length: length, kind: kind) }

  /// The sequence field of a word 0 (valid or not).
  @inline(__always)
  public static func sequence(of word0: UInt64) -> UInt32 {
    UInt32(truncatingIfNeeded: word0)
  }

  /// Validates the two header words of a slot whose payload area holds
  /// `payloadCapacity` bytes.
  @inline(__always)
  public static func decode(word0: UInt64, word1: UInt64, payloadCapacity: Int)
    throws(MessageHeaderError) -> MessageHeader
  {
    // Kind and flags together are the top 16 bits, valid only as 1 or 2:
    // one compare on the fast path, the precise error after it.
    let tag = word0 >> kindShift
    guard tag &- 1 < 2 else {
      let kindByte = UInt8(truncatingIfNeeded: tag)
      guard MessageKind(rawValue: kindByte) != nil else { throw .unknownKind(kindByte) }
      throw .reservedFlags(UInt8(truncatingIfNeeded: tag >> 8))
    }
    let length = Int(UInt16(truncatingIfNeeded: word0 >> lengthShift))
    guard length <= payloadCapacity else {
      throw .lengthTooLarge(length: length, limit: payloadCapacity)
    }
    let kind: MessageKind = tag == 1 ? .message : .reply
    return MessageHeader(
      sequence: sequence(of: word0), length: length, kind: kind, replyLabel: word1)
  }
}
