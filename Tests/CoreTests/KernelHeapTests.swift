import PropertyBased
import Testing

@testable import TesseraCore

/// An arena from the host allocator, page aligned like the kernel's.
final class Arena {
  let base: UnsafeMutableRawPointer
  let size: Int
  init(pages: Int) {
    size = pages * KernelHeap.pageSize
    base = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: KernelHeap.pageSize)
  }
  deinit { base.deallocate() }
}

/// The heap behind a reference, so `#expect` can call its mutating methods.
final class TestHeap {
  var heap = KernelHeap()
  func initialize(arena: UnsafeMutableRawPointer, size: Int) -> Bool {
    heap.initialize(arena: arena, size: size)
  }
  func allocate(size: Int, alignment: Int = 16) -> UnsafeMutableRawPointer? {
    heap.allocate(size: size, alignment: alignment)
  }
  /// nil when the free succeeded.
  func free(_ p: UnsafeMutableRawPointer) -> KernelHeap.FreeError? {
    if case .failure(let error) = heap.free(p) { return error }
    return nil
  }
  func blockSize(_ p: UnsafeRawPointer) -> Int? { heap.blockSize(p) }
  var statistics: KernelHeap.Statistics { heap.statistics }
}

@Suite struct KernelHeapTests {
  @Test func smallBlocksComeFromTheirSizeClassAndAreReused() throws {
    let arena = Arena(pages: 64)
    let heap = TestHeap()
    #expect(heap.initialize(arena: arena.base, size: arena.size))
    let a = try #require(heap.allocate(size: 24))
    let b = try #require(heap.allocate(size: 24))
    #expect(heap.blockSize(a) == 32)
    #expect(
      UInt(bitPattern: b) - UInt(bitPattern: a) == 32
        || UInt(bitPattern: a) - UInt(bitPattern: b) == 32)
    #expect(heap.statistics.bytesInUse == 64)
    #expect(heap.free(a) == nil)
    let c = try #require(heap.allocate(size: 20))
    #expect(c == a)
  }

  @Test func largeBlocksAreWholePages() throws {
    let arena = Arena(pages: 64)
    let heap = TestHeap()
    #expect(heap.initialize(arena: arena.base, size: arena.size))
    let free = heap.statistics.freePages
    let p = try #require(heap.allocate(size: 3 * 4096 + 1))
    #expect(UInt(bitPattern: p) % 4096 == 0)
    #expect(heap.blockSize(p) == 4 * 4096)
    #expect(heap.statistics.freePages == free - 4)
    #expect(heap.free(p) == nil)
    #expect(heap.statistics.freePages == free)
  }

  @Test func alignmentIsHonoured() throws {
    let arena = Arena(pages: 64)
    let heap = TestHeap()
    #expect(heap.initialize(arena: arena.base, size: arena.size))
    for shift in 0...12 {
      let alignment = 1 << shift
      let p = try #require(heap.allocate(size: 8, alignment: alignment))
      #expect(UInt(bitPattern: p) % UInt(alignment) == 0)
    }
    #expect(heap.allocate(size: 8, alignment: 8192) == nil)
    #expect(heap.allocate(size: 8, alignment: 3) == nil)
  }

  @Test func badFreesAreRefusedAndChangeNothing() throws {
    let arena = Arena(pages: 64)
    let heap = TestHeap()
    #expect(heap.initialize(arena: arena.base, size: arena.size))
    let small = try #require(heap.allocate(size: 100))
    let large = try #require(heap.allocate(size: 10_000))
    let before = heap.statistics
    let outside = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 16)
    defer { outside.deallocate() }
    #expect(heap.free(outside) == .outsideHeap(UInt(bitPattern: outside)))
    #expect(heap.free(small + 8) == .misaligned(UInt(bitPattern: small + 8)))
    #expect(heap.free(large + 4096) == .notAllocated(UInt(bitPattern: large + 4096)))
    #expect(heap.free(large + 16) == .misaligned(UInt(bitPattern: large + 16)))
    #expect(heap.statistics == before)
    #expect(heap.free(large) == nil)
    #expect(heap.free(large) == .notAllocated(UInt(bitPattern: large)))
  }

  @Test func exhaustionReturnsNil() {
    let arena = Arena(pages: 16)
    let heap = TestHeap()
    #expect(heap.initialize(arena: arena.base, size: arena.size))
    var got = 0
    while heap.allocate(size: 4096) != nil { got += 1 }
    #expect(got == heap.statistics.totalPages)
    #expect(heap.allocate(size: 16) == nil)
  }

  @Test func tooSmallOrMisalignedArenaIsRefused() {
    let arena = Arena(pages: 4)
    let heap = TestHeap()
    #expect(!heap.initialize(arena: arena.base + 16, size: arena.size - 16))
    #expect(!heap.initialize(arena: arena.base, size: 4096))
    #expect(heap.allocate(size: 16) == nil)
  }

  /// Random allocate/free sequences against a model of live blocks: blocks
  /// never overlap, stay inside the arena, keep their alignment and their
  /// contents, and the statistics always add up.
  @Test func randomSequencesMatchTheModel() async {
    let step = Gen.int(in: 0...99).array(of: 1...300)
    await propertyCheck(count: 200, input: step, Gen.int(in: 0...Int.max)) { choices, seed in
      let arena = Arena(pages: 128)
      let heap = TestHeap()
      #expect(heap.initialize(arena: arena.base, size: arena.size))
      var live: [(pointer: UnsafeMutableRawPointer, size: Int, tag: UInt8)] = []
      var rng = UInt64(truncatingIfNeeded: seed)
      func next() -> Int {
        rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int(truncatingIfNeeded: rng >> 33)
      }
      for choice in choices {
        if choice < 60 || live.isEmpty {
          let size = choice % 3 == 0 ? 1 + next() % 20000 : 1 + next() % 2048
          let alignment = 1 << (next() % 13)
          guard let p = heap.allocate(size: size, alignment: alignment) else { continue }
          #expect(UInt(bitPattern: p) % UInt(alignment) == 0)
          #expect(p >= arena.base && p + size <= arena.base + arena.size)
          let tag = UInt8(truncatingIfNeeded: live.count &+ choice)
          p.initializeMemory(as: UInt8.self, repeating: tag, count: size)
          live.append((p, size, tag))
        } else {
          let victim = live.remove(at: next() % live.count)
          let bytes = UnsafeRawBufferPointer(start: victim.pointer, count: victim.size)
          #expect(bytes.allSatisfy { $0 == victim.tag })
          #expect(heap.free(victim.pointer) == nil)
        }
        #expect(heap.statistics.allocations == live.count)
      }
      let sorted = live.sorted { $0.pointer < $1.pointer }
      for (a, b) in zip(sorted, sorted.dropFirst()) {
        #expect(a.pointer + a.size <= b.pointer)
      }
      for block in live { #expect(heap.free(block.pointer) == nil) }
      #expect(heap.statistics.allocations == 0)
      #expect(heap.statistics.bytesInUse == 0)
      #expect(heap.statistics.largePages == 0)
    }
  }
}

@Suite struct FormatTests {
  @Test func hexIsZeroPadded() {
    #expect(hex(0x1234) == "0x0000000000001234")
    #expect(hex(0xff, digits: 4) == "0x00ff")
    #expect(hex(UInt64.max) == "0xffffffffffffffff")
  }

  @Test func sizesUseTheLargestExactUnit() {
    #expect(formatSize(0) == "0 B")
    #expect(formatSize(1023) == "1023 B")
    #expect(formatSize(4096) == "4 KiB")
    #expect(formatSize(639 * 1024) == "639 KiB")
    #expect(formatSize(0x7EE0000) == "126.8 MiB")
    #expect(formatSize(12 << 30) == "12 GiB")
  }

  @Test func thousandthsHaveThreePlaces() {
    #expect(formatThousandths(0) == "0.000")
    #expect(formatThousandths(7) == "0.007")
    #expect(formatThousandths(12_345) == "12.345")
    #expect(formatThousandths(1_000_000) == "1000.000")
  }
}

@Suite struct KernelHeapGrowthTests {
  /// When the first arena is full the heap takes a new one from its source,
  /// large enough for the request, and frees find the right arena.
  @Test func growsFromItsSourceAndFreesAcrossArenas() throws {
    let first = Arena(pages: 8)
    var grown: [Arena] = []
    let heap = TestHeap()
    #expect(heap.initialize(arena: first.base, size: first.size))
    heap.heap.grow = { bytes in
      let arena = Arena(pages: (bytes + 4095) / 4096)
      grown.append(arena)
      return (arena.base, arena.size)
    }
    var blocks: [UnsafeMutableRawPointer] = []
    for _ in 0..<40 {
      let block = try #require(heap.allocate(size: 3000))
      blocks.append(block)
    }
    let big = try #require(heap.allocate(size: 5 << 20))
    #expect(grown.count >= 2)
    #expect(grown.contains { $0.base <= big && big + (5 << 20) <= $0.base + $0.size })
    #expect(heap.statistics.arenas == 1 + grown.count)
    for block in blocks + [big] {
      #expect(heap.free(block) == nil)
    }
    #expect(heap.statistics.allocations == 0)
  }

  @Test func withoutASourceExhaustionIsNil() {
    let first = Arena(pages: 8)
    let heap = TestHeap()
    #expect(heap.initialize(arena: first.base, size: first.size))
    #expect(heap.allocate(size: 1 << 20) == nil)
  }
}
