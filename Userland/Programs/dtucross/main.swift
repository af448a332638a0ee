import UserSystem

/// Messages from one kernel instance to the other through DTU endpoints.
/// "serve NAME": create a receive endpoint on this CPU's node, publish it
/// as NAME, and take messages until the sender says it is done; every
/// message must carry the next number and the label the kernel gave its
/// sender. "send NAME COUNT": connect to NAME (the other instance's) and
/// send 1...COUNT, waking the receiver when it said it sleeps. Ending the
/// sender revokes its channel across the instances: its kernel unmaps it
/// first, then the ring's kernel revokes the channel.
/// "pong NAME" and "ping NAME REPLY ROUNDS": a round trip across the
/// instances. Pong publishes NAME; ping publishes REPLY, connects to NAME
/// and sends REPLY as its first message; pong connects back to it and
/// answers every number with the next one until ping says it is done.
/// Both directions cross: one instance connects to the other's endpoint
/// each way.
/// "gate NAME N" publishes NAME, takes messages until N senders have sent,
/// then takes every sender back (dtuRevokeSenders) from two threads at once,
/// on two CPUs: the second call joins the first when it finds it running;
/// after it nothing more is accepted. A sender ("send NAME COUNT") whose
/// capability was taken back stops and says so.
/// "hold NAME" publishes NAME and never reads (blocks until killed);
/// "drop NAME COUNT" connects to NAME, sends COUNT messages and deletes its
/// send capability: the delete returns when the ring's kernel has revoked
/// the channel and answered with what was unread (`dtu stats` there and
/// here count it). With "keep" it exits holding the capability: reaping
/// the process releases the channel the same way.
enum Program {
  static let receive: UInt64 = 20
  static let send: UInt64 = 21
  static let done: UInt64 = .max

  static func main(argument: String) -> Int64 {
    let words = argument.split(separator: " ")
    guard words.count >= 2, let name = UInt64(words[1]) else {
      print(usage)
      return 2
    }
    if words[0] == "serve" { return serve(name) }
    if words[0] == "pong" { return pong(name) }
    if words[0] == "send", words.count == 3, let count = UInt64(words[2]) {
      return sendAll(name, count)
    }
    if words[0] == "hold" { return hold(name) }
    if words[0] == "gate", words.count == 3, let count = Int(words[2]), count >= 1, count <= 8 {
      return gate(name, count)
    }
    if words[0] == "drop", words.count >= 3, words.count <= 4, let count = UInt64(words[2]),
      count <= 64, words.count == 3 || words[3] == "keep"
    {
      return drop(name, count, keep: words.count == 4)
    }
    if words[0] == "ping", words.count == 4, let reply = UInt64(words[2]),
      let rounds = Int(words[3]), rounds >= 1, rounds <= 100_000
    {
      return ping(name, reply: reply, rounds: rounds)
    }
    print(usage)
    return 2
  }

  static let usage =
    "usage: dtucross serve NAME | send NAME COUNT | pong NAME | ping NAME REPLY ROUNDS (1-100000) | hold NAME | drop NAME COUNT (0-64) [keep] | gate NAME SENDERS (1-8)"

  /// Creates the receive endpoint, publishes it as `name` and activates it.
  static func publishReceiver(_ name: UInt64) -> ChannelReceiver? {
    guard Endpoints.createReceive(receive, slotsLog2: 8, slotSizeLog2: 6) == 0,
      Endpoints.publish(receive, name: name) == 0,
      case .success(let receiver) = Endpoints.receiver(receive)
    else {
      print("dtucross: cannot publish a receive endpoint as \(name)")
      return nil
    }
    return receiver
  }

  /// Connects to `name` and activates the send endpoint.
  static func connect(_ name: UInt64) -> ChannelSender? {
    let connected = Endpoints.connect(name: name, credits: 64, into: send)
    guard connected == 0 else {
      print(
        "dtucross: cannot connect to \(name): \(SystemCallError(rawValue: connected)?.name ?? "error \(connected)")"
      )
      return nil
    }
    guard case .success(let sender) = Endpoints.sender(send) else {
      print("dtucross: cannot activate the send endpoint")
      return nil
    }
    return sender
  }

  /// Sends one word, waking the receiver when it said it sleeps and
  /// waiting while the credits are used up. False when the send failed.
  static func send(_ sender: inout ChannelSender, _ value: UInt64, wakes: inout Int) -> Bool {
    var word = value
    while true {
      let result = withUnsafeBytes(of: &word) {
        sender.send(kind: .message, replyLabel: 0, bytes: $0)
      }
      switch result {
      case .sent(let wake):
        if wake {
          wakes += 1
          Endpoints.wake(send)
        }
        return true
      case .noCredits: continue  // the receiver frees slots as it goes
      default: return false
      }
    }
  }

  /// The next message's word and label, acked. Polls while messages keep
  /// coming; sleeps in the kernel after about 5 ms without.
  static func next(_ receiver: inout ChannelReceiver, sleeps: inout Int) -> (
    word: UInt64, label: UInt64
  ) {
    var last = user_rdtsc()
    while true {
      guard let message = receiver.fetch() else {
        if user_rdtsc() - last > 10_000_000 && receiver.prepareToSleep() {
          sleeps += 1
          Endpoints.wait(receive)
          last = user_rdtsc()
        }
        continue
      }
      let word = message.length >= 8 ? message.payload.loadUnaligned(as: UInt64.self) : 0
      let label = message.label
      _ = try? receiver.ack(message)
      return (word, label)
    }
  }

  static func pong(_ name: UInt64) -> Int64 {
    guard var receiver = publishReceiver(name) else { return 1 }
    print("dtucross: pong endpoint published as \(name)")
    var sleeps = 0
    let first = next(&receiver, sleeps: &sleeps)
    guard var sender = connect(first.word) else { return 1 }
    var answered = 0
    var wakes = 0
    var wrong = 0
    while true {
      let message = next(&receiver, sleeps: &sleeps)
      if message.word == done { break }
      if message.label != first.label { wrong += 1 }
      guard send(&sender, message.word &+ 1, wakes: &wakes) else {
        print("dtucross: answer failed")
        return 1
      }
      answered += 1
    }
    print(
      "dtucross: answered \(answered) pings from label \(hex(first.label)) (instance \(first.label >> 32)), \(wrong == 0 ? "labels consistent" : "\(wrong) wrong labels")"
    )
    return wrong == 0 ? 0 : 1
  }

  static func ping(_ name: UInt64, reply: UInt64, rounds: Int) -> Int64 {
    guard var receiver = publishReceiver(reply), var sender = connect(name) else { return 1 }
    var wakes = 0
    var sleeps = 0
    guard send(&sender, reply, wakes: &wakes) else {
      print("dtucross: send failed")
      return 1
    }
    var samples = [UInt64](repeating: 0, count: rounds)
    var wrong = 0
    var label: UInt64 = 0
    for round in 0..<rounds {
      let start = user_rdtsc()
      guard send(&sender, UInt64(round), wakes: &wakes) else {
        print("dtucross: send failed")
        return 1
      }
      let answer = next(&receiver, sleeps: &sleeps)
      samples[round] = user_rdtsc() - start
      if label == 0 { label = answer.label }
      if answer.word != UInt64(round) + 1 || answer.label != label { wrong += 1 }
    }
    _ = send(&sender, done, wakes: &wakes)
    let summary = BenchmarkFigure(samples: samples)
    print(
      "dtucross: \(rounds) round trips to \(name), answers from label \(hex(label)) (instance \(label >> 32)): median \(summary.median) ticks, min \(summary.min), max \(summary.max), \(wrong == 0 ? "all answers checked" : "\(wrong) wrong")"
    )
    Timing.report(
      "dtucross: 8-byte round trip, polling, answered by instance \(label >> 32)", summary)
    return wrong == 0 ? 0 : 1
  }

  static func serve(_ name: UInt64) -> Int64 {
    guard var receiver = publishReceiver(name) else { return 1 }
    print("dtucross: receive endpoint published as \(name)")
    var expected: UInt64 = 1
    var label: UInt64 = 0
    var wrong = 0
    var sleeps = 0
    while true {
      guard let message = receiver.fetch() else {
        if receiver.prepareToSleep() {
          sleeps += 1
          let waited = Endpoints.wait(receive)
          if waited < 0 {
            // Its sender's instance failed: no message will come.
            print(
              "dtucross: waiting on \(name) after \(expected - 1) messages: \(resultName(waited))"
            )
            return 1
          }
        }
        continue
      }
      let word = message.payload.loadUnaligned(as: UInt64.self)
      if label == 0 { label = message.label }
      if message.label != label { wrong += 1 }
      _ = try? receiver.ack(message)
      if word == done { break }
      if word != expected { wrong += 1 }
      expected += 1
    }
    print(
      "dtucross: received \(expected - 1) messages from label \(hex(label)) (instance \(label >> 32), pid \(label & 0xFFFF_FFFF)), \(wrong == 0 ? "all in order" : "\(wrong) wrong"), slept \(sleeps) times"
    )
    return wrong == 0 ? 0 : 1
  }

  static func sendAll(_ name: UInt64, _ count: UInt64) -> Int64 {
    guard var sender = connect(name) else { return 1 }
    if count > 1_000_000 { print("dtucross: connected to \(name), sending") }
    var wakes = 0
    for value in 1...count + 1 {
      guard send(&sender, value > count ? done : value, wakes: &wakes) else {
        // Taken back by the ring's owner: the channel is revoked first,
        // then its kernel takes the capability too.
        let end = user_rdtsc() + 5_000_000_000
        while user_rdtsc() < end {
          if case .failure(.emptySlot) = Capabilities.inspect(send) {
            print(
              "dtucross: the send endpoint to \(name) was taken back after \(value - 1) messages; its capability is gone"
            )
            return 0
          }
          System.call(.yield)
        }
        print("dtucross: send failed")
        return 1
      }
    }
    print("dtucross: sent \(count) messages to \(name), \(wakes) wake calls")
    return 0
  }

  /// Publishes `name` and blocks (on an IPC endpoint nobody sends to)
  /// without reading a message, until killed.
  static func hold(_ name: UInt64) -> Int64 {
    let blocker: UInt64 = 30
    guard publishReceiver(name) != nil, Capabilities.createEndpoint(blocker) == 0 else { return 1 }
    print("dtucross: holding \(name), reading nothing")
    _ = IPC.receive(blocker)
    return 0
  }

  /// Sends `count` messages (at most the channel's credits, so none waits)
  /// and deletes the send capability, unless it keeps it.
  static func drop(_ name: UInt64, _ count: UInt64, keep: Bool) -> Int64 {
    guard var sender = connect(name) else { return 1 }
    var wakes = 0
    for value in 0..<count where !send(&sender, value + 1, wakes: &wakes) {
      print("dtucross: send failed")
      return 1
    }
    if keep {
      print("dtucross: sent \(count) messages to \(name), exiting with the send capability")
      return 0
    }
    let deleted = Capabilities.delete(send)
    // The number of objects the delete destroyed, or an error.
    print(
      "dtucross: sent \(count) messages to \(name), send capability deleted (\(deleted) object destroyed)"
    )
    return deleted == 1 ? 0 : 1
  }

  static func gate(_ name: UInt64, _ count: Int) -> Int64 {
    guard var receiver = publishReceiver(name) else { return 1 }
    print("dtucross: gate \(name) published, waiting for \(count) senders")
    var labels: [UInt64] = []
    while labels.count < count {
      guard let message = receiver.fetch() else { continue }
      if !labels.contains(message.label) { labels.append(message.label) }
      _ = try? receiver.ack(message)
    }
    guard let (mine, theirs) = SimultaneousCalls.twice(.dtuRevokeSenders, receive, slot: 31)
    else {
      print("dtucross: no second CPU for the second revoker")
      return 1
    }
    // What was accepted before the revoke is still there; then nothing.
    var kept = 0
    while let message = receiver.fetch() {
      _ = try? receiver.ack(message)
      kept += 1
    }
    let late = receiver.arrivals(within: 100_000_000)
    // Joined: both return the count. One after the other: the second
    // finds none left.
    let joins = (mine.joined ? 1 : 0) + (theirs.joined ? 1 : 0)
    let total = max(mine.0, theirs.0)
    let consistent = joins == 1 ? mine.0 == theirs.0 : joins == 0 && min(mine.0, theirs.0) == 0
    print(
      "dtucross: took back \(total) senders of \(name); the second call \(joins == 1 ? "joined the first" : "came after it and found none"), \(kept) messages accepted before, \(late) after"
    )
    return total == Int64(count) && consistent && late == 0 ? 0 : 1
  }

  static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
}
