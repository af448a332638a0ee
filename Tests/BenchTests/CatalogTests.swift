/// The catalog: the fixture loads, and malformed catalogs are refused with
/// every problem named by its entry.
import Foundation
import Testing

@testable import BenchResults

@Suite struct CatalogTests {
  @Test func fixtureLoads() throws {
    let catalog = try Catalog.load(path: Fixtures.path("catalog.json"))
    #expect(catalog.figures.count == 13)
    #expect(catalog.traces.map(\.id) == ["fwq.lwk", "fwq.service"])
    #expect(catalog.groups == ["ipc", "ipc-tcg", "boot", "lwk", "dtu"])
    let first = catalog.figures[0]
    #expect(first.peer == Catalog.Peer(name: "Linux 6.1 getppid", value: 338))
    #expect(
      first.plot
        == Catalog.Plot(name: "path-length", x: .text("null system call"), series: "Tessera"))
    #expect(first.isShort)
    #expect(catalog.figures[3].isShort == false)
    #expect(catalog.figures[6].plot?.x == .number(1))
  }

  private func problems(_ json: String) -> [String] {
    do {
      _ = try Catalog.parse(Data(json.utf8), path: "c.json")
      return []
    } catch {
      return error.messages
    }
  }

  private let entry = #""group": "g", "scenario": "s", "mode": "icount", "title": "t""#

  @Test func badJSON() {
    let messages = problems("{ \"figures\": [ ")
    #expect(messages.count == 1)
    #expect(messages[0].hasPrefix("catalog c.json: not valid JSON"))
  }

  @Test func duplicateIDsAndEmptyLabelsAreAllReported() {
    let messages = problems(
      """
      { "figures": [
          { "id": "a", \(entry), "line": "x" },
          { "id": "a", \(entry), "line": "y" },
          { "id": "b", \(entry), "line": " " } ],
        "traces": [ { "id": "b", \(entry), "line": "z" } ] }
      """)
    #expect(
      messages == [
        "catalog c.json: figure 'a': duplicate id",
        "catalog c.json: figure 'b': empty 'line'",
        "catalog c.json: trace 'b': duplicate id",
      ])
  }

  @Test func missingFieldsAndBadModesNameTheEntry() {
    let messages = problems(
      """
      { "figures": [
          { "id": "a", "group": "g", "scenario": "s", "mode": "icount", "title": "t" },
          { "id": "b", "group": "g", "scenario": "s", "mode": "kvm", "title": "t", "line": "x" } ] }
      """)
    #expect(messages.count == 2)
    #expect(messages[0] == "catalog c.json: figures[0] ('a'): missing 'line'")
    #expect(messages[1].hasPrefix("catalog c.json: figures[1] ('b'): 'mode': "))
  }

  @Test func twoFiguresInOnePlotCell() {
    let plot = #""plot": { "name": "p", "x": 8, "series": "send" }"#
    let messages = problems(
      """
      { "figures": [
          { "id": "a", \(entry), "line": "x", \(plot) },
          { "id": "b", \(entry), "line": "y", \(plot) } ] }
      """)
    #expect(
      messages == ["catalog c.json: figure 'b': plot 'p' series 'send' at 8 is already figure 'a'"])
  }
}
