/// `check`, the short bench pass: every figure of the groups looked for in
/// one transcript, `"short": false` skipped, a closing count line.
import Testing

@testable import BenchResults

@Suite struct ShortCheckTests {
  let catalog = Fixtures.catalog

  func report(_ file: String, _ groups: [String]) throws -> CheckReport {
    let transcript = try #require(Transcript.load(path: Fixtures.path(file)))
    return try ShortCheck.run(catalog: catalog, transcript: transcript, groups: groups)
  }

  @Test func passing() throws {
    let report = try report("good/ipc-icount.log", ["ipc"])
    #expect(report.closingLine == "bench-check: 3 passed, 0 failed")
    #expect(
      report.lines == [
        "ok   ipc.null-syscall: 147 instructions (145–160, 1,000 samples), line 19",
        "ok   ipc.call-reply-spaces: 1,264 instructions (1,250–1,400, 1,000 samples), line 20",
        "ok   ipc.call-reply-cpus: 2,820 instructions (2,700–3,100, 1,000 samples), line 21",
        "skip ipc.revoke: not in the short pass",
      ])
    #expect(
      report.text.hasSuffix(
        "skip ipc.revoke: not in the short pass\nbench-check: 3 passed, 0 failed\n"))
  }

  @Test func failingFiguresAreCounted() throws {
    let report = try report("truncated/ipc-icount.log", ["ipc"])
    #expect(report.closingLine == "bench-check: 1 passed, 2 failed")
    #expect(report.lines[1].hasPrefix("FAIL figure ipc.call-reply-spaces: "))
  }

  @Test func theCatalogScenarioIsIgnoredButTheModeIsChecked() throws {
    // The ipc-tcg figure is catalogued in ipc-cycles; here it is looked for in
    // the icount transcript, whose mode is wrong for it.
    let report = try report("good/ipc-icount.log", ["ipc-tcg"])
    #expect(report.closingLine == "bench-check: 0 passed, 1 failed")
    #expect(report.lines[0].contains("was measured in icount mode"))
    let traces = try self.report("good/lwk-icount.log", ["lwk"])
    #expect(traces.closingLine == "bench-check: 3 passed, 0 failed")
    #expect(traces.lines.last == "ok   fwq.service: trace of 8 values")
  }

  @Test func unknownGroups() {
    #expect(throws: BenchError.self) { try report("good/ipc-icount.log", ["ipcc"]) }
  }
}
