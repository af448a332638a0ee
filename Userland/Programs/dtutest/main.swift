import UserSystem

/// What a DTU endpoint promises, tried from a program. Argument "[CPU]
/// [attack]": CPU runs the sender thread of the revoke test (default: this
/// CPU); attack is one of "other-channel" (write into another sender's
/// slots) or "config" (write the kernel's config page): both must fault,
/// and the kernel removes the program.
///   - credits: a channel of 64 slots takes 64 messages, refuses the 65th
///     (no credits, nothing written), and one ack gives one credit back;
///   - a hostile sender scribbling over its own slots (bypassing the
///     library) garbles only its own channel: the receiver counts its
///     malformed headers, and an honest channel beside it loses nothing;
///   - revoke during traffic: a thread sends as fast as it can while the
///     send capability is deleted; it stops with "inactive", never faults,
///     and the receiver gets an unbroken run of its messages, nothing after
///     the revocation's limit.
enum Program {
  static let receive: UInt64 = 20
  static let honest: UInt64 = 21
  static let hostile: UInt64 = 22
  static let revoked: UInt64 = 23
  static let senderThread: UInt64 = 24

  nonisolated(unsafe) static var revokedSender: ChannelSender? = nil
  nonisolated(unsafe) static var sentBeforeStop: UInt64 = 0
  nonisolated(unsafe) static var stopResult: UInt64 = 0  // 1: inactive, 2: other
  nonisolated(unsafe) static var senderDone = false

  static func main(argument: String) -> Int64 {
    let words = argument.split(separator: " ")
    var cpu = SystemCallCPU.same
    if let first = words.first, let n = UInt64(first) { cpu = n }
    let attack = words.count > 1 ? String(words[1]) : ""
    // 1024 slots of 64 bytes: 16 channels of 64 slots (a page each).
    guard Endpoints.createReceive(receive, slotsLog2: 10, slotSizeLog2: 6) == 0,
      Endpoints.mintSend(receive, label: 0x600D, credits: 64, into: honest) == 0,
      Endpoints.mintSend(receive, label: 0xBAD, credits: 64, into: hostile) == 0,
      Endpoints.mintSend(receive, label: 0x4E7, credits: 64, into: revoked) == 0,
      case .success(var receiver) = Endpoints.receiver(receive),
      case .success(var good) = Endpoints.sender(honest)
    else {
      print("dtutest: cannot set up the endpoints")
      return 1
    }
    var failures = 0

    // Credits.
    var accepted = 0
    while accepted < 100, send(&good, UInt64(accepted)) == .sent(wakeReceiver: false) {
      accepted += 1
    }
    let refused = send(&good, 999)
    var freed = 0
    if let message = receiver.fetch(), (try? receiver.ack(message)) != nil { freed = 1 }
    let again = send(&good, UInt64(accepted))
    print(
      "dtutest: credits: \(accepted) sent, the next refused (\(refused == .noCredits ? "no credits" : "wrong")), \(again == .sent(wakeReceiver: false) ? "one ack gave one back" : "an ack gave nothing back")"
    )
    if accepted != 64 || refused != .noCredits || freed != 1 || again != .sent(wakeReceiver: false)
    {
      failures += 1
    }
    // Drain the honest channel: 64 messages, in order, label 0x600D.
    var expected: UInt64 = 1
    var honestCount = 0
    while let message = receiver.fetch() {
      if message.label != 0x600D || message.payload.loadUnaligned(as: UInt64.self) != expected {
        failures += 1
      }
      expected += 1
      honestCount += 1
      _ = try? receiver.ack(message)
    }

    // A hostile sender: its own slots, written without the library.
    let (base, out) = System.callWithResults(.dtuActivate, hostile)
    guard base > 0, let ring = UnsafeMutableRawPointer(bitPattern: UInt(base)) else {
      print("dtutest: cannot activate the hostile endpoint")
      return 1
    }
    let slots = ring + Int(out.1)
    var random = XorShift(seed: 42)
    for slot in 0..<64 {
      let header = slots + slot * 64
      // A sequence the receiver may expect, with garbage length and kind.
      let sequence = UInt64(slot + 1)
      header.storeBytes(of: sequence | (random.next() & ~0xFFFF_FFFF), as: UInt64.self)
      header.storeBytes(of: random.next(), toByteOffset: 8, as: UInt64.self)
    }
    for i in 0..<10 { _ = send(&good, 100 + UInt64(i)) }
    var honestAfter = 0
    var hostileDelivered = 0
    var spins = 0
    while honestAfter < 10 && spins < 100_000 {
      spins += 1
      guard let message = receiver.fetch() else { continue }
      if message.label == 0x600D {
        if message.payload.loadUnaligned(as: UInt64.self) != 100 + UInt64(honestAfter) {
          failures += 1
        }
        honestAfter += 1
      } else {
        hostileDelivered += 1  // a well-formed header by chance: still only its own channel
        if message.label != 0xBAD || message.length > 48 { failures += 1 }
      }
      _ = try? receiver.ack(message)
    }
    let malformed = receiver.status(channel: Int(out.0))?.malformed ?? 0
    print(
      "dtutest: hostile sender: \(malformed) malformed headers counted on its channel, \(hostileDelivered) well-formed by chance, the honest channel got \(honestAfter) of 10 in order"
    )
    if honestAfter != 10 || malformed == 0 { failures += 1 }

    switch attack {
    case "other-channel":
      print("dtutest: writing into the honest sender's slots")
      let other = ring + 8192  // channel 0's run: not mapped here
      other.storeBytes(of: 0xDEAD, as: UInt64.self)
      print("dtutest: the write went through")
      return 1
    case "config":
      print("dtutest: writing the kernel's config page")
      ring.storeBytes(of: 0xDEAD, toByteOffset: 64, as: UInt64.self)
      print("dtutest: the write went through")
      return 1
    default: break
    }

    // Revoke during traffic.
    guard case .success(let sender) = Endpoints.sender(revoked) else {
      print("dtutest: cannot activate the revoked endpoint")
      return 1
    }
    revokedSender = sender
    guard Threads.start(slot: senderThread, cpu: cpu, flood) > 0 else {
      print("dtutest: cannot start the sender thread")
      return 1
    }
    var received: UInt64 = 0
    var inOrder = true
    // Take some, then revoke with the sender still going.
    while received < 200 {
      guard let message = receiver.fetch() else { continue }
      if message.label == 0x4E7 {
        received += 1
        if message.payload.loadUnaligned(as: UInt64.self) != received { inOrder = false }
      }
      _ = try? receiver.ack(message)
    }
    let deleted = Capabilities.delete(revoked)
    // What was published before the revocation stays readable.
    var quiet = 0
    while quiet < 200_000 {
      guard let message = receiver.fetch() else {
        quiet += 1
        continue
      }
      quiet = 0
      if message.label == 0x4E7 {
        received += 1
        if message.payload.loadUnaligned(as: UInt64.self) != received { inOrder = false }
      }
      _ = try? receiver.ack(message)
    }
    while !senderDone {}
    print(
      "dtutest: revoke during traffic: \(deleted >= 0 ? "capability deleted" : "delete failed"), the sender stopped with \(stopResult == 1 ? "inactive" : "something else") after \(sentBeforeStop) sends, the receiver got \(received) \(inOrder ? "in order" : "OUT OF ORDER"), none after the limit"
    )
    if deleted < 0 || stopResult != 1 || !inOrder || received > sentBeforeStop || received < 200 {
      failures += 1
    }
    print("dtutest: \(failures == 0 ? "all checks passed" : "\(failures) checks failed")")
    return failures == 0 ? 0 : 1
  }

  static func send(_ sender: inout ChannelSender, _ value: UInt64) -> ChannelSendResult {
    var word = value
    return withUnsafeBytes(of: &word) { sender.send(kind: .message, replyLabel: 0, bytes: $0) }
  }

  /// Sends 1, 2, 3, ... until the channel says it is no longer active.
  static let flood: @convention(c) (UInt64) -> Void = { _ in
    guard var sender = revokedSender else { return }
    var next: UInt64 = 1
    while true {
      switch send(&sender, next) {
      case .sent:
        sentBeforeStop = next
        next += 1
      case .noCredits: continue
      case .inactive:
        stopResult = 1
        senderDone = true
        return
      case .tooLarge:
        stopResult = 2
        senderDone = true
        return
      }
    }
  }
}
