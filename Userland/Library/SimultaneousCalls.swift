import UserSystem

/// One system call made from two threads on two CPUs at the same moment,
/// for the tests of revocations that must join one already running
/// (`dtuRevokeSenders`, `dtuRevokeExport`): the second thread waits,
/// spinning, for the go, so both enter the kernel together. Each result is
/// RAX, whether RDI said "joined", and how long the call took (rdtsc ticks).
enum SimultaneousCalls {
  typealias Outcome = (result: Int64, joined: Bool, ticks: UInt64)

  nonisolated(unsafe) static var number = SystemCallNumber.yield
  nonisolated(unsafe) static var argument: UInt64 = 0
  nonisolated(unsafe) static var ready = false
  nonisolated(unsafe) static var go = false
  nonisolated(unsafe) static var second: Outcome? = nil

  static func call() -> Outcome {
    let start = user_rdtsc()
    let (result, out) = System.callWithResults(number, argument)
    return (result, out.0 == 1, user_rdtsc() - start)
  }

  static let secondThread: @convention(c) (UInt64) -> Void = { _ in
    ready = true
    // The calls keep the compiler from reading the flag only once.
    while !go { System.call(.yield) }
    second = call()
  }

  /// Both outcomes, this thread's first; nil when this instance has no
  /// second CPU (or no thread could start there). The second thread's
  /// capability goes in `slot`.
  static func twice(_ number: SystemCallNumber, _ argument: UInt64, slot: UInt64) -> (
    Outcome, Outcome
  )? {
    self.number = number
    self.argument = argument
    guard Threads.startElsewhere(slot: slot, secondThread) else { return nil }
    while !ready { System.call(.yield) }
    go = true
    let first = call()
    while second == nil { System.call(.yield) }
    guard let second else { return nil }
    return (first, second)
  }
}

extension ChannelReceiver {
  /// Fetches and acks for `ticks` rdtsc ticks: how many messages came.
  mutating func arrivals(within ticks: UInt64) -> Int {
    let end = user_rdtsc() + ticks
    var count = 0
    while user_rdtsc() < end {
      if let message = fetch() {
        _ = try? ack(message)
        count += 1
      }
    }
    return count
  }
}
