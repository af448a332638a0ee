/// `collect`: from the catalog and the scenario transcripts to
/// `results.json`, `RESULTS.md` and the plot data. Everything is checked
/// before anything is written: one bad figure and no file changes, with every
/// problem reported. With `--only`, the groups not rerun are carried over
/// unchanged from the previous results.json (with their own dates).
import Foundation

/// A file the collector writes, relative to the output directory.
public struct OutputFile: Equatable, Sendable {
  public var path: String
  public var contents: Data
}

public struct Collector: Sendable {
  public var catalog: Catalog
  /// Where `<scenario>.log` transcripts are, as given (used in messages).
  public var transcriptsDirectory: String
  /// Groups to measure; nil means every group.
  public var only: [String]?
  /// Where figures of other groups come from when `only` is set.
  public var previous: Results?
  public var now: Date

  public init(
    catalog: Catalog, transcriptsDirectory: String, only: [String]? = nil,
    previous: Results? = nil, now: Date = Date()
  ) {
    self.catalog = catalog
    self.transcriptsDirectory = transcriptsDirectory
    self.only = only
    self.previous = previous
    self.now = now
  }

  /// The default previous results: `<out>/results.json`, when it exists.
  public static func defaultPreviousPath(outputDirectory: String) -> String? {
    let path = joined(outputDirectory, "results.json")
    return FileManager.default.fileExists(atPath: path) ? path : nil
  }

  /// Checks `only` against the catalog's groups.
  public static func checkGroups(_ groups: [String], in catalog: Catalog) throws(BenchError) {
    let unknown = groups.filter { !catalog.groups.contains($0) }
    guard unknown.isEmpty else {
      throw BenchError(
        "unknown group\(unknown.count == 1 ? "" : "s") \(unknown.map { "'\($0)'" }.joined(separator: ", ")); the catalog's groups are \(catalog.groups.joined(separator: ", "))"
      )
    }
  }

  public func transcriptPath(_ scenario: String) -> String {
    Self.joined(transcriptsDirectory, scenario + ".log")
  }

  /// Parses every selected figure and trace and merges in the carried-over
  /// ones, in catalog order.
  public func results() throws(BenchError) -> Results {
    if let only { try Self.checkGroups(only, in: catalog) }
    let selected = Set(only ?? catalog.groups)
    var problems: [String] = []
    var transcripts: [String: Transcript?] = [:]
    func transcript(_ scenario: String, for name: String) -> Transcript? {
      let path = transcriptPath(scenario)
      if transcripts[path] == nil { transcripts[path] = .some(Transcript.load(path: path)) }
      guard let transcript = transcripts[path]! else {
        problems.append("\(name): no transcript \(path)")
        return nil
      }
      return transcript
    }

    var figures: [FigureResult] = []
    for figure in catalog.figures {
      guard selected.contains(figure.group) else {
        if let old = previous?.figure(figure.id) { figures.append(old) }
        continue
      }
      guard let transcript = transcript(figure.scenario, for: "figure \(figure.id)") else {
        continue
      }
      switch Extraction.figure(figure, in: transcript, measured: Self.date(of: transcript.path)) {
      case .success(let result): figures.append(result)
      case .failure(let error): problems += error.messages
      }
    }
    var traces: [TraceResult] = []
    for trace in catalog.traces {
      guard selected.contains(trace.group) else {
        if let old = previous?.trace(trace.id) { traces.append(old) }
        continue
      }
      guard let transcript = transcript(trace.scenario, for: "trace \(trace.id)") else { continue }
      switch Extraction.trace(trace, in: transcript, measured: Self.date(of: transcript.path)) {
      case .success(let result): traces.append(result)
      case .failure(let error): problems += error.messages
      }
    }
    if !problems.isEmpty { throw BenchError(problems) }
    return Results(generated: Self.timestamp(now), figures: figures, traces: traces)
  }

  /// Every file of a run: results.json, RESULTS.md, plots/*.dat.
  public func outputFiles() throws(BenchError) -> [OutputFile] {
    let results = try results()
    var files = [
      OutputFile(path: "results.json", contents: results.encoded() + Data("\n".utf8)),
      OutputFile(
        path: "RESULTS.md",
        contents: Data(ResultsMarkdown.render(catalog: catalog, results: results).utf8)),
    ]
    for plot in PlotData.figurePlots(catalog: catalog, results: results) {
      files.append(OutputFile(path: "plots/" + plot.fileName, contents: Data(plot.text.utf8)))
    }
    for trace in results.traces {
      let plot = PlotData.traceFile(trace)
      files.append(OutputFile(path: "plots/" + plot.fileName, contents: Data(plot.text.utf8)))
    }
    return files
  }

  /// Writes the files (creating directories), each atomically.
  public static func write(_ files: [OutputFile], to directory: String) throws(BenchError) {
    do {
      for file in files {
        let url = URL(fileURLWithPath: joined(directory, file.path))
        try FileManager.default.createDirectory(
          at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try file.contents.write(to: url, options: .atomic)
      }
    } catch {
      throw BenchError("cannot write to \(directory): \(error.localizedDescription)")
    }
  }

  /// ISO 8601 UTC, e.g. 2026-11-30T12:00:00Z.
  public static func timestamp(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: date)
  }

  /// The day a transcript was written (its modification time, UTC): the day
  /// the figure was measured, even when the collector runs later.
  public static func date(of path: String) -> String {
    let modified =
      (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    return String(timestamp(modified ?? Date()).prefix(10))
  }

  static func joined(_ directory: String, _ name: String) -> String {
    directory.isEmpty ? name : directory.hasSuffix("/") ? directory + name : directory + "/" + name
  }
}
