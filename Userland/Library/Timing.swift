import UserSystem

/// rdtsc timing for the benchmark programs: the median of N samples of a
/// body (under QEMU -icount shift=0 a tick is one guest instruction).
enum Timing {
  static func median(_ rounds: Int, _ body: () -> Void) -> UInt64 {
    var samples = [UInt64](repeating: 0, count: rounds)
    for i in 0..<rounds {
      let start = user_rdtsc()
      body()
      samples[i] = user_rdtsc() - start
    }
    samples.sort()
    return samples[rounds / 2]
  }

  /// A median with the timing overhead taken off.
  static func net(_ ticks: UInt64, overhead: UInt64) -> UInt64 {
    ticks > overhead ? ticks - overhead : 0
  }
}
