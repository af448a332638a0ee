// One channel's entry in a receive endpoint's config page: what the kernel
// says about the send endpoint bound to that channel. Only kernels write it;
// the sender and the receiver map it read-only and believe it, which is the
// point: the label that tells the receiver who sent a message comes from
// here, never from the slot the sender wrote.
//
// Record i sits at 64 + 64 * i in the config page, five little-endian u64
// words (atomics) and 24 zero bytes:
//   +0   state word: bits 7...0 state (0 inactive, 1 active, 2 revoked),
//        bits 31...8 zero, bits 63...32 generation
//   +8   label: chosen by whoever minted the send capability
//   +16  run: bits 31...0 first slot, bits 63...32 slot count (a power of
//        two; the channel's credits)
//   +24  accepted limit: once revoked, the number of messages (a position,
//        counted from 1) the receiver still accepts; zero otherwise
//   +32  reply: zero when the send endpoint names no reply endpoint;
//        otherwise bit 63 set and bits 7...0 the channel of the reply
//        endpoint's ring that the receiver answers on (the kernel maps that
//        channel into the receiver at its `ReplyWindow`). This is where M3
//        puts the reply endpoint in the header; here the sender writes the
//        header, so the kernel says it instead, once, at binding.
//
// The generation grows by one every time `setChannel` binds a new send
// endpoint to the channel index, so a receiver that cached a channel's
// state learns from one word both that the state changed and whether the
// channel is still the one it knew (its counters then restart at zero).
// An active or revoked state word never comes back once left (until the
// generation wraps after 2^32 rebinds of one index); only the fields of
// such records mean anything.
//
// Reading a record is a sequence lock: the state word (acquire), the other
// words, an acquire fence, the state word again; equal means the words
// belong together. A kernel that rewrites the fields first moves the state
// word to a value never seen before (inactive, next generation), then
// issues a release fence, then writes the fields, then stores the final
// state word with release, so a reader that saw any new field also sees a
// different state word on its second look. Revocation writes only the
// accepted limit (which means nothing while the state says active) and then
// the state word with release, so whoever sees "revoked" sees the limit.
// An unknown state byte or non-zero bits 31...8 read as inactive: a channel
// is live only if a kernel clearly said so.

import Synchronization

/// Where a channel is in its life.
public enum ChannelState: UInt8, Sendable {
  /// No send endpoint is bound; nothing is read from its slots.
  case inactive = 0
  /// The sender may send; the receiver reads everything it publishes.
  case active = 1
  /// The send endpoint was revoked: the receiver reads what was published
  /// before, up to the accepted limit, and nothing after.
  case revoked = 2

  public var name: String {
    switch self {
    case .inactive: "inactive"
    case .active: "active"
    case .revoked: "revoked"
    }
  }
}

/// A consistent copy of one channel record.
public struct ChannelRecord: Equatable, Sendable {
  public var state: ChannelState
  public var generation: UInt32
  public var label: UInt64
  public var firstSlot: Int
  public var slotCount: Int
  public var acceptedLimit: UInt64
  /// The reply endpoint's channel the receiver answers on; nil: none.
  public var replyChannel: Int?

  public init(
    state: ChannelState, generation: UInt32, label: UInt64, firstSlot: Int, slotCount: Int,
    acceptedLimit: UInt64, replyChannel: Int? = nil
  ) {
    self.state = state
    self.generation = generation
    self.label = label
    self.firstSlot = firstSlot
    self.slotCount = slotCount
    self.acceptedLimit = acceptedLimit
    self.replyChannel = replyChannel
  }

  static let stateOffset = 0
  static let labelOffset = 8
  static let runOffset = 16
  static let acceptedLimitOffset = 24
  static let replyOffset = 32
  static let replyBound: UInt64 = 1 << 63

  /// The reply word for `channel` (nil: no reply endpoint).
  static func replyWord(_ channel: Int?) -> UInt64 {
    guard let channel else { return 0 }
    return replyBound | UInt64(UInt8(truncatingIfNeeded: channel))
  }

  /// The reply channel a reply word names (nil for zero or a malformed word).
  static func replyChannel(of word: UInt64) -> Int? {
    guard word & ~(replyBound | 0xFF) == 0, word & replyBound != 0 else { return nil }
    return Int(word & 0xFF)
  }
  /// Times `load` retries a record that changes under it.
  static let readAttempts = 8

  /// The record's offset in the config page.
  @inline(__always)
  static func offset(channel: Int) -> Int {
    ReceiveEndpointLayout.recordsOffset &+ channel &* ReceiveEndpointLayout.recordStride
  }

  @inline(__always)
  static func stateWord(_ state: ChannelState, generation: UInt32) -> UInt64 {
    UInt64(state.rawValue) | UInt64(generation) << 32
  }

  /// The state a state word says (inactive for anything malformed).
  @inline(__always)
  static func state(of word: UInt64) -> ChannelState {
    guard word & 0xFFFF_FF00 == 0 else { return .inactive }
    return ChannelState(rawValue: UInt8(truncatingIfNeeded: word)) ?? .inactive
  }

  @inline(__always)
  static func generation(of word: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: word >> 32) }

  /// The state word of channel `channel` (acquire: a reader that sees a
  /// state also sees the fields the kernel wrote before it).
  @inline(__always)
  static func loadStateWord(config: UnsafeRawPointer, channel: Int) -> UInt64 {
    EndpointWords.loadAcquiring(config, offset(channel: channel) &+ stateOffset)
  }

  /// Reads record `channel` (not checked against the channel count) with
  /// the sequence lock above, with the raw state word it saw (a cache
  /// compares later loads with it); nil when it changed on every attempt.
  static func load(config: UnsafeRawPointer, channel: Int) -> (ChannelRecord, UInt64)? {
    let base = offset(channel: channel)
    for _ in 0..<readAttempts {
      let before = EndpointWords.loadAcquiring(config, base + stateOffset)
      let label = EndpointWords.load(config, base + labelOffset)
      let run = EndpointWords.load(config, base + runOffset)
      let limit = EndpointWords.load(config, base + acceptedLimitOffset)
      let reply = EndpointWords.load(config, base + replyOffset)
      atomicMemoryFence(ordering: .acquiring)
      guard EndpointWords.load(config, base + stateOffset) == before else { continue }
      let record = ChannelRecord(
        state: state(of: before), generation: generation(of: before), label: label,
        firstSlot: Int(UInt32(truncatingIfNeeded: run)), slotCount: Int(run >> 32),
        acceptedLimit: limit, replyChannel: replyChannel(of: reply))
      return (record, before)
    }
    return nil
  }
}
