import UserSystem

/// rdtsc timing for the benchmark programs. Figures are printed with
/// `BenchmarkFigure` (Kernel/Core/Support), the format `make bench`'s
/// collector reads. Under QEMU -icount shift=0 a tick is one guest
/// instruction.
enum Timing {
  /// `rounds` samples of `body`.
  static func measure(_ rounds: Int, _ body: () -> Void) -> BenchmarkFigure {
    var samples = [UInt64](repeating: 0, count: rounds)
    for i in 0..<rounds {
      let start = user_rdtsc()
      body()
      samples[i] = user_rdtsc() - start
    }
    return BenchmarkFigure(samples: samples)
  }

  /// The median of `rounds` samples of `body`.
  static func median(_ rounds: Int, _ body: () -> Void) -> UInt64 {
    measure(rounds, body).median
  }

  /// A figure with the timing overhead taken off.
  static func net(_ ticks: UInt64, overhead: UInt64) -> UInt64 {
    ticks > overhead ? ticks - overhead : 0
  }

  /// Prints `label: median M min m max x UNIT (N samples)`.
  static func report(_ label: String, _ figure: BenchmarkFigure, unit: String = "ticks") {
    print(figure.line(label, unit: unit))
  }

  /// Prints `label: value V UNIT (N samples)`.
  static func reportValue(_ label: String, _ value: String, unit: String, samples: Int) {
    print(BenchmarkFigure.valueLine(label, value, unit: unit, samples: samples))
  }
}
