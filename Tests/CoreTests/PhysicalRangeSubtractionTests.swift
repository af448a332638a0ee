import PropertyBased
import Testing

@testable import TesseraCore

/// `PhysicalRange.subtracting`, which gives the service instance's direct
/// map (all memory but the LWK partition's), and `coalesced`, which counts a
/// program's physical runs: checked against a model that keeps one flag per
/// unit.
struct PhysicalRangeSubtractionTests {
  @Test func coalescingMergesTouchingAndOverlappingRanges() {
    let merged = PhysicalRange.coalesced([
      PhysicalRange(base: 30, end: 40), PhysicalRange(base: 0, end: 10),
      PhysicalRange(base: 10, end: 20), PhysicalRange(base: 35, end: 50),
      PhysicalRange(base: 60, end: 60),
    ])
    #expect(merged == [PhysicalRange(base: 0, end: 20), PhysicalRange(base: 30, end: 50)])
    #expect(PhysicalRange.coalesced([]).isEmpty)
  }

  @Test func coalescingMatchesAUnitModel() async {
    let range = zip(Gen.uint64(in: 0...64), Gen.uint64(in: 0...16))
    await propertyCheck(input: range.array(of: 0...8)) { pairs in
      let ranges = pairs.map { PhysicalRange(base: $0.0, length: $0.1) }
      let merged = PhysicalRange.coalesced(ranges)
      var expected = Set<UInt64>()
      for range in ranges { for unit in range.base..<range.end { expected.insert(unit) } }
      var covered = Set<UInt64>()
      for piece in merged {
        #expect(!piece.isEmpty)
        for unit in piece.base..<piece.end { #expect(covered.insert(unit).inserted) }
      }
      #expect(covered == expected)
      // Separate pieces neither touch nor overlap: no run could be merged more.
      #expect(zip(merged, merged.dropFirst()).allSatisfy { $0.end < $1.base })
    }
  }

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
