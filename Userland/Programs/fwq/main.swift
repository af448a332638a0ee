import UserSystem

/// FWQ (fixed work quanta), the noise benchmark of the mOS and LWK papers:
/// the same small piece of work timed with rdtsc over and over. On a quiet
/// CPU every quantum takes the same time; timer ticks, other interrupts and
/// preemption show up as samples above the minimum. Argument: "N [W]", N
/// samples (default 100 000) of W loop iterations each (default 1000).
/// Under QEMU -icount shift=0 a tick is one guest instruction, so a sample
/// above the minimum is work the kernel did in the middle of the quantum.
enum Program {
  static func main(argument: String) -> Int64 {
    let words = argument.split(separator: " ")
    var samples = 100_000
    var work = 1000
    if let first = words.first, let n = Int(first), n >= 10, n <= 200_000 { samples = n }
    if words.count > 1, let w = Int(words[1]), w >= 1, w <= 1_000_000 { work = w }

    var times = [UInt32](repeating: 0, count: samples)
    var sink: UInt64 = 0x9E37_79B9_7F4A_7C15
    for _ in 0..<1000 { sink = quantum(sink, work) }  // warm up
    for i in 0..<samples {
      let start = user_rdtsc()
      sink = quantum(sink, work)
      times[i] = UInt32(truncatingIfNeeded: min(user_rdtsc() - start, UInt64(UInt32.max)))
    }
    var sorted = times
    sorted.sort()
    let minimum = UInt64(sorted[0])
    let limit = minimum + minimum / 20  // 1.05 x min
    var above = 0
    for t in times where UInt64(t) > limit { above += 1 }
    let fraction = Double(above) / Double(samples)
    print(
      "fwq: \(samples) samples of \(work) iterations: min \(minimum) median \(sorted[samples / 2]) max \(sorted[samples - 1]) ticks; \(above) above 1.05 x min (fraction \(formatFraction(fraction))); check \(sink & 0xFF)"
    )
    return 0
  }

  /// The fixed work: an xorshift chain the compiler cannot fold away.
  @inline(never)
  static func quantum(_ seed: UInt64, _ iterations: Int) -> UInt64 {
    var x = seed
    for _ in 0..<iterations {
      x ^= x << 13
      x ^= x >> 7
      x ^= x << 17
    }
    return x
  }

  /// Six decimals without Foundation.
  static func formatFraction(_ value: Double) -> String {
    let scaled = Int(value * 1_000_000 + 0.5)
    var digits = String(scaled % 1_000_000)
    while digits.count < 6 { digits = "0" + digits }
    return "\(scaled / 1_000_000).\(digits)"
  }
}
