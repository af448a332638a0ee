import PropertyBased
import Testing

@testable import TesseraCore

/// PageRunAllocator: runs of pages for receive rings, against a model that
/// keeps a set of taken pages.
struct PageRunAllocatorTests {
  @Test func firstFitWithAlignment() {
    var pages = PageRunAllocator(base: 0x40_0000, pages: 16)
    let r1 = pages.allocate(pages: 1)
    #expect(r1 == 0x40_0000)
    let r2 = pages.allocate(pages: 2, alignment: 4)
    #expect(r2 == 0x40_4000)
    let r3 = pages.allocate(pages: 3)
    #expect(r3 == 0x40_1000)
    #expect(pages.freePages == 10)
    let r4 = pages.allocate(pages: 11)
    #expect(r4 == nil)
    let r5 = pages.allocate(pages: 8, alignment: 8)
    #expect(r5 == 0x40_8000)
    #expect(pages.contains(0x40_8FFF) && !pages.contains(0x40_6000))
  }

  @Test func freeRefusesWhatWasNotHandedOut() {
    var pages = PageRunAllocator(base: 0x1000, pages: 8)
    let run = pages.allocate(pages: 2)!
    let r6 = pages.free(run, pages: 3)  // longer than the run
    #expect(!r6)
    let r7 = pages.free(run + 0x800, pages: 1)  // not a page boundary
    #expect(!r7)
    let r8 = pages.free(0, pages: 1)  // below the region
    #expect(!r8)
    let r9 = pages.free(0x1000 + 8 * 4096, pages: 1)  // beyond it
    #expect(!r9)
    let r10 = pages.free(run, pages: 2)
    #expect(r10)
    let r11 = pages.free(run, pages: 2)  // twice
    #expect(!r11)
    #expect(pages.freePages == 8)
  }

  @Test func randomAllocationsMatchAPageSetModel() async {
    let step = zip(Gen.bool(), Gen.int(in: 1...6), Gen.int(in: 0...2))
    await propertyCheck(count: 300, input: Gen.int(in: 1...40), step.array(of: 1...60)) {
      size, steps in
      var pages = PageRunAllocator(base: 0x10_0000, pages: size)
      var taken = Set<Int>()
      var runs: [(UInt64, Int)] = []
      for (allocate, count, alignmentShift) in steps {
        if allocate || runs.isEmpty {
          let alignment = 1 << alignmentShift
          let got = pages.allocate(pages: count, alignment: alignment)
          // The model's first fit: the lowest aligned start with `count` free pages.
          let expected = stride(from: 0, through: size - count, by: alignment).first { start in
            (start..<(start + count)).allSatisfy { !taken.contains($0) }
          }
          #expect(got.map { Int(($0 - 0x10_0000) / 4096) } == expected)
          if let got, let start = expected {
            for page in start..<(start + count) { taken.insert(page) }
            runs.append((got, count))
          }
        } else {
          let (address, length) = runs.remove(at: count % runs.count)
          let r12 = pages.free(address, pages: length)
          #expect(r12)
          let start = Int((address - 0x10_0000) / 4096)
          for page in start..<(start + length) { taken.remove(page) }
        }
        #expect(pages.freePages == size - taken.count)
        #expect((0..<size).allSatisfy { pages.isUsed($0) == taken.contains($0) })
      }
    }
  }
}
