/// The collector on fixture transcripts: a good set gives the right figures
/// (the rerun's last line, units by mode, several `# qemu:` headers, value
/// lines, traces), and truncated, garbled, mis-moded or missing transcripts
/// are refused with every problem named by figure, path and line.
import Foundation
import Testing

@testable import BenchResults

@Suite struct CollectorTests {
  let catalog = Fixtures.catalog

  func collector(_ set: String, only: [String]? = nil, previous: Results? = nil) -> Collector {
    Collector(
      catalog: catalog, transcriptsDirectory: Fixtures.path(set), only: only, previous: previous,
      now: Fixtures.now)
  }

  func problems(_ collector: Collector) -> [String] {
    do {
      _ = try collector.results()
      Issue.record("expected the collector to refuse")
      return []
    } catch {
      return error.messages
    }
  }

  @Test func goodSet() throws {
    let results = try collector("good").results()
    #expect(results.generated == "2026-12-01T10:00:00Z")
    #expect(results.command == "make bench")
    #expect(results.figures.map(\.id) == catalog.figures.map(\.id))
    #expect(results.traces.map(\.id) == ["fwq.lwk", "fwq.service"])

    let path = Fixtures.path("good/ipc-icount.log")
    let null = try #require(results.figure("ipc.null-syscall"))
    #expect(
      null
        == FigureResult(
          id: "ipc.null-syscall", title: "null system call round trip (processInfo)", group: "ipc",
          mode: .icount, unit: "instructions", median: 147, min: 145, max: 160, samples: 1000,
          qemu: "2 256M 0 -icount shift=0", smp: 2, memory: "256M", numa: 0, cpu: "qemu64",
          transcript: path, line: 19, measured: Collector.date(of: path),
          peer: Catalog.Peer(name: "Linux 6.1 getppid", value: 338), ratio: 147.0 / 338.0))

    let tcg = try #require(results.figure("ipc-tcg.null-syscall"))
    #expect(tcg.unit == "cycles")
    #expect(tcg.mode == .tcg)
    #expect(tcg.median == 1508)

    let revoke = try #require(results.figure("ipc.revoke"))
    #expect(revoke.samples == 9)
    #expect(revoke.peer == nil && revoke.ratio == nil)
  }

  @Test func bootTimeTranscriptWithSeveralHeaders() throws {
    let results = try collector("good", only: ["boot"]).results()
    let one = try #require(results.figure("boot.cpus-1.kernel"))
    #expect((one.smp, one.numa, one.unit, one.median) == (1, 0, "s", 0.30))
    #expect(one.ratio == 0.30 / 3.40)
    let four = try #require(results.figure("boot.cpus-4.firmware"))
    #expect((four.smp, four.min, four.max, four.line) == (4, 0.118, 0.2, 21))
    let eight = try #require(results.figure("boot.cpus-8.kernel"))
    #expect((eight.smp, eight.numa, eight.qemu) == (8, 2, "8 128M 2"))
    let image = try #require(results.figure("boot.image"))
    #expect(
      (image.median, image.min, image.max, image.samples) == (1_363_567, 1_363_567, 1_363_567, 1))
    #expect(image.unit == "bytes")
    #expect(results.figures.count == 6)
  }

  @Test func valueLinesAndTraces() throws {
    let results = try collector("good", only: ["lwk"]).results()
    let noise = try #require(results.figure("lwk.fwq-noise"))
    #expect((noise.median, noise.unit, noise.samples) == (0.0011, "fraction", 100000))
    #expect(
      results.trace("fwq.lwk")?.values == [11015, 11015, 11016, 11524, 11015, 11015, 11015, 11015])
    #expect(
      results.trace("fwq.service")?.values == [
        11015, 11015, 12210, 11015, 11015, 13001, 11015, 11015,
      ])
  }

  @Test func aLongerLabelWithTheSamePrefixIsAnotherFigure() throws {
    let results = try collector("good", only: ["dtu"]).results()
    #expect(results.figure("dtu.send-8")?.median == 55)
  }

  @Test func truncatedTranscript() {
    let path = Fixtures.path("truncated/ipc-icount.log")
    #expect(
      problems(collector("truncated", only: ["ipc"])) == [
        "figure ipc.call-reply-spaces: \(path) line 17 is garbled: 'ipcbench: IPC call+reply, same CPU, two address spaces: median 1264 min 12' (expected 'LABEL: median M min m max x UNIT (N samples)' or 'LABEL: value V UNIT (N samples)')",
        "figure ipc.call-reply-cpus: no line 'ipcbench: IPC call+reply, two CPUs (CPU 1): ...' in \(path) (the transcript ends at line 17: truncated?)",
        "figure ipc.revoke: no line 'ipcbench: revoke of a 1000-descendant tree: ...' in \(path) (the transcript ends at line 17: truncated?)",
      ])
  }

  @Test func garbledTranscript() {
    let path = Fixtures.path("garbled/ipc-icount.log")
    let messages = problems(collector("garbled", only: ["ipc"]))
    let expected: [(String, Int)] = [
      ("ipc.null-syscall", 15), ("ipc.call-reply-spaces", 16), ("ipc.call-reply-cpus", 17),
      ("ipc.revoke", 18),
    ]
    #expect(messages.count == expected.count)
    for ((id, line), message) in zip(expected, messages) {
      #expect(message.hasPrefix("figure \(id): \(path) line \(line) is garbled: 'ipcbench: "))
    }
    #expect(messages[0].hasSuffix("(N samples)'; here min 150 > median 147)"))
    #expect(messages[1].hasSuffix("(N samples)'; here 0 samples)"))
    #expect(messages[2].hasSuffix("(N samples)')"))
  }

  @Test func modeMismatch() {
    let path = Fixtures.path("tcg-for-icount/ipc-icount.log")
    let messages = problems(collector("tcg-for-icount", only: ["ipc"]))
    #expect(messages.count == 4)
    #expect(
      messages.first
        == "figure ipc.null-syscall: \(path) line 19 was measured in tcg mode (the '# qemu:' header at line 2: '2 256M 0'), but the catalog wants icount"
    )
  }

  @Test func noHeaderAboveTheLine() {
    let transcript = Transcript(
      path: "t.log",
      text: "ipcbench: null system call round trip: median 1 min 1 max 1 ticks (1 samples)\n")
    let result = Extraction.figure(catalog.figures[0], in: transcript, measured: "")
    #expect(
      throws: BenchError(
        "figure ipc.null-syscall: t.log line 1 has no '# qemu:' header above it, so its mode is unknown"
      )
    ) { try result.get() }
  }

  @Test func missingTranscripts() {
    let directory = Fixtures.path("truncated")
    let messages = problems(collector("truncated", only: ["boot"]))
    #expect(messages.count == 6)
    #expect(messages.first == "figure boot.image: no transcript \(directory)/boot-time.log")
  }

  @Test func unknownGroupListsTheKnownOnes() {
    #expect(
      problems(collector("good", only: ["ipc", "nope"])) == [
        "unknown group 'nope'; the catalog's groups are ipc, ipc-tcg, boot, lwk, dtu"
      ])
  }

  @Test func onlyCarriesOtherGroupsOverFromThePreviousResults() throws {
    let old = FigureResult(
      id: "boot.image", title: "old title", group: "boot", mode: .tcg, unit: "bytes",
      median: 1_000_000, min: 1_000_000, max: 1_000_000, samples: 1, qemu: "1 128M 0", smp: 1,
      memory: "128M", numa: 0, cpu: "qemu64", transcript: "build/scenarios/boot-time.log",
      line: 20, measured: "2026-11-24")
    let oldTrace = TraceResult(
      id: "fwq.lwk", title: "t", group: "lwk", mode: .icount, values: [1, 2],
      transcript: "build/scenarios/lwk-icount.log", measured: "2026-11-24")
    let stale = FigureResult(
      id: "ipc.null-syscall", title: "", group: "ipc", mode: .icount, unit: "instructions",
      median: 999, min: 999, max: 999, samples: 1, qemu: "", smp: 1, memory: "", numa: 0, cpu: "",
      transcript: "", line: 1, measured: "2026-11-24")
    let previous = Results(
      generated: "2026-11-24T08:00:00Z", figures: [stale, old], traces: [oldTrace])
    // Round trip through JSON, as the command line does.
    let decoded = try JSONDecoder().decode(Results.self, from: previous.encoded())

    let results = try collector("good", only: ["ipc"], previous: decoded).results()
    #expect(
      results.figures.map(\.id) == [
        "ipc.null-syscall", "ipc.call-reply-spaces", "ipc.call-reply-cpus", "ipc.revoke",
        "boot.image",
      ])
    #expect(results.figure("ipc.null-syscall")?.median == 147)  // remeasured
    #expect(results.figure("boot.image") == old)  // carried over unchanged
    #expect(results.traces == [oldTrace])

    let markdown = ResultsMarkdown.render(catalog: catalog, results: results)
    #expect(markdown.contains("| **1,000,000** bytes (1 sample, measured 2026-11-24) |"))
    #expect(markdown.contains("| DTU send, 8 bytes | not measured | — | — | — |"))
  }

  @Test func outputFiles() throws {
    let files = try collector("good").outputFiles()
    #expect(
      files.map(\.path) == [
        "results.json", "RESULTS.md", "plots/path-length.dat", "plots/boot-cpus.dat",
        "plots/dtu-cost.dat", "plots/fwq.lwk.dat", "plots/fwq.service.dat",
      ])
    let directory = Fixtures.scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try Collector.write(files, to: directory)
    let written = try Results.load(path: directory + "/results.json")
    #expect(written == (try collector("good").results()))
  }
}
