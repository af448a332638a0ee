/// `Tests/Bench/results.json`: every measured figure and trace with where it came
/// from (transcript, line, QEMU configuration, date), so that a figure in
/// the README can be traced to the run that produced it, and so that a
/// partial rerun (`--only`) can carry the other groups' figures over.
import Foundation

public struct Results: Codable, Equatable, Sendable {
  /// When the file was written, ISO 8601 UTC.
  public var generated: String
  public var command: String
  public var figures: [FigureResult]
  public var traces: [TraceResult]

  public init(
    generated: String, command: String = "make bench", figures: [FigureResult],
    traces: [TraceResult]
  ) {
    self.generated = generated
    self.command = command
    self.figures = figures
    self.traces = traces
  }

  public func figure(_ id: String) -> FigureResult? { figures.first { $0.id == id } }
  public func trace(_ id: String) -> TraceResult? { traces.first { $0.id == id } }

  /// Pretty-printed with sorted keys, so that reruns diff cleanly.
  public func encoded() -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    // Plain value types with finite numbers: encoding cannot fail.
    return (try? encoder.encode(self)) ?? Data()
  }

  public static func load(path: String) throws(BenchError) -> Results {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw BenchError("previous results \(path): no such file")
    }
    do {
      return try JSONDecoder().decode(Results.self, from: data)
    } catch {
      throw BenchError("previous results \(path): not a results.json: \(error)")
    }
  }
}

public struct FigureResult: Codable, Equatable, Sendable {
  public var id: String
  public var title: String
  public var group: String
  public var mode: TimingMode
  /// `instructions` or `cycles` for raw `ticks`, else the printed unit.
  public var unit: String
  public var median: Double
  public var min: Double
  public var max: Double
  public var samples: Int
  /// The header's arguments after the ISO: "SMP MEM NUMA extra...".
  public var qemu: String
  public var smp: Int
  public var memory: String
  public var numa: Int
  public var cpu: String
  /// The transcript path, as the collector was given it.
  public var transcript: String
  /// The 1-based line number of the figure line in the transcript.
  public var line: Int
  /// The day the transcript was written (ISO 8601 date, UTC).
  public var measured: String
  public var peer: Catalog.Peer?
  /// median / peer value.
  public var ratio: Double?

  public init(
    id: String, title: String, group: String, mode: TimingMode, unit: String, median: Double,
    min: Double, max: Double, samples: Int, qemu: String, smp: Int, memory: String, numa: Int,
    cpu: String, transcript: String, line: Int, measured: String, peer: Catalog.Peer? = nil,
    ratio: Double? = nil
  ) {
    self.id = id
    self.title = title
    self.group = group
    self.mode = mode
    self.unit = unit
    self.median = median
    self.min = min
    self.max = max
    self.samples = samples
    self.qemu = qemu
    self.smp = smp
    self.memory = memory
    self.numa = numa
    self.cpu = cpu
    self.transcript = transcript
    self.line = line
    self.measured = measured
    self.peer = peer
    self.ratio = ratio
  }

  /// The QEMU configuration again, for the RESULTS.md column.
  public var configuration: QEMUConfiguration {
    QEMUConfiguration(
      smp: smp, memory: memory, numa: numa,
      extra: qemu.split(separator: " ").dropFirst(3).map(String.init))
  }
}

public struct TraceResult: Codable, Equatable, Sendable {
  public var id: String
  public var title: String
  public var group: String
  public var mode: TimingMode
  public var values: [Int]
  public var transcript: String
  public var measured: String

  public init(
    id: String, title: String, group: String, mode: TimingMode, values: [Int], transcript: String,
    measured: String
  ) {
    self.id = id
    self.title = title
    self.group = group
    self.mode = mode
    self.values = values
    self.transcript = transcript
    self.measured = measured
  }
}
