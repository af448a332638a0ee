// The receiving side of a receive endpoint: what the one program that owns
// the endpoint runs to take messages from every channel without entering the
// kernel. It works over the config page (read-only for it), the status page
// (its own, senders read it) and the whole slot area (read-only for it).
// Single consumer: the methods are `mutating` and must not run on two CPUs
// at once.
//
// Per channel it keeps, privately (in this value, never in shared memory):
// `fetched` (messages handed out by `fetch`), `acked` (messages freed), a
// 64-bit mask of malformed positions not yet freed, a malformed count, and
// a copy of the channel's record (state word, label, run) taken when the
// state word changed. The record in the config page is written only by
// kernels, so the label it holds is trustworthy; the slot is written by
// the sender, so nothing in it is.
//
// fetch. Channels are scanned round robin from a cursor (the channel after
// the last one that delivered), so one busy sender cannot starve the
// others. For each: one acquire load of the state word, compared with the
// cached one (a change refreshes the cache: a new generation restarts the
// counters, a revocation sets the limit); then one acquire load of the head
// slot's header word 0. Message p = fetched + 1 is there when the header
// sequence equals p (low 32 bits) and p is within the channel's limit
// (unbounded while active, the accepted limit once revoked). The header is
// then validated (`MessageHeader.decode`: kind, flags, length): a message
// is returned only with a length that fits the slot, and with the label
// from the config page.
//
// Malformed headers. A published header that fails validation is not a
// message: it is counted as malformed for its channel, its slot is freed as
// if acknowledged, and the scan goes on with that channel's next message
// (at most a slot count of them per visit, so a sender that keeps
// publishing garbage cannot hold `fetch` forever). A malicious sender
// therefore garbles only its own messages. Because acknowledgements are in
// order (below), a malformed slot behind messages the program has fetched
// but not yet acknowledged cannot be freed at once: it is marked in the
// channel's mask (bit j = position acked + 1 + j) and freed when the acks
// reach it. The mask has 64 bits: a malformed head more than 64 positions
// past the last ack waits (the channel delivers nothing more) until the
// program acknowledges; `hasPending` still reports it, so a program that
// holds more than 64 unacknowledged messages of one channel and then
// sleeps will spin instead: ack first.
//
// ack. Frees a message's slot: acks are in order per channel (a duplicate,
// an out-of-order or a never-fetched message is refused with an error), so
// the channel's freed slots are always a prefix and one counter says it:
// `consumed` in the status page, stored with release after the program is
// done with the slot, which is what the sender's credits are computed from.
//
// DECISION: the channel's slots ARE its credits, so a credit comes back
// when the slot is acknowledged. M3 returns a credit only with the reply
// (an ack without a reply frees the slot but keeps the credit, so a sender
// can have a request outstanding without a slot held). Here a reply
// travels on another channel (the one of the sender's reply endpoint that
// the kernel bound for this receiver, `ChannelReplier`), and receiving it
// implies nothing about this ring, while
// a slot that is free again can take a message: an ack without a reply
// returns the credit, and a receiver that replies acknowledges the request
// (before or after replying). Nothing can be overwritten by this: a sender
// can only publish into a slot whose previous message the receiver has
// acknowledged (`ChannelSender`), and the acknowledgement is the receiver's
// statement that it is done with the slot. Flow control of requests versus
// replies (M3's "credits come back with the reply") is the job of the
// protocol above the ring: a client that waits for the reply before its
// next request has one request in flight whatever the ring allows.
//
// Sleep (sDDF's "set the flag, then re-check"). `prepareToSleep` stores the
// fetched counts into the status page (for the kernel's re-check), stores
// `sleeping = 1`, issues a sequentially consistent fence, and re-checks
// every channel's head (and whether any state word changed since). It
// returns false, after clearing the flag, when something is pending; true
// means the program may make the block call. Why no wake-up is lost: a
// sender publishes (release store of word 0), fences, loads `sleeping`;
// the receiver stores `sleeping`, fences, loads word 0 of every head.
// With a full fence between the store and the load on both sides (Dekker),
// at least one of the loads sees the other side's store: either the
// receiver's re-check finds the message and it does not sleep, or the
// sender finds the flag and makes the wake call. The wake call clears the
// flag (`ReceiveEndpointControl.wake`, an exchange, so of several senders
// that saw the flag only the first needs to wake anybody) and unblocks the
// receiver; a wake that comes before the receiver blocked must make the
// block call return at once, which the kernel does by blocking only while
// the flag is still set and its own re-check (`mayBlock`, over the same
// memory, using the fetched counts stored here) finds nothing. After any
// return from the block call the flag is clear again (`clearSleeping`).
// A flag that stays set while the receiver runs costs senders needless
// wake calls, never a lost message. The flag is the receiver's own word:
// a receiver that lies about it only delays itself.
//
// receive. `fetch` then `ack` in one, for a program that is done with each
// message before it takes the next (most are). On its fast path (the
// channel at the cursor, nothing of it held) it checks what fetch checks,
// hands the message to a closure and stores the consumed count; inlined
// into the caller, it builds only the message fields the closure reads.
// Anything else takes fetch's way, and a message that cannot be freed at
// once (earlier ones of its channel still held) is freed when the acks
// reach it, like a malformed slot.
//
// Cost (Embedded Swift, -O, x86-64, measured on the disassembly): a
// `fetch` that finds a valid message on the channel at the cursor executes
// 73 instructions, about 20 of them storing the 8-word `ReceivedMessage`
// and 13 the prologue and epilogue; an in-order `ack` 38. Record changes,
// malformed headers and the scan of further channels are out of line.
// `receive`'s fast path: see the README's figures (dtubench).
//
// Revoked channels are read up to their accepted limit and no further,
// whatever the (former) sender wrote later; once drained they read as
// empty. A record that keeps changing while it is read (a kernel rewriting
// it on another CPU) is skipped by `fetch` for this call and counts as
// pending for `prepareToSleep`, so the program looks again.
//
// Tests/Models/dtu-ring.pml models this state machine: change them together.

import Synchronization

/// Why `ack` refused a message.
public enum ChannelAckError: Error, Equatable, Sendable {
  /// The message names a channel the endpoint does not have.
  case noSuchChannel(Int)
  /// The channel was rebound (or never bound) since the message was
  /// fetched: its slot belongs to another activation.
  case stale(channel: Int, generation: UInt32)
  /// The message was already acknowledged.
  case duplicate(channel: Int, position: UInt64)
  /// Acks go in order; `expected` is the next one.
  case outOfOrder(channel: Int, position: UInt64, expected: UInt64)
  /// The message was never fetched (a forged value).
  case notFetched(channel: Int, position: UInt64)

  public var description: String {
    switch self {
    case .noSuchChannel(let channel): "no channel " + String(channel)
    case .stale(let channel, let generation):
      "channel " + String(channel) + " generation " + String(generation) + " is gone"
    case .duplicate(let channel, let position):
      "channel " + String(channel) + " message " + String(position) + " was acked already"
    case .outOfOrder(let channel, let position, let expected):
      "channel " + String(channel) + " message " + String(position) + " acked before "
        + String(expected)
    case .notFetched(let channel, let position):
      "channel " + String(channel) + " message " + String(position) + " was not fetched"
    }
  }
}

/// What the receiver knows about one channel.
public struct ReceiverChannelStatus: Equatable, Sendable {
  public var state: ChannelState
  public var generation: UInt32
  public var label: UInt64
  /// Messages handed out (including malformed ones skipped).
  public var fetched: UInt64
  /// Messages freed (acknowledged, or malformed and freed).
  public var acked: UInt64
  /// Malformed headers met in this activation.
  public var malformed: UInt64
  /// The last position that will be read: `UInt64.max` while active, the
  /// accepted limit once revoked, 0 when inactive.
  public var limit: UInt64
}

/// The receiver's private record of one channel.
struct ReceiverChannel {
  /// The config-page state word this copy was taken at (0: inactive,
  /// generation 0, the state of a freshly configured endpoint).
  var stateWord: UInt64 = 0
  var label: UInt64 = 0
  var firstSlot = 0
  var slots: ChannelSlots
  var limit: UInt64 = 0
  var fetched: UInt64 = 0
  var acked: UInt64 = 0
  /// Bit j: position acked + 1 + j was malformed (or handed out and done
  /// with by `receive`) and waits to be freed.
  var malformedMask: UInt64 = 0
  var malformed: UInt64 = 0

  init(slots: ChannelSlots) { self.slots = slots }
}

/// The receiving side of one receive endpoint (single consumer).
public struct ChannelReceiver: @unchecked Sendable {
  public let layout: ReceiveEndpointLayout
  /// Positions past the last ack at which a malformed slot can still be
  /// marked for freeing.
  public static let malformedWindow: UInt64 = 64

  private let config: UnsafeRawPointer
  private let status: UnsafeMutableRawPointer
  private let slotArea: UnsafeRawPointer
  private let payloadCapacity: Int
  /// One entry per possible channel. The hot paths index it `unchecked`:
  /// every index they use is below `layout.channelCount` (at most 32,
  /// checked when the layout was read), or checked just before.
  private var channels: InlineArray<32, ReceiverChannel>
  /// The channel `fetch` looks at first.
  private var cursor = 0

  /// Attaches to the endpoint whose config page, status page and slot area
  /// (`slotBytes` long, the whole ring) are mapped at these addresses.
  public init(
    config: UnsafeRawPointer, status: UnsafeMutableRawPointer, slots: UnsafeRawPointer,
    slotBytes: Int
  ) throws(ReceiveEndpointError) {
    let layout = try ReceiveEndpointLayout.read(config: config)
    guard slotBytes >= layout.ringBytes else {
      throw .slotMemoryTooSmall(needed: layout.ringBytes, have: slotBytes)
    }
    self.layout = layout
    self.config = config
    self.status = status
    self.slotArea = slots
    self.payloadCapacity = layout.payloadCapacity
    self.channels = InlineArray(
      repeating: ReceiverChannel(
        slots: ChannelSlots(
          slots: slots, firstSlot: 0, slotCount: 1, slotSizeLog2: layout.slotSizeLog2)))
  }

  // MARK: the record cache

  /// Takes a fresh copy of channel `channel`'s record; false when it kept
  /// changing while read. Kept out of line: it runs only when a kernel
  /// changed the record, and inlined it would crowd the fast path.
  @inline(never)
  private mutating func refresh(_ channel: Int) -> Bool {
    guard let (record, word) = ChannelRecord.load(config: config, channel: channel) else {
      return false
    }
    var entry = channels[channel]
    if ChannelRecord.generation(of: word) != ChannelRecord.generation(of: entry.stateWord) {
      // Another activation: its counters start from nothing.
      entry = ReceiverChannel(slots: entry.slots)
    }
    entry.stateWord = word
    entry.limit = 0
    if record.state != .inactive,
      let run = try? layout.run(
        channel: channel, firstSlot: record.firstSlot, slotCount: record.slotCount)
    {
      // The run and label do not change within a generation once active;
      // reading them again at every change is simpler than tracking when.
      entry.label = record.label
      entry.firstSlot = run.firstSlot
      entry.slots = ChannelSlots(
        slots: slotArea, firstSlot: run.firstSlot, slotCount: run.slotCount,
        slotSizeLog2: layout.slotSizeLog2)
      entry.limit = record.state == .active ? UInt64.max : record.acceptedLimit
    }
    channels[channel] = entry
    return true
  }

  /// Brings the cached record of `channel` up to date; false when the
  /// record could not be read consistently.
  @inline(__always)
  private mutating func update(_ channel: Int) -> Bool {
    let word = ChannelRecord.loadStateWord(config: config, channel: channel)
    return word == channels[unchecked: channel].stateWord || refresh(channel)
  }

  // MARK: fetch

  /// The next message of any channel, or nil when none is published.
  public mutating func fetch() -> ReceivedMessage? {
    // The channel at the cursor first, inline; the rest of the round out
    // of line, so the common case carries no loop state.
    let channel = cursor
    if let message = take(channel) {
      cursor = channel &+ 1 == layout.channelCount ? 0 : channel &+ 1
      return message
    }
    return scan(after: channel)
  }

  /// The rest of `fetch`'s round: the channels after `first`, wrapping.
  @inline(never)
  private mutating func scan(after first: Int) -> ReceivedMessage? {
    let count = layout.channelCount
    var channel = first
    for _ in 1..<count {
      channel = channel &+ 1 == count ? 0 : channel &+ 1
      if let message = take(channel) {
        cursor = channel &+ 1 == count ? 0 : channel &+ 1
        return message
      }
    }
    return nil
  }

  /// The next valid message of `channel`, skipping (and freeing) malformed
  /// ones, at most a slot count of them.
  @inline(__always)
  private mutating func take(_ channel: Int) -> ReceivedMessage? {
    guard update(channel) else { return nil }
    var malformed = false
    if let message = head(channel, malformed: &malformed) { return message }
    return malformed ? takeAfterMalformed(channel) : nil
  }

  /// The head message of `channel`, if it is published and valid (then it
  /// counts as fetched); sets `malformed` when it is published but invalid.
  @inline(__always)
  private mutating func head(_ channel: Int, malformed: inout Bool) -> ReceivedMessage? {
    let fetched = channels[unchecked: channel].fetched
    guard fetched < channels[unchecked: channel].limit else { return nil }
    let position = fetched &+ 1
    let slots = channels[unchecked: channel].slots
    let slot = slots.slot(position)
    let word0 = ChannelSlots.word0(slot)
    guard MessageHeader.sequence(of: word0) == UInt32(truncatingIfNeeded: position) else {
      return nil
    }
    let word1 = EndpointWords.load(slot, 8)
    do throws(MessageHeaderError) {
      let header = try MessageHeader.decode(
        word0: word0, word1: word1, payloadCapacity: payloadCapacity)
      channels[unchecked: channel].fetched = position
      return ReceivedMessage(
        channel: channel,
        generation: ChannelRecord.generation(of: channels[unchecked: channel].stateWord),
        position: position, label: channels[unchecked: channel].label, kind: header.kind,
        length: header.length, replyLabel: header.replyLabel,
        slotIndex: channels[unchecked: channel].firstSlot &+ slots.index(position), slot: slot)
    } catch {
      malformed = true
      return nil
    }
  }

  /// `take` after the head of `channel` turned out malformed: frees it and
  /// the malformed ones after it, and returns the first valid message.
  @inline(never)
  private mutating func takeAfterMalformed(_ channel: Int) -> ReceivedMessage? {
    let bound = channels[unchecked: channel].slots.slotCount
    var skipped: UInt64 = 0
    var malformed = true
    while malformed {
      guard markMalformed(channel) else { return nil }
      skipped &+= 1
      guard skipped < bound else { return nil }
      malformed = false
      if let message = head(channel, malformed: &malformed) { return message }
    }
    return nil
  }

  /// Counts the head of `channel` as malformed and frees it when every
  /// message before it is free; false when it lies beyond the mask.
  @inline(never)
  private mutating func markMalformed(_ channel: Int) -> Bool {
    let offset = channels[unchecked: channel].fetched &- channels[unchecked: channel].acked
    guard offset < Self.malformedWindow else { return false }
    channels[unchecked: channel].malformedMask |= 1 << offset
    channels[unchecked: channel].fetched &+= 1
    channels[unchecked: channel].malformed &+= 1
    settle(channel)
    return true
  }

  /// Frees the malformed slots right after the last ack and publishes the
  /// freed count (release: the program is done with those slots).
  @inline(__always)
  private mutating func settle(_ channel: Int) {
    let mask = channels[unchecked: channel].malformedMask
    // Leading ones of the mask: malformed slots now at the front.
    let run = (~mask).trailingZeroBitCount
    if run != 0 {
      channels[unchecked: channel].malformedMask = run == 64 ? 0 : mask >> UInt64(run)
      channels[unchecked: channel].acked &+= UInt64(run)
    }
    EndpointWords.storeReleasing(
      status, ReceiveEndpointLayout.consumedOffset(channel: channel),
      channels[unchecked: channel].acked)
  }

  // MARK: ack

  /// Frees `message`'s slot (and any malformed slots right after it),
  /// returning the credit to its sender. In order per channel.
  public mutating func ack(_ message: ReceivedMessage) throws(ChannelAckError) {
    let channel = message.channel
    guard channel >= 0, channel < layout.channelCount else { throw .noSuchChannel(channel) }
    guard message.generation == ChannelRecord.generation(of: channels[unchecked: channel].stateWord)
    else {
      throw .stale(channel: channel, generation: message.generation)
    }
    let acked = channels[unchecked: channel].acked
    guard message.position > acked else {
      throw .duplicate(channel: channel, position: message.position)
    }
    guard message.position == acked &+ 1 else {
      throw .outOfOrder(channel: channel, position: message.position, expected: acked &+ 1)
    }
    guard message.position <= channels[unchecked: channel].fetched else {
      throw .notFetched(channel: channel, position: message.position)
    }
    channels[unchecked: channel].acked = message.position
    channels[unchecked: channel].malformedMask >>= 1
    settle(channel)
  }

  // MARK: receive: fetch and ack in one

  /// The next message of any channel, handed to `body`; its slot is freed
  /// when `body` returns. nil (and `body` not called) when none is
  /// published. The fast path for programs that are done with a message
  /// before they take the next: on the channel at the cursor, with no
  /// message of it held, this is fetch and ack fused and inlined into the
  /// caller, which builds no more of the message than `body` reads and
  /// checks nothing twice. The payload must not be used after `body`
  /// returns. Everything else (another channel, a malformed head, messages
  /// of the channel still held from `fetch`) takes the general way; a
  /// message handed out while earlier ones of its channel are held is
  /// freed when the acks reach it, as a malformed one is.
  @inline(__always)
  public mutating func receive<R>(_ body: (ReceivedMessage) -> R) -> R? {
    let channel = cursor
    if update(channel) {
      let fetched = channels[unchecked: channel].fetched
      // Nothing held (no ack outstanding, no malformed slot waiting).
      if fetched == channels[unchecked: channel].acked
        && fetched < channels[unchecked: channel].limit
      {
        let position = fetched &+ 1
        let slots = channels[unchecked: channel].slots
        let slot = slots.slot(position)
        let word0 = ChannelSlots.word0(slot)
        let sequence = MessageHeader.sequence(of: word0)
        if sequence == UInt32(truncatingIfNeeded: position),
          let header = try? MessageHeader.decode(
            word0: word0, word1: EndpointWords.load(slot, 8), payloadCapacity: payloadCapacity)
        {
          channels[unchecked: channel].fetched = position
          let result = body(
            ReceivedMessage(
              channel: channel,
              generation: ChannelRecord.generation(of: channels[unchecked: channel].stateWord),
              position: position, label: channels[unchecked: channel].label, kind: header.kind,
              length: header.length, replyLabel: header.replyLabel,
              slotIndex: channels[unchecked: channel].firstSlot &+ slots.index(position),
              slot: slot))
          channels[unchecked: channel].acked = position
          EndpointWords.storeReleasing(
            status, ReceiveEndpointLayout.consumedOffset(channel: channel), position)
          cursor = channel &+ 1 == layout.channelCount ? 0 : channel &+ 1
          return result
        }
        // Nothing published, and no other channel to look at: empty.
        if sequence != UInt32(truncatingIfNeeded: position) && layout.channelCount == 1 {
          return nil
        }
      }
    }
    guard let message = fetchFreeable() else { return nil }
    let result = body(message)
    free(message)
    return result
  }

  /// Hands up to `max` messages to `body`, one after the other, freeing
  /// them together when it returns; how many. For a program that drains
  /// what has come (most servers do): it takes a run of messages of one
  /// channel at a time with the channel's state, its slots and the
  /// receiver's pointers kept in registers, checks each header as `fetch`
  /// does, and stores the consumed count once for the run. The run stops at
  /// the first slot that is not published, malformed or past the channel's
  /// limit, and at the end of the channel's slots; the channel after it is
  /// tried next. A channel with messages held from `fetch` goes through
  /// `receive`. The payload must
  /// not be used after `body` returns; the slots' credits come back when
  /// the run is done, not message by message.
  @inline(__always)
  public mutating func drain(max: Int, _ body: (ReceivedMessage) -> Void) -> Int {
    var count = 0
    var rounds = 0
    while count < max, rounds < layout.channelCount {
      let channel = cursor
      guard update(channel),
        channels[unchecked: channel].fetched == channels[unchecked: channel].acked
      else {
        guard receive(body) != nil else { return count }
        count &+= 1
        continue
      }
      let word = channels[unchecked: channel].stateWord
      let acked = channels[unchecked: channel].acked
      let slots = channels[unchecked: channel].slots
      let label = channels[unchecked: channel].label
      let generation = ChannelRecord.generation(of: word)
      let firstSlot = channels[unchecked: channel].firstSlot
      // One channel's run: never past its limit, its slot count, or `max`.
      let end = Swift.min(
        channels[unchecked: channel].limit,
        acked &+ Swift.min(slots.slotCount, UInt64(truncatingIfNeeded: max &- count)))
      var position = acked
      var malformed = false
      while position < end {
        let next = position &+ 1
        let slot = slots.slot(next)
        let word0 = ChannelSlots.word0(slot)
        guard MessageHeader.sequence(of: word0) == UInt32(truncatingIfNeeded: next) else { break }
        guard
          let header = try? MessageHeader.decode(
            word0: word0, word1: EndpointWords.load(slot, 8), payloadCapacity: payloadCapacity)
        else {
          malformed = true
          break
        }
        body(
          ReceivedMessage(
            channel: channel, generation: generation, position: next, label: label,
            kind: header.kind, length: header.length, replyLabel: header.replyLabel,
            slotIndex: firstSlot &+ slots.index(next), slot: slot))
        position = next
      }
      if position != acked {
        count &+= Int(truncatingIfNeeded: position &- acked)
        channels[unchecked: channel].fetched = position
        channels[unchecked: channel].acked = position
        EndpointWords.storeReleasing(
          status, ReceiveEndpointLayout.consumedOffset(channel: channel), position)
        rounds = 0
      } else {
        rounds &+= 1
      }
      // A malformed head: `receive` (still at this channel) frees it and
      // hands out the next valid message of any channel, if there is one.
      if malformed, count < max {
        guard receive(body) != nil else { return count }
        count &+= 1
        rounds = 0
        continue
      }
      cursor = channel &+ 1 == layout.channelCount ? 0 : channel &+ 1
    }
    return count
  }

  /// `receive`'s general way: `fetch`, but only from a channel whose next
  /// message can be freed once handled (it lies within the window of
  /// positions past the last ack that can be marked).
  @inline(never)
  private mutating func fetchFreeable() -> ReceivedMessage? {
    let count = layout.channelCount
    var channel = cursor
    for _ in 0..<count {
      if update(channel),
        channels[unchecked: channel].fetched &- channels[unchecked: channel].acked
          < Self.malformedWindow,
        let message = take(channel)
      {
        cursor = channel &+ 1 == count ? 0 : channel &+ 1
        return message
      }
      channel = channel &+ 1 == count ? 0 : channel &+ 1
    }
    return nil
  }

  /// Frees a message `receive` handed out: at once when it is next in
  /// line, else when the acks of the earlier ones reach it.
  @inline(never)
  private mutating func free(_ message: ReceivedMessage) {
    let channel = message.channel
    let offset = message.position &- channels[unchecked: channel].acked &- 1
    guard offset != 0 else {
      try? ack(message)
      return
    }
    channels[unchecked: channel].malformedMask |= 1 << offset
  }

  // MARK: sleep

  /// Whether a message (or a malformed header, or a channel change) waits
  /// to be looked at, by the receiver's own counts.
  public mutating func hasPending() -> Bool {
    for channel in 0..<layout.channelCount {
      guard update(channel) else { return true }
      if headPublished(channel) { return true }
    }
    return false
  }

  /// (Mutating only so that the channel copy is read in place: a
  /// non-mutating reach into `channels` copies the whole array.)
  @inline(__always)
  private mutating func headPublished(_ channel: Int) -> Bool {
    let fetched = channels[unchecked: channel].fetched
    return fetched < channels[unchecked: channel].limit
      && channels[unchecked: channel].slots.isPublished(fetched &+ 1)
  }

  /// Says the receiver is about to sleep and re-checks; see the file
  /// comment. True: the program may make the block call (the flag is set).
  /// False: something is pending, the flag is clear, fetch again.
  public mutating func prepareToSleep() -> Bool {
    for channel in 0..<layout.channelCount {
      guard update(channel) else { return false }
      EndpointWords.store(
        status, ReceiveEndpointLayout.fetchedSnapshotOffset(channel: channel),
        channels[unchecked: channel].fetched)
    }
    let sleeping = EndpointWords.word(status, ReceiveEndpointLayout.sleepingOffset)
    sleeping.pointee.store(1, ordering: .relaxed)
    atomicMemoryFence(ordering: .sequentiallyConsistent)
    for channel in 0..<layout.channelCount {
      // A record that changed since the snapshot: look again rather than
      // sleep on a stale copy.
      let word = ChannelRecord.loadStateWord(config: config, channel: channel)
      if word != channels[unchecked: channel].stateWord || headPublished(channel) {
        sleeping.pointee.store(0, ordering: .relaxed)
        return false
      }
    }
    return true
  }

  /// Clears the sleeping flag (after the block call returned, or when the
  /// program decides not to block after all).
  public func clearSleeping() {
    EndpointWords.store(status, ReceiveEndpointLayout.sleepingOffset, 0)
  }

  /// Whether the flag says the receiver sleeps.
  public var sleeping: Bool {
    EndpointWords.load(status, ReceiveEndpointLayout.sleepingOffset) != 0
  }

  // MARK: observation

  /// The receiver's view of `channel` (nil for a channel the endpoint does
  /// not have); as of the last fetch, ack or sleep check.
  public func status(channel: Int) -> ReceiverChannelStatus? {
    guard channel >= 0, channel < layout.channelCount else { return nil }
    let entry = channels[channel]
    return ReceiverChannelStatus(
      state: ChannelRecord.state(of: entry.stateWord),
      generation: ChannelRecord.generation(of: entry.stateWord), label: entry.label,
      fetched: entry.fetched, acked: entry.acked, malformed: entry.malformed, limit: entry.limit)
  }
}
