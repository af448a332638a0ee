import UserSystem

/// The DTU endpoint figures of the README, N samples each timed with
/// rdtsc, median, min and max (under QEMU -icount shift=0 one tick is one
/// guest instruction):
/// the user-level cost of one message on the sender (send: credits, slot,
/// header, publish, the sleeping check) and on the receiver (fetch with the
/// header check and the label, then ack), for payloads of 8 to 1008 bytes,
/// with no kernel entry; then the round trip to a thread on another CPU
/// (argument "N CPU"): both sides polling (meaningful in cycles only: under
/// icount QEMU runs one vCPU at a time, so a poller spins out its whole
/// time slice), and both sides sleeping in the kernel between messages,
/// each woken by the other's wake call. With sender CPUs after CPU, the
/// stream rate (meaningful in cycles only, as polling is): senders on those
/// CPUs each stream N * 20 messages into one receive endpoint that this
/// thread drains, first one sender, then all (at most four).
/// Argument: "N [CPU [SENDER-CPU...]]".
enum Program {
  static let receive: UInt64 = 20
  static let send: UInt64 = 21
  static let backReceive: UInt64 = 22
  static let backSend: UInt64 = 23
  static let partner: UInt64 = 24
  static let quit: UInt64 = .max

  nonisolated(unsafe) static var partnerErrors: UInt64 = 0
  /// The echo thread sleeps in the kernel when it has nothing to do.
  nonisolated(unsafe) static var echoSleeps = false

  static func main(argument: String) -> Int64 {
    let words = argument.split(separator: " ")
    var rounds = 1000
    if let first = words.first, let n = Int(first), n >= 10 { rounds = n }
    let overhead = Timing.median(rounds) {}
    print(
      "dtubench: \(rounds) samples per figure, rdtsc ticks (rdtsc overhead \(overhead) subtracted)")
    var next: UInt64 = 30
    for payload in [8, 24, 56, 120, 248, 504, 1008] {
      // The smallest slot that holds the payload after the 16-byte header.
      var slotLog2: UInt64 = 6
      while 1 << slotLog2 < payload + 16 { slotLog2 += 1 }
      guard
        let (sendCost, fetchAckCost, receiveCost) = oneWay(
          payload, slotLog2, rounds, overhead, &next)
      else {
        print("dtubench: cannot set up the endpoints for \(payload) bytes")
        return 1
      }
      Timing.report("dtubench: \(payload)-byte payload, one thread, send", sendCost)
      Timing.report("dtubench: \(payload)-byte payload, one thread, fetch+ack", fetchAckCost)
      Timing.report("dtubench: \(payload)-byte payload, one thread, receive", receiveCost)
    }
    guard let (inPlace, received) = wordInPlace(rounds, overhead, &next) else {
      print("dtubench: cannot set up the endpoints for the in-place word")
      return 1
    }
    Timing.report("dtubench: 8-byte word written in place, one thread, send", inPlace)
    Timing.report("dtubench: 8-byte word written in place, one thread, receive", received)
    guard let (batchSend, batchReceive, batchDrain) = batch(rounds, overhead, &next) else {
      print("dtubench: cannot set up the endpoints for the batch")
      return 1
    }
    for (what, summary) in [("send", batchSend), ("receive", batchReceive), ("drain", batchDrain)] {
      Timing.report(
        "dtubench: 8-byte payload, batches of \(batchSize), one thread, \(what) per message",
        summary)
    }
    guard let replied = replyInPlace(rounds, overhead, &next) else {
      print("dtubench: cannot set up the endpoints for the reply")
      return 1
    }
    Timing.report("dtubench: 8-byte reply written in place, one thread, reply", replied)
    if words.count > 1, let cpu = UInt64(words[1]) {
      let here = Endpoints.node(ofCPU: currentCPU()).node
      let there = Endpoints.node(ofCPU: cpu).node
      for sleeping in [false, true] {
        guard let trip = roundTrip(cpu: cpu, rounds: rounds, overhead: overhead, sleeping: sleeping)
        else {
          print("dtubench: cannot run the round trip with CPU \(cpu)")
          return 1
        }
        Timing.report(
          "dtubench: 8-byte round trip, CPU \(currentCPU()) (node \(here)) <-> CPU \(cpu) (node \(there)), \(sleeping ? "both sleeping, woken" : "both polling")",
          trip)
      }
    }
    let senderCPUs = words.dropFirst(2).compactMap { UInt64($0) }
    if !senderCPUs.isEmpty {
      var groups = [[senderCPUs[0]]]
      if senderCPUs.count > 1 { groups.append(Array(senderCPUs.prefix(maximumSenders))) }
      for cpus in groups {
        guard let (messages, ticks) = stream(from: cpus, perSender: rounds * 20) else {
          print("dtubench: the stream from CPUs \(cpus) went wrong")
          return 1
        }
        let stream =
          "dtubench: stream of 8-byte messages, \(cpus.count) sender\(cpus.count == 1 ? "" : "s") (CPU \(cpus.map { String($0) }.joined(separator: ", "))) -> 1 receiver (CPU \(currentCPU()))"
        print("\(stream): \(messages) messages in \(ticks) ticks")
        Timing.reportValue(
          "\(stream), per message", String(ticks / messages), unit: "ticks", samples: Int(messages))
      }
    }
    return partnerErrors == 0 ? 0 : 1
  }

  // MARK: Streams, many to one

  /// A ring of 256 slots holds four channels of 64.
  static let maximumSenders = 4
  static let streamReceive: UInt64 = 60
  static func streamSend(_ index: Int) -> UInt64 { 61 + UInt64(index) }
  static func streamThread(_ index: Int) -> UInt64 { 70 + UInt64(index) }
  nonisolated(unsafe) static var streamLength = 0

  /// Every sender streams `perSender` words 1, 2, ... and then `quit`;
  /// this thread receives until each has quit, checking each
  /// sender's order by the label the kernel gave it. The messages, and the
  /// ticks from the first to the last.
  static func stream(from cpus: [UInt64], perSender: Int) -> (UInt64, UInt64)? {
    Capabilities.delete(streamReceive)
    for index in 0..<maximumSenders {
      Capabilities.delete(streamSend(index))
      Capabilities.delete(streamThread(index))
    }
    streamLength = perSender
    guard Endpoints.createReceive(streamReceive, slotsLog2: 8, slotSizeLog2: 6) == 0,
      case .success(var receiver) = Endpoints.receiver(streamReceive)
    else { return nil }
    for (index, cpu) in cpus.enumerated() {
      guard
        Endpoints.mintSend(
          streamReceive, label: 100 + UInt64(index), credits: 64, into: streamSend(index)) == 0,
        Threads.start(
          slot: streamThread(index), cpu: cpu, argument: UInt64(index), streamSender) > 0
      else { return nil }
    }
    var last = [UInt64](repeating: 0, count: cpus.count)
    var quitted = 0
    var messages: UInt64 = 0
    var wrong = 0
    var first: UInt64 = 0
    while quitted < cpus.count {
      guard
        let (word, label) = receiver.receive({
          ($0.payload.loadUnaligned(as: UInt64.self), $0.label)
        })
      else { continue }
      if first == 0 { first = user_rdtsc() }
      let sender = Int(label) - 100
      guard sender >= 0, sender < cpus.count else {
        wrong += 1
        continue
      }
      if word == quit {
        quitted += 1
        continue
      }
      if word != last[sender] + 1 { wrong += 1 }
      last[sender] = word
      messages += 1
    }
    let ticks = user_rdtsc() - first
    guard wrong == 0, messages == UInt64(perSender * cpus.count) else { return nil }
    return (messages, ticks)
  }

  /// One stream's sender: waits for credits, never for the receiver.
  static let streamSender: @convention(c) (UInt64) -> Void = { index in
    guard case .success(var sender) = Endpoints.sender(streamSend(Int(index))) else {
      partnerErrors += 1
      return
    }
    for i in 1...streamLength + 1 {
      var word = i > streamLength ? quit : UInt64(i)
      var result = ChannelSendResult.noCredits
      while result == .noCredits {
        result = withUnsafeBytes(of: &word) {
          sender.send(kind: .message, replyLabel: 0, bytes: $0)
        }
      }
      guard case .sent = result else {
        partnerErrors += 1
        return
      }
    }
  }

  static func currentCPU() -> UInt64 {
    if case .success(let info) = Threads.info(InitialSlot.thread) { return info.cpu }
    return 0
  }

  /// Sends and receives `payload` bytes in one thread through a fresh
  /// endpoint: the medians of the sender's part and of the receiver's, the
  /// latter both ways (fetch then ack; receive, the two fused), taking
  /// turns. The receiver reads the length, label and reply label.
  static func oneWay(
    _ payload: Int, _ slotLog2: UInt64, _ rounds: Int, _ overhead: UInt64, _ next: inout UInt64
  ) -> (BenchmarkFigure, BenchmarkFigure, BenchmarkFigure)? {
    let (receiveSlot, sendSlot) = (next, next + 1)
    next += 2
    // 4096 bytes of slots: one channel of one page.
    let slotsLog2 = 12 - slotLog2
    guard Endpoints.createReceive(receiveSlot, slotsLog2: slotsLog2, slotSizeLog2: slotLog2) == 0,
      Endpoints.mintSend(receiveSlot, label: 7, credits: 1 << slotsLog2, into: sendSlot) == 0,
      case .success(var receiver) = Endpoints.receiver(receiveSlot),
      case .success(var sender) = Endpoints.sender(sendSlot)
    else { return nil }
    let data = UnsafeMutableRawPointer.allocate(byteCount: payload, alignment: 8)
    data.initializeMemory(as: UInt8.self, repeating: 0x5A, count: payload)
    var sends = [UInt64](repeating: 0, count: 2 * rounds)
    var fetchAcks = [UInt64](repeating: 0, count: rounds)
    var receives = [UInt64](repeating: 0, count: rounds)
    var wrong = 0
    for i in 0..<2 * rounds {
      let t0 = user_rdtsc()
      let result = sender.send(
        kind: .message, replyLabel: UInt64(i), payload: data, length: payload)
      let t1 = user_rdtsc()
      var got: (length: Int, label: UInt64, replyLabel: UInt64)? = nil
      if i % 2 == 0 {
        if let message = receiver.fetch() {
          got = (message.length, message.label, message.replyLabel)
          _ = try? receiver.ack(message)
        }
      } else {
        got = receiver.receive { ($0.length, $0.label, $0.replyLabel) }
      }
      let t2 = user_rdtsc()
      sends[i] = t1 - t0
      if i % 2 == 0 { fetchAcks[i / 2] = t2 - t1 } else { receives[i / 2] = t2 - t1 }
      if result != .sent(wakeReceiver: false) || got?.length != payload || got?.label != 7
        || got?.replyLabel != UInt64(i)
      {
        wrong += 1
      }
    }
    data.deallocate()
    guard wrong == 0 else {
      print("dtubench: \(wrong) messages of \(payload) bytes went wrong")
      return nil
    }
    return (
      BenchmarkFigure(samples: sends).net(overhead),
      BenchmarkFigure(samples: fetchAcks).net(overhead),
      BenchmarkFigure(samples: receives).net(overhead)
    )
  }

  /// The fast path both ways: a word stored straight into the slot (no copy
  /// from elsewhere), then `receive` reading it. The medians of each.
  static func wordInPlace(_ rounds: Int, _ overhead: UInt64, _ next: inout UInt64)
    -> (BenchmarkFigure, BenchmarkFigure)?
  {
    guard var (receiver, sender) = endpointPair(&next) else { return nil }
    var sends = [UInt64](repeating: 0, count: rounds)
    var receives = [UInt64](repeating: 0, count: rounds)
    var wrong = 0
    for i in 0..<rounds {
      let value = UInt64(i)
      let t0 = user_rdtsc()
      let result = sender.send(kind: .message, replyLabel: value, length: 8) {
        $0.storeBytes(of: value, as: UInt64.self)
      }
      let t1 = user_rdtsc()
      let got = receiver.receive { $0.payload.load(as: UInt64.self) }
      let t2 = user_rdtsc()
      sends[i] = t1 - t0
      receives[i] = t2 - t1
      if result != .sent(wakeReceiver: false) || got != value { wrong += 1 }
    }
    guard wrong == 0 else {
      print("dtubench: \(wrong) in-place words went wrong")
      return nil
    }
    return (
      BenchmarkFigure(samples: sends).net(overhead),
      BenchmarkFigure(samples: receives).net(overhead)
    )
  }

  static let batchSize = 32

  /// A fresh receive endpoint of 64 slots of 64 bytes and a send endpoint
  /// to it (label 7, 64 credits), both activated, in the next two slots.
  static func endpointPair(_ next: inout UInt64) -> (ChannelReceiver, ChannelSender)? {
    let (receiveSlot, sendSlot) = (next, next + 1)
    next += 2
    guard Endpoints.createReceive(receiveSlot, slotsLog2: 6, slotSizeLog2: 6) == 0,
      Endpoints.mintSend(receiveSlot, label: 7, credits: 64, into: sendSlot) == 0,
      case .success(let receiver) = Endpoints.receiver(receiveSlot),
      case .success(let sender) = Endpoints.sender(sendSlot)
    else { return nil }
    return (receiver, sender)
  }

  /// The same calls as the 8-byte `oneWay` figures (a copied payload;
  /// `receive` reading length, label and reply label), timed over a batch
  /// of `batchSize` sends and then as many receives, or one `drain` of
  /// them (rounds take turns): the cost per message without the timing's
  /// own register spills around every call. Medians of the per-message
  /// figures of each batch.
  static func batch(_ rounds: Int, _ overhead: UInt64, _ next: inout UInt64) -> (
    BenchmarkFigure, BenchmarkFigure, BenchmarkFigure
  )? {
    guard var (receiver, sender) = endpointPair(&next) else { return nil }
    var word: UInt64 = 0
    var sends = [UInt64](repeating: 0, count: rounds / 2 * 2)
    var receives = [UInt64](repeating: 0, count: rounds / 2)
    var drains = [UInt64](repeating: 0, count: rounds / 2)
    var wrong = 0
    for round in 0..<rounds / 2 * 2 {
      let t0 = user_rdtsc()
      for i in 0..<UInt64(batchSize) {
        word = i
        if sender.send(kind: .message, replyLabel: i, payload: &word, length: 8)
          != .sent(wakeReceiver: false)
        {
          wrong += 1
        }
      }
      let t1 = user_rdtsc()
      var sum = 0
      if round % 2 == 0 {
        for _ in 0..<batchSize {
          if let got = receiver.receive({ $0.length &+ Int($0.label) &+ Int($0.replyLabel) }) {
            sum &+= got
          }
        }
      } else {
        _ = receiver.drain(max: batchSize) {
          sum &+= $0.length &+ Int($0.label) &+ Int($0.replyLabel)
        }
      }
      let t2 = user_rdtsc()
      // Lengths 8, labels 7, reply labels 0...31.
      if sum != batchSize * 15 + batchSize * (batchSize - 1) / 2 { wrong += 1 }
      sends[round] = Timing.net(t1 - t0, overhead: overhead) / UInt64(batchSize)
      let perMessage = Timing.net(t2 - t1, overhead: overhead) / UInt64(batchSize)
      if round % 2 == 0 { receives[round / 2] = perMessage } else { drains[round / 2] = perMessage }
    }
    guard wrong == 0 else {
      print("dtubench: \(wrong) batches went wrong")
      return nil
    }
    return (
      BenchmarkFigure(samples: sends), BenchmarkFigure(samples: receives),
      BenchmarkFigure(samples: drains)
    )
  }

  /// The receiver's reply to the endpoint its sender named: an 8-byte
  /// word stored straight into the reply slot (`ChannelReplier`), the
  /// median of its cost. The request is fetched before and acked after,
  /// outside the timing; the reply is read back and checked.
  static func replyInPlace(_ rounds: Int, _ overhead: UInt64, _ next: inout UInt64)
    -> BenchmarkFigure?
  {
    let (receiveSlot, replySlot, sendSlot) = (next, next + 1, next + 2)
    next += 3
    guard Endpoints.createReceive(receiveSlot, slotsLog2: 6, slotSizeLog2: 6) == 0,
      Endpoints.createReceive(replySlot, slotsLog2: 6, slotSizeLog2: 6) == 0,
      Endpoints.mintSend(
        receiveSlot, label: 7, credits: 64, into: sendSlot, replyTo: replySlot) == 0,
      case .success(var (receiver, replier)) = Endpoints.receiverAndReplier(receiveSlot),
      case .success(var inbox) = Endpoints.receiver(replySlot),
      case .success(var sender) = Endpoints.sender(sendSlot)
    else { return nil }
    var samples = [UInt64](repeating: 0, count: rounds)
    var wrong = 0
    for i in 0..<rounds {
      let value = UInt64(i)
      _ = sender.send(kind: .message, replyLabel: value, length: 8) {
        $0.storeBytes(of: value, as: UInt64.self)
      }
      guard let request = receiver.fetch() else {
        wrong += 1
        continue
      }
      let t0 = user_rdtsc()
      let result = replier.reply(to: request, length: 8) {
        $0.storeBytes(of: value &+ 1, as: UInt64.self)
      }
      let t1 = user_rdtsc()
      samples[i] = t1 - t0
      _ = try? receiver.ack(request)
      let answer = inbox.receive { ($0.payload.load(as: UInt64.self), $0.replyLabel) }
      if result != .sent(wakeSender: false) || answer?.0 != value &+ 1 || answer?.1 != value {
        wrong += 1
      }
    }
    guard wrong == 0 else {
      print("dtubench: \(wrong) replies went wrong")
      return nil
    }
    return BenchmarkFigure(samples: samples).net(overhead)
  }

  /// Round trips of 8 bytes to an echo thread on `cpu`.
  static func roundTrip(cpu: UInt64, rounds: Int, overhead: UInt64, sleeping: Bool)
    -> BenchmarkFigure?
  {
    echoSleeps = sleeping
    for slot in [receive, send, backReceive, backSend, partner] { Capabilities.delete(slot) }
    guard Endpoints.createReceive(backReceive, slotsLog2: 6, slotSizeLog2: 6) == 0,
      Endpoints.createReceive(
        receive, node: UInt64(Endpoints.node(ofCPU: cpu).node), slotsLog2: 6, slotSizeLog2: 6)
        == 0,
      Endpoints.mintSend(receive, label: 1, credits: 64, into: send) == 0,
      Endpoints.mintSend(backReceive, label: 2, credits: 64, into: backSend) == 0,
      case .success(var receiver) = Endpoints.receiver(backReceive),
      case .success(var sender) = Endpoints.sender(send),
      Threads.start(slot: partner, cpu: cpu, echo) > 0
    else { return nil }
    var samples = [UInt64](repeating: 0, count: rounds)
    for i in 0...rounds {
      var word = i == rounds ? quit : UInt64(i)
      let start = user_rdtsc()
      var result = ChannelSendResult.noCredits
      while result == .noCredits {
        result = withUnsafeBytes(of: &word) {
          sender.send(kind: .message, replyLabel: 0, bytes: $0)
        }
      }
      if result == .sent(wakeReceiver: true) { Endpoints.wake(send) }
      if i == rounds { break }
      var answer: ReceivedMessage? = nil
      while answer == nil {
        answer = receiver.fetch()
        if answer == nil && sleeping && receiver.prepareToSleep() { Endpoints.wait(backReceive) }
      }
      samples[i] = user_rdtsc() - start
      if let answer {
        if answer.replyLabel != UInt64(i) { partnerErrors += 1 }
        _ = try? receiver.ack(answer)
      }
    }
    return BenchmarkFigure(samples: samples).net(overhead)
  }

  /// Echoes each message's word back as the reply label until told to quit.
  static let echo: @convention(c) (UInt64) -> Void = { _ in
    guard case .success(var receiver) = Endpoints.receiver(receive),
      case .success(var sender) = Endpoints.sender(backSend)
    else {
      partnerErrors += 1
      return
    }
    while true {
      guard let message = receiver.fetch() else {
        if echoSleeps && receiver.prepareToSleep() { Endpoints.wait(receive) }
        continue
      }
      let word = message.payload.loadUnaligned(as: UInt64.self)
      _ = try? receiver.ack(message)
      if word == quit { return }
      var answer = word
      var result = ChannelSendResult.noCredits
      while result == .noCredits {
        result = withUnsafeBytes(of: &answer) {
          sender.send(kind: .reply, replyLabel: word, bytes: $0)
        }
      }
      if result == .sent(wakeReceiver: true) { Endpoints.wake(backSend) }
    }
  }
}
