/// The collector on real transcripts of a `make bench` run (copied into
/// Fixtures/real) with the real catalog (Tests/Bench/figures.json): every
/// catalogued figure and trace is found, and cutting a real transcript short
/// or garbling one of its figure lines is refused by figure and line.
import Foundation
import Testing

@testable import BenchResults

@Suite struct RealTranscriptTests {
  /// Tests/Bench/figures.json, from this file's place in the repository.
  static let catalogPath = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Bench/figures.json").path

  let catalog = try! Catalog.load(path: RealTranscriptTests.catalogPath)

  func collector(_ directory: String) -> Collector {
    Collector(
      catalog: catalog, transcriptsDirectory: directory, only: nil, previous: nil,
      now: Fixtures.now)
  }

  func collect(_ directory: String) throws -> Results { try collector(directory).results() }

  @Test func everyCataloguedFigureIsInTheRealTranscripts() throws {
    let results = try collect(Fixtures.path("real"))
    #expect(results.figures.count == catalog.figures.count)
    #expect(results.traces.map(\.values.count) == [1000, 1000, 1000, 1000])
    let null = try #require(results.figure("ipc.null-syscall"))
    #expect(null.unit == "instructions" && null.samples == 1000 && null.mode == .icount)
    let boot = try #require(results.figure("boot.cpus-128.total"))
    #expect(boot.unit == "s" && boot.smp == 128 && boot.mode == .tcg)
  }

  /// A copy of the real transcripts with `edit` applied to one of them.
  func damaged(_ name: String, _ edit: (String) -> String) throws -> String {
    let directory = Fixtures.scratchDirectory()
    for file in try FileManager.default.contentsOfDirectory(atPath: Fixtures.path("real")) {
      var text = try String(contentsOfFile: Fixtures.path("real/" + file), encoding: .utf8)
      if file == name { text = edit(text) }
      try text.write(toFile: directory + "/" + file, atomically: true, encoding: .utf8)
    }
    return directory
  }

  func problems(_ directory: String) -> [String] {
    do {
      _ = try collector(directory).results()
      Issue.record("expected the collector to refuse")
      return []
    } catch {
      return error.messages
    }
  }

  @Test func aTruncatedRealTranscriptIsRefused() throws {
    let directory = try damaged("ipc-icount.log") { text in
      let line = "ipcbench: revoke of a 1000-descendant tree: median"
      let cut = text.range(of: line)!.upperBound
      return String(text[..<cut]) + " 3315"
    }
    let messages = problems(directory)
    // The cut line is garbled; the eight one-way figures printed after it are missing.
    #expect(messages.count == 9, "\(messages)")
    let garbled = messages.filter { $0.contains("is garbled") }
    #expect(garbled.count == 1 && garbled.first?.hasPrefix("figure ipc.revoke-1000: ") == true)
    let missing = messages.filter { $0.contains("truncated?") }
    #expect(missing.count == 8 && missing.allSatisfy { $0.hasPrefix("figure ipc.oneway-") })
  }

  @Test func aGarbledRealLineIsRefused() throws {
    let directory = try damaged("dtu-icount.log") { text in
      text.replacingOccurrences(
        of: "dtubench: 8-byte payload, one thread, send: median 56 min",
        with: "dtubench: 8-byte payload, one thread, send: median 56 mni")
    }
    let messages = problems(directory)
    #expect(messages.count == 1)
    #expect(messages.first?.hasPrefix("figure dtu.8-send: ") == true)
    #expect(messages.first?.contains("dtu-icount.log line ") == true)
  }
}
