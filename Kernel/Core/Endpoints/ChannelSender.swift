// The sending side of one channel of a receive endpoint: what a program
// holding a send endpoint runs to deliver a message without entering the
// kernel. It works over three mappings the kernel gave the program: the
// endpoint's config page and status page (both read-only for it) and its
// own channel's run of slots (writable, and the only slots it can write).
//
// The sender keeps one private count, `sent`: messages it published on
// this channel. It lives in this value, in the sender's own memory, never
// in shared memory, so no other party can move it. The receiver's
// `consumed` word in the status page says how many messages it has freed.
// Message p (counted from 1) goes into slot (p - 1) mod slotCount, and
//
//   credits = slotCount - (sent - consumed)
//
// is the number of free slots. Sending needs a credit, so the slot written
// for p = sent + 1 last held message p - slotCount <= consumed, which the
// receiver has freed: the receiver stores `consumed` with release after it
// is done with the slot, the sender loads it with acquire before writing,
// so a sender can never overwrite a message its receiver may still read
// (no message is ever lost to an overwrite, unlike M3's old Linux emulation
// that dropped messages). A `consumed` above `sent`, or more than a slot
// count behind it, cannot come from an honest receiver: the sender then
// sees no credits (`creditStatus` says why) rather than trusting it, and
// whatever a lying receiver does, it can only make its own messages be
// overwritten.
//
// Publishing: the payload, then header word 1 (reply label), then header
// word 0 (sequence p, length, kind) with one release store. A receiver
// that loads word 0 with acquire and finds sequence p sees the whole
// message. Then a sequentially consistent fence and a load of the
// receiver's `sleeping` word: `.sent(wakeReceiver: true)` only if the
// receiver said it sleeps, and only then does the program make the wake
// system call. While the receiver polls, a send enters no kernel at all
// (Barrelfish's doorbell skip, the mOS rule "interrupt only an idle
// consumer"). Why the fence: the receiver, before it sleeps, stores
// `sleeping = 1`, fences, and re-checks every channel's head
// (`ChannelReceiver.prepareToSleep`). Store, full fence, load on both sides
// (Dekker): at least one side sees the other's store, so either the
// receiver sees the message and does not sleep, or the sender sees the
// flag and wakes it. Without the fence x86 may let the sender's load of
// `sleeping` pass its own still-buffered store of word 0, and both sides
// miss each other: a lost wake-up (the test file shows the interleaving).
//
// The state word. Each send loads the channel's state word from the config
// page and compares it with the one seen at `init` (active, generation g).
// Anything else (revoked, retired, rebound to another sender) is
// `.inactive`. Revocation itself is enforced by the MMU (the kernel unmaps
// the slots first); the check makes a revoked sender stop politely.
//
// Cost. The fast path with a credit is a length check, two loads and two
// compares (state, credits), the slot address (mask, shift, add), the
// payload copy, two stores, the fence, one load. Compiled for the kernel's
// target (Embedded Swift, -O, x86-64) `send` executes 61 instructions for
// an empty payload and 71 plus `memcpy` for a non-empty one, 13 of them the
// prologue and epilogue (measured on the disassembly, one non-inlined
// call; inlined into a program's loop it is less). No arrays, no
// optionals, no generics, nothing allocated; the value holds only pointers
// and small integers read at `init`.
//
// One sender per channel. `send` is `mutating` and must not run on two
// CPUs at once for the same channel (the channel is single-producer; two
// threads sharing a send endpoint must serialise around it).
//
// Tests/Models/dtu-ring.pml models this state machine: change them together.

import Synchronization

/// What `send` did.
public enum ChannelSendResult: Equatable, Sendable {
  /// Published. When `wakeReceiver` is true the receiver said it sleeps:
  /// the program must make the wake call; otherwise it is awake and finds
  /// the message on its own.
  case sent(wakeReceiver: Bool)
  /// Every slot of the channel holds a message the receiver has not freed
  /// (or the receiver's count is corrupt, see `creditStatus`); nothing was
  /// written.
  case noCredits
  /// The payload is longer than a slot holds (or the length is negative);
  /// nothing was written.
  case tooLarge
  /// The channel is not the active channel this sender was made for
  /// (revoked, retired or rebound); nothing was written.
  case inactive
}

/// The sender's view of its credits.
public enum ChannelCredits: Equatable, Sendable {
  /// This many messages can be sent now.
  case available(Int)
  /// The receiver's consumed count is impossible for the messages sent
  /// (above `sent`, or more than a slot count behind): treated as no
  /// credits.
  case receiverCorrupt(consumed: UInt64, sent: UInt64)
}

/// One channel's sending side. Unchecked `Sendable`: it holds pointers
/// into shared memory, and the protocol above is what makes sharing safe.
public struct ChannelSender: @unchecked Sendable {
  /// The channel's index in the endpoint.
  public let channel: Int
  /// Slots of the channel: its credits when nothing is in flight.
  public let slotCount: Int
  /// The largest payload, in bytes.
  public let payloadCapacity: Int
  /// Messages published so far (private to this sender).
  public private(set) var sent: UInt64 = 0

  private let stateWord: UnsafeMutablePointer<Atomic<UInt64>>
  /// The state word this sender was made for: active, its generation.
  private let activeWord: UInt64
  private let consumedWord: UnsafeMutablePointer<Atomic<UInt64>>
  private let sleepingWord: UnsafeMutablePointer<Atomic<UInt64>>
  private let slots: ChannelSlots

  /// Attaches to channel `channel` of the endpoint whose config and status
  /// pages are mapped at `config` and `status`; `slots` is the channel's
  /// own run (`slotBytes` long), wherever it is mapped. The channel must be
  /// active: the sender is bound to that activation (generation).
  public init(
    config: UnsafeRawPointer, status: UnsafeRawPointer, slots: UnsafeMutableRawPointer,
    slotBytes: Int, channel: Int
  ) throws(ReceiveEndpointError) {
    let layout = try ReceiveEndpointLayout.read(config: config)
    guard channel >= 0, channel < layout.channelCount else {
      throw .noSuchChannel(channel: channel, count: layout.channelCount)
    }
    guard let (record, word) = ChannelRecord.load(config: config, channel: channel) else {
      throw .recordChanging(channel: channel)
    }
    guard record.state == .active else {
      throw .wrongState(channel: channel, found: record.state, expected: .active)
    }
    let run: ChannelRun
    do throws(ReceiveEndpointLayoutError) {
      run = try layout.run(
        channel: channel, firstSlot: record.firstSlot, slotCount: record.slotCount)
    } catch {
      throw .layout(error)
    }
    guard slotBytes >= run.byteCount else {
      throw .slotMemoryTooSmall(needed: run.byteCount, have: slotBytes)
    }
    self.channel = channel
    self.slotCount = run.slotCount
    self.payloadCapacity = layout.payloadCapacity
    self.stateWord = EndpointWords.word(
      config, ChannelRecord.offset(channel: channel) + ChannelRecord.stateOffset)
    self.activeWord = word
    self.consumedWord = EndpointWords.word(
      status, ReceiveEndpointLayout.consumedOffset(channel: channel))
    self.sleepingWord = EndpointWords.word(status, ReceiveEndpointLayout.sleepingOffset)
    self.slots = ChannelSlots(
      base: slots, slotCount: run.slotCount, slotSizeLog2: layout.slotSizeLog2)
  }

  /// Free slots now; 0 when the receiver's count is corrupt.
  public var credits: Int {
    if case .available(let count) = creditStatus { return count }
    return 0
  }

  public var creditStatus: ChannelCredits {
    let consumed = consumedWord.pointee.load(ordering: .acquiring)
    let inFlight = sent &- consumed
    guard consumed <= sent, inFlight <= UInt64(slotCount) else {
      return .receiverCorrupt(consumed: consumed, sent: sent)
    }
    return .available(slotCount - Int(inFlight))
  }

  /// Sends `length` bytes from `payload` (any pointer when `length` is 0)
  /// as a message of `kind` carrying `replyLabel`. See the file comment.
  @inline(__always)
  public mutating func send(
    kind: MessageKind, replyLabel: UInt64, payload: UnsafeRawPointer, length: Int
  ) -> ChannelSendResult {
    send(kind: kind, replyLabel: replyLabel, length: length) { slotPayload in
      if length != 0 { slotPayload.copyMemory(from: payload, byteCount: length) }
    }
  }

  /// Sends a message of `length` bytes that `write` puts straight into the
  /// slot's payload (no copy from elsewhere; it must write only `length`
  /// bytes there and nothing after returning), when there is a credit:
  /// `write` is not called otherwise. Inlined into the caller, a send of a
  /// few words is a few stores.
  @inline(__always)
  public mutating func send(
    kind: MessageKind, replyLabel: UInt64, length: Int,
    _ write: (UnsafeMutableRawPointer) -> Void
  ) -> ChannelSendResult {
    // Both bounds spelled out, so the compiler knows a copy's count is not
    // negative (and drops the copy's own check).
    guard length >= 0, length <= payloadCapacity else { return .tooLarge }
    guard stateWord.pointee.load(ordering: .relaxed) == activeWord else { return .inactive }
    // A `consumed` above `sent` is corrupt (the counts never wrap: 2^64
    // messages); one too far behind gives a difference above the slot
    // count. Both read as no credits.
    let consumed = consumedWord.pointee.load(ordering: .acquiring)
    guard consumed <= sent, sent &- consumed < slots.slotCount else { return .noCredits }
    let position = sent &+ 1
    let slot = slots.slot(position)
    write(slot + MessageHeader.size)
    EndpointWords.word(slot, 8).pointee.store(replyLabel, ordering: .relaxed)
    EndpointWords.word(slot, 0).pointee.store(
      MessageHeader.word0(
        sequence: UInt32(truncatingIfNeeded: position), length: length, kind: kind),
      ordering: .releasing)
    sent = position
    atomicMemoryFence(ordering: .sequentiallyConsistent)
    return .sent(wakeReceiver: sleepingWord.pointee.load(ordering: .relaxed) != 0)
  }

  /// Sends the bytes of `payload`; see `send(kind:replyLabel:payload:length:)`.
  public mutating func send(kind: MessageKind, replyLabel: UInt64, bytes: UnsafeRawBufferPointer)
    -> ChannelSendResult
  {
    // An empty buffer may have no address; nothing is copied from it.
    let base = bytes.baseAddress ?? UnsafeRawPointer(slots.base)
    return send(kind: kind, replyLabel: replyLabel, payload: base, length: bytes.count)
  }
}
