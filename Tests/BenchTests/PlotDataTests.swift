/// The gnuplot data files: rows per x in catalog order, columns per series
/// in order of first appearance, peers as series in path-length, NaN for
/// missing cells, strings quoted; traces as index/value.
import Testing

@testable import BenchResults

@Suite struct PlotDataTests {
  let catalog = Fixtures.catalog

  func files(only: [String]? = nil) throws -> [String: String] {
    let results = try Collector(
      catalog: catalog, transcriptsDirectory: Fixtures.path("good"), only: only, now: Fixtures.now
    ).results()
    var files: [String: String] = [:]
    for file in PlotData.figurePlots(catalog: catalog, results: results) {
      files[file.fileName] = file.text
    }
    for trace in results.traces {
      files[PlotData.traceFile(trace).fileName] = PlotData.traceFile(trace).text
    }
    return files
  }

  @Test func pathLengthWithPeers() throws {
    #expect(
      try files()["path-length.dat"] == """
        # path-length: one row per x, one column per series; NaN: not measured
        # columns: "x" "Tessera" "Linux" "seL4"
        "null system call" 147 338 NaN
        "IPC call+reply" 1264 NaN 445
        "IPC, two CPUs" 2820 17649 NaN

        """)
  }

  @Test func numericXAndMissingCells() throws {
    // boot-cpus: x = vCPUs; the 8-vCPU firmware figure is not in the catalog.
    #expect(
      try files()["boot-cpus.dat"] == """
        # boot-cpus: one row per x, one column per series; NaN: not measured
        # columns: "x" "firmware+loader" "kernel"
        1 0.12 0.3
        4 0.125 0.315
        8 NaN 0.33

        """)
    // Not measured at all: the rows stay, every cell NaN; no peer series
    // outside path-length.
    #expect(try files(only: ["ipc"])["boot-cpus.dat"]?.contains("\n4 NaN NaN\n") == true)
  }

  @Test func traces() throws {
    let text = try #require(try files()["fwq.lwk.dat"])
    let lines = text.split(separator: "\n")
    #expect(
      lines[0] == "# fwq.lwk: FWQ samples on an LWK CPU (\(Fixtures.path("good/lwk-icount.log")))")
    #expect(lines[1] == "# columns: index value")
    #expect(
      lines[2...] == [
        "0 11015", "1 11015", "2 11016", "3 11524", "4 11015", "5 11015", "6 11015", "7 11015",
      ])
  }

  @Test func plotNames() {
    #expect(PlotData.plotNames(catalog) == ["path-length", "boot-cpus", "dtu-cost", "fwq-trace"])
  }
}
