/// The figure line grammar: the lines the benchmark programs print parse
/// exactly, and every malformed kind (cut, garbled, inconsistent) is refused.
import Testing

@testable import BenchResults

@Suite struct FigureLineTests {
  @Test func summaryWithIntegers() {
    let line = FigureLine.parse(
      "ipcbench: null system call round trip: median 147 min 145 max 160 ticks (1000 samples)")
    #expect(
      line
        == FigureLine(
          label: "ipcbench: null system call round trip",
          value: .summary(median: 147, min: 145, max: 160, unit: "ticks", samples: 1000)))
  }

  @Test func summaryWithDecimals() {
    let line = FigureLine.parse("boot: median 0.442 min 0.41 max 0.51 s (5 samples)")
    #expect(line?.value == .summary(median: 0.442, min: 0.41, max: 0.51, unit: "s", samples: 5))
  }

  @Test func labelsMayHoldColonsCommasParenthesesAndPlus() {
    let text =
      "dtubench: 8-byte payload (one thread), fetch+ack: median 151 min 150 max 190 ticks (1000 samples)"
    #expect(FigureLine.parse(text)?.label == "dtubench: 8-byte payload (one thread), fetch+ack")
  }

  @Test func valueLines() {
    #expect(
      FigureLine.parse("fwq: noise: value 0.0011 fraction (100000 samples)")?.value
        == .value(0.0011, unit: "fraction", samples: 100000))
    #expect(
      FigureLine.parse("kernel image: value 1363567 bytes (1 sample)")?.value
        == .value(1_363_567, unit: "bytes", samples: 1))
  }

  @Test func traceLines() {
    #expect(
      FigureLine.parse("fwq trace, LWK CPU 3: trace 11015 11524 0")
        == FigureLine(label: "fwq trace, LWK CPU 3", value: .trace([11015, 11524, 0])))
  }

  @Test func equalMinMedianMaxIsFine() {
    #expect(FigureLine.parse("x: median 5 min 5 max 5 ticks (1 samples)") != nil)
  }

  @Test(arguments: [
    // cut mid-line
    "ipcbench: IPC call+reply: median 1264 min 12",
    "ipcbench: IPC call+reply: median 1264 min 1250 max 1400 ticks (1000 sam",
    "ipcbench: IPC call+reply: median",
    // inconsistent
    "x: median 147 min 150 max 160 ticks (1000 samples)",
    "x: median 170 min 150 max 160 ticks (1000 samples)",
    "x: median 147 min 145 max 160 ticks (0 samples)",
    "x: value 3 bytes (0 samples)",
    // not numbers
    "x: median 2,820 min 2700 max 3100 ticks (1000 samples)",
    "x: median abc min 1 max 2 ticks (3 samples)",
    "x: median -1 min -2 max 0 ticks (3 samples)",
    "x: median 1e3 min 1 max 2000 ticks (3 samples)",
    "x: median .5 min 0.1 max 1 s (3 samples)",
    "x: median 5. min 1 max 6 s (3 samples)",
    "x: median 5 min 1 max 6 ticks (3.5 samples)",
    "x: median 5 min 1 max 6 ticks (-3 samples)",
    // bad units and extra words
    "x: median 5 min 1 max 6 (3 samples)",
    "x: median 5 min 1 max 6 12 (3 samples)",
    "x: median 5 min 1 max 6 ticks (3 samples) extra",
    "x: median 5 min 1 max 6 ticks (3 runs)",
    "x: trace",
    "x: trace 1 2 -3",
    "x: trace 1 2.5",
    // no label
    ": median 5 min 1 max 6 ticks (3 samples)",
    "no figure here",
  ])
  func malformedLinesAreRefused(_ text: String) {
    #expect(FigureLine.parse(text) == nil)
  }

  @Test func inconsistenciesAreExplained() {
    #expect(
      FigureLine.inconsistency("x: median 147 min 150 max 160 ticks (9 samples)")
        == "min 150 > median 147")
    #expect(
      FigureLine.inconsistency("x: median 170 min 150 max 160 ticks (9 samples)")
        == "median 170 > max 160")
    #expect(FigureLine.inconsistency("x: median 1 min 1 max 1 ticks (0 samples)") == "0 samples")
    #expect(FigureLine.inconsistency("x: value 3 bytes (0 samples)") == "0 samples")
    #expect(FigureLine.inconsistency("x: median 1 min 1 max") == nil)
  }

  @Test func matchingALabel() {
    let label = "dtubench: 8-byte payload, one thread: send"
    #expect(
      Extraction.match(label + ": median 55 min 55 max 61 ticks (1000 samples)", label: label)
        != .unrelated)
    // A longer label that starts with this one is another figure.
    #expect(
      Extraction.match(label + ": warm: median 31 min 30 max 33 ticks (3 samples)", label: label)
        == .unrelated)
    #expect(
      Extraction.match(
        label + ", batched: median 30 min 30 max 30 ticks (32 samples)", label: label)
        == .unrelated)
    // Cut after the label: this figure, garbled.
    #expect(Extraction.match(label + ": median 55 min", label: label) == .garbled)
    #expect(Extraction.match(label + ":", label: label) == .garbled)
  }
}
