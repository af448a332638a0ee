import UserSystem

/// The IPC and capability figures of the README, each N samples timed
/// with rdtsc, median, min and max (under QEMU -icount shift=0 one tick is one
/// guest instruction). Argument: "N [CPU]", CPU being a second service CPU
/// for the cross-CPU figure. As a child ("server"), it answers calls on the
/// endpoint it was given until told to stop.
enum Program {
  static let endpoint: UInt64 = 30
  static let otherEndpoint: UInt64 = 31
  static let serverThread: UInt64 = 32
  static let otherThread: UInt64 = 33
  static let copySource: UInt64 = 40
  static let copySlot: UInt64 = 41
  static let treeBase: UInt64 = 1000
  static let quit: UInt64 = 0xDEAD

  static func main(argument: String) -> Int64 {
    if argument == "server" {
      serve(InitialSlot.given)
      return 0
    }
    if argument == "timed-server" {
      serveTimed(InitialSlot.given)
      return 0
    }
    let words = argument.split(separator: " ")
    var rounds = 1000
    if let first = words.first, let n = Int(first), n >= 10 { rounds = n }
    var other: UInt64? = nil
    if words.count > 1, let cpu = UInt64(words[1]) { other = cpu }

    let overhead = Timing.median(rounds) {}
    print(
      "ipcbench: \(rounds) samples per figure, rdtsc ticks (rdtsc overhead \(overhead) subtracted)")
    report("null system call round trip", overhead, Timing.measure(rounds) { _ = System.pid })

    guard Capabilities.createEndpoint(endpoint) == 0 else {
      print("ipcbench: cannot create an endpoint")
      return 1
    }
    let here = Threads.start(slot: serverThread, argument: endpoint, serverEntry)
    guard here > 0 else {
      print("ipcbench: cannot start a server thread: \(resultName(here))")
      return 1
    }
    report(
      "IPC call+reply, same CPU, same address space", overhead,
      Timing.measure(rounds) { ping(endpoint) })

    let child = Children.spawn("ipcbench", argument: "server", give: endpoint)
    if child > 0 {
      // Two servers wait on one endpoint: stop the thread so only the child answers.
      _ = IPC.call(endpoint, Message(quit))
      report(
        "IPC call+reply, same CPU, two address spaces", overhead,
        Timing.measure(rounds) { ping(endpoint) })
      _ = IPC.call(endpoint, Message(quit))
      _ = Children.wait(child)
    } else {
      print("ipcbench: cannot spawn a server process: \(resultName(child))")
    }

    if let other {
      if Capabilities.createEndpoint(otherEndpoint) == 0,
        Threads.start(slot: otherThread, cpu: other, argument: otherEndpoint, serverEntry) > 0
      {
        report(
          "IPC call+reply, two CPUs (CPU \(other))", overhead,
          Timing.measure(rounds) { ping(otherEndpoint) })
        _ = IPC.call(otherEndpoint, Message(quit))
      } else {
        print("ipcbench: cannot start a server on CPU \(other)")
      }
    } else {
      print("ipcbench: one service CPU: no cross-CPU figure")
    }

    _ = Capabilities.createEndpoint(copySource)
    report(
      "capability copy+delete", overhead,
      Timing.measure(rounds) {
        Capabilities.copy(copySource, to: copySlot)
        Capabilities.delete(copySlot)
      })
    revokeTree(overhead)
    return oneWayFigures(rounds, overhead) ? 0 : 1
  }

  // MARK: One-way figures, as sel4bench defines them

  static let timedEndpoint: UInt64 = 34
  static let timedThread: UInt64 = 35

  /// Call (the client reads the counter before its call, the server after
  /// its receive returns) and ReplyRecv (the server reads it before its
  /// replyReceive, the client after its call returns), with a server thread
  /// in this address space and then a server process; 0 and 4 message
  /// words (the ABI moves four registers either way). The server sends its
  /// two counter readings back in the reply.
  static func oneWayFigures(_ rounds: Int, _ overhead: UInt64) -> Bool {
    guard Capabilities.createEndpoint(timedEndpoint) == 0,
      Threads.start(slot: timedThread, argument: timedEndpoint, timedServerEntry) > 0
    else {
      print("ipcbench: cannot start the timed server thread")
      return false
    }
    oneWay(timedEndpoint, "same address space", rounds, overhead)
    _ = IPC.call(timedEndpoint, Message(quit))
    let child = Children.spawn("ipcbench", argument: "timed-server", give: timedEndpoint)
    guard child > 0 else {
      print("ipcbench: cannot spawn the timed server: \(resultName(child))")
      return false
    }
    oneWay(timedEndpoint, "two address spaces", rounds, overhead)
    _ = IPC.call(timedEndpoint, Message(quit))
    _ = Children.wait(child)
    return true
  }

  static func oneWay(_ endpoint: UInt64, _ spaces: String, _ rounds: Int, _ overhead: UInt64) {
    for words in [0, 4] {
      var calls = [UInt64](repeating: 0, count: rounds)
      var replies = [UInt64](repeating: 0, count: rounds)
      let message = words == 0 ? Message() : Message(1, 2, 3, 4)
      for i in 0..<rounds {
        let start = user_rdtsc()
        let (_, answer) = IPC.call(endpoint, message)
        let end = user_rdtsc()
        calls[i] = answer.words.0 &- start
        replies[i] = end &- answer.words.1
      }
      Timing.report(
        "ipcbench: one-way Call, \(spaces), \(words) words",
        BenchmarkFigure(samples: calls).net(overhead))
      Timing.report(
        "ipcbench: one-way ReplyRecv, \(spaces), \(words) words",
        BenchmarkFigure(samples: replies).net(overhead))
    }
  }

  /// Answers every call with the counter read when its receive returned and
  /// the counter read just before the replyReceive, until told to quit.
  static func serveTimed(_ endpoint: UInt64) {
    var request = IPC.receive(endpoint)
    while request.status == 0 && request.message.words.0 != quit {
      let received = user_rdtsc()
      let replying = user_rdtsc()
      request = IPC.replyReceive(endpoint, Message(received, replying))
    }
    IPC.reply(Message(quit))
  }

  static func ping(_ endpoint: UInt64) {
    _ = IPC.call(endpoint, Message(1, 2, 3, 4))
  }

  /// Builds a tree of 1000 capabilities derived from one (each copied from
  /// a pseudo-random earlier one) and times revoking it; median of 9.
  static func revokeTree(_ overhead: UInt64) {
    var samples: [UInt64] = []
    var generator = XorShift(seed: 0x2545_F491_4F6C_DD1D)
    for _ in 0..<9 {
      var built = 0
      for i in 0..<1000 {
        let parent = i == 0 ? copySource : treeBase + generator.next() % UInt64(i)
        if Capabilities.copy(parent, to: treeBase + UInt64(i)) == 0 { built += 1 }
      }
      let start = user_rdtsc()
      let removed = Capabilities.revoke(copySource)
      let ticks = user_rdtsc() - start
      guard built == 1000, removed == 1000 else {
        print("ipcbench: revoke tree: built \(built), removed \(removed)")
        return
      }
      samples.append(ticks)
    }
    report("revoke of a 1000-descendant tree", overhead, BenchmarkFigure(samples: samples))
  }

  static func report(_ what: String, _ overhead: UInt64, _ summary: BenchmarkFigure) {
    Timing.report("ipcbench: \(what)", summary.net(overhead))
  }

  /// Answers every call with its own words until one says quit.
  static func serve(_ endpoint: UInt64) {
    var request = IPC.receive(endpoint)
    while request.status == 0 && request.message.words.0 != quit {
      request = IPC.replyReceive(endpoint, request.message)
    }
    IPC.reply(Message(quit))
  }
}

let serverEntry: @convention(c) (UInt64) -> Void = { endpoint in Program.serve(endpoint) }
let timedServerEntry: @convention(c) (UInt64) -> Void = { endpoint in
  Program.serveTimed(endpoint)
}
