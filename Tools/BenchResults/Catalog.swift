/// The catalog of benchmark figures (`Tests/Bench/figures.json`): for each
/// figure or trace, which transcript holds it, the exact label its line
/// starts with, the mode it must be measured in, its title, an optional peer
/// figure to compare with and where it is plotted. Loading validates every
/// entry and reports all problems at once, each naming the entry.
import Foundation

public struct Catalog: Equatable, Sendable {
  public var figures: [Figure]
  public var traces: [Trace]

  public init(figures: [Figure], traces: [Trace]) {
    self.figures = figures
    self.traces = traces
  }

  public struct Peer: Codable, Equatable, Sendable {
    public var name: String
    public var value: Double

    public init(name: String, value: Double) {
      self.name = name
      self.value = value
    }
  }

  /// A plot coordinate: an operation name or a number (vCPUs, bytes...).
  public enum PlotX: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    case text(String)
    case number(Double)

    public var description: String {
      switch self {
      case .text(let text): "'\(text)'"
      case .number(let number): NumberFormatting.plain(number)
      }
    }

    public init(from decoder: Decoder) throws {
      let container = try decoder.singleValueContainer()
      if let number = try? container.decode(Double.self) {
        self = .number(number)
      } else {
        self = .text(try container.decode(String.self))
      }
    }

    public func encode(to encoder: Encoder) throws {
      var container = encoder.singleValueContainer()
      switch self {
      case .text(let text): try container.encode(text)
      case .number(let number): try container.encode(number)
      }
    }
  }

  /// Where a figure's median goes: plot `name`, row `x`, column `series`.
  public struct Plot: Codable, Equatable, Sendable {
    public var name: String
    public var x: PlotX
    public var series: String

    public init(name: String, x: PlotX, series: String) {
      self.name = name
      self.x = x
      self.series = series
    }
  }

  public struct Figure: Codable, Equatable, Sendable {
    public var id: String
    public var group: String
    public var scenario: String
    public var mode: TimingMode
    /// The exact label: the text before `: median` / `: value`.
    public var line: String
    public var title: String
    public var peer: Peer?
    public var plot: Plot?
    /// Part of the test suite's short bench pass (`check`); default true.
    public var short: Bool?

    public init(
      id: String, group: String, scenario: String, mode: TimingMode, line: String, title: String,
      peer: Peer? = nil, plot: Plot? = nil, short: Bool? = nil
    ) {
      self.id = id
      self.group = group
      self.scenario = scenario
      self.mode = mode
      self.line = line
      self.title = title
      self.peer = peer
      self.plot = plot
      self.short = short
    }

    public var isShort: Bool { short ?? true }
  }

  public struct Trace: Codable, Equatable, Sendable {
    public var id: String
    public var group: String
    public var scenario: String
    public var mode: TimingMode
    /// The exact label: the text before `: trace`.
    public var line: String
    public var title: String
    /// The plot (gnuplot script) that draws this trace.
    public var plot: String?
    public var short: Bool?

    public init(
      id: String, group: String, scenario: String, mode: TimingMode, line: String, title: String,
      plot: String? = nil, short: Bool? = nil
    ) {
      self.id = id
      self.group = group
      self.scenario = scenario
      self.mode = mode
      self.line = line
      self.title = title
      self.plot = plot
      self.short = short
    }

    public var isShort: Bool { short ?? true }
  }

  /// Every group named by a figure or trace, in catalog order.
  public var groups: [String] {
    var seen: Set<String> = []
    return (figures.map(\.group) + traces.map(\.group)).filter { seen.insert($0).inserted }
  }

  /// Loads and validates a catalog file.
  public static func load(path: String) throws(BenchError) -> Catalog {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw BenchError("catalog \(path): no such file")
    }
    return try parse(data, path: path)
  }

  /// Decodes entry by entry (so a bad entry is named by its index and id),
  /// then validates; all problems are reported together.
  public static func parse(_ data: Data, path: String) throws(BenchError) -> Catalog {
    let root: [String: Any]
    do {
      guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw BenchError("catalog \(path): not a JSON object with 'figures' and 'traces'")
      }
      root = object
    } catch let error as BenchError {
      throw error
    } catch {
      throw BenchError("catalog \(path): not valid JSON: \(error.localizedDescription)")
    }
    var problems: [String] = []
    let figures: [Figure] = decodeEntries(root["figures"], kind: "figures", path: path, &problems)
    let traces: [Trace] = decodeEntries(root["traces"], kind: "traces", path: path, &problems)
    let catalog = Catalog(figures: figures, traces: traces)
    problems += catalog.validationProblems(path: path)
    if !problems.isEmpty { throw BenchError(problems) }
    return catalog
  }

  private static func decodeEntries<Entry: Decodable>(
    _ value: Any?, kind: String, path: String, _ problems: inout [String]
  ) -> [Entry] {
    guard let value else { return [] }
    guard let entries = value as? [Any] else {
      problems.append("catalog \(path): '\(kind)' is not an array")
      return []
    }
    var decoded: [Entry] = []
    for (index, entry) in entries.enumerated() {
      let id = (entry as? [String: Any])?["id"] as? String
      let name = "catalog \(path): \(kind)[\(index)]" + (id.map { " ('\($0)')" } ?? "")
      do {
        let data = try JSONSerialization.data(withJSONObject: entry, options: [.fragmentsAllowed])
        decoded.append(try JSONDecoder().decode(Entry.self, from: data))
      } catch let error as DecodingError {
        problems.append("\(name): \(describe(error))")
      } catch {
        problems.append("\(name): \(error.localizedDescription)")
      }
    }
    return decoded
  }

  private static func describe(_ error: DecodingError) -> String {
    func at(_ path: [CodingKey]) -> String {
      path.isEmpty
        ? ""
        : "'" + path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
          + "': "
    }
    switch error {
    case .keyNotFound(let key, let context):
      return "\(at(context.codingPath))missing '\(key.stringValue)'"
    case .typeMismatch(_, let context), .valueNotFound(_, let context):
      return "\(at(context.codingPath))\(context.debugDescription)"
    case .dataCorrupted(let context):
      return "\(at(context.codingPath))\(context.debugDescription)"
    @unknown default:
      return "\(error)"
    }
  }

  /// Empty fields, duplicate ids, and two figures drawn into the same plot cell.
  func validationProblems(path: String) -> [String] {
    var problems: [String] = []
    var seenIDs: Set<String> = []
    var plotCells: [String: String] = [:]
    func check(_ kind: String, _ id: String, _ fields: [(String, String)]) {
      let name = "catalog \(path): \(kind) '\(id)'"
      if id.trimmingCharacters(in: .whitespaces).isEmpty {
        problems.append("catalog \(path): a \(kind) has an empty id")
      } else if !seenIDs.insert(id).inserted {
        problems.append("\(name): duplicate id")
      }
      for (field, value) in fields where value.trimmingCharacters(in: .whitespaces).isEmpty {
        problems.append("\(name): empty '\(field)'")
      }
    }
    for figure in figures {
      var fields = [
        ("group", figure.group), ("scenario", figure.scenario), ("line", figure.line),
        ("title", figure.title),
      ]
      if let peer = figure.peer { fields.append(("peer.name", peer.name)) }
      if let plot = figure.plot {
        fields += [("plot.name", plot.name), ("plot.series", plot.series)]
        let cell = "\(plot.name) \(plot.x) \(plot.series)"
        if let other = plotCells[cell] {
          problems.append(
            "catalog \(path): figure '\(figure.id)': plot '\(plot.name)' series '\(plot.series)' at \(plot.x) is already figure '\(other)'"
          )
        } else {
          plotCells[cell] = figure.id
        }
      }
      check("figure", figure.id, fields)
    }
    for trace in traces {
      var fields = [
        ("group", trace.group), ("scenario", trace.scenario), ("line", trace.line),
        ("title", trace.title),
      ]
      if let plot = trace.plot { fields.append(("plot", plot)) }
      check("trace", trace.id, fields)
    }
    return problems
  }
}
