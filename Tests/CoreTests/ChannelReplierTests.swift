// Tests of the receiver's fast-path replies: a reply goes to the channel of
// the reply endpoint the kernel named in the request channel's record, with
// the request's reply label; a message of a binding that is gone is not
// answered; reply credits run out when the sender does not read its
// replies; a window that holds anything but a ring refuses, never traps.
import Testing

@testable import TesseraCore

/// A request endpoint and, for each of its channels, a reply endpoint in
/// one block at a fixed stride, as the kernel maps reply windows.
private final class ReplyRig: @unchecked Sendable {
  let requests: TestEndpoint
  let replyLayout: ReceiveEndpointLayout
  let windows: SharedRegion
  let stride: Int
  var replyRings: [ReceiveEndpointControl] = []

  init(requestChannels: Int = 2, replySlotsLog2: Int = 5) {
    requests = TestEndpoint(slotCountLog2: 7, slotSizeLog2: 8, channelCount: requestChannels)
    replyLayout = try! ReceiveEndpointLayout(
      slotCountLog2: replySlotsLog2, slotSizeLog2: 8, channelCount: 2)
    stride = replyLayout.totalBytes
    windows = SharedRegion(bytes: stride * requestChannels, fill: 0xA5)
    for channel in 0..<requestChannels {
      let base = windows.base + channel * stride
      replyRings.append(
        ReceiveEndpointControl.configure(
          replyLayout, config: base, status: base + ReceiveEndpointLayout.statusOffset,
          slots: base + ReceiveEndpointLayout.slotsOffset))
    }
  }

  /// Binds request channel `channel` (16 slots) with `label`; with
  /// `replyChannel`, binds that channel of the channel's reply ring (16
  /// slots, label `0xA0 + channel`) and names it in the record.
  func bind(_ channel: Int, label: UInt64, replyChannel: Int?) throws {
    if let replyChannel {
      try replyRings[channel].setChannel(
        replyChannel, label: 0xA0 + UInt64(channel), firstSlot: replyChannel * 16, slotCount: 16)
    }
    try requests.control.setChannel(
      channel, label: label, firstSlot: channel * 32, slotCount: 16, replyChannel: replyChannel)
  }

  /// Request channel 0 bound (label 1, replies on `replyChannel` of its
  /// reply ring): its sender, the receiver and the replier.
  func started(replyChannel: Int? = 0) throws -> (
    ChannelSender, ChannelReceiver, ChannelReplier
  ) {
    try bind(0, label: 1, replyChannel: replyChannel)
    return (try requests.sender(0), requests.receiver(), replier())
  }

  func replier() -> ChannelReplier {
    ChannelReplier(config: requests.config, replyWindows: windows.base, stride: stride)
  }

  /// The sender's side of its reply endpoint.
  func replyReceiver(_ channel: Int) -> ChannelReceiver {
    let ring = replyRings[channel]
    return try! ChannelReceiver(
      config: ring.config, status: ring.status, slots: ring.slots,
      slotBytes: replyLayout.ringBytes)
  }
}

extension ChannelReplier {
  fileprivate mutating func reply(to message: ReceivedMessage, _ bytes: [UInt8])
    -> ChannelReplyResult
  {
    bytes.withUnsafeBytes { reply(to: message, payload: $0.baseAddress!, length: bytes.count) }
  }
}

@Suite struct ChannelReplierTests {
  @Test func aReplyGoesToTheReplyChannelNamedInTheRecord() throws {
    let rig = ReplyRig()
    try rig.bind(0, label: 0x10, replyChannel: 1)
    try rig.bind(1, label: 0x11, replyChannel: 0)
    #expect(try rig.requests.control.record(0).replyChannel == 1)
    var client0 = try rig.requests.sender(0)
    var client1 = try rig.requests.sender(1)
    var server = rig.requests.receiver()
    var replier = rig.replier()
    #expect(client0.send([1, 2, 3], replyLabel: 0xFEED) == .sent(wakeReceiver: false))
    #expect(client1.send([9], replyLabel: 0xBEEF) == .sent(wakeReceiver: false))
    for _ in 0..<2 {
      let result = server.receive { message in
        replier.reply(to: message, message.bytes.map { $0 &+ 100 })
      }
      #expect(result == .sent(wakeSender: false))
    }
    var inbox0 = rig.replyReceiver(0)
    let answer0Fetched = inbox0.fetch()
    let answer0 = try #require(answer0Fetched)
    #expect(answer0.kind == .reply && answer0.replyLabel == 0xFEED)
    #expect(answer0.channel == 1 && answer0.label == 0xA0 && answer0.bytes == [101, 102, 103])
    var inbox1 = rig.replyReceiver(1)
    let answer1Fetched = inbox1.fetch()
    let answer1 = try #require(answer1Fetched)
    #expect(answer1.replyLabel == 0xBEEF && answer1.channel == 0 && answer1.bytes == [109])
    // Replying acknowledged nothing by itself; `receive` did, so the
    // requests' credits are back.
    #expect(client0.credits == 16 && client1.credits == 16)
  }

  @Test func aSenderWithoutReplyEndpointGetsNoReply() throws {
    let rig = ReplyRig()
    var (client, server, replier) = try rig.started(replyChannel: nil)
    _ = client.send([1])
    _ = client.send([2])
    for _ in 0..<2 {
      #expect(server.receive { replier.reply(to: $0, [0]) } == .noReplyEndpoint)
    }
  }

  @Test func aMessageOfARevokedOrReplacedSenderIsNotAnswered() throws {
    let rig = ReplyRig()
    var (client, server, replier) = try rig.started()
    _ = client.send([1])
    _ = client.send([2])
    let firstFetched = server.fetch()
    let first = try #require(firstFetched)
    #expect(replier.reply(to: first, [7]) == .sent(wakeSender: false))
    let secondFetched = server.fetch()
    let second = try #require(secondFetched)
    _ = try rig.requests.control.revokeChannel(0)
    #expect(replier.reply(to: second, [8]) == .inactive)
    try server.ack(first)
    try server.ack(second)
    // A new sender on the same channel, with another reply channel: the
    // old message still gets no answer; the new one goes to the new place.
    try rig.requests.control.retireChannel(0)
    try rig.bind(0, label: 2, replyChannel: 1)
    #expect(replier.reply(to: second, [8]) == .inactive)
    var newClient = try rig.requests.sender(0)
    _ = newClient.send([3], replyLabel: 33)
    #expect(server.receive { replier.reply(to: $0, [9]) } == .sent(wakeSender: false))
    var inbox = rig.replyReceiver(0)
    let oldFetched = inbox.fetch()
    let old = try #require(oldFetched)
    #expect(old.channel == 0 && old.bytes == [7])
    try inbox.ack(old)
    let newFetched = inbox.fetch()
    let new = try #require(newFetched)
    #expect(new.channel == 1 && new.replyLabel == 33 && new.bytes == [9])
  }

  @Test func replyCreditsRunOutUntilTheSenderReadsItsReplies() throws {
    let rig = ReplyRig()
    var (client, server, replier) = try rig.started()
    var inbox = rig.replyReceiver(0)
    for number in 0..<17 {
      #expect(client.send([UInt8(number)]) == .sent(wakeReceiver: false))
      let result = server.receive { replier.reply(to: $0, [UInt8(number)]) }
      #expect(result == (number < 16 ? .sent(wakeSender: false) : .noCredits))
    }
    // Nothing was overwritten: the sixteen replies are there, in order.
    for number in 0..<16 {
      let replyFetched = inbox.fetch()
      let reply = try #require(replyFetched)
      #expect(reply.bytes == [UInt8(number)])
      try inbox.ack(reply)
    }
    let none = inbox.fetch()
    #expect(none == nil)
    #expect(client.send([99]) == .sent(wakeReceiver: false))
    #expect(server.receive { replier.reply(to: $0, [99]) } == .sent(wakeSender: false))
    let last = inbox.fetch()
    #expect(last?.bytes == [99])
  }

  @Test func aSleepingSenderIsToldToBeWoken() throws {
    let rig = ReplyRig()
    var (client, server, replier) = try rig.started()
    var inbox = rig.replyReceiver(0)
    _ = client.send([1])
    let sleeps = inbox.prepareToSleep()
    #expect(sleeps)
    #expect(server.receive { replier.reply(to: $0, [2]) } == .sent(wakeSender: true))
    #expect(rig.replyRings[0].wake())
  }

  @Test func tooLargeRepliesWriteNothing() throws {
    let rig = ReplyRig()
    var (client, server, replier) = try rig.started()
    _ = client.send([1])
    let messageFetched = server.fetch()
    let message = try #require(messageFetched)
    let capacity = rig.replyLayout.payloadCapacity
    #expect(
      replier.reply(to: message, length: capacity + 1) { _ in Issue.record("wrote") } == .tooLarge)
    #expect(replier.reply(to: message, length: -1) { _ in Issue.record("wrote") } == .tooLarge)
    #expect(rig.replyReceiver(0).hasPendingCopy == false)
  }

  /// What a revoked sender's window turns into is not a ring: a replier
  /// attaching over it refuses instead of trusting or trapping.
  @Test func aWindowThatHoldsNoRingIsRefused() throws {
    for fill: UInt8 in [0x00, 0xA5, 0xFF] {
      let rig = ReplyRig()
      try rig.bind(0, label: 1, replyChannel: 0)
      rig.windows.base.initializeMemory(as: UInt8.self, repeating: fill, count: rig.stride)
      var client = try rig.requests.sender(0)
      var server = rig.requests.receiver()
      var replier = rig.replier()
      _ = client.send([1])
      #expect(server.receive { replier.reply(to: $0, [2]) } == .inactive)
    }
  }

  /// Many requests on three channels, answered in a random order of
  /// receives and reads: every sender gets exactly its answers, in order.
  @Test func randomTrafficEveryAnswerReachesItsSenderInOrder() throws {
    var random = SplitMix(seed: 0x5EED_0011)
    let rig = ReplyRig(requestChannels: 3)
    for channel in 0..<3 { try rig.bind(channel, label: UInt64(channel), replyChannel: 1) }
    var clients = try (0..<3).map { try rig.requests.sender($0) }
    var inboxes = (0..<3).map { rig.replyReceiver($0) }
    var server = rig.requests.receiver()
    var replier = rig.replier()
    var sent = [UInt64](repeating: 0, count: 3)
    var answered = [UInt64](repeating: 0, count: 3)
    for _ in 0..<4000 {
      let channel = Int(random.next() % 3)
      switch random.next() % 3 {
      case 0:
        // At most 15 requests unanswered: the reply channel (16) has room.
        guard sent[channel] - answered[channel] < 15 else { continue }
        let number = sent[channel]
        let bytes = ringPayload(channel: channel, number: number, length: 8)
        if clients[channel].send(bytes, replyLabel: number) == .sent(wakeReceiver: false) {
          sent[channel] += 1
        }
      case 1:
        if let result = server.receive({ replier.reply(to: $0, $0.bytes) }) {
          #expect(result == .sent(wakeSender: false))
        }
      default:
        if let reply = inboxes[channel].fetch() {
          #expect(reply.replyLabel == answered[channel])
          #expect(
            reply.bytes == ringPayload(channel: channel, number: answered[channel], length: 8))
          answered[channel] += 1
          try inboxes[channel].ack(reply)
        }
      }
    }
    #expect(answered.reduce(0, +) > 500)
  }
}

@Suite struct EndpointWindowsTests {
  @Test func replyWindowsAreDistinctAndOutsideTheActivationWindows() {
    let base = EndpointWindows.base
    let stride = EndpointWindows.stride
    let last = base + (EndpointWindows.count - 1) * stride
    let firstReply = EndpointWindows.replyWindow(receiveWindow: base, channel: 0)
    #expect(firstReply == EndpointWindows.replyBase)
    #expect(EndpointWindows.replyBase >= last + stride)
    #expect(EndpointWindows.replyWindow(receiveWindow: base, channel: 1) == firstReply! + stride)
    #expect(
      EndpointWindows.replyWindow(receiveWindow: base + stride, channel: 0)
        == firstReply! + 32 * stride)
    let end = EndpointWindows.replyWindow(receiveWindow: last, channel: 31)! + stride
    #expect(end <= 0x0000_8000_0000_0000)  // user half of a 48-bit space
    #expect(UInt64(EndpointWindows.replyMappedBytes) <= stride)
    // Not a window, or no such channel.
    #expect(EndpointWindows.replyWindow(receiveWindow: base - stride, channel: 0) == nil)
    #expect(EndpointWindows.replyWindow(receiveWindow: base + 4096, channel: 0) == nil)
    #expect(EndpointWindows.replyWindow(receiveWindow: last + stride, channel: 0) == nil)
    #expect(EndpointWindows.replyWindow(receiveWindow: base, channel: 32) == nil)
    #expect(EndpointWindows.replyWindow(receiveWindow: base, channel: -1) == nil)
  }
}

extension ChannelReceiver {
  fileprivate var hasPendingCopy: Bool {
    var copy = self
    return copy.hasPending()
  }
}
