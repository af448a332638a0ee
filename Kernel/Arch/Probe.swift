import X86

/// Kernel accesses that may fault without stopping the CPU (Boot/probe.S):
/// `lwk poke` uses them to show that an instance's page tables do not map
/// the other partition's memory. A fault at a probing access resumes at its
/// fixup, and the fault is kept here for the caller to report.
enum Probe {
  struct Fault: Error {
    var vector: UInt64
    var errorCode: UInt64
    var address: UInt64
  }

  /// The last fault a probe took on this instance (probes run one at a time:
  /// they are debugging commands).
  nonisolated(unsafe) static var lastFault: Fault? = nil

  static func read(_ address: UInt64) -> Result<UInt64, Fault> {
    var value: UInt64 = 0
    lastFault = nil
    if x86_probe_read(address, &value) == 0 { return .success(value) }
    return .failure(lastFault ?? Fault(vector: 0, errorCode: 0, address: address))
  }

  static func write(_ address: UInt64, _ value: UInt64) -> Result<Void, Fault> {
    lastFault = nil
    if x86_probe_write(address, value) == 0 { return .success(()) }
    return .failure(lastFault ?? Fault(vector: 0, errorCode: 0, address: address))
  }

  /// Called for kernel-mode exceptions: true when the fault was a probe's
  /// and the frame now resumes at its fixup.
  static func recover(_ frame: UnsafeMutablePointer<InterruptFrame>) -> Bool {
    let fixup: UInt64
    switch frame.pointee.rip {
    case symbol_probe_read_access(): fixup = symbol_probe_read_fixup()
    case symbol_probe_write_access(): fixup = symbol_probe_write_fixup()
    default: return false
    }
    let address = frame.pointee.vector == 14 ? x86_read_cr2() : 0
    lastFault = Fault(
      vector: frame.pointee.vector, errorCode: frame.pointee.errorCode, address: address)
    frame.pointee.rip = fixup
    return true
  }
}
