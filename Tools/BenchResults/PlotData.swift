/// The gnuplot data files under `bench/plots/`: for each plot named in the
/// catalog a whitespace table (one row per x in catalog order, one column
/// per series in order of first appearance, `NaN` where a cell has no
/// figure), and for each trace an index/value table. A header comment names
/// the columns; the scripts in Tools/Plots read their titles from it.
import Foundation

public struct PlotFile: Equatable, Sendable {
  /// The file name, e.g. `path-length.dat` or `fwq.lwk.dat`.
  public var fileName: String
  public var text: String
}

public enum PlotData {
  /// Plots where each figure's peer is drawn too, as a series named after
  /// the peer's first word ("seL4", "Linux") at the figure's x.
  public static let peerSeriesPlots: Set<String> = ["path-length"]

  /// The prefix of the header line that names the columns (read by the
  /// gnuplot scripts).
  public static let columnsPrefix = "# columns: "

  /// Every plot the catalog names (figure plots, then trace plots), in
  /// catalog order: these are the PNGs Tools/plots.sh draws.
  public static func plotNames(_ catalog: Catalog) -> [String] {
    var seen: Set<String> = []
    let names = catalog.figures.compactMap(\.plot?.name) + catalog.traces.compactMap(\.plot)
    return names.filter { seen.insert($0).inserted }
  }

  /// One data file per figure plot. Figures without a result still give
  /// their row and column (all NaN), so a plot's shape does not depend on
  /// which groups were measured.
  public static func figurePlots(catalog: Catalog, results: Results) -> [PlotFile] {
    var order: [String] = []
    var tables: [String: Table] = [:]
    for figure in catalog.figures {
      guard let plot = figure.plot else { continue }
      if tables[plot.name] == nil {
        order.append(plot.name)
        tables[plot.name] = Table()
      }
      tables[plot.name]!.set(plot.x, plot.series, results.figure(figure.id)?.median)
      if peerSeriesPlots.contains(plot.name), let peer = figure.peer {
        let series = String(peer.name.split(separator: " ").first ?? Substring(peer.name))
        tables[plot.name]!.set(plot.x, series, peer.value, keepExisting: true)
      }
    }
    return order.map { name in
      PlotFile(fileName: name + ".dat", text: tables[name]!.render(name: name))
    }
  }

  /// A trace as `index value` rows (index from 0).
  public static func traceFile(_ trace: TraceResult) -> PlotFile {
    var text = "# \(trace.id): \(trace.title) (\(trace.transcript))\n"
    text += columnsPrefix + "index value\n"
    for (index, value) in trace.values.enumerated() { text += "\(index) \(value)\n" }
    return PlotFile(fileName: trace.id + ".dat", text: text)
  }

  private struct Table {
    var xs: [Catalog.PlotX] = []
    var series: [String] = []
    var cells: [Catalog.PlotX: [String: Double]] = [:]

    mutating func set(
      _ x: Catalog.PlotX, _ name: String, _ value: Double?, keepExisting: Bool = false
    ) {
      if cells[x] == nil {
        xs.append(x)
        cells[x] = [:]
      }
      if !series.contains(name) { series.append(name) }
      if keepExisting && cells[x]![name] != nil { return }
      if let value { cells[x]![name] = value }
    }

    func render(name: String) -> String {
      var text = "# \(name): one row per x, one column per series; NaN: not measured\n"
      text += PlotData.columnsPrefix + (["x"] + series).map(quoted).joined(separator: " ") + "\n"
      for x in xs {
        let xText: String
        switch x {
        case .text(let label): xText = quoted(label)
        case .number(let number): xText = NumberFormatting.plain(number)
        }
        let values = series.map { cells[x]![$0].map(NumberFormatting.plain) ?? "NaN" }
        text += ([xText] + values).joined(separator: " ") + "\n"
      }
      return text
    }

    /// Quoted for gnuplot when needed (strings with spaces; x labels always).
    private func quoted(_ text: String) -> String {
      "\"" + text.replacingOccurrences(of: "\"", with: "'") + "\""
    }
  }
}
