import UserSystem

/// FWQ (fixed work quanta), the noise benchmark of the mOS and LWK papers:
/// the same small piece of work timed with rdtsc over and over. On a quiet
/// CPU every quantum takes the same time; timer ticks, other interrupts and
/// preemption show up as samples above the minimum. Argument:
/// "N [W [TAG [T]]]": N samples (default 100 000) of W loop iterations each
/// (default 1000); TAG names the run in the figure lines ("fwq TAG: ...");
/// T > 0 adds a trace of T points, each the largest of N/T consecutive
/// samples, so every noise event of the run shows. Under QEMU -icount
/// shift=0 a tick is one guest instruction, so a sample above the minimum
/// is work the kernel did in the middle of the quantum.
enum Program {
  static func main(argument: String) -> Int64 {
    let words = argument.split(separator: " ")
    var samples = 100_000
    var work = 1000
    if let first = words.first, let n = Int(first), n >= 10, n <= 200_000 { samples = n }
    if words.count > 1, let w = Int(words[1]), w >= 1, w <= 1_000_000 { work = w }
    let label = words.count > 2 ? "fwq \(words[2])" : "fwq"
    var tracePoints = 0
    if words.count > 3, let t = Int(words[3]), t >= 1 { tracePoints = Swift.min(t, samples) }

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
      "\(label): \(samples) samples of \(work) iterations, \(above) above 1.05 x min, check \(sink & 0xFF)"
    )
    Timing.report(
      "\(label): quantum of \(work) iterations",
      BenchmarkFigure(
        median: UInt64(sorted[samples / 2]), min: minimum, max: UInt64(sorted[samples - 1]),
        count: samples))
    Timing.reportValue(
      "\(label): fraction of samples above 1.05 x min", formatFraction(fraction),
      unit: "fraction", samples: samples)
    if tracePoints > 0 { trace(label, times, points: tracePoints) }
    // The last line: a background run on the LWK reports no exit of its own.
    print("\(label): done")
    return 0
  }

  /// `points` values, each the largest of its share of `times`, 16 to a line.
  static func trace(_ label: String, _ times: [UInt32], points: Int) {
    let block = times.count / points
    var line = ""
    for p in 0..<points {
      var largest: UInt32 = 0
      for t in times[(p * block)..<((p + 1) * block)] where t > largest { largest = t }
      line += " \(largest)"
      if p % 16 == 15 || p == points - 1 {
        print("\(label) samples: trace\(line)")
        line = ""
      }
    }
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
