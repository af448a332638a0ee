/// results.json: the schema's keys as documented, sorted and pretty, optional
/// fields left out when absent, and a lossless round trip.
import Foundation
import Testing

@testable import BenchResults

@Suite struct ResultsTests {
  let results = try! Collector(
    catalog: Fixtures.catalog, transcriptsDirectory: Fixtures.path("good"), now: Fixtures.now
  ).results()

  @Test func roundTrip() throws {
    let decoded = try JSONDecoder().decode(Results.self, from: results.encoded())
    #expect(decoded == results)
  }

  @Test func keysAndLayout() throws {
    let json = try #require(
      try JSONSerialization.jsonObject(with: results.encoded()) as? [String: Any])
    #expect(Set(json.keys) == ["generated", "command", "figures", "traces"])
    let figures = try #require(json["figures"] as? [[String: Any]])
    #expect(
      Set(figures[0].keys) == [
        "id", "title", "group", "mode", "unit", "median", "min", "max", "samples", "qemu", "smp",
        "memory", "numa", "cpu", "transcript", "line", "measured", "peer", "ratio",
      ])
    // No peer: neither "peer" nor "ratio".
    #expect(figures[3]["peer"] == nil && figures[3]["ratio"] == nil)
    let traces = try #require(json["traces"] as? [[String: Any]])
    #expect(
      Set(traces[0].keys) == ["id", "title", "group", "mode", "values", "transcript", "measured"])

    let text = String(decoding: results.encoded(), as: UTF8.self)
    #expect(text.contains("\n  \"command\" : \"make bench\",\n  \"figures\" : ["))
    #expect(text.contains("\"median\" : 147,"))  // integers stay integers
    #expect(text.contains("\"qemu\" : \"2 256M 0 -icount shift=0\","))
  }
}
