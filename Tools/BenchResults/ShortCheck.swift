/// `check`: the test suite's short bench pass. Every figure and trace of the
/// given groups is looked for in ONE transcript (whatever the catalog's
/// scenario says; the mode is still checked), one line each, closing with
/// `bench-check: P passed, F failed`. Entries marked `"short": false` are
/// not part of the short pass and are skipped.
import Foundation

public struct CheckReport: Equatable, Sendable {
  public var lines: [String]
  public var passed: Int
  public var failed: Int

  public var closingLine: String { "bench-check: \(passed) passed, \(failed) failed" }
  public var text: String { (lines + [closingLine]).joined(separator: "\n") + "\n" }
}

public enum ShortCheck {
  public static func run(catalog: Catalog, transcript: Transcript, groups: [String])
    throws(BenchError) -> CheckReport
  {
    try Collector.checkGroups(groups, in: catalog)
    let selected = Set(groups)
    var report = CheckReport(lines: [], passed: 0, failed: 0)
    func record(_ id: String, _ outcome: Result<String, BenchError>) {
      switch outcome {
      case .success(let summary):
        report.passed += 1
        report.lines.append("ok   \(id): \(summary)")
      case .failure(let error):
        report.failed += 1
        report.lines += error.messages.map { "FAIL \($0)" }
      }
    }
    for figure in catalog.figures where selected.contains(figure.group) {
      guard figure.isShort else {
        report.lines.append("skip \(figure.id): not in the short pass")
        continue
      }
      record(
        figure.id,
        Extraction.figure(figure, in: transcript, measured: "").map {
          "\(ResultsMarkdown.tesseraCell($0, generatedDate: "")), line \($0.line)"
            .replacingOccurrences(of: "**", with: "")
        })
    }
    for trace in catalog.traces where selected.contains(trace.group) {
      guard trace.isShort else {
        report.lines.append("skip \(trace.id): not in the short pass")
        continue
      }
      record(
        trace.id,
        Extraction.trace(trace, in: transcript, measured: "").map {
          "trace of \($0.values.count) values"
        })
    }
    return report
  }
}
