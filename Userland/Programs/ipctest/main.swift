/// IPC and capability behaviour that the figures do not show, checked from
/// user space: labels and capability transfer, replies across CPUs, a call
/// aborted by revoking the endpoint capability it went through, and a
/// thread ended by deleting its thread capability. Argument: the service
/// CPU for the server thread (default: this one).
enum Program {
  static let endpoint: UInt64 = 50
  static let clientCopy: UInt64 = 51
  static let labelled: UInt64 = 52
  static let page: UInt64 = 53
  static let received: UInt64 = 60
  static let serverThread: UInt64 = 70
  static let holderThread: UInt64 = 71
  static let clientThread: UInt64 = 72
  static let counterThread: UInt64 = 73
  static let lowThread: UInt64 = 74
  static let quit: UInt64 = 0xDEAD

  // Written by the helper threads (which must not allocate), read here.
  nonisolated(unsafe) static var seenLabel: UInt64 = 0
  nonisolated(unsafe) static var seenSlot: UInt64 = 0
  nonisolated(unsafe) static var seenType: Int64 = 0
  nonisolated(unsafe) static var holderGotCall = false
  nonisolated(unsafe) static var holderMayReply = false
  nonisolated(unsafe) static var holderReply: Int64 = 1
  nonisolated(unsafe) static var clientResult: Int64 = 1
  nonisolated(unsafe) static var counter: UInt64 = 0
  nonisolated(unsafe) static var lowCounter: UInt64 = 0

  static func main(argument: String) -> Int64 {
    var cpu = SystemCallCPU.same
    if let number = UInt64(argument) { cpu = number }
    guard Capabilities.createEndpoint(endpoint) == 0,
      Capabilities.copy(endpoint, to: clientCopy) == 0,
      Capabilities.mint(endpoint, to: labelled, label: 0x2A) == 0,
      Capabilities.createMemory(page, pages: 1) == 0
    else {
      print("ipctest: cannot set up")
      return 1
    }
    var passed = 0
    if transfer(cpu: cpu) { passed += 1 }
    if abortedCall() { passed += 1 }
    if deletedThread() { passed += 1 }
    if priorities() { passed += 1 }
    print("ipctest: \(passed) of 4 checks passed")
    return passed == 4 ? 0 : 1
  }

  /// A call through a labelled capability carrying a memory capability;
  /// the server sees the label and the capability and answers each word + 1.
  static func transfer(cpu: UInt64) -> Bool {
    let started = Threads.start(slot: serverThread, cpu: cpu, argument: endpoint, serverEntry)
    guard started > 0 else {
      print("ipctest: no server thread: \(resultName(started))")
      return false
    }
    // The kernel's view of the server thread, once it waits for a call.
    var rounds = 0
    var waiting: Threads.Info? = nil
    while rounds < 10_000 {
      if case .success(let info) = Threads.info(serverThread), info.state == .blocked {
        waiting = info
        break
      }
      System.call(.yield)
      rounds += 1
    }
    var expectedCPU = cpu
    if cpu == SystemCallCPU.same, case .success(let mine) = Threads.info(InitialSlot.thread) {
      expectedCPU = mine.cpu
    }
    let seen = waiting.map { $0.inIPC && $0.cpu == expectedCPU && $0.priority == 1 } ?? false
    print(
      "ipctest: the server thread \(waiting?.tid ?? 0) waits in IPC on CPU \(waiting?.cpu ?? 99) at priority \(waiting?.priority ?? 99): \(seen ? "ok" : "WRONG")"
    )
    let wrong = pingPong(rounds: 2000)
    print(
      "ipctest: 2000 calls to the server on CPU \(waiting?.cpu ?? 99), \(wrong) wrong replies: \(wrong == 0 ? "ok" : "WRONG")"
    )
    let (status, answer) = IPC.call(labelled, Message(1, 2, 3, 4), transfer: page)
    _ = IPC.call(endpoint, Message(quit))
    let words = answer.words
    let ok =
      seen && wrong == 0 && status == 0 && words.0 == 2 && words.1 == 3 && words.2 == 4
      && words.3 == 5
      && seenLabel == 0x2A && seenSlot == received && seenType == 1
    print(
      "ipctest: call with label 0x\(String(seenLabel, radix: 16)), a memory capability in slot \(seenSlot) (type \(seenType)), reply \(words.0) \(words.1) \(words.2) \(words.3): \(ok ? "ok" : "WRONG")"
    )
    return ok
  }

  /// Calls with words that change every round, each checked in its reply
  /// (every word + 1): the fast path's message copy, both ways, on one CPU
  /// or handed across two. Returns the wrong replies.
  static func pingPong(rounds: UInt64) -> UInt64 {
    var wrong: UInt64 = 0
    for i in 1...rounds {
      let sent = (i, i << 8, ~i, i ^ 0x5A5A)
      let (status, reply) = IPC.call(endpoint, Message(sent.0, sent.1, sent.2, sent.3))
      let words = reply.words
      if status != 0 || words.0 != sent.0 &+ 1 || words.1 != sent.1 &+ 1 || words.2 != sent.2 &+ 1
        || words.3 != sent.3 &+ 1
      {
        wrong += 1
      }
    }
    return wrong
  }

  /// A call waits for its reply when the endpoint capability it came
  /// through is revoked: it must end with ipcAborted, and the late reply
  /// finds no caller.
  static func abortedCall() -> Bool {
    guard Threads.start(slot: holderThread, argument: endpoint, holderEntry) > 0,
      Threads.start(slot: clientThread, argument: clientCopy, clientEntry) > 0
    else {
      print("ipctest: no threads for the abort check")
      return false
    }
    var rounds = 0
    while !holderGotCall && rounds < 10_000 {
      System.call(.yield)
      rounds += 1
    }
    let removed = Capabilities.revoke(endpoint)
    rounds = 0
    while clientResult == 1 && rounds < 10_000 {
      System.call(.yield)
      rounds += 1
    }
    holderMayReply = true
    rounds = 0
    while holderReply == 1 && rounds < 10_000 {
      System.call(.yield)
      rounds += 1
    }
    let ok =
      clientResult == SystemCallError.ipcAborted.rawValue
      && holderReply == SystemCallError.noReplyPending.rawValue
    print(
      "ipctest: revoke removed \(removed) capabilities; the waiting call got \(resultName(clientResult)), the late reply \(resultName(holderReply)): \(ok ? "ok" : "WRONG")"
    )
    return ok
  }

  /// Deleting the only capability to a thread ends that thread.
  static func deletedThread() -> Bool {
    guard Threads.start(slot: counterThread, argument: 0, counterEntry) > 0 else {
      print("ipctest: no counting thread")
      return false
    }
    for _ in 0..<10 { System.call(.yield) }
    let before = counter
    let destroyed = Capabilities.delete(counterThread)
    for _ in 0..<10 { System.call(.yield) }
    let stopped = counter
    for _ in 0..<10 { System.call(.yield) }
    let ok = before > 0 && destroyed == 1 && counter == stopped
    print(
      "ipctest: a thread counted to \(before), its capability was deleted (\(destroyed) object destroyed), it stopped at \(stopped): \(ok ? "ok" : "WRONG")"
    )
    return ok
  }
}

extension Program {
  /// A thread below this one's priority gets no CPU while this one stays
  /// ready (it only yields); raised to the same priority, it runs.
  static func priorities() -> Bool {
    guard Threads.start(slot: lowThread, priority: 0, argument: 0, lowEntry) > 0 else {
      print("ipctest: no low-priority thread")
      return false
    }
    for _ in 0..<20 { System.call(.yield) }
    let starved = lowCounter
    let raised = Threads.setPriority(lowThread, 1)
    for _ in 0..<20 { System.call(.yield) }
    let ran = lowCounter
    Capabilities.delete(lowThread)
    let ok = starved == 0 && raised == 0 && ran > 0
    print(
      "ipctest: a priority-0 thread ran \(starved) times beside a yielding priority-1 thread, \(ran) times once raised to 1: \(ok ? "ok" : "WRONG")"
    )
    return ok
  }
}

let lowEntry: @convention(c) (UInt64) -> Void = { _ in
  while true {
    Program.lowCounter += 1
    System.call(.yield)
  }
}

let serverEntry: @convention(c) (UInt64) -> Void = { endpoint in
  var request = IPC.receive(endpoint, into: Program.received)
  while request.status == 0 && request.message.words.0 != Program.quit {
    Program.seenLabel = request.label
    Program.seenSlot = request.capabilitySlot
    if case .success(let info) = Capabilities.inspect(request.capabilitySlot) {
      Program.seenType = info.type
    }
    let w = request.message.words
    request = IPC.replyReceive(
      endpoint, Message(w.0 &+ 1, w.1 &+ 1, w.2 &+ 1, w.3 &+ 1), into: Program.received)
  }
  IPC.reply(Message())
}

let holderEntry: @convention(c) (UInt64) -> Void = { endpoint in
  _ = IPC.receive(endpoint)
  Program.holderGotCall = true
  while !Program.holderMayReply { System.call(.yield) }
  Program.holderReply = IPC.reply(Message(9))
}

let clientEntry: @convention(c) (UInt64) -> Void = { endpoint in
  Program.clientResult = IPC.call(endpoint, Message(7)).0
}

let counterEntry: @convention(c) (UInt64) -> Void = { _ in
  while true {
    Program.counter += 1
    System.call(.yield)
  }
}
