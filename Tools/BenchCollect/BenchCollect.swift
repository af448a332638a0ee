/// The command line of the `make bench` results collector: `collect`
/// (transcripts to Tests/Bench/results.json, RESULTS.md and plot data), `check`
/// (the test suite's short bench pass) and `readme` (the README's generated
/// block). Thin: the work is in the BenchResults library, where it is tested.
import ArgumentParser
import BenchResults
import Foundation

@main
struct BenchCollect: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tessera-bench-collect",
    abstract: "Collect, check and publish the figures of make bench.",
    discussion: """
      Figure lines: 'LABEL: median M min m max x UNIT (N samples)', 'LABEL: value V UNIT (N samples)', \
      'LABEL: trace v1 v2 ...'. A figure printed twice counts from its last line (a rerun).
      """,
    subcommands: [Collect.self, Check.self, Readme.self]
  )
}

/// Prints every message of a BenchError to stderr and exits non-zero.
func fail(_ error: BenchError) -> ExitCode {
  for message in error.messages { FileHandle.standardError.write(Data((message + "\n").utf8)) }
  return ExitCode.failure
}

func groupList(_ text: String) -> [String] {
  text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

extension BenchCollect {
  struct Collect: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Read the scenario transcripts and write results.json, RESULTS.md and plots/*.dat.",
      discussion:
        "Nothing is written when any figure is missing or garbled; every problem is reported."
    )

    @Option(help: "The figure catalog (Tests/Bench/figures.json).")
    var catalog: String

    @Option(help: "The directory of <scenario>.log transcripts (build/scenarios).")
    var transcripts: String

    @Option(help: "The output directory (bench).")
    var out: String

    @Option(help: "Measure only these groups (comma-separated); the others are carried over.")
    var only: String?

    @Option(
      help: "Results to carry other groups over from (default: <out>/results.json if it exists).")
    var previous: String?

    func run() throws {
      do { try collect() } catch { throw fail(error) }
    }

    func collect() throws(BenchError) {
      let catalog = try Catalog.load(path: catalog)
      let groups = only.map(groupList)
      var previousResults: Results?
      if groups != nil,
        let path = previous ?? Collector.defaultPreviousPath(outputDirectory: out)
      {
        previousResults = try Results.load(path: path)
      }
      let collector = Collector(
        catalog: catalog, transcriptsDirectory: transcripts, only: groups,
        previous: previousResults)
      let files = try collector.outputFiles()
      try Collector.write(files, to: out)
      for file in files { print("wrote \(out)/\(file.path)") }
    }
  }

  struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract:
        "Check that one transcript holds every figure of some groups (the short bench pass).",
      discussion: "Prints one line a figure and closes with 'bench-check: P passed, F failed'."
    )

    @Option(help: "The figure catalog (Tests/Bench/figures.json).")
    var catalog: String

    @Option(help: "The transcript to check.")
    var transcript: String

    @Option(help: "The groups whose figures it must hold (comma-separated).")
    var groups: String

    func run() throws {
      let report: CheckReport
      do { report = try check() } catch { throw fail(error) }
      print(report.text, terminator: "")
      if report.failed > 0 { throw ExitCode.failure }
    }

    func check() throws(BenchError) -> CheckReport {
      let catalog = try Catalog.load(path: catalog)
      guard let parsed = Transcript.load(path: transcript) else {
        throw BenchError("no transcript \(transcript)")
      }
      return try ShortCheck.run(catalog: catalog, transcript: parsed, groups: groupList(groups))
    }
  }

  struct Readme: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Replace the README's generated block with RESULTS.md's table and plot list.",
      discussion: "The block lies between '\(ReadmeBlock.begin)' and '\(ReadmeBlock.end)'."
    )

    @Option(help: "The RESULTS.md to copy from (Tests/Bench/RESULTS.md).")
    var results: String

    @Option(help: "The README to update (README.md).")
    var readme: String

    func run() throws {
      do { try update() } catch { throw fail(error) }
    }

    func update() throws(BenchError) {
      guard let markdown = try? String(contentsOfFile: results, encoding: .utf8) else {
        throw BenchError("\(results): cannot read")
      }
      guard let text = try? String(contentsOfFile: readme, encoding: .utf8) else {
        throw BenchError("\(readme): cannot read")
      }
      let block = try ReadmeBlock.block(
        fromResults: markdown,
        linkPrefix: ReadmeBlock.linkPrefix(resultsPath: results, readmePath: readme),
        path: results)
      let updated = try ReadmeBlock.replace(in: text, with: block, path: readme)
      do {
        try Data(updated.utf8).write(to: URL(fileURLWithPath: readme), options: .atomic)
      } catch {
        throw BenchError("\(readme): cannot write: \(error.localizedDescription)")
      }
      print("updated the bench-results block of \(readme) from \(results)")
    }
  }
}
