import X86

/// Time for a kernel without a wall clock: the TSC, calibrated once against
/// the PIT, and the local APIC timer's rate measured over the same window.
enum Clock {
  nonisolated(unsafe) static var tscKHz: UInt64 = 0
  /// Local APIC timer ticks per millisecond at divide-by-16.
  nonisolated(unsafe) static var apicTicksPerMillisecond: UInt64 = 0

  static let pitHz: UInt64 = 1_193_182

  /// Runs PIT channel 2 for `milliseconds` (gate on port 0x61, one-shot,
  /// polled) and measures the TSC and the APIC timer across it.
  static func calibrate(milliseconds: UInt64 = 10) {
    let count = pitHz * milliseconds / 1000
    let gate = x86_inb(0x61)
    x86_outb(0x61, (gate & 0xFC) | 0x01)  // gate on, speaker off
    x86_outb(0x43, 0xB0)  // channel 2, lobyte/hibyte, mode 0
    x86_outb(0x42, UInt8(count & 0xFF))
    x86_outb(0x42, UInt8(count >> 8))
    LocalAPIC.write(.timerDivide, 0x3)
    LocalAPIC.write(.timerVector, 1 << 16)
    LocalAPIC.write(.timerInitialCount, 0xFFFF_FFFF)
    let tscStart = x86_rdtsc()
    // Restart the count: toggling the gate reloads mode 0.
    x86_outb(0x61, (gate & 0xFC) | 0x00)
    x86_outb(0x61, (gate & 0xFC) | 0x01)
    var spins: UInt64 = 0
    while x86_inb(0x61) & 0x20 == 0 && spins < 100_000_000 {
      spins += 1
    }
    let tscEnd = x86_rdtsc()
    let apicLeft = LocalAPIC.read(.timerCurrentCount)
    LocalAPIC.write(.timerInitialCount, 0)
    x86_outb(0x61, gate)
    tscKHz = (tscEnd - tscStart) / milliseconds
    apicTicksPerMillisecond = UInt64(0xFFFF_FFFF - apicLeft) / milliseconds
  }

  static func cycles(microseconds: UInt64) -> UInt64 {
    (tscKHz == 0 ? 1_000_000 : tscKHz) * microseconds / 1000
  }

  /// Busy-waits at least `microseconds` (assuming 1 GHz if uncalibrated).
  static func delay(microseconds: UInt64) {
    let end = x86_rdtsc() + cycles(microseconds: microseconds)
    while x86_rdtsc() < end { x86_pause() }
  }
}
