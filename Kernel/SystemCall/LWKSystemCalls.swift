/// System-call triage on the LWK instance: every call is counted, local
/// calls go on to the ordinary dispatcher, shipped ones (the triage table in
/// Core/Shipping/SystemCallTriage.swift) are copied in and shipped to the
/// service partition (Kernel/Instance/FunctionShipping.swift).
enum LWKSystemCalls {
  /// True when the call was shipped and answered here (RAX set).
  static func triage(_ frame: UnsafeMutablePointer<InterruptFrame>) -> Bool {
    let interrupts = FunctionShipping.countersLock.lock()
    let route = FunctionShipping.counters.record(rawNumber: frame.pointee.rax)
    FunctionShipping.countersLock.unlock(interrupts)
    guard route == .shipped, let number = SystemCallNumber(rawValue: frame.pointee.rax)
    else { return false }
    frame.pointee.rax = UInt64(bitPattern: shipped(number, frame))
    return true
  }

  static func shipped(_ number: SystemCallNumber, _ f: UnsafeMutablePointer<InterruptFrame>)
    -> Int64
  {
    switch number {
    case .consoleWrite:
      let length = f.pointee.rsi
      guard length <= SystemCallLimits.consoleWrite else {
        return SystemCallError.badLength.rawValue
      }
      let allowed = SystemCalls.consoleAllows(.write)
      guard allowed == 0 else { return allowed }
      var bytes: [UInt8] = []
      bytes.reserveCapacity(Int(length))
      if let error = SystemCalls.copyIn(
        address: f.pointee.rdi, length: length, into: { bytes.append($0) })
      {
        return error.rawValue
      }
      return bytes.withUnsafeBytes { buffer in
        FunctionShipping.ship(number, arguments: [length], data: ByteView(buffer))
      }
    default:
      // consoleRead and spawn: the service does not serve them for LWK
      // programs yet, and says so with its answer.
      return FunctionShipping.ship(
        number, arguments: [f.pointee.rdi, f.pointee.rsi], data: ByteView(base: nil, count: 0))
    }
  }
}
