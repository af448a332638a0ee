// Tests of the receiving side: fetch order and fairness, labels from the
// config page, every ack refusal, malformed headers (freed in order, the
// 64-position window), revoked channels, the sleep re-check, and a hostile
// sender scribbling over its own slots while an honest one sends beside it.
import PropertyBased
import Testing

@testable import TesseraCore

@Suite struct ChannelReceiverTests {
  @Test func attachRefusals() {
    let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 9, channelCount: 2)
    #expect(
      ReceiveEndpointError.from { () throws(ReceiveEndpointError) in
        try ChannelReceiver(
          config: endpoint.config, status: endpoint.status, slots: endpoint.slots,
          slotBytes: 32767)
      } == .slotMemoryTooSmall(needed: 32768, have: 32767))
    let blank = SharedRegion(bytes: 4096, fill: 0xFF)
    #expect(
      ReceiveEndpointError.from { () throws(ReceiveEndpointError) in
        try ChannelReceiver(
          config: blank.base, status: endpoint.status, slots: endpoint.slots, slotBytes: 32768)
      } == .badMagic(.max))
  }

  @Test func fetchHandsOutValidatedMessagesWithTheConfigLabel() throws {
    let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 9, channelCount: 2)
    endpoint.bindAll([16, 32], labelBase: 0x5EED_0000)
    var sender = try endpoint.sender(1)
    var receiver = endpoint.receiver()
    #expect(receiver.fetch() == nil)
    let payload = ringPayload(channel: 1, number: 0, length: 40)
    #expect(sender.send(payload, kind: .reply, replyLabel: 0xAB) == .sent(wakeReceiver: false))
    let fetched = receiver.fetch()
    let message = try #require(fetched)
    #expect(message.channel == 1 && message.position == 1 && message.generation == 1)
    #expect(message.label == 0x5EED_0001 && message.kind == .reply && message.replyLabel == 0xAB)
    #expect(message.length == 40 && message.bytes == payload)
    #expect(message.slotIndex == 16 && message.slot == UnsafeRawPointer(endpoint.slot(16)))
    #expect(message.payload == UnsafeRawPointer(endpoint.slot(16) + 16))
    #expect(receiver.fetch() == nil)
    #expect(
      receiver.status(channel: 1)
        == ReceiverChannelStatus(
          state: .active, generation: 1, label: 0x5EED_0001, fetched: 1, acked: 0, malformed: 0,
          limit: .max))
    #expect(receiver.status(channel: 2) == nil && receiver.status(channel: -1) == nil)
    try receiver.ack(message)
    #expect(receiver.status(channel: 1)?.acked == 1 && endpoint.control.consumed(channel: 1) == 1)
  }

  @Test func channelsAreServedRoundRobin() throws {
    let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 9, channelCount: 4)
    endpoint.bindAll([16, 16, 16, 16])
    var senders = try (0..<4).map { try endpoint.sender($0) }
    var receiver = endpoint.receiver()
    // Channel 0 has 5 messages, 2 has 2, 3 has 1, 1 none.
    for (channel, count) in [(0, 5), (2, 2), (3, 1)] {
      for number in 0..<count {
        _ = senders[channel].send(ringPayload(channel: channel, number: UInt64(number), length: 9))
      }
    }
    var order: [Int] = []
    while let message = receiver.fetch() {
      order.append(message.channel)
      try receiver.ack(message)
    }
    #expect(order == [0, 2, 3, 0, 2, 0, 0, 0])
  }

  @Test func unboundAndUnpublishedSlotsAreNotRead() throws {
    let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 9, channelCount: 3)
    try endpoint.control.setChannel(0, label: 1, firstSlot: 0, slotCount: 16)
    var receiver = endpoint.receiver()
    // Slots 16...63 belong to no channel; slot 1 holds a header for a
    // position not yet due (2 comes after 1).
    for index in 16..<64 {
      endpoint.slot(index).storeBytes(of: 0x0001_0000_0000_0001, as: UInt64.self)
    }
    endpoint.publishRaw(0, position: 2, length: 4)
    #expect(receiver.fetch() == nil && receiver.hasPending() == false)
    let prepared = receiver.prepareToSleep()
    #expect(prepared)
    #expect(endpoint.control.mayBlock)
  }

  @Test func ackRefusals() throws {
    let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 9, channelCount: 2)
    endpoint.bindAll([16, 16])
    var sender = try endpoint.sender(0)
    var receiver = endpoint.receiver()
    for number in 0..<3 {
      _ = sender.send(ringPayload(channel: 0, number: UInt64(number), length: 8))
    }
    let first = receiver.fetch()!
    let second = receiver.fetch()!
    #expect(throws: ChannelAckError.outOfOrder(channel: 0, position: 2, expected: 1)) {
      try receiver.ack(second)
    }
    try receiver.ack(first)
    #expect(throws: ChannelAckError.duplicate(channel: 0, position: 1)) { try receiver.ack(first) }
    func forged(channel: Int = 0, generation: UInt32 = 1, position: UInt64) -> ReceivedMessage {
      ReceivedMessage(
        channel: channel, generation: generation, position: position, label: 0, kind: .message,
        length: 0, replyLabel: 0, slotIndex: 0, slot: UnsafeRawPointer(endpoint.slots))
    }
    #expect(throws: ChannelAckError.notFetched(channel: 0, position: 3)) {
      try receiver.ack(second)
      try receiver.ack(forged(position: 3))
    }
    #expect(throws: ChannelAckError.noSuchChannel(2)) {
      try receiver.ack(forged(channel: 2, position: 1))
    }
    #expect(throws: ChannelAckError.noSuchChannel(-1)) {
      try receiver.ack(forged(channel: -1, position: 1))
    }
    #expect(throws: ChannelAckError.stale(channel: 0, generation: 7)) {
      try receiver.ack(forged(generation: 7, position: 3))
    }
    // Channel 1 has sent nothing: a message from it was never fetched.
    #expect(throws: ChannelAckError.notFetched(channel: 1, position: 1)) {
      try receiver.ack(forged(channel: 1, generation: 1, position: 1))
    }
    #expect(endpoint.control.consumed(channel: 0) == 2)
    let errors: [ChannelAckError] = [
      .noSuchChannel(1), .stale(channel: 0, generation: 1), .duplicate(channel: 0, position: 1),
      .outOfOrder(channel: 0, position: 2, expected: 1), .notFetched(channel: 0, position: 1),
    ]
    #expect(errors.allSatisfy { !$0.description.isEmpty })
    // Each message names its channel and tells the cases apart.
    #expect(
      errors.allSatisfy {
        $0.description.contains("channel " + ($0 == .noSuchChannel(1) ? "1" : "0"))
      })
    #expect(Set(errors.map(\.description)).count == errors.count)
    #expect(
      ChannelAckError.outOfOrder(channel: 3, position: 9, expected: 7).description
        == "channel 3 message 9 acked before 7")
  }

  @Test func aMalformedMessageIsSkippedCountedAndFreedInOrder() throws {
    let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 9, channelCount: 2)
    endpoint.bindAll([16, 16])
    var sender = try endpoint.sender(0)
    var receiver = endpoint.receiver()
    for number in 0..<4 {
      _ = sender.send(ringPayload(channel: 0, number: UInt64(number), length: 8))
    }
    // Positions 2 and 3 go bad after publishing: a kind of 9, a length past
    // the slot.
    endpoint.word0Pointer(0, position: 2).pointee = 0x0009_0008_0000_0002
    endpoint.word0Pointer(0, position: 3).pointee = 0x0001_01F1_0000_0003
    let first = receiver.fetch()!
    let fourth = receiver.fetch()!
    #expect(first.position == 1 && fourth.position == 4)
    #expect(fourth.bytes == ringPayload(channel: 0, number: 3, length: 8))
    #expect(receiver.status(channel: 0)?.malformed == 2)
    // Not freed yet: message 1 is still held.
    #expect(endpoint.control.consumed(channel: 0) == 0 && sender.credits == 12)
    try receiver.ack(first)
    #expect(endpoint.control.consumed(channel: 0) == 3 && sender.credits == 15)
    try receiver.ack(fourth)
    #expect(endpoint.control.consumed(channel: 0) == 4 && sender.credits == 16)
    // With nothing held, a malformed head is freed as soon as it is met.
    _ = sender.send([1])
    endpoint.word0Pointer(0, position: 5).pointee |= 1 << 56
    #expect(receiver.fetch() == nil)
    #expect(
      endpoint.control.consumed(channel: 0) == 5 && receiver.status(channel: 0)?.malformed == 3)
  }

  @Test func aMalformedHeadBeyondTheWindowWaitsForAcks() throws {
    // 256 slots of 64 bytes; one channel of 128.
    let endpoint = TestEndpoint(slotCountLog2: 8, slotSizeLog2: 6, channelCount: 1)
    endpoint.bindAll([128])
    var sender = try endpoint.sender(0)
    var receiver = endpoint.receiver()
    for number in 0..<66 {
      _ = sender.send(ringPayload(channel: 0, number: UInt64(number), length: 8))
    }
    endpoint.word0Pointer(0, position: 65).pointee = 0x0003_0000_0000_0041
    var held: [ReceivedMessage] = []
    for _ in 0..<64 { held.append(receiver.fetch()!) }
    // Position 65 would be the 65th unfreed position: it waits.
    #expect(receiver.fetch() == nil)
    #expect(receiver.hasPending() && !receiver.prepareToSleep())
    try receiver.ack(held.removeFirst())
    let next = receiver.fetch()!
    #expect(next.position == 66 && receiver.status(channel: 0)?.malformed == 1)
    for message in held { try receiver.ack(message) }
    #expect(endpoint.control.consumed(channel: 0) == 65)
    try receiver.ack(next)
    #expect(endpoint.control.consumed(channel: 0) == 66 && sender.credits == 128)
  }

  @Test func aGarbageSenderCannotHoldFetchForever() throws {
    let endpoint = TestEndpoint(slotCountLog2: 3, slotSizeLog2: 12, channelCount: 2)
    endpoint.bindAll([4, 4])
    var honest = try endpoint.sender(1)
    var receiver = endpoint.receiver()
    // Channel 0 publishes 4 malformed headers, channel 1 one message.
    for position in 1...4 { endpoint.publishRaw(0, position: UInt64(position), kind: 0, length: 0) }
    _ = honest.send([7])
    let fetched = receiver.fetch()
    let message = try #require(fetched)
    #expect(message.channel == 1 && message.bytes == [7])
    #expect(
      receiver.status(channel: 0)?.malformed == 4 && endpoint.control.consumed(channel: 0) == 4)
  }

  @Test func aRevokedChannelIsReadUpToItsLimitOnly() throws {
    let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 9, channelCount: 2)
    endpoint.bindAll([16, 16])
    var sender = try endpoint.sender(0)
    var receiver = endpoint.receiver()
    for number in 0..<5 {
      _ = sender.send(ringPayload(channel: 0, number: UInt64(number), length: 8))
    }
    try receiver.ack(receiver.fetch()!)
    let held = receiver.fetch()!
    #expect(try endpoint.control.revokeChannel(0) == 4)
    // Written after the revocation (a sender the kernel failed to unmap):
    // positions 6 and 7 look perfect and are still ignored.
    endpoint.publishRaw(0, position: 6, length: 3)
    endpoint.publishRaw(0, position: 7, length: 3)
    var later: [ReceivedMessage] = []
    while let message = receiver.fetch() { later.append(message) }
    #expect(later.map(\.position) == [3, 4, 5])
    #expect(
      receiver.status(channel: 0)?.limit == 5 && receiver.status(channel: 0)?.state == .revoked)
    try receiver.ack(held)
    for message in later { try receiver.ack(message) }
    #expect(!receiver.hasPending() && receiver.prepareToSleep() && endpoint.control.mayBlock)
    #expect(endpoint.control.consumed(channel: 0) == 5)
  }

  @Test func prepareToSleepLooksAgainAfterAChannelChange() throws {
    let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 9, channelCount: 2)
    endpoint.bindAll([16])
    var receiver = endpoint.receiver()
    let prepared = receiver.prepareToSleep()
    #expect(prepared)
    receiver.clearSleeping()
    #expect(!receiver.sleeping)
    // A channel bound while the receiver was not looking.
    try endpoint.control.setChannel(1, label: 5, firstSlot: 16, slotCount: 16)
    var sender = try endpoint.sender(1)
    _ = sender.send([1])
    #expect(receiver.prepareToSleep() == false)
    #expect(receiver.fetch()?.label == 5)
  }

  /// Channel 0's sender is hostile: it scribbles random bytes over its own
  /// slots (sequence words included), writes plausible headers with wrong
  /// kinds and lengths, and keeps writing after it is revoked. Channel 1's
  /// sender is honest. The receiver never traps, never hands out a message
  /// reaching past its slot or carrying a label other than the config
  /// page's, never reads channel 0 past its accepted limit, and channel 1
  /// loses, duplicates or reorders nothing.
  @Test func aHostileSenderGarblesOnlyItsOwnMessages() async {
    await propertyCheck(count: 150, input: Gen.uint64().array(of: 1...300)) { steps in
      #expect(Self.hostileRun(steps) == nil)
    }
  }

  static func hostileRun(_ steps: [UInt64]) -> String? {
    let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 7, channelCount: 2)
    endpoint.bindAll([32, 32], labelBase: 0x4000)
    var honest = try! endpoint.sender(1)
    var receiver = endpoint.receiver()
    let capacity = endpoint.layout.payloadCapacity
    let (hostileBase, hostileBytes) = endpoint.run(0)
    var honestSent: UInt64 = 0
    var honestReceived: UInt64 = 0
    var held: [ReceivedMessage] = []
    var revokedLimit: UInt64?
    var random = SplitMix(seed: steps.first ?? 0)

    func check(_ message: ReceivedMessage) -> String? {
      let (base, bytes) = endpoint.run(message.channel)
      guard message.length <= capacity,
        message.slot >= UnsafeRawPointer(base),
        message.payload + message.length <= UnsafeRawPointer(base + bytes)
      else { return "message \(message) reaches outside its slot" }
      guard message.label == 0x4000 + UInt64(message.channel) else {
        return "label \(message.label) on channel \(message.channel)"
      }
      if message.channel == 1 {
        honestReceived += 1
        guard message.position == honestReceived,
          message.bytes == ringPayload(channel: 1, number: honestReceived, length: message.length)
        else { return "honest message \(message.position) garbled, expected \(honestReceived)" }
      } else if let limit = revokedLimit, message.position > limit {
        return "channel 0 read position \(message.position) past its limit \(limit)"
      }
      return nil
    }

    for step in steps {
      random.mix(step)
      switch step % 100 {
      case 0..<25:
        let number = honestSent + 1
        let length = Int(step >> 8) % (capacity + 1)
        switch honest.send(ringPayload(channel: 1, number: number, length: length)) {
        case .sent: honestSent = number
        case .noCredits: if honest.credits != 0 { return "no credits with \(honest.credits)" }
        default: return "honest send failed"
        }
      case 25..<35:
        // Random bytes over a random stretch of its own run.
        let offset = Int(random.next() % UInt64(hostileBytes))
        let count = min(Int(random.next() % 300), hostileBytes - offset)
        for index in 0..<count {
          (hostileBase + offset + index).storeBytes(
            of: UInt8(truncatingIfNeeded: random.next()), as: UInt8.self)
        }
      case 35..<45:
        // A random word over a random slot's header word 0 or 1.
        let slot = Int(random.next() % 32)
        let word = Int(random.next() % 2)
        (hostileBase + slot * 128 + word * 8).storeBytes(of: random.next(), as: UInt64.self)
      case 45..<55:
        // A plausible header for the position the receiver expects next,
        // with a random kind, flags and length.
        let next = (receiver.status(channel: 0)?.fetched ?? 0) + 1
        let bits = random.next()
        endpoint.publishRaw(
          0, position: next + bits % 3, kind: UInt8(truncatingIfNeeded: bits >> 8) % 4,
          flags: bits >> 16 % 5 == 0 ? 1 : 0, length: Int(bits >> 24 & 0xFF), fill: 0xEE)
      case 55..<85:
        if let message = receiver.fetch() {
          if let failure = check(message) { return failure }
          held.append(message)
        }
      case 85..<97:
        for message in held {
          do throws(ChannelAckError) {
            try receiver.ack(message)
          } catch {
            // Fetched messages acked in fetch order never fail, whatever
            // the sender wrote.
            return "ack failed: \(error)"
          }
        }
        held = []
      default:
        if revokedLimit == nil {
          _ = try! endpoint.control.revokeChannel(0)
          revokedLimit = try! endpoint.control.record(0).acceptedLimit
        }
      }
      let consumed = endpoint.control.consumed(channel: 1)
      if honest.credits + Int(honestSent - consumed) != 32 {
        return "credits \(honest.credits) + in flight \(honestSent - consumed) != 32"
      }
    }
    // Drain: every honest message arrives.
    for message in held { try! receiver.ack(message) }
    var rounds = 0
    while let message = receiver.fetch() {
      if let failure = check(message) { return failure }
      try! receiver.ack(message)
      rounds += 1
      if rounds > 10_000 { return "fetch never runs dry" }
    }
    if honestReceived != honestSent { return "sent \(honestSent), received \(honestReceived)" }
    if honest.credits != 32 { return "honest credits \(honest.credits) after the drain" }
    return nil
  }
}

/// A small deterministic generator (SplitMix64) for bytes derived from the
/// property test's inputs.
struct SplitMix {
  var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func mix(_ value: UInt64) { state ^= value &* 0x9E37_79B9_7F4A_7C15 }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
