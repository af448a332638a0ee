import UserSystem

/// System calls of the Tessera ABI (Kernel/Core/UserABI/SystemCall.swift).
enum System {
  @discardableResult
  static func call(_ number: SystemCallNumber, _ a0: UInt64 = 0, _ a1: UInt64 = 0, _ a2: UInt64 = 0)
    -> Int64
  {
    user_syscall(number.rawValue, a0, a1, a2, 0, 0, 0)
  }

  /// A raw call with any number and arguments (badcalls uses it).
  static func raw(_ number: UInt64, _ a: [UInt64]) -> Int64 {
    func arg(_ i: Int) -> UInt64 { i < a.count ? a[i] : 0 }
    return user_syscall(number, arg(0), arg(1), arg(2), arg(3), arg(4), arg(5))
  }

  static func exit(_ status: Int64) -> Never {
    call(.exit, UInt64(bitPattern: status))
    while true {}
  }

  @discardableResult
  static func write(_ bytes: UnsafeRawBufferPointer) -> Int64 {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
    return call(.consoleWrite, UInt64(UInt(bitPattern: base)), UInt64(bytes.count))
  }

  static var pid: Int64 { call(.processInfo) }

  /// The registers a call may return results in besides RAX: RDI, RSI,
  /// RDX, R10, R8, R9.
  typealias Results = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

  /// A call that returns more than RAX (inspect, receive, call, threadInfo).
  static func callWithResults(
    _ number: SystemCallNumber, _ a0: UInt64 = 0, _ a1: UInt64 = 0, _ a2: UInt64 = 0,
    _ a3: UInt64 = 0, _ a4: UInt64 = 0, _ a5: UInt64 = 0
  ) -> (Int64, Results) {
    var out: Results = (0, 0, 0, 0, 0, 0)
    let result = withUnsafeMutableBytes(of: &out) { buffer in
      user_syscall_out(
        number.rawValue, a0, a1, a2, a3, a4, a5,
        buffer.baseAddress!.assumingMemoryBound(to: UInt64.self))
    }
    return (result, out)
  }
}

/// The pseudo-random numbers of the test programs (xorshift64): the same
/// sequence on every run, so a failing run can be repeated.
struct XorShift {
  var state: UInt64

  init(seed: UInt64) { state = seed == 0 ? 1 : seed }

  mutating func next() -> UInt64 {
    state ^= state << 13
    state ^= state >> 7
    state ^= state << 17
    return state
  }
}
