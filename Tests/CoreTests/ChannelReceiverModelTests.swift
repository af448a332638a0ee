// The channel ring against a simple model: random sequences of sends (some
// too large, some into a full channel, some garbled after publishing),
// fetches, in-order and wrong acks, revocations (with a sender writing after
// them), retire-and-rebind, and sleep checks, on several channels at once.
// The model is a list of messages per channel plus the counts the protocol
// promises; after every step the implementation must agree with it: no
// message lost, duplicated or reordered per channel, credits conserved
// (in flight + held by the sender == slot count), nothing read past a
// revoked channel's accepted limit, the wake rule exact. Then the sleep
// protocol's broken variants, stepped through every interleaving.
import PropertyBased
import Testing

@testable import TesseraCore

@Suite struct ChannelReceiverModelTests {
  @Test func randomSequencesMatchTheModel() async {
    await propertyCheck(
      count: 200, input: Gen.int(in: 10...12), Gen.int(in: 1...4), Gen.int(in: 0...2).array(of: 4),
      Gen.int(in: 0...Int.max).array(of: 1...300)
    ) { slotSizeLog2, channelCount, sizes, steps in
      var run = ModelRun(slotSizeLog2: slotSizeLog2, sizes: Array(sizes.prefix(channelCount)))
      #expect(run.run(steps) == nil)
    }
  }

  // MARK: broken variants of the sleep protocol

  enum SenderVariant: CaseIterable {
    /// `send`: publish, fence, load the flag; wake if told.
    case correct
    /// Publishes but never looks at the flag.
    case skipsTheSleepingCheck
    /// Loads the flag before its publishing store is visible (what x86
    /// allows when the fence is missing: the load passes the buffered
    /// store), then publishes; wakes if the early load said so.
    case skipsTheFence
  }

  /// Runs one interleaving of the sender's steps with the receiver's two
  /// (prepare to sleep; the block call); true when the receiver ends up
  /// blocked with a message pending and nobody left to wake it.
  static func losesWakeUp(_ variant: SenderVariant, schedule: [Bool]) -> Bool {
    let endpoint = TestEndpoint(slotCountLog2: 4, slotSizeLog2: 8, channelCount: 1)
    endpoint.bindAll([16])
    var sender = try! endpoint.sender(0)
    var receiver = endpoint.receiver()
    var senderSteps: [() -> Void] = []
    var blocked = false
    var done = false
    func wake() {
      if endpoint.control.wake(), blocked { blocked = false }
    }
    switch variant {
    case .correct:
      senderSteps = [{ if sender.send([1]) == .sent(wakeReceiver: true) { wake() } }]
    case .skipsTheSleepingCheck:
      senderSteps = [{ _ = sender.send([1]) }]
    case .skipsTheFence:
      var sawSleeping = false
      senderSteps = [
        { sawSleeping = endpoint.control.receiverSleeping },
        {
          endpoint.publishRaw(0, position: 1, length: 1)
          if sawSleeping { wake() }
        },
      ]
    }
    let receiverSteps: [() -> Void] = [
      { if !receiver.prepareToSleep() { done = true } },
      {
        // The block call: blocks only if the flag is still set and the
        // kernel's own re-check finds nothing.
        if !done {
          blocked = endpoint.control.mayBlock
          if !blocked { endpoint.control.clearSleeping() }
        }
      },
    ]
    var nextSender = 0
    var nextReceiver = 0
    for senderTurn in schedule {
      if senderTurn {
        senderSteps[nextSender]()
        nextSender += 1
      } else {
        receiverSteps[nextReceiver]()
        nextReceiver += 1
      }
    }
    return blocked && receiver.hasPending()
  }

  /// Every way to interleave `senderSteps` steps with 2 receiver steps.
  static func schedules(senderSteps: Int) -> [[Bool]] {
    func build(_ sender: Int, _ receiver: Int) -> [[Bool]] {
      if sender == 0 && receiver == 0 { return [[]] }
      var result: [[Bool]] = []
      if sender > 0 { result += build(sender - 1, receiver).map { [true] + $0 } }
      if receiver > 0 { result += build(sender, receiver - 1).map { [false] + $0 } }
      return result
    }
    return build(senderSteps, 2)
  }

  @Test func theWakeRuleIsNeededAndEnough() {
    let correct = Self.schedules(senderSteps: 1)
    #expect(correct.count == 3)
    #expect(correct.filter { Self.losesWakeUp(.correct, schedule: $0) } == [])
    // Sending after the receiver blocked and not looking at the flag.
    #expect(
      correct.filter { Self.losesWakeUp(.skipsTheSleepingCheck, schedule: $0) }
        == [[false, false, true]])
    // Reading the flag early (no fence): lost when the receiver prepares
    // and blocks between the sender's load and its store.
    let broken = Self.schedules(senderSteps: 2)
    #expect(broken.count == 6)
    #expect(
      broken.filter { Self.losesWakeUp(.skipsTheFence, schedule: $0) }
        == [[true, false, false, true]])
  }
}

/// One run of the model test.
struct ModelRun {
  struct Entry {
    var length: Int
    var kind: MessageKind
    var replyLabel: UInt64
    var malformed: Bool
  }

  struct Channel {
    var state = ChannelState.active
    var generation: UInt32 = 1
    var label: UInt64
    var firstSlot: Int
    var slotCount: Int
    /// Message p at index p - 1.
    var entries: [Entry] = []
    var fetched = 0
    var consumed = 0
    /// Positions freed or free to go: acked messages, malformed ones met.
    var done: Set<Int> = []
    var malformed = 0
    var limit: Int?
    /// Fetched, not acked, in order.
    var held: [ReceivedMessage] = []
    var lastAcked: ReceivedMessage?
    var inFlight: Int { entries.count - consumed }
  }

  let endpoint: TestEndpoint
  var channels: [Channel] = []
  var senders: [ChannelSender] = []
  var receiver: ChannelReceiver
  var cursor = 0
  var sleeping = false
  let capacity: Int

  init(slotSizeLog2: Int, sizes: [Int]) {
    let perPage = 4096 >> slotSizeLog2
    let counts = sizes.map { perPage << $0 }
    let total = counts.reduce(0, +)
    var k = 0
    while 1 << k < total || k + slotSizeLog2 < 12 { k += 1 }
    endpoint = TestEndpoint(
      slotCountLog2: k, slotSizeLog2: slotSizeLog2, channelCount: counts.count)
    endpoint.bindAll(counts, labelBase: 0x7000)
    for (channel, run) in try! endpoint.layout.placeChannels(slotCounts: counts).enumerated() {
      channels.append(
        Channel(label: 0x7000 + UInt64(channel), firstSlot: run.firstSlot, slotCount: run.slotCount)
      )
      senders.append(try! endpoint.sender(channel))
    }
    receiver = endpoint.receiver()
    capacity = endpoint.layout.payloadCapacity
  }

  mutating func advance(_ channel: Int) {
    while channels[channel].done.contains(channels[channel].consumed + 1) {
      channels[channel].consumed += 1
    }
  }

  /// The model's fetch: round robin from the cursor, skipping (and
  /// freeing) malformed messages.
  mutating func modelFetch() -> (channel: Int, position: Int)? {
    for offset in 0..<channels.count {
      let channel = (cursor + offset) % channels.count
      guard channels[channel].state != .inactive else { continue }
      while true {
        let position = channels[channel].fetched + 1
        let available = min(channels[channel].entries.count, channels[channel].limit ?? .max)
        guard position <= available else { break }
        channels[channel].fetched = position
        if channels[channel].entries[position - 1].malformed {
          channels[channel].malformed += 1
          channels[channel].done.insert(position)
          advance(channel)
          continue
        }
        cursor = (channel + 1) % channels.count
        return (channel, position)
      }
    }
    return nil
  }

  var modelPending: Bool {
    channels.contains {
      $0.state != .inactive && $0.fetched < min($0.entries.count, $0.limit ?? .max)
    }
  }

  mutating func run(_ steps: [Int]) -> String? {
    for (index, step) in steps.enumerated() {
      let context = "step \(index) (\(step % 100)): "
      if let failure = self.step(step) { return context + failure }
      if let failure = check() { return context + failure }
    }
    return nil
  }

  mutating func step(_ step: Int) -> String? {
    let operation = step % 100
    let channel = (step / 100) % channels.count
    let extra = step / 10_000
    switch operation {
    case 0..<40:
      let length = extra % 10 == 0 ? capacity + 1 + extra % 3 : extra % 40
      let kind: MessageKind = extra % 3 == 0 ? .reply : .message
      let model = channels[channel]
      let number = model.entries.count + 1
      let expected: ChannelSendResult
      if length > capacity {
        expected = .tooLarge
      } else if model.state != .active {
        expected = .inactive
      } else if model.inFlight == model.slotCount {
        expected = .noCredits
      } else {
        expected = .sent(wakeReceiver: sleeping)
      }
      let result = senders[channel].send(
        ringPayload(channel: channel, number: UInt64(number), length: length), kind: kind,
        replyLabel: UInt64(step))
      if result != expected { return "send gave \(result), model \(expected)" }
      guard case .sent(let wakeReceiver) = result else { return nil }
      // 35...39: the sender garbles the header after publishing it.
      var malformed = false
      if operation >= 35 {
        malformed = true
        let word0 = endpoint.word0Pointer(channel, position: UInt64(number))
        switch extra % 4 {
        case 0: word0.pointee = word0.pointee & ~(0xFF << 48) | 7 << 48
        case 1: word0.pointee = word0.pointee & ~(0xFF << 48)
        case 2: word0.pointee |= 0x80 << 56
        default: word0.pointee |= 0xFFFF << 32
        }
      }
      channels[channel].entries.append(
        Entry(length: length, kind: kind, replyLabel: UInt64(step), malformed: malformed))
      if wakeReceiver {
        if !endpoint.control.wake() { return "told to wake, but the flag was clear" }
        sleeping = false
      }
    case 40..<65:
      // 55...64: receive (fetch, check, free at once or when the acks
      // reach it); otherwise fetch and hold.
      let receiving = operation >= 55
      var received: ReceivedMessage? = nil
      var message: ReceivedMessage?
      var bytes: [UInt8] = []
      if receiving {
        // The payload is read inside the closure: the slot is free after.
        (message, bytes) = receiver.receive { ($0, $0.bytes) } ?? (nil, [])
        received = message
      } else {
        message = receiver.fetch()
        bytes = message?.bytes ?? []
      }
      let expected = modelFetch()
      guard let expected else {
        if let message { return "fetched \(message), model has nothing" }
        return nil
      }
      guard let message else { return "fetched nothing, model has \(expected)" }
      let model = channels[expected.channel]
      let entry = model.entries[expected.position - 1]
      guard message.channel == expected.channel, message.position == UInt64(expected.position)
      else { return "fetched \(message.channel)/\(message.position), model \(expected)" }
      guard message.label == model.label, message.generation == model.generation,
        message.kind == entry.kind, message.length == entry.length,
        message.replyLabel == entry.replyLabel,
        bytes
          == ringPayload(
            channel: expected.channel, number: UInt64(expected.position), length: entry.length)
      else { return "message \(message) differs from the model's \(entry)" }
      if received != nil {
        channels[expected.channel].done.insert(expected.position)
        advance(expected.channel)
      } else {
        channels[expected.channel].held.append(message)
      }
    case 65..<86:
      let model = channels[channel]
      let wrong = extra % 7
      if wrong == 0, model.held.count >= 2 {
        let expected = ChannelAckError.outOfOrder(
          channel: channel, position: model.held[1].position, expected: UInt64(model.consumed + 1))
        if let failure = expectAckError(model.held[1], expected) { return failure }
      } else if wrong == 1, let acked = model.lastAcked {
        // After a rebind the receiver may not have looked at the channel
        // yet: then it knows the message only as a duplicate.
        let duplicate = ChannelAckError.duplicate(channel: channel, position: acked.position)
        let stale = ChannelAckError.stale(channel: channel, generation: acked.generation)
        if let failure = expectAckError(acked, duplicate),
          acked.generation == model.generation || expectAckError(acked, stale) != nil
        {
          return failure
        }
      } else if let first = model.held.first {
        do throws(ChannelAckError) {
          try receiver.ack(first)
        } catch {
          return "ack of \(first.position) failed: \(error)"
        }
        channels[channel].held.removeFirst()
        channels[channel].done.insert(Int(first.position))
        channels[channel].lastAcked = first
        advance(channel)
      }
    case 86..<88:
      let model = channels[channel]
      let result = Result { () throws(ReceiveEndpointError) in
        try endpoint.control.revokeChannel(channel)
      }
      guard model.state == .active else {
        let expected = ReceiveEndpointError.wrongState(
          channel: channel, found: model.state, expected: .active)
        return result == .failure(expected) ? nil : "revoke gave \(result), model \(expected)"
      }
      if result != .success(UInt64(model.inFlight)) {
        return "revoke gave \(result), model \(model.inFlight) unread"
      }
      channels[channel].state = .revoked
      channels[channel].limit = model.entries.count
      // The former sender writes on (its pages should be gone): a perfect
      // message into a free slot, which must never be read.
      if model.inFlight < model.slotCount {
        endpoint.publishRaw(channel, position: UInt64(model.entries.count + 1), length: 3)
      }
    case 88..<94:
      let model = channels[channel]
      let error = ReceiveEndpointError.from { () throws(ReceiveEndpointError) in
        try endpoint.control.retireChannel(channel)
      }
      var expected: ReceiveEndpointError?
      if model.state != .revoked {
        expected = .wrongState(channel: channel, found: model.state, expected: .revoked)
      } else if model.consumed < model.limit! {
        expected = .notDrained(channel: channel, unread: UInt64(model.limit! - model.consumed))
      }
      if error != expected {
        return "retire gave \(String(describing: error)), model \(String(describing: expected))"
      }
      guard expected == nil else { return nil }
      let label = 0x9000 + UInt64(step % 0x1000)
      do throws(ReceiveEndpointError) {
        try endpoint.control.setChannel(
          channel, label: label, firstSlot: model.firstSlot, slotCount: model.slotCount)
      } catch {
        return "rebind failed: \(error)"
      }
      // The old sender is bound to the old generation.
      if senders[channel].send([1]) != .inactive { return "the old sender still sends" }
      senders[channel] = try! endpoint.sender(channel)
      var fresh = Channel(label: label, firstSlot: model.firstSlot, slotCount: model.slotCount)
      fresh.generation = model.generation + 1
      fresh.lastAcked = model.lastAcked
      channels[channel] = fresh
    default:
      let prepared = receiver.prepareToSleep()
      if prepared == modelPending {
        return "prepareToSleep said \(prepared) with pending \(modelPending)"
      }
      sleeping = prepared
      if prepared {
        if !endpoint.control.mayBlock { return "the kernel would not block" }
        // Half the time the block call returns (a timeout, a signal).
        if extra % 2 == 0 {
          endpoint.control.clearSleeping()
          sleeping = false
        }
      }
    }
    return nil
  }

  mutating func expectAckError(_ message: ReceivedMessage, _ expected: ChannelAckError) -> String? {
    do throws(ChannelAckError) {
      try receiver.ack(message)
      return "ack of \(message.position) succeeded, model \(expected)"
    } catch {
      return error == expected ? nil : "ack gave \(error), model \(expected)"
    }
  }

  func check() -> String? {
    for (channel, model) in channels.enumerated() {
      let credits = senders[channel].creditStatus
      if credits != .available(model.slotCount - model.inFlight) {
        return "channel \(channel): credits \(credits), model \(model.slotCount - model.inFlight)"
      }
      if endpoint.control.consumed(channel: channel) != UInt64(model.consumed) {
        return "channel \(channel): consumed \(endpoint.control.consumed(channel: channel)), "
          + "model \(model.consumed)"
      }
      if let status = receiver.status(channel: channel), status.generation == model.generation {
        if status.fetched != UInt64(model.fetched) || status.acked != UInt64(model.consumed)
          || status.malformed != UInt64(model.malformed)
        {
          return "channel \(channel): receiver \(status), model \(model)"
        }
      }
    }
    if endpoint.control.receiverSleeping != sleeping {
      return "sleeping flag \(endpoint.control.receiverSleeping), model \(sleeping)"
    }
    return nil
  }
}
