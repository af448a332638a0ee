// Fuzz target `channel-ring`: the receive endpoint's channel ring as a
// state machine. The input is a program of operations on one endpoint with
// two channels: honest sends (payload length from the input), fetches,
// in-order and wrong acks, fused receives, sleep checks, and writes by a
// hostile sender into channel 0's slots (any header word, at any position).
// A model beside it keeps, per channel, what was sent and what the receiver
// holds. Properties, checked after every operation:
// - channel 1 (never garbled) is exact: every message arrives once, in
//   order, with its length, reply label, kind and payload, the label from
//   the config page, and the sender's credits are the slot count minus the
//   messages not yet freed; `fetch` finds nothing only when nothing of it
//   is unread, and `prepareToSleep` refuses while something is;
// - channel 0 is exact too until the hostile writer touches it; after that
//   its messages may be anything, but only ever channel 0's: the right
//   label, a slot of its run, a length that fits the slot;
// - acks are accepted exactly in order of what was fetched: a repeated or
//   out-of-order ack is refused, a right one never is.

func fuzzChannelRing(_ bytes: [UInt8]) {
  var input = FuzzInput(bytes)
  let wide = input.byte() & 1 == 1
  let layout = try! ReceiveEndpointLayout(
    slotCountLog2: wide ? 4 : 3, slotSizeLog2: wide ? 9 : 10, channelCount: 2)
  let memory = UnsafeMutableRawPointer.allocate(
    byteCount: layout.totalBytes, alignment: ReceiveEndpointLayout.pageSize)
  defer { memory.deallocate() }
  memory.initializeMemory(as: UInt8.self, repeating: 0xA5, count: layout.totalBytes)
  let control = ReceiveEndpointControl.configure(
    layout, config: memory + ReceiveEndpointLayout.configOffset,
    status: memory + ReceiveEndpointLayout.statusOffset,
    slots: memory + ReceiveEndpointLayout.slotsOffset)
  let half = layout.slotCount / 2
  let runs = try! layout.placeChannels(slotCounts: [half, half])
  var senders: [ChannelSender] = []
  for (channel, run) in runs.enumerated() {
    try! control.setChannel(
      channel, label: 0x1_0000 + UInt64(channel), firstSlot: run.firstSlot,
      slotCount: run.slotCount)
    senders.append(
      try! ChannelSender(
        config: control.config, status: control.status,
        slots: control.slots + (run.firstSlot << layout.slotSizeLog2),
        slotBytes: run.byteCount, channel: channel))
  }
  var receiver = try! ChannelReceiver(
    config: control.config, status: control.status, slots: control.slots,
    slotBytes: layout.ringBytes)
  var model = [RingModel(runs[0]), RingModel(runs[1])]
  var tainted = false

  /// Checks a message the receiver handed out against the model.
  func check(_ message: ReceivedMessage) {
    let c = message.channel
    require(c == 0 || c == 1, "channel-ring: message of a channel that does not exist")
    require(message.label == 0x1_0000 + UInt64(c), "channel-ring: label not from the config")
    require(message.length <= layout.payloadCapacity, "channel-ring: length past the slot")
    require(
      message.slotIndex >= runs[c].firstSlot && message.slotIndex < runs[c].endSlot
        && message.slot
          == UnsafeRawPointer(control.slots + (message.slotIndex << layout.slotSizeLog2)),
      "channel-ring: slot outside the channel's run")
    if c == 0 && tainted { return }
    let expected = model[c].fetched + 1
    require(expected <= model[c].sent, "channel-ring: a message nobody sent")
    require(message.position == expected, "channel-ring: lost, duplicated or reordered")
    require(message.length == model[c].lengths[Int(expected - 1)], "channel-ring: length")
    require(message.replyLabel == expected &* 0x9E37_79B9, "channel-ring: reply label")
    require(message.kind == (expected % 3 == 0 ? .reply : .message), "channel-ring: kind")
    require(
      Array(message.payloadBytes)
        == ringPayload(channel: c, position: expected, length: message.length),
      "channel-ring: payload")
  }

  var steps = 0
  while !input.isAtEnd && steps < 400 {
    steps += 1
    let op = input.byte()
    let c = Int(op >> 7)
    switch op & 15 {
    case 0...4:  // send
      let length = Int(input.byte()) * 4
      let position = senders[c].sent + 1
      let payload = ringPayload(channel: c, position: position, length: length)
      let result = payload.withUnsafeBytes {
        senders[c].send(
          kind: position % 3 == 0 ? .reply : .message, replyLabel: position &* 0x9E37_79B9,
          bytes: $0)
      }
      if c == 0 && tainted { break }
      let expected: ChannelSendResult
      if length > layout.payloadCapacity {
        expected = .tooLarge
      } else if model[c].sent - model[c].freed >= UInt64(runs[c].slotCount) {
        expected = .noCredits
      } else {
        expected = .sent(wakeReceiver: false)
      }
      require(result == expected, "channel-ring: send result differs from the model")
      if case .sent = result {
        model[c].sent += 1
        model[c].lengths.append(length)
      }
    case 5, 6:  // fetch
      if let message = receiver.fetch() {
        check(message)
        let m = message.channel
        if !(m == 0 && tainted) { model[m].fetched += 1 }
        model[m].held.append(message)
      } else {
        for h in 0..<2 where !(h == 0 && tainted) {
          require(model[h].fetched == model[h].sent, "channel-ring: fetch missed a message")
        }
      }
    case 7, 8:  // ack the oldest held message of the channel
      guard let message = model[c].held.first else { break }
      do throws(ChannelAckError) {
        try receiver.ack(message)
      } catch {
        fatalError("fuzz property violated: channel-ring: an in-order ack was refused")
      }
      model[c].held.removeFirst()
      model[c].lastAcked = message
      model[c].freeUpTo(message.position)
    case 9:  // a wrong ack: the second held one, or one already freed
      if model[c].held.count >= 2 {
        let refused = (try? receiver.ack(model[c].held[1])) == nil
        require(refused, "channel-ring: an out-of-order ack was accepted")
      } else if let last = model[c].lastAcked {
        require((try? receiver.ack(last)) == nil, "channel-ring: a repeated ack was accepted")
      }
    case 10, 11:  // receive: fetch and free in one
      let got = receiver.receive { message -> ReceivedMessage in
        check(message)
        return message
      }
      if let message = got {
        let m = message.channel
        if !(m == 0 && tainted) { model[m].fetched += 1 }
        if model[m].held.isEmpty {
          model[m].freeUpTo(message.position)
        } else {
          model[m].deferred.append(message.position)
        }
      } else {
        for h in 0..<2 where !(h == 0 && tainted) {
          require(model[h].fetched == model[h].sent, "channel-ring: receive missed a message")
        }
      }
    case 12, 13:  // sleep check
      let pending = (0..<2).contains { !($0 == 0 && tainted) && model[$0].fetched < model[$0].sent }
      if receiver.prepareToSleep() {
        require(!pending, "channel-ring: would sleep with a message pending")
        receiver.clearSleeping()
      }
    case 14:  // a sender's count read on a corrupt consumed word must not trap
      _ = senders[c].creditStatus
    default:  // the hostile sender writes a header word into a slot of channel 0
      tainted = true
      let slot = Int(input.byte()) % runs[0].slotCount
      let word = input.u64()
      let pointer = control.slots + ((runs[0].firstSlot + slot) << layout.slotSizeLog2)
      pointer.storeBytes(of: word.littleEndian, as: UInt64.self)
    }
    // Credits of every channel the model still knows exactly.
    for h in 0..<2 where !(h == 0 && tainted) {
      let inFlight = model[h].sent - model[h].freed
      require(
        senders[h].credits == runs[h].slotCount - Int(inFlight),
        "channel-ring: credits differ from the model")
    }
    _ = senders[0].creditStatus
  }
}

/// What one channel's sender and receiver have done, as far as the model
/// knows.
private struct RingModel {
  let run: ChannelRun
  var sent: UInt64 = 0
  var lengths: [Int] = []
  var fetched: UInt64 = 0
  /// Fetched and not yet acked, oldest first.
  var held: [ReceivedMessage] = []
  /// Received (fused) while earlier messages were held: freed with them.
  var deferred: [UInt64] = []
  /// Every message up to here is freed (the sender's credits are back).
  var freed: UInt64 = 0
  var lastAcked: ReceivedMessage?

  init(_ run: ChannelRun) { self.run = run }

  /// The receiver frees `position` and, with it, every received message
  /// right after it that waited for it.
  mutating func freeUpTo(_ position: UInt64) {
    freed = max(freed, position)
    while let next = deferred.first, next == freed + 1 {
      freed = next
      deferred.removeFirst()
    }
  }
}

/// A payload that names its channel and position.
private func ringPayload(channel: Int, position: UInt64, length: Int) -> [UInt8] {
  (0..<length).map {
    UInt8(truncatingIfNeeded: UInt64(channel) &* 131 &+ position &* 31 &+ UInt64($0))
  }
}
