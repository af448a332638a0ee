import Testing

@testable import TesseraCore

/// The figure lines every benchmark prints and `make bench`'s collector
/// reads (Tools/BenchResults parses exactly these shapes).
@Suite struct BenchmarkFigureTests {
  @Test func summarisesSamples() {
    let figure = BenchmarkFigure(samples: [9, 3, 5, 7, 4])
    #expect(figure == BenchmarkFigure(median: 5, min: 3, max: 9, count: 5))
    #expect(BenchmarkFigure(samples: [2, 1]).median == 2)
    #expect(BenchmarkFigure(samples: []) == BenchmarkFigure(median: 0, min: 0, max: 0, count: 0))
  }

  @Test func overheadNeverGoesBelowZero() {
    let figure = BenchmarkFigure(median: 10, min: 3, max: 20, count: 4).net(4)
    #expect(figure == BenchmarkFigure(median: 6, min: 0, max: 16, count: 4))
  }

  @Test func linesHaveTheCollectorsShape() {
    let figure = BenchmarkFigure(median: 147, min: 145, max: 160, count: 1000)
    #expect(
      figure.line("ipcbench: null system call round trip")
        == "ipcbench: null system call round trip: median 147 min 145 max 160 ticks (1000 samples)")
    #expect(figure.line("x", unit: "ms") == "x: median 147 min 145 max 160 ms (1000 samples)")
    #expect(
      BenchmarkFigure.valueLine("fwq lwk: fraction", "0.001090", unit: "fraction", samples: 10)
        == "fwq lwk: fraction: value 0.001090 fraction (10 samples)")
  }
}
