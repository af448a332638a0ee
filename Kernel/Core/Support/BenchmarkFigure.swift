// One benchmark figure and the line it is printed as. The kernel's `bench`,
// `ipi` and `lwk ping` commands and the benchmark programs (which compile
// this file into their library) all print figures this way, and
// `make bench`'s collector (Tools/BenchResults) reads nothing else:
//
//     LABEL: median M min m max x UNIT (N samples)
//     LABEL: value V UNIT (N samples)
//
// Under QEMU -icount shift=0 a TSC tick is one guest instruction.

/// Median, min and max of N samples.
public struct BenchmarkFigure: Equatable, Sendable {
  public var median: UInt64
  public var min: UInt64
  public var max: UInt64
  public var count: Int

  public init(median: UInt64, min: UInt64, max: UInt64, count: Int) {
    self.median = median
    self.min = min
    self.max = max
    self.count = count
  }

  /// The figure of `samples` (the upper median for an even count; all zero
  /// when there are none).
  public init(samples: [UInt64]) {
    var sorted = samples
    sorted.sort()
    median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    min = sorted.first ?? 0
    max = sorted.last ?? 0
    count = sorted.count
  }

  /// The same with a timing overhead taken off every figure (never below 0).
  public func net(_ overhead: UInt64) -> BenchmarkFigure {
    func less(_ value: UInt64) -> UInt64 { value > overhead ? value - overhead : 0 }
    return BenchmarkFigure(median: less(median), min: less(min), max: less(max), count: count)
  }

  /// `label: median M min m max x UNIT (N samples)`.
  public func line(_ label: String, unit: String = "ticks") -> String {
    label + ": median " + String(median) + " min " + String(min) + " max " + String(max) + " "
      + unit + " (" + String(count) + " samples)"
  }

  /// `label: value V UNIT (N samples)`: a figure that is not a median of
  /// samples (a fraction, a mean over a batch, a single measurement).
  public static func valueLine(_ label: String, _ value: String, unit: String, samples: Int)
    -> String
  {
    label + ": value " + value + " " + unit + " (" + String(samples) + " samples)"
  }
}
