import UserSystem

/// Messages from one kernel instance to the other through a DTU endpoint.
/// "serve NAME": create a receive endpoint on this CPU's node, publish it
/// as NAME, and take messages until the sender says it is done; every
/// message must carry the next number and the label the kernel gave its
/// sender. "send NAME COUNT": connect to NAME (the LWK instance's, from a
/// service program) and send 1...COUNT, waking the receiver when it said
/// it sleeps. Ending the sender revokes its channel across the instances:
/// the service unmaps it first, then the LWK revokes the channel and
/// reports what was unread.
enum Program {
  static let receive: UInt64 = 20
  static let send: UInt64 = 21
  static let done: UInt64 = .max

  static func main(argument: String) -> Int64 {
    let words = argument.split(separator: " ")
    guard words.count >= 2, let name = UInt64(words[1]) else {
      print("usage: dtucross serve NAME | dtucross send NAME COUNT")
      return 2
    }
    if words[0] == "serve" { return serve(name) }
    if words[0] == "send", words.count == 3, let count = UInt64(words[2]) {
      return sendAll(name, count)
    }
    print("usage: dtucross serve NAME | dtucross send NAME COUNT")
    return 2
  }

  static func serve(_ name: UInt64) -> Int64 {
    guard Endpoints.createReceive(receive, slotsLog2: 8, slotSizeLog2: 6) == 0,
      Endpoints.publish(receive, name: name) == 0,
      case .success(var receiver) = Endpoints.receiver(receive)
    else {
      print("dtucross: cannot publish a receive endpoint as \(name)")
      return 1
    }
    print("dtucross: receive endpoint published as \(name)")
    var expected: UInt64 = 1
    var label: UInt64 = 0
    var wrong = 0
    var sleeps = 0
    while true {
      guard let message = receiver.fetch() else {
        if receiver.prepareToSleep() {
          sleeps += 1
          Endpoints.wait(receive)
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
    let connected = Endpoints.connect(name: name, credits: 64, into: send)
    guard connected == 0 else {
      print(
        "dtucross: cannot connect to \(name): \(SystemCallError(rawValue: connected)?.name ?? "error \(connected)")"
      )
      return 1
    }
    guard case .success(var sender) = Endpoints.sender(send) else {
      print("dtucross: cannot activate the send endpoint")
      return 1
    }
    if count > 1_000_000 { print("dtucross: connected to \(name), sending") }
    var wakes = 0
    var next: UInt64 = 1
    while next <= count + 1 {
      var word = next > count ? done : next
      next += 1
      while true {
        let result = withUnsafeBytes(of: &word) {
          sender.send(kind: .message, replyLabel: 0, bytes: $0)
        }
        if result == .noCredits { continue }
        if result == .sent(wakeReceiver: true) {
          wakes += 1
          Endpoints.wake(send)
        }
        if result != .sent(wakeReceiver: false) && result != .sent(wakeReceiver: true) {
          print("dtucross: send failed")
          return 1
        }
        break
      }
    }
    print("dtucross: sent \(count) messages to \(name), \(wakes) wake calls")
    return 0
  }

  static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
}
