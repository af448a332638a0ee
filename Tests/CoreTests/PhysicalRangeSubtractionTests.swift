import PropertyBased
import Testing

@testable import TesseraCore

/// `PhysicalRange.subtracting`, which gives the service instance's direct
/// map (all memory but the LWK partition's): checked against a model that
/// keeps one flag per page.
struct PhysicalRangeSubtractionTests {
  @Test func holesInTheMiddleAndAtTheEdges() {
    let whole = PhysicalRange(base: 0, end: 100)
    let pieces = whole.subtracting([
      PhysicalRange(base: 10, end: 20), PhysicalRange(base: 90, end: 200),
      PhysicalRange(base: 15, end: 30), PhysicalRange(base: 500, end: 600),
    ])
    #expect(pieces == [PhysicalRange(base: 0, end: 10), PhysicalRange(base: 30, end: 90)])
    #expect(whole.subtracting([]) == [whole])
    #expect(whole.subtracting([PhysicalRange(base: 0, end: 100)]).isEmpty)
  }

  @Test func matchesAPageModel() async {
    let hole = zip(Gen.uint64(in: 0...64), Gen.uint64(in: 0...16))
    await propertyCheck(
      input: Gen.uint64(in: 0...32), Gen.uint64(in: 0...64), hole.array(of: 0...6)
    ) { base, length, holes in
      let whole = PhysicalRange(base: base, length: length)
      let cut = holes.map { PhysicalRange(base: $0.0, length: $0.1) }
      let pieces = whole.subtracting(cut)
      var expected = Set<UInt64>()
      for unit in base..<(base + length) where !cut.contains(where: { $0.contains(unit) }) {
        expected.insert(unit)
      }
      var covered = Set<UInt64>()
      for piece in pieces {
        #expect(!piece.isEmpty)
        for unit in piece.base..<piece.end { #expect(covered.insert(unit).inserted) }
      }
      #expect(covered == expected)
      #expect(zip(pieces, pieces.dropFirst()).allSatisfy { $0.end <= $1.base })
    }
  }
}
