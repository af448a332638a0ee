// Tests of `ChannelReceiver.drain`: runs of one channel at a time, every
// valid message exactly once and in its channel's order, credits back when
// the run is stored, nothing past a revoked channel's limit, malformed
// headers skipped as `fetch` skips them; and a random mix of sends,
// garbled headers, drains, fetches and revocations checked against a
// per-channel model.
import Testing

@testable import TesseraCore

/// One channel of 64 slots with `sending` 8-byte messages numbered from 0.
private func oneChannel(sending count: Int) throws -> (TestEndpoint, ChannelSender) {
  let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 6, channelCount: 1)
  endpoint.bindAll([64])
  var sender = try endpoint.sender(0)
  for number in 0..<count {
    _ = sender.send(ringPayload(channel: 0, number: UInt64(number), length: 8))
  }
  return (endpoint, sender)
}

@Suite struct ChannelReceiverDrainTests {
  @Test func drainTakesRunsOfOneChannelInOrderAndFreesThem() throws {
    let endpoint = TestEndpoint(slotCountLog2: 7, slotSizeLog2: 6, channelCount: 2)
    endpoint.bindAll([64, 64])
    var a = try endpoint.sender(0)
    var b = try endpoint.sender(1)
    for number in 0..<5 { _ = a.send(ringPayload(channel: 0, number: UInt64(number), length: 8)) }
    for number in 0..<3 { _ = b.send(ringPayload(channel: 1, number: UInt64(number), length: 8)) }
    var receiver = endpoint.receiver()
    var got: [(Int, [UInt8])] = []
    let count = receiver.drain(max: 100) { got.append(($0.channel, $0.bytes)) }
    #expect(count == 8)
    #expect(got.map(\.0) == [0, 0, 0, 0, 0, 1, 1, 1])
    for (index, (channel, bytes)) in got.enumerated() {
      let number = channel == 0 ? index : index - 5
      #expect(bytes == ringPayload(channel: channel, number: UInt64(number), length: 8))
    }
    #expect(a.credits == 64 && b.credits == 64)
    #expect(receiver.drain(max: 100) { _ in Issue.record("nothing is left") } == 0)
  }

  @Test func drainStopsAtMax() throws {
    let (endpoint, sender) = try oneChannel(sending: 10)
    var receiver = endpoint.receiver()
    var numbers: [UInt8] = []
    #expect(receiver.drain(max: 4) { numbers.append($0.bytes[0]) } == 4)
    #expect(sender.credits == 64 - 6)
    #expect(receiver.drain(max: 0) { _ in Issue.record("max 0") } == 0)
    #expect(receiver.drain(max: 10) { numbers.append($0.bytes[0]) } == 6)
    #expect(numbers == (0..<10).map { UInt8($0) })
  }

  @Test func aMalformedHeadIsSkippedAndTheRestDelivered() throws {
    let (endpoint, sender) = try oneChannel(sending: 4)
    // Position 2 gets an unknown kind.
    let word0 = endpoint.word0Pointer(0, position: 2)
    word0.pointee = word0.pointee & ~(0xFF << 48) | 9 << 48
    var receiver = endpoint.receiver()
    var numbers: [UInt8] = []
    #expect(receiver.drain(max: 10) { numbers.append($0.bytes[0]) } == 3)
    #expect(numbers == [0, 2, 3])
    #expect(receiver.status(channel: 0)?.malformed == 1)
    #expect(sender.credits == 64)
  }

  @Test func aRevokedChannelIsDrainedUpToItsLimitOnly() throws {
    let (endpoint, _) = try oneChannel(sending: 3)
    #expect(try endpoint.control.revokeChannel(0) == 3)
    // Published after the revocation (a sender bypassing its library).
    endpoint.publishRaw(0, position: 4, length: 8)
    var receiver = endpoint.receiver()
    #expect(receiver.drain(max: 10) { _ in } == 3)
    #expect(receiver.drain(max: 10) { _ in Issue.record("past the limit") } == 0)
  }

  /// Random traffic on three channels: sends (some garbled afterwards),
  /// drains of random size, single fetches held and acked, and revocations
  /// with rebinding. Every valid message comes out exactly once, in its
  /// channel's order, and none past a revoked channel's limit.
  @Test(arguments: Array(1...40) as [UInt64])
  func randomTrafficMatchesThePerChannelModel(seed: UInt64) throws {
    var random = SplitMix(seed: 0xD4A1_0000 + seed)
    let endpoint = TestEndpoint(slotCountLog2: 8, slotSizeLog2: 6, channelCount: 4)
    endpoint.bindAll([64, 64, 64])
    var senders = try (0..<3).map { try endpoint.sender($0) }
    var receiver = endpoint.receiver()
    // Per channel: numbers of valid messages not yet received, in order.
    var expected: [[UInt64]] = [[], [], []]
    var next: [UInt64] = [0, 0, 0]
    var generation: [Int] = [0, 0, 0]
    func check(_ message: ReceivedMessage) {
      let channel = message.channel
      let number = UInt64(message.payload.loadUnaligned(as: UInt32.self))
      guard let first = expected[channel].first, first == number else {
        Issue.record("channel \(channel): got \(number), expected \(expected[channel])")
        return
      }
      expected[channel].removeFirst()
    }
    for _ in 0..<3000 {
      let channel = Int(random.next() % 3)
      switch random.next() % 10 {
      case 0..<5:
        let number = next[channel]
        var bytes = [UInt8](repeating: 0, count: 8)
        withUnsafeBytes(of: UInt32(number)) { for i in 0..<4 { bytes[i] = $0[i] } }
        bytes[4] = UInt8(generation[channel])
        guard senders[channel].send(bytes) == .sent(wakeReceiver: false) else { continue }
        next[channel] += 1
        let position = senders[channel].sent
        if random.next() % 8 == 0 {
          let word0 = endpoint.word0Pointer(channel, position: position)
          word0.pointee |= 0xFFFF << 32  // length beyond the slot
        } else {
          expected[channel].append(number)
        }
      case 5..<8:
        let max = Int(random.next() % 40)
        let count = receiver.drain(max: max) { check($0) }
        #expect(count <= max)
      case 8:
        if let message = receiver.fetch() {
          check(message)
          try receiver.ack(message)
        }
      default:
        // Revoke, drain what the limit allows, rebind a new sender.
        _ = try endpoint.control.revokeChannel(channel)
        endpoint.publishRaw(channel, position: senders[channel].sent + 1, length: 8)
        while receiver.drain(max: 64, { check($0) }) > 0 {}
        #expect(expected[channel] == [])
        try endpoint.control.retireChannel(channel)
        let record = try endpoint.control.record(channel)
        try endpoint.control.setChannel(
          channel, label: 0x1_0000 + UInt64(channel), firstSlot: record.firstSlot,
          slotCount: record.slotCount)
        senders[channel] = try endpoint.sender(channel)
        generation[channel] += 1
        next[channel] = 0
      }
    }
    while receiver.drain(max: 64, { check($0) }) > 0 {}
    #expect(expected.allSatisfy { $0.isEmpty })
  }
}
