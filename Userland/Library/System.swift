import UserSystem

/// System calls of the Tessera ABI (Kernel/Core/SystemCall.swift).
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
}
