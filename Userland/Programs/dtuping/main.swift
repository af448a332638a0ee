import UserSystem

/// Ping-pong through DTU endpoints between this CPU's NUMA node and node
/// NODE: a pong thread on a CPU of NODE receives from a ring in NODE's
/// memory and answers each message with a reply, which goes to the reply
/// endpoint ping's send endpoint names (M3's reply): a ring on this CPU's
/// node, written by pong through the reply window the kernel mapped for it
/// (pong holds no capability to it). Every message and reply is sent,
/// fetched and acked in user memory; the kernel is entered only to wake a
/// receiver that said it sleeps. Argument: "NODE [ROUNDS]". Checks every
/// answer (value, label, order) and reports the round trip's median in
/// rdtsc ticks, then a phase where both sides sleep between messages.
/// With a third word, "hold", it then keeps its endpoints and sleeps in
/// the kernel on its receive endpoint until killed (for `eps`, and for a
/// kill of a thread blocked in dtuWait).
enum Program {
  static let pingReceive: UInt64 = 20
  static let pongReceive: UInt64 = 21
  static let toPong: UInt64 = 22
  static let pongThread: UInt64 = 24
  /// The label ping's send endpoint was minted with: pong sees it on the
  /// messages, ping on the replies (its reply channel carries it too).
  static let pingLabel: UInt64 = 0xA11CE
  static let quit: UInt64 = .max

  /// What the pong thread found wrong (0: nothing), and its wake calls.
  nonisolated(unsafe) static var pongErrors: UInt64 = 0
  nonisolated(unsafe) static var pongWakes: UInt64 = 0
  nonisolated(unsafe) static var pongSleeps: UInt64 = 0

  static func main(argument: String) -> Int64 {
    let words = argument.split(separator: " ")
    guard let first = words.first, let node = Int64(first) else {
      print("usage: dtuping NODE [ROUNDS]")
      return 2
    }
    var rounds = 1000
    if words.count > 1, let n = Int(words[1]), n >= 1 { rounds = n }
    let here = currentCPU()
    guard let pongCPU = cpu(onNode: node, avoiding: here) else {
      print("dtuping: no CPU of this kernel instance on node \(node)")
      return 1
    }
    let myNode = Endpoints.node(ofCPU: here).node
    // Rings of 256 slots of 64 bytes: four channels of 64 (a page each).
    guard Endpoints.createReceive(pingReceive, slotsLog2: 8, slotSizeLog2: 6) == 0,
      Endpoints.createReceive(
        pongReceive, node: UInt64(node), slotsLog2: 8, slotSizeLog2: 6) == 0,
      Endpoints.mintSend(
        pongReceive, label: pingLabel, credits: 64, into: toPong, replyTo: pingReceive) == 0
    else {
      print("dtuping: cannot create the endpoints")
      return 1
    }
    guard case .success(var receiver) = Endpoints.receiver(pingReceive),
      case .success(var sender) = Endpoints.sender(toPong)
    else {
      print("dtuping: cannot activate the endpoints")
      return 1
    }
    guard Threads.start(slot: pongThread, cpu: pongCPU, pongEntry) > 0 else {
      print("dtuping: cannot start the pong thread on CPU \(pongCPU)")
      return 1
    }

    var samples = [UInt64](repeating: 0, count: rounds)
    var errors: UInt64 = 0
    var wakes: UInt64 = 0
    for round in 0..<rounds {
      let start = user_rdtsc()
      if !send(&sender, UInt64(round), wakes: &wakes) { errors += 1 }
      let answer = await_(&receiver, sleep: false)
      samples[round] = user_rdtsc() - start
      if answer != (UInt64(round) + 1, pingLabel, UInt64(round)) { errors += 1 }
    }
    samples.sort()
    print(
      "dtuping: \(rounds) round trips, node \(myNode) (CPU \(here)) <-> node \(node) (CPU \(pongCPU)): median \(samples[rounds / 2]) ticks, min \(samples[0]), max \(samples[rounds - 1])"
    )

    // Now the receivers sleep: each message finds its receiver blocked in
    // the kernel, and the sender wakes it.
    var sleeps: UInt64 = 0
    for round in 0..<20 {
      spin()
      if !send(&sender, 1000 + UInt64(round), wakes: &wakes) { errors += 1 }
      let answer = await_(&receiver, sleep: true, sleeps: &sleeps)
      if answer != (1001 + UInt64(round), pingLabel, 1000 + UInt64(round)) { errors += 1 }
    }
    _ = send(&sender, quit, wakes: &wakes)
    for _ in 0..<1000 where pongSleeps == 0 { spin() }
    print(
      "dtuping: sleeping phase: 20 round trips, \(wakes + pongWakes) wake calls, \(sleeps + pongSleeps) sleeps"
    )
    let bad = errors + pongErrors
    print(
      "dtuping: \(bad == 0 ? "every answer checked" : "\(bad) wrong answers"), labels from the kernel, replies to the reply endpoint"
    )
    if words.count > 2 && words[2] == "hold" {
      print("dtuping: holding the endpoints, asleep until killed")
      while true {
        if receiver.fetch() == nil && receiver.prepareToSleep() { Endpoints.wait(pingReceive) }
      }
    }
    return bad == 0 ? 0 : 1
  }

  /// This thread's CPU (the thread capability of the first thread is in
  /// its initial slot).
  static func currentCPU() -> UInt64 {
    if case .success(let info) = Threads.info(InitialSlot.thread) { return info.cpu }
    return 0
  }

  /// A CPU of this kernel instance on `node`, another than `avoiding` when
  /// there is one.
  static func cpu(onNode node: Int64, avoiding: UInt64) -> UInt64? {
    var fallback: UInt64? = nil
    for cpu in 0..<UInt64(256) {
      let (found, ours) = Endpoints.node(ofCPU: cpu)
      if found < 0 { break }
      guard ours, found == node else { continue }
      if cpu != avoiding { return cpu }
      fallback = cpu
    }
    return fallback
  }

  /// Longer than the pong thread's idle time before it sleeps.
  static func spin() {
    let end = user_rdtsc() + 20_000_000
    while user_rdtsc() < end {}
  }

  /// Sends one word; wakes the receiver when it said it sleeps.
  static func send(_ sender: inout ChannelSender, _ value: UInt64, wakes: inout UInt64) -> Bool {
    var word = value
    while true {
      let result = withUnsafeBytes(of: &word) { bytes in
        sender.send(kind: .message, replyLabel: value, bytes: bytes)
      }
      switch result {
      case .sent(let wake):
        if wake {
          Endpoints.wake(toPong)
          wakes += 1
        }
        return true
      case .noCredits: continue  // the receiver frees slots as it goes
      default: return false
      }
    }
  }

  /// The next reply's word, the label the kernel gave its channel, and the
  /// reply label it echoed (UInt64.max - 1 for what is not a reply);
  /// polls, or sleeps in the kernel when `sleep` says so.
  static func await_(_ receiver: inout ChannelReceiver, sleep: Bool) -> (UInt64, UInt64, UInt64) {
    var sleeps: UInt64 = 0
    return await_(&receiver, sleep: sleep, sleeps: &sleeps)
  }

  static func await_(_ receiver: inout ChannelReceiver, sleep: Bool, sleeps: inout UInt64)
    -> (UInt64, UInt64, UInt64)
  {
    while true {
      if let message = receiver.fetch() {
        let word =
          message.length >= 8 && message.kind == .reply
          ? message.payload.loadUnaligned(as: UInt64.self) : UInt64.max - 1
        let answer = (word, message.label, message.replyLabel)
        _ = try? receiver.ack(message)
        return answer
      }
      if sleep && receiver.prepareToSleep() {
        sleeps += 1
        Endpoints.wait(pingReceive)
      }
    }
  }

  /// The pong thread: replies value + 1 until told to quit; sleeps in the
  /// kernel whenever nothing came for a while.
  static let pongEntry: @convention(c) (UInt64) -> Void = { _ in
    guard case .success(var (receiver, replier)) = Endpoints.receiverAndReplier(pongReceive)
    else {
      pongErrors += 1
      return
    }
    // Polls while messages keep coming; sleeps after about 5 ms without.
    var last = user_rdtsc()
    while true {
      guard let message = receiver.fetch() else {
        if user_rdtsc() - last > 10_000_000 && receiver.prepareToSleep() {
          pongSleeps += 1
          System.call(.dtuWait, pongReceive)
          last = user_rdtsc()
        }
        continue
      }
      last = user_rdtsc()
      let word = message.length >= 8 ? message.payload.loadUnaligned(as: UInt64.self) : 0
      if message.label != pingLabel || message.replyLabel != word { pongErrors += 1 }
      if word == quit {
        _ = try? receiver.ack(message)
        return
      }
      // The reply's credits come back as ping reads its replies; acking
      // the request after the reply returns the request's credit.
      while true {
        let result = replier.reply(to: message, length: 8) { slot in
          slot.storeBytes(of: word + 1, as: UInt64.self)
        }
        if result == .noCredits { continue }
        if case .sent(let wake) = result {
          if wake {
            Endpoints.wakeReplyReceiver(pongReceive, channel: message.channel)
            pongWakes += 1
          }
        } else {
          pongErrors += 1
        }
        break
      }
      _ = try? receiver.ack(message)
    }
  }
}
