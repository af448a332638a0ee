import UserSystem

/// Checks that the kernel keeps every thread's vector registers (XMM0-XMM15
/// and MXCSR): the kernel saves none on entry (it is built without them)
/// and swaps them only when another user thread takes the CPU. Three runs of
/// N system calls (default 1000), each made with a thread's own pattern in
/// the registers and checked as soon as it returns: null system calls; two
/// threads on one CPU yielding to each other; and call/replyReceive between
/// two threads on one CPU, the IPC fast path's ground. Prints the
/// mismatches; exits 1 if there are any.
///
/// `vectors park` leaves a thread parked by the fast path for good (a
/// server waiting for its next call after one fast round trip) and blocks
/// its first thread in a receive nobody answers: a test kills it there.
/// `vectors park-elsewhere` does the same with the server on another CPU
/// (the round trip is two of the fast path's hand-offs).
enum Program {
  static let endpoint: UInt64 = 30
  static let otherThread: UInt64 = 31
  static let quit: UInt64 = 0xDEAD
  /// 16 registers of two words, MXCSR, and the call's RDI result.
  static let words = 34

  nonisolated(unsafe) static var rounds = 1000
  nonisolated(unsafe) static var otherMismatches = 0
  nonisolated(unsafe) static var otherDone = false

  static func main(argument: String) -> Int64 {
    if argument == "park" { return park(cpu: SystemCallCPU.same) }
    if argument == "park-elsewhere" {
      guard let other = Threads.otherCPU() else {
        print("vectors: no other CPU")
        return 1
      }
      return park(cpu: other)
    }
    if let n = Int(argument), n >= 1 { rounds = n }
    let calls = nullCalls()
    let yields = yieldsBetweenThreads()
    let ipc = callsBetweenThreads()
    user_reset_mxcsr()
    guard let yields, let ipc else { return 1 }
    let total = calls + yields + ipc
    print(
      "vectors: XMM0-15 and MXCSR kept across \(rounds) system calls (\(calls) mismatches), \(rounds) yields between two threads (\(yields)), \(rounds) IPC round trips (\(ipc))"
    )
    print(total == 0 ? "vectors: ok" : "vectors: \(total) mismatches")
    return total == 0 ? 0 : 1
  }

  static func park(cpu: UInt64) -> Int64 {
    guard Capabilities.createEndpoint(endpoint) == 0,
      Capabilities.createEndpoint(endpoint + 10) == 0,
      Threads.start(slot: otherThread, cpu: cpu, argument: endpoint, echoingThread) > 0
    else {
      print("vectors: cannot start a server thread")
      return 1
    }
    let (status, answer) = IPC.call(endpoint, Message(7))
    print("vectors: the server answered \(answer.words.0) (status \(status)) and waits parked")
    _ = IPC.receive(endpoint + 10)  // nobody sends: blocked until killed
    return 0
  }

  /// A thread's pattern: every register different, MXCSR with a rounding
  /// mode other than the default (round toward zero) and the exceptions
  /// masked.
  static func pattern(_ seed: UInt64) -> [UInt64] {
    var words = (0..<32).map { i in (seed &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(i) &* 0x0101_0101) }
    words.append(seed & 1 == 0 ? 0x7F80 : 0x5F80)
    return words
  }

  /// System call `number` with `pattern` in the vector registers: 1 when
  /// they came back different (else 0), and the call's RDI result.
  static func callKeeping(
    _ pattern: [UInt64], _ number: SystemCallNumber, _ a0: UInt64 = 0, _ a1: UInt64 = 0
  ) -> (mismatch: Int, rdi: UInt64) {
    var after = [UInt64](repeating: 0, count: words)
    pattern.withUnsafeBufferPointer { before in
      after.withUnsafeMutableBufferPointer { out in
        _ = user_syscall_vectors(
          number.rawValue, a0, a1, 0, 0, 0, 0, before.baseAddress!, out.baseAddress!)
      }
    }
    after[32] &= 0xFFFF_FFFF
    return (after[0..<33].elementsEqual(pattern) ? 0 : 1, after[33])
  }

  static func nullCalls() -> Int {
    let mine = pattern(1)
    var mismatches = 0
    for _ in 0..<rounds { mismatches += callKeeping(mine, .processInfo).mismatch }
    return mismatches
  }

  static func yieldsBetweenThreads() -> Int? {
    otherDone = false
    otherMismatches = 0
    guard Threads.start(slot: otherThread, argument: 0, yieldingThread) > 0 else {
      print("vectors: cannot start a second thread")
      return nil
    }
    let mine = pattern(2)
    var mismatches = 0
    for _ in 0..<rounds { mismatches += callKeeping(mine, .yield).mismatch }
    while !otherDone { _ = System.call(.yield) }
    return mismatches + otherMismatches
  }

  static func callsBetweenThreads() -> Int? {
    otherDone = false
    otherMismatches = 0
    guard Capabilities.createEndpoint(endpoint) == 0,
      Threads.start(slot: otherThread + 1, argument: endpoint, servingThread) > 0
    else {
      print("vectors: cannot start a server thread")
      return nil
    }
    let mine = pattern(4)
    var mismatches = 0
    for _ in 0..<rounds { mismatches += callKeeping(mine, .call, endpoint, 1).mismatch }
    _ = IPC.call(endpoint, Message(quit))
    while !otherDone { _ = System.call(.yield) }
    return mismatches + otherMismatches
  }
}

let yieldingThread: @convention(c) (UInt64) -> Void = { _ in
  let mine = Program.pattern(3)
  var mismatches = 0
  for _ in 0..<Program.rounds { mismatches += Program.callKeeping(mine, .yield).mismatch }
  Program.otherMismatches = mismatches
  Program.otherDone = true
}

/// Answers every call with its first word plus one, for good.
let echoingThread: @convention(c) (UInt64) -> Void = { endpoint in
  var request = IPC.receive(endpoint)
  while true {
    request = IPC.replyReceive(endpoint, Message(request.message.words.0 &+ 1))
  }
}

/// Answers calls with its own pattern in the registers until told to quit.
let servingThread: @convention(c) (UInt64) -> Void = { endpoint in
  let mine = Program.pattern(5)
  var mismatches = 0
  // Each replyReceive answers one call and takes the next one's first word.
  var word = IPC.receive(endpoint).message.words.0
  while word != Program.quit {
    let (mismatch, next) = Program.callKeeping(mine, .replyReceive, endpoint)
    mismatches += mismatch
    word = next
  }
  IPC.reply(Message(Program.quit))
  Program.otherMismatches = mismatches
  Program.otherDone = true
}
