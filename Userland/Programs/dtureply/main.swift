import UserSystem

/// M3-style replies between two processes, of one kernel instance or of
/// both (a server in one, its client in the other), tried from both sides.
///
/// `dtureply serve NAME`: publishes a receive endpoint as NAME and answers
/// every request (a word) with the word + 1 through the replier, never
/// waiting: a reply without credits, to a revoked sender, or to a sender
/// without reply endpoint is counted and the request dropped. A request of
/// `report` is answered with those counts (and resets them); `quit` ends
/// it. It must survive everything the client does. With "attack" it
/// instead writes into the reply ring's config page through the reply
/// window of the first request: the page is read-only, so it faults and
/// is removed.
///
/// `dtureply probe NAME`: connects with a reply endpoint, sends one
/// request, waits a while for a reply that an attacking server never
/// sends, and checks that its reply endpoint is intact (its config page
/// reads, and a message through it arrives).
///
/// `dtureply client NAME`: connects with a reply endpoint of its own and
///   1. checks 100 round trips (value, kind, reply label, and the label its
///      reply channel carries: its own connect label);
///   2. sends 80 requests without reading the replies: the first 64 (the
///      reply channel's credits) are kept in order, 16 refused, nothing
///      overwritten;
///   3. sends from a second endpoint that names no reply endpoint: refused;
///   4. floods a third endpoint and deletes it mid-flood, and a fourth
///      whose reply endpoint it deletes first: the server is refused
///      ("inactive") and carries on.
/// Its label is its instance << 32 | its pid.
enum Program {
  static let requests: UInt64 = 20
  static let replies: UInt64 = 21
  static let bare: UInt64 = 22
  static let doomed: UInt64 = 23
  static let doomedReplies: UInt64 = 24
  static let orphan: UInt64 = 25
  static let orphanReplies: UInt64 = 26
  static let report: UInt64 = .max - 1
  static let quit: UInt64 = .max

  static func main(argument: String) -> Int64 {
    let words = argument.split(separator: " ")
    let usage = "usage: dtureply serve NAME [attack] | dtureply client NAME | dtureply probe NAME"
    guard words.count >= 2, let name = UInt64(words[1]) else {
      print(usage)
      return 2
    }
    switch (words[0], words.count) {
    case ("serve", 2): return serve(name, attack: false)
    case ("serve", 3) where words[2] == "attack": return serve(name, attack: true)
    case ("client", 2): return client(name)
    case ("probe", 2): return probe(name)
    default:
      print(usage)
      return 2
    }
  }

  // MARK: the server

  static func serve(_ name: UInt64, attack: Bool) -> Int64 {
    // 512 slots of 64 bytes: 8 channels of 64.
    guard Endpoints.createReceive(requests, slotsLog2: 9, slotSizeLog2: 6) == 0,
      Endpoints.publish(requests, name: name) == 0,
      case .success(var (receiver, replier)) = Endpoints.receiverAndReplier(requests)
    else {
      print("dtureply: cannot set up the server")
      return 1
    }
    print("dtureply: serving \(name)")
    if attack {
      // The receiver's activation is the first window (no other endpoint
      // of this program is mapped).
      var message: ReceivedMessage? = nil
      while message == nil { message = receiver.fetch() }
      guard
        let window = EndpointWindows.replyWindow(
          receiveWindow: EndpointWindows.base, channel: message!.channel),
        let config = UnsafeMutablePointer<UInt64>(bitPattern: UInt(window))
      else { return 1 }
      print("dtureply: writing into the reply ring's config page")
      config.pointee = 0xBAD
      print("dtureply: the write went through")
      return 1
    }
    var counts: (answered: UInt64, inactive: UInt64, noCredits: UInt64, noReply: UInt64) = (
      0, 0, 0, 0
    )
    while true {
      guard let message = receiver.fetch() else {
        if receiver.prepareToSleep() { Endpoints.wait(requests) }
        continue
      }
      let word = message.length == 8 ? message.payload.loadUnaligned(as: UInt64.self) : 0
      if word == quit {
        _ = try? receiver.ack(message)
        print("dtureply: server done")
        return 0
      }
      if word == report {
        // Not counted itself: the client reads the counts it asked for.
        let reported = counts
        counts = (0, 0, 0, 0)
        let result = replier.reply(to: message, length: 32) { slot in
          slot.storeBytes(of: reported.answered, toByteOffset: 0, as: UInt64.self)
          slot.storeBytes(of: reported.inactive, toByteOffset: 8, as: UInt64.self)
          slot.storeBytes(of: reported.noCredits, toByteOffset: 16, as: UInt64.self)
          slot.storeBytes(of: reported.noReply, toByteOffset: 24, as: UInt64.self)
        }
        if result == .sent(wakeSender: true) {
          Endpoints.wakeReplyReceiver(requests, channel: message.channel)
        }
        _ = try? receiver.ack(message)
        continue
      }
      let result = replier.reply(to: message, length: 8) { slot in
        slot.storeBytes(of: word &+ 1, as: UInt64.self)
      }
      switch result {
      case .sent(let wake):
        counts.answered += 1
        if wake { Endpoints.wakeReplyReceiver(requests, channel: message.channel) }
      case .inactive: counts.inactive += 1
      case .noCredits: counts.noCredits += 1
      case .noReplyEndpoint: counts.noReply += 1
      case .tooLarge: break
      }
      _ = try? receiver.ack(message)
    }
  }

  // MARK: the client

  /// A reply endpoint of 2^slotsLog2 slots of 64 bytes (channels of 64),
  /// and a send endpoint to `name` that names it, both activated.
  static func connectWithReplies(_ name: UInt64, slotsLog2: UInt64) -> (
    ChannelSender, ChannelReceiver
  )? {
    guard Endpoints.createReceive(replies, slotsLog2: slotsLog2, slotSizeLog2: 6) == 0,
      Endpoints.connect(name: name, credits: 64, into: requests, replyTo: replies) == 0,
      case .success(let sender) = Endpoints.sender(requests),
      case .success(let inbox) = Endpoints.receiver(replies)
    else {
      print("dtureply: cannot connect to \(name) with a reply endpoint")
      return nil
    }
    return (sender, inbox)
  }

  static func client(_ name: UInt64) -> Int64 {
    // One channel of 64 reply credits.
    guard var (sender, inbox) = connectWithReplies(name, slotsLog2: 6) else { return 1 }
    let pid = UInt64(System.pid)
    var failures = 0

    // 1. Round trips.
    var checked = 0
    var myLabel: UInt64 = 0
    for round in 0..<UInt64(100) {
      send(&sender, requests, round)
      let (word, label, kind, replyLabel) = next(&inbox)
      if round == 0 { myLabel = label }
      if word == round + 1 && label == myLabel && label & 0xFFFF_FFFF == pid && kind == .reply
        && replyLabel == round
      {
        checked += 1
      }
    }
    let first = askReport(&sender, &inbox)
    print(
      "dtureply: \(checked) of 100 replies checked (value, kind, reply label, label 0x\(String(myLabel, radix: 16))), the server sent \(first.answered)"
    )
    if checked != 100 || first.answered != 100 { failures += 1 }

    // 2. Replies not read: the reply channel's credits bound them.
    for round in 0..<UInt64(80) { send(&sender, requests, 1000 + round) }
    while sender.credits < 64 { System.call(.yield) }
    var kept = 0
    var inOrder = true
    while let reply = inbox.fetch() {
      let word = reply.payload.loadUnaligned(as: UInt64.self)
      if word != 1001 + UInt64(kept) { inOrder = false }
      kept += 1
      _ = try? inbox.ack(reply)
    }
    let second = askReport(&sender, &inbox)
    print(
      "dtureply: 80 requests, replies unread: \(kept) replies kept \(inOrder ? "in order" : "out of order"), the server was refused \(second.noCredits) (no credits)"
    )
    if kept != 64 || !inOrder || second.noCredits != 16 || second.answered != 64 {
      failures += 1
    }

    // 3. No reply endpoint named.
    guard Endpoints.connect(name: name, credits: 64, into: bare) == 0,
      case .success(var bareSender) = Endpoints.sender(bare)
    else {
      print("dtureply: cannot connect without a reply endpoint")
      return 1
    }
    for round in 0..<UInt64(5) { send(&bareSender, bare, round) }
    while bareSender.credits < 64 { System.call(.yield) }
    let third = askReport(&sender, &inbox)
    print("dtureply: 5 requests without a reply endpoint: \(third.noReply) refused")
    if third.noReply != 5 { failures += 1 }

    // 4. The sender goes mid-flood; then the reply endpoint goes first.
    let doomedSent = flood(name, doomed, doomedReplies, deleting: doomed)
    let orphanSent = flood(name, orphan, orphanReplies, deleting: orphanReplies)
    _ = Capabilities.delete(orphan)
    let fourth = askReport(&sender, &inbox)
    print(
      "dtureply: sender deleted mid-flood (\(doomedSent) sent), reply endpoint deleted first (\(orphanSent) sent): the server answered \(fourth.answered), was refused \(fourth.inactive) (inactive) and \(fourth.noCredits) (no credits), and serves on"
    )
    if fourth.inactive == 0 { failures += 1 }
    // The server still answers.
    send(&sender, requests, 7)
    if next(&inbox).0 != 8 { failures += 1 }

    send(&sender, requests, quit)
    print("dtureply: \(failures == 0 ? "all checks passed" : "\(failures) checks failed")")
    return failures == 0 ? 0 : 1
  }

  static func probe(_ name: UInt64) -> Int64 {
    // Two channels of 64: one for the server's replies, one for the check.
    guard var (sender, inbox) = connectWithReplies(name, slotsLog2: 7) else { return 1 }
    send(&sender, requests, 1)
    // Long enough for the server to fetch, write and be removed.
    let end = user_rdtsc() + 200_000_000
    var replied = false
    while user_rdtsc() < end {
      if inbox.fetch() != nil { replied = true }
      System.call(.yield)
    }
    // The reply endpoint still works: a message to it from here arrives.
    guard Endpoints.mintSend(replies, label: 9, credits: 64, into: bare) == 0,
      case .success(var own) = Endpoints.sender(bare)
    else {
      print("dtureply: my reply endpoint is damaged")
      return 1
    }
    send(&own, bare, 42)
    var arrived = false
    for _ in 0..<1000 where !arrived {
      if let message = inbox.fetch() {
        arrived = message.label == 9 && message.payload.loadUnaligned(as: UInt64.self) == 42
        _ = try? inbox.ack(message)
      }
    }
    print(
      "dtureply: \(replied ? "a reply" : "no reply") from a server that wrote into my reply ring's config page; my reply endpoint is \(arrived ? "intact" : "damaged")"
    )
    return !replied && arrived ? 0 : 1
  }

  /// Sends one word, waiting for a credit; wakes the server when asked.
  static func send(_ sender: inout ChannelSender, _ slot: UInt64, _ word: UInt64) {
    while true {
      let result = sender.send(kind: .message, replyLabel: word, length: 8) { payload in
        payload.storeBytes(of: word, as: UInt64.self)
      }
      switch result {
      case .sent(let wake):
        if wake { Endpoints.wake(slot) }
        return
      case .noCredits: System.call(.yield)
      default: return
      }
    }
  }

  /// The next reply: its word, channel label, kind and reply label; sleeps
  /// on the reply endpoint while there is none.
  static func next(_ inbox: inout ChannelReceiver) -> (UInt64, UInt64, MessageKind, UInt64) {
    while true {
      if let reply = inbox.fetch() {
        let answer = (
          reply.length >= 8 ? reply.payload.loadUnaligned(as: UInt64.self) : 0, reply.label,
          reply.kind, reply.replyLabel
        )
        _ = try? inbox.ack(reply)
        return answer
      }
      if inbox.prepareToSleep() { Endpoints.wait(replies) }
    }
  }

  /// The server's counts since the last report.
  static func askReport(_ sender: inout ChannelSender, _ inbox: inout ChannelReceiver) -> (
    answered: UInt64, inactive: UInt64, noCredits: UInt64, noReply: UInt64
  ) {
    send(&sender, requests, report)
    while true {
      if let reply = inbox.fetch() {
        let counts =
          reply.length == 32
          ? (
            reply.payload.loadUnaligned(as: UInt64.self),
            reply.payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
            reply.payload.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
            reply.payload.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
          ) : (0, 0, 0, 0)
        _ = try? inbox.ack(reply)
        return counts
      }
      if inbox.prepareToSleep() { Endpoints.wait(replies) }
    }
  }

  /// Connects `slot` with reply endpoint `replySlot` and sends 600
  /// requests without reading a reply (waiting for credits, which come back
  /// as the server takes them), deleting `deleting` after the first 300.
  /// Returns how many were sent before the send endpoint stopped. Deleting
  /// the reply endpoint leaves the sender sending: the server has taken at
  /// least 300 - 64 of the later requests when this returns, and was
  /// refused each reply to them.
  static func flood(_ name: UInt64, _ slot: UInt64, _ replySlot: UInt64, deleting: UInt64)
    -> UInt64
  {
    guard Endpoints.createReceive(replySlot, slotsLog2: 6, slotSizeLog2: 6) == 0,
      Endpoints.connect(name: name, credits: 64, into: slot, replyTo: replySlot) == 0,
      case .success(var sender) = Endpoints.sender(slot)
    else { return 0 }
    var sent: UInt64 = 0
    var deleted = false
    while sent < 600 {
      if sent == 300 && !deleted {
        _ = Capabilities.delete(deleting)
        deleted = true
      }
      let number = sent
      let result = sender.send(kind: .message, replyLabel: number, length: 8) { payload in
        payload.storeBytes(of: number, as: UInt64.self)
      }
      switch result {
      case .sent(let wake):
        sent += 1
        if wake { Endpoints.wake(slot) }
      case .noCredits: System.call(.yield)
      default:
        if sent < 300 || deleting != slot {
          print("dtureply: the send endpoint stopped after \(sent), before it was deleted")
        }
        return sent
      }
    }
    return sent
  }
}
