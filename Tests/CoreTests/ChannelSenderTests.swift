// Tests of the sending side of a channel: attaching, the four results of
// `send`, credits (and a receiver whose count is impossible), what lands in
// the slot, and the wake decision.
import Testing

@testable import TesseraCore

@Suite struct ChannelSenderTests {
  @Test func attachRefusals() throws {
    let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 9, channelCount: 3)
    endpoint.bindAll([16, 16])
    func error(_ channel: Int, bytes: Int = 8192) -> ReceiveEndpointError? {
      ReceiveEndpointError.from { () throws(ReceiveEndpointError) in
        try ChannelSender(
          config: endpoint.config, status: endpoint.status, slots: endpoint.slots,
          slotBytes: bytes, channel: channel)
      }
    }
    #expect(error(0) == nil && error(1) == nil)
    #expect(error(3) == .noSuchChannel(channel: 3, count: 3))
    #expect(error(-1) == .noSuchChannel(channel: -1, count: 3))
    #expect(error(2) == .wrongState(channel: 2, found: .inactive, expected: .active))
    #expect(error(0, bytes: 8191) == .slotMemoryTooSmall(needed: 8192, have: 8191))
    _ = try endpoint.control.revokeChannel(1)
    #expect(error(1) == .wrongState(channel: 1, found: .revoked, expected: .active))
    // A config page that was never configured.
    let blank = SharedRegion(bytes: 8192)
    #expect(
      ReceiveEndpointError.from { () throws(ReceiveEndpointError) in
        try ChannelSender(
          config: blank.base, status: blank.base + 4096, slots: endpoint.slots, slotBytes: 8192,
          channel: 0)
      } == .badMagic(0))
    // A record with a run the layout refuses (only a broken kernel writes
    // one) is refused, not trusted.
    (endpoint.config + 64 + 64 * 0 + 16).storeBytes(of: 4 | 16 << 32, as: UInt64.self)
    #expect(error(0) == .layout(.channelMisaligned(channel: 0, firstSlot: 4)))
  }

  @Test func sendWritesHeaderAndPayloadIntoTheNextSlot() throws {
    let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 9, channelCount: 2)
    endpoint.bindAll([16, 32])
    var sender = try endpoint.sender(1)
    #expect(sender.channel == 1 && sender.slotCount == 32 && sender.payloadCapacity == 496)
    #expect(sender.send([1, 2, 3], kind: .reply, replyLabel: 0xFEED) == .sent(wakeReceiver: false))
    #expect(sender.sent == 1)
    let slot = endpoint.slot(16)
    #expect(slot.load(as: UInt64.self) == 0x0002_0003_0000_0001)
    #expect(slot.load(fromByteOffset: 8, as: UInt64.self) == 0xFEED)
    #expect(Array(UnsafeRawBufferPointer(start: slot + 16, count: 4)) == [1, 2, 3, 0])
    // The next message goes to the next slot, and an empty one has no payload.
    #expect(sender.send([]) == .sent(wakeReceiver: false))
    #expect(endpoint.slot(17).load(as: UInt64.self) == 0x0001_0000_0000_0002)
    // The whole capacity fits.
    let full = [UInt8](repeating: 0xC3, count: 496)
    #expect(sender.send(full) == .sent(wakeReceiver: false))
    #expect(Array(UnsafeRawBufferPointer(start: endpoint.slot(18) + 16, count: 496)) == full)
    // Channel 0's slots were not touched.
    #expect(UnsafeRawBufferPointer(start: endpoint.slot(0), count: 16 * 512).allSatisfy { $0 == 0 })
  }

  @Test func tooLargeAndNegativeLengthsWriteNothing() throws {
    let endpoint = TestEndpoint(slotCountLog2: 4, slotSizeLog2: 8, channelCount: 1)
    endpoint.bindAll([16])
    var sender = try endpoint.sender(0)
    #expect(sender.send([UInt8](repeating: 1, count: 241)) == .tooLarge)
    #expect(sender.send([UInt8](repeating: 1, count: 0x1_0000)) == .tooLarge)
    let payload: [UInt8] = [1]
    for length in [-1, Int.min, 0x1_0000 + 1] {
      #expect(
        payload.withUnsafeBytes {
          sender.send(kind: .message, replyLabel: 0, payload: $0.baseAddress!, length: length)
        } == .tooLarge)
    }
    #expect(sender.sent == 0 && sender.credits == 16)
    #expect(UnsafeRawBufferPointer(start: endpoint.slots, count: 4096).allSatisfy { $0 == 0 })
  }

  @Test func creditsRunOutAndComeBackWithAcks() throws {
    let endpoint = TestEndpoint(slotCountLog2: 2, slotSizeLog2: 12, channelCount: 2)
    endpoint.bindAll([2, 2])
    var sender = try endpoint.sender(0)
    var receiver = endpoint.receiver()
    #expect(sender.creditStatus == .available(2))
    #expect(sender.send([1]) == .sent(wakeReceiver: false))
    #expect(sender.send([2]) == .sent(wakeReceiver: false))
    #expect(sender.credits == 0 && sender.send([3]) == .noCredits && sender.sent == 2)
    // Fetching alone returns nothing; acking does.
    let first = receiver.fetch()!
    #expect(sender.credits == 0)
    try receiver.ack(first)
    #expect(sender.credits == 1)
    #expect(sender.send([3]) == .sent(wakeReceiver: false))
    #expect(endpoint.slot(0).load(as: UInt32.self) == 3)
    #expect(receiver.fetch()!.bytes == [2] && receiver.fetch()!.bytes == [3])
  }

  @Test func anImpossibleConsumedCountMeansNoCredits() throws {
    let endpoint = TestEndpoint(slotCountLog2: 4, slotSizeLog2: 8, channelCount: 1)
    endpoint.bindAll([16])
    var sender = try endpoint.sender(0)
    for _ in 0..<5 { _ = sender.send([0]) }
    let consumed = endpoint.status + 64
    // Ahead of what was sent.
    consumed.storeBytes(of: 6, as: UInt64.self)
    #expect(sender.creditStatus == .receiverCorrupt(consumed: 6, sent: 5))
    #expect(sender.credits == 0 && sender.send([1]) == .noCredits)
    consumed.storeBytes(of: .max, as: UInt64.self)
    #expect(sender.send([1]) == .noCredits)
    // Exactly sent: every credit; a plausible value below: the rest.
    consumed.storeBytes(of: 5, as: UInt64.self)
    #expect(sender.creditStatus == .available(16))
    consumed.storeBytes(of: 2, as: UInt64.self)
    #expect(sender.creditStatus == .available(13))
    #expect(sender.send([1]) == .sent(wakeReceiver: false))
    // More than a slot count behind is impossible too.
    for _ in 0..<12 { _ = sender.send([1]) }
    #expect(sender.sent == 18 && sender.creditStatus == .available(0))
    consumed.storeBytes(of: 1, as: UInt64.self)
    #expect(sender.creditStatus == .receiverCorrupt(consumed: 1, sent: 18))
  }

  @Test func wakesOnlyWhenTheReceiverSaidItSleeps() throws {
    let endpoint = TestEndpoint(slotCountLog2: 4, slotSizeLog2: 8, channelCount: 1)
    endpoint.bindAll([16])
    var sender = try endpoint.sender(0)
    var receiver = endpoint.receiver()
    #expect(sender.send([1]) == .sent(wakeReceiver: false))
    #expect(receiver.prepareToSleep() == false)
    try receiver.ack(receiver.fetch()!)
    let prepared = receiver.prepareToSleep()
    #expect(prepared)
    #expect(sender.send([2]) == .sent(wakeReceiver: true))
    // The flag stays until somebody clears it: later senders are told too
    // (the wake call's exchange makes only the first one act).
    #expect(sender.send([3]) == .sent(wakeReceiver: true))
    #expect(endpoint.control.wake() && !endpoint.control.wake())
    #expect(sender.send([4]) == .sent(wakeReceiver: false))
  }

  @Test func aRevokedOrRetiredChannelIsInactive() throws {
    let endpoint = TestEndpoint(slotCountLog2: 4, slotSizeLog2: 8, channelCount: 1)
    endpoint.bindAll([16])
    var sender = try endpoint.sender(0)
    #expect(sender.send([1]) == .sent(wakeReceiver: false))
    _ = try endpoint.control.revokeChannel(0)
    #expect(sender.send([2]) == .inactive && sender.sent == 1)
    // Size is checked first: it is the caller's mistake whatever the state.
    #expect(sender.send([UInt8](repeating: 0, count: 241)) == .tooLarge)
  }

  /// The in-place send writes through the closure into the slot, and calls
  /// it only when the message will go: never without a credit, never for a
  /// bad length, never on an inactive channel.
  @Test func anInPlaceSendWritesOnlyWhenTheMessageGoes() throws {
    let endpoint = TestEndpoint(slotCountLog2: 2, slotSizeLog2: 12, channelCount: 2)
    endpoint.bindAll([2, 2])
    var sender = try endpoint.sender(1)
    var receiver = endpoint.receiver()
    var calls = 0
    func word(_ value: UInt64, length: Int = 8) -> ChannelSendResult {
      sender.send(kind: .message, replyLabel: value, length: length) {
        calls += 1
        $0.storeBytes(of: value, as: UInt64.self)
      }
    }
    #expect(word(0x1122_3344_5566_7788) == .sent(wakeReceiver: false) && calls == 1)
    #expect(word(2) == .sent(wakeReceiver: false) && calls == 2)
    #expect(word(3) == .noCredits && calls == 2)
    #expect(word(4, length: endpoint.layout.payloadCapacity + 1) == .tooLarge && calls == 2)
    #expect(word(5, length: -1) == .tooLarge && calls == 2)
    let first = try #require(
      receiver.receive { ($0.length, $0.replyLabel, $0.payload.load(as: UInt64.self)) })
    #expect(first == (8, 0x1122_3344_5566_7788, 0x1122_3344_5566_7788))
    #expect(word(6) == .sent(wakeReceiver: false) && calls == 3)
    _ = try endpoint.control.revokeChannel(1)
    #expect(word(7) == .inactive && calls == 3)
    #expect(receiver.receive { $0.payload.load(as: UInt64.self) } == 2)
    #expect(receiver.receive { $0.payload.load(as: UInt64.self) } == 6)
    #expect(receiver.receive { $0.payload.load(as: UInt64.self) } == nil)
  }
}
