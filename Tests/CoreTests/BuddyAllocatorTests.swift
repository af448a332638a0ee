import PropertyBased
import Testing

@testable import TesseraCore

/// Free-list links kept in a dictionary keyed by physical address, standing in
/// for the kernel's direct map. It remembers which addresses were written, so
/// tests can check that the allocator only ever writes into free memory.
struct DictionaryLinkStorage: FrameLinkStorage {
  var stored: [UInt64: (previous: UInt64, next: UInt64)] = [:]
  var written: [UInt64] = []

  func links(at physical: UInt64) -> (previous: UInt64, next: UInt64) {
    // A poisoned value makes a read of never-written links visible.
    stored[physical] ?? (0xDEAD_0000, 0xDEAD_0000)
  }

  mutating func setLinks(at physical: UInt64, previous: UInt64, next: UInt64) {
    stored[physical] = (previous, next)
    written.append(physical)
  }
}

/// The allocator behind a reference, so `#expect` can call its mutating methods.
final class TestBuddy {
  var allocator: BuddyAllocator<DictionaryLinkStorage>

  init(_ ranges: [(UInt64, UInt64)]) {
    allocator = BuddyAllocator(
      ranges: ranges.map { PhysicalRange(base: $0.0, end: $0.1) }, storage: DictionaryLinkStorage())
  }

  func allocate(order: Int) -> UInt64? { allocator.allocate(order: order) }
  func allocate(frames: Int) -> UInt64? { allocator.allocate(frames: frames) }
  /// nil when the free succeeded.
  func free(_ address: UInt64) -> BuddyError? {
    if case .failure(let error) = allocator.free(address) { return error }
    return nil
  }
  func free(_ address: UInt64, frames: Int) -> BuddyError? {
    if case .failure(let error) = allocator.free(address, frames: frames) { return error }
    return nil
  }
  var statistics: BuddyStatistics { allocator.statistics }
  var freeBlocks: [Int] { allocator.freeBlocks }
  func violation() -> String? { allocator.consistencyViolation() }
}

/// Free block counts per order from a list of (order, count) pairs.
private func blocks(_ pairs: [(Int, Int)]) -> [Int] {
  var counts = [Int](repeating: 0, count: BuddyAllocator<DictionaryLinkStorage>.maxOrder + 1)
  for (order, count) in pairs { counts[order] = count }
  return counts
}

private let kiB: UInt64 = 1024
private let miB: UInt64 = 1024 * kiB
private let giB: UInt64 = 1024 * miB

@Suite struct BuddyAllocatorTests {
  @Test func oddRangesAreRoundedToFramesAndAllFree() {
    // Below 640 KiB with an unaligned end, and QEMU's usable RAM above 1 MiB.
    let buddy = TestBuddy([(0x9000, 0x9FC00), (0x100000, 0x7FE0000)])
    #expect(
      buddy.allocator.ranges == [
        PhysicalRange(base: 0x9000, end: 0x9F000), PhysicalRange(base: 0x100000, end: 0x7FE0000),
      ])
    #expect(buddy.statistics.totalFrames == 150 + 32480)
    #expect(buddy.statistics.freeFrames == buddy.statistics.totalFrames)
    // Maximal aligned blocks. Low: 0x9000 4K, 0xA000 8K, 0xC000 16K, 0x10000
    // 64K, 0x20000 128K, 0x40000 256K, 0x80000 64K, 0x90000 32K, 0x98000 16K,
    // 0x9C000 8K, 0x9E000 4K. High, growing up to 64 MiB: 1M 2M 4M 8M 16M 32M,
    // then shrinking to the end at 128 MiB - 128 KiB: 32M 16M 8M 4M 2M 1M 512K
    // 256K 128K.
    #expect(
      buddy.freeBlocks
        == blocks([
          (0, 2), (1, 2), (2, 2), (3, 1), (4, 2), (5, 2), (6, 2), (7, 1), (8, 2), (9, 2),
          (10, 2), (11, 2), (12, 2), (13, 2),
        ]))
    #expect(buddy.allocator.largestFreeOrder == 13)
    #expect(buddy.allocator.largestFreeBytes == 32 * miB)
    #expect(buddy.violation() == nil)
  }

  @Test func unsortedOverlappingAndTouchingRangesAreMerged() {
    let buddy = TestBuddy([
      (0x20_0000, 0x40_0000), (0x1000, 0x1000), (0, 0x10_0000), (0x8_0000, 0x20_0000),
      (0x50_0000, 0x40_0000),
    ])
    #expect(buddy.allocator.ranges == [PhysicalRange(base: 0, end: 0x40_0000)])
    #expect(buddy.freeBlocks == blocks([(10, 1)]))
    #expect(buddy.violation() == nil)
  }

  @Test func noUsableMemoryMeansNothingToAllocate() {
    let buddy = TestBuddy([(0x1001, 0x1FFF), (0x5000, 0x5000)])
    #expect(buddy.statistics.totalFrames == 0)
    #expect(buddy.allocate(order: 0) == nil)
    #expect(buddy.allocate(frames: 1) == nil)
    #expect(buddy.free(0x1000) == .notOwned(0x1000))
    #expect(buddy.allocator.largestFreeOrder == nil)
  }

  @Test func splittingAndCoalescing() throws {
    let buddy = TestBuddy([(0, 64 * kiB)])
    #expect(buddy.freeBlocks == blocks([(4, 1)]))
    let a = try #require(buddy.allocate(order: 0))
    #expect(a == 0)
    #expect(buddy.freeBlocks == blocks([(0, 1), (1, 1), (2, 1), (3, 1)]))
    let b = try #require(buddy.allocate(order: 0))
    #expect(b == 0x1000)
    let c = try #require(buddy.allocate(order: 2))
    #expect(c == 0x4000)
    #expect(buddy.freeBlocks == blocks([(1, 1), (3, 1)]))
    #expect(buddy.statistics.freeFrames == 16 - 6)
    #expect(buddy.free(a) == nil)
    #expect(buddy.freeBlocks == blocks([(0, 1), (1, 1), (3, 1)]))
    #expect(buddy.free(c) == nil)
    #expect(buddy.free(b) == nil)
    #expect(buddy.freeBlocks == blocks([(4, 1)]))
    #expect(buddy.statistics.freeFrames == 16)
    #expect(buddy.violation() == nil)
  }

  @Test func gigabyteBlocksOnATwoGigabyteRange() throws {
    let buddy = TestBuddy([(1 * giB, 3 * giB)])
    #expect(buddy.freeBlocks == blocks([(18, 2)]))
    let a = try #require(buddy.allocate(order: 18))
    let b = try #require(buddy.allocate(order: 18))
    #expect(a == 1 * giB && b == 2 * giB)
    #expect(buddy.allocate(order: 18) == nil)
    #expect(buddy.allocate(order: 0) == nil)
    #expect(buddy.free(b) == nil)
    #expect(buddy.free(a) == nil)
    // Order 18 is the largest: the two buddies stay separate.
    #expect(buddy.freeBlocks == blocks([(18, 2)]))
    // An unaligned 2 GiB range holds one aligned 1 GiB block.
    let shifted = TestBuddy([(256 * miB, 2 * giB + 256 * miB)])
    #expect(shifted.freeBlocks == blocks([(16, 2), (17, 1), (18, 1)]))
    #expect(shifted.allocate(order: 18) == 1 * giB)
    #expect(shifted.allocate(order: 18) == nil)
    #expect(shifted.violation() == nil)
  }

  @Test func exhaustionReturnsNilAndEverythingComesBack() {
    let buddy = TestBuddy([(0x3000, 0x1_1000), (0x20_0000, 0x20_5000)])
    let initial = buddy.freeBlocks
    var frames: [UInt64] = []
    while let frame = buddy.allocate(order: 0) { frames.append(frame) }
    #expect(frames.count == buddy.statistics.totalFrames)
    #expect(Set(frames).count == frames.count)
    #expect(buddy.statistics.freeFrames == 0)
    #expect(buddy.allocate(frames: 1) == nil)
    for frame in frames.reversed() { #expect(buddy.free(frame) == nil) }
    #expect(buddy.freeBlocks == initial)
    #expect(buddy.violation() == nil)
  }

  @Test func contiguousFramesKeepExactlyWhatWasAsked() throws {
    let buddy = TestBuddy([(0, 64 * kiB)])
    let a = try #require(buddy.allocate(frames: 5))
    #expect(a == 0)
    // 5 of 8 kept; the tail 5 (4 KiB) and 6-7 (8 KiB) went back, with 8-15.
    #expect(buddy.statistics.freeFrames == 11)
    #expect(buddy.freeBlocks == blocks([(0, 1), (1, 1), (3, 1)]))
    #expect(buddy.allocator.allocatedFrames(at: a) == 5)
    #expect(buddy.allocator.allocatedFrames(at: a + 0x4000) == nil)
    let before = buddy.statistics
    #expect(buddy.free(a + 0x4000) == .notBlockStart(a + 0x4000))
    #expect(buddy.free(a + 0x1000) == .notBlockStart(a + 0x1000))
    #expect(buddy.free(a, frames: 4) == .wrongFrameCount(a, allocated: 5, given: 4))
    #expect(buddy.free(a, frames: 8) == .wrongFrameCount(a, allocated: 5, given: 8))
    #expect(buddy.statistics == before)
    #expect(buddy.free(a, frames: 5) == nil)
    #expect(buddy.freeBlocks == blocks([(4, 1)]))
    // A plain free releases all the pieces too; powers of two are one block.
    let b = try #require(buddy.allocate(frames: 7))
    #expect(buddy.free(b) == nil)
    let c = try #require(buddy.allocate(frames: 4))
    #expect(buddy.allocator.allocatedFrames(at: c) == 4)
    #expect(buddy.free(c, frames: 4) == nil)
    #expect(buddy.freeBlocks == blocks([(4, 1)]))
    #expect(buddy.allocate(frames: 17) == nil)
    #expect(buddy.allocate(frames: 0) == nil)
    #expect(buddy.allocate(frames: -3) == nil)
    #expect(buddy.allocate(frames: (1 << 18) + 1) == nil)
    #expect(buddy.allocate(order: -1) == nil)
    #expect(buddy.allocate(order: 19) == nil)
    #expect(buddy.violation() == nil)
  }

  @Test func badFreesAreRefusedAndChangeNothing() throws {
    let buddy = TestBuddy([(0x10_0000, 0x20_0000), (0x40_0000, 0x50_0000)])
    let small = try #require(buddy.allocate(order: 0))
    let block = try #require(buddy.allocate(order: 2))
    let released = try #require(buddy.allocate(order: 1))
    #expect(buddy.free(released) == nil)
    let before = buddy.statistics
    let cases: [(UInt64, BuddyError)] = [
      (0, .notOwned(0)),  // below every range
      (0x30_0000, .notOwned(0x30_0000)),  // in the hole
      (0x50_0000, .notOwned(0x50_0000)),  // the end is exclusive
      (UInt64.max & ~0xFFF, .notOwned(UInt64.max & ~0xFFF)),
      (0x30_0010, .notOwned(0x30_0010)),  // unaligned and in the hole
      (small + 8, .misaligned(small + 8)),
      (block + 0x2000, .notBlockStart(block + 0x2000)),
      (released, .doubleFree(released)),  // freed and merged into a larger block
      (0x48_0000, .doubleFree(0x48_0000)),  // never allocated
    ]
    for (address, error) in cases {
      #expect(buddy.free(address) == error)
      #expect(buddy.free(address, frames: 1) == error)
      #expect(buddy.allocator.allocatedFrames(at: address) == nil)
    }
    #expect(buddy.free(block, frames: 1) == .wrongFrameCount(block, allocated: 4, given: 1))
    #expect(buddy.statistics == before)
    #expect(buddy.violation() == nil)
    #expect(buddy.free(small) == nil)
    #expect(buddy.free(small) == .doubleFree(small))
    #expect(buddy.free(block) == nil)
    #expect(
      BuddyError.wrongFrameCount(0x1000, allocated: 4, given: 1).description
        == "free of 1 frames at 0x0000000000001000 which has 4 frames allocated")
  }

  @Test func linksAreWrittenIntoTheFreeBlocksThemselves() throws {
    // The kernel's storage over a host buffer standing in for the direct map.
    let size = 64 * 1024
    let memory = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
    defer { memory.deallocate() }
    var allocator = BuddyAllocator(
      ranges: [PhysicalRange(base: 0, end: UInt64(size))],
      storage: DirectMapLinkStorage(base: memory))
    let a = allocator.allocate(order: 0) ?? 1
    #expect(a == 0)
    // The buddy of frame 0 is the free order-0 block at 0x1000: alone on its list.
    #expect(memory.load(fromByteOffset: 0x1000, as: UInt64.self) == UInt64.max)
    #expect(memory.load(fromByteOffset: 0x1008, as: UInt64.self) == UInt64.max)
    #expect(allocator.consistencyViolation() == nil)
    #expect((try? allocator.free(a).get()) != nil)
    #expect(allocator.freeBlocks[4] == 1)
  }

  @Test func metadataIsFourBitsPerFrame() {
    // 1 GiB = 262144 frames; 4 bits each would be 128 KiB.
    let perGiB = BuddyAllocator<DictionaryLinkStorage>.metadataBytes(for: [
      PhysicalRange(base: 0, end: giB)
    ])
    #expect(perGiB > 127 * 1024 && perGiB <= 128 * 1024)
    let buddy = TestBuddy([(0x1000, 3 * giB), (4 * giB, 64 * giB + giB)])
    #expect(buddy.allocator.metadataBytes <= 65 * 128 * 1024 + 64)
    #expect(buddy.statistics.freeFrames == buddy.statistics.totalFrames)
  }

  @Test func descriptionListsFreeBlocksPerOrder() throws {
    let buddy = TestBuddy([(0, 64 * kiB)])
    _ = try #require(buddy.allocate(order: 0))
    #expect(
      buddy.allocator.description == """
        64 KiB in 1 range, 60 KiB free (15 of 16 frames), largest free block 32 KiB (order 3)
        order  block     free blocks
        0      4 KiB     1
        1      8 KiB     1
        2      16 KiB    1
        3      32 KiB    1
        """)
  }
}

/// The model of the property test: which frames exist and which are allocated.
struct BuddyModel {
  let owned: Set<UInt64>
  var allocated: Set<UInt64> = []
  /// First frame → frame count of each live allocation.
  var live: [UInt64: Int] = [:]

  /// What freeing `address` should report (nil: it should succeed).
  func expectedError(freeing address: UInt64, frames: Int?) -> BuddyError? {
    let frame = address >> 12
    guard owned.contains(frame) else { return .notOwned(address) }
    guard address % 4096 == 0 else { return .misaligned(address) }
    if let count = live[frame] {
      if let frames, frames != count {
        return .wrongFrameCount(address, allocated: count, given: frames)
      }
      return nil
    }
    return allocated.contains(frame) ? .notBlockStart(address) : .doubleFree(address)
  }

  /// Whether some naturally aligned block of 2^order frames is entirely free.
  func hasFreeBlock(order: Int) -> Bool {
    let size = UInt64(1) << UInt64(order)
    var starts = Set<UInt64>()
    for frame in owned where !allocated.contains(frame) { starts.insert(frame & ~(size - 1)) }
    return starts.contains { start in
      (start..<(start + size)).allSatisfy { owned.contains($0) && !allocated.contains($0) }
    }
  }
}

@Suite struct BuddyAllocatorPropertyTests {
  /// Random ranges (gaps and lengths in frames, some touching, some byte
  /// misaligned, placed low or high in the address space) and random sequences
  /// of allocations and of valid and invalid frees, against a model of the
  /// allocated frames.
  @Test func randomSequencesMatchTheModel() async {
    let layout = Gen.int(in: 0...700).array(of: 2...8)
    let steps = Gen.int(in: 0...99).array(of: 1...250)
    await propertyCheck(count: 150, input: layout, steps, Gen.int(in: 0...Int.max)) {
      layout, steps, seed in
      #expect(Self.run(layout: layout, steps: steps, seed: UInt64(seed)) == nil)
    }
  }

  /// Runs one case; returns the first discrepancy.
  static func run(layout: [Int], steps: [Int], seed: UInt64) -> String? {
    var rng = ModelRandom(state: seed)
    func next(_ bound: Int) -> Int { Int(truncatingIfNeeded: rng.next() >> 33) % bound }
    // Ranges: pairs of (gap, length) in frames from a base low or high up.
    let origins: [UInt64] = [0, 0x9F, 0x3FFF1, (1 << 28) - 37]
    var frame = origins[next(origins.count)]
    var ranges: [PhysicalRange] = []
    var owned = Set<UInt64>()
    for pair in stride(from: 0, to: layout.count - 1, by: 2) {
      frame += UInt64(layout[pair] % 3 == 0 ? 0 : layout[pair])
      let length = UInt64(layout[pair + 1] % 600 + 1)
      for f in frame..<(frame + length) { owned.insert(f) }
      // Byte-misaligned ends round inwards to the same frames.
      let slack = frame == 0 ? 0 : UInt64(next(4096))
      let base = frame * 4096 - (slack == 0 ? 0 : 4096 - slack)
      let end = (frame + length) * 4096 + UInt64(next(4096))
      ranges.append(PhysicalRange(base: base, end: end))
      frame += length
    }
    ranges.shuffle(using: &rng)
    var allocator = BuddyAllocator(ranges: ranges, storage: DictionaryLinkStorage())
    guard allocator.totalFrames == owned.count else {
      return "total \(allocator.totalFrames) frames, expected \(owned.count)"
    }
    let initialBlocks = allocator.freeBlocks
    var model = BuddyModel(owned: owned)
    var released: [UInt64] = []
    let ownedList = owned.sorted()

    for (index, step) in steps.enumerated() {
      let writesBefore = allocator.storage.written.count
      let before = allocator.statistics
      if step < 50 {
        // Allocate: an order, or an exact frame count.
        let byOrder = step < 30
        let order = byOrder ? [0, 0, 0, 1, 1, 2, 3, 4, 6, 9][next(10)] : 0
        let frames = byOrder ? 1 << order : [1, 2, 3, 5, 7, 12, 31, 100][next(8)]
        let alignOrder = BuddyAllocator<DictionaryLinkStorage>.ceilingLog2(UInt64(frames))
        let result = byOrder ? allocator.allocate(order: order) : allocator.allocate(frames: frames)
        guard let address = result else {
          if model.hasFreeBlock(order: alignOrder) {
            return "step \(index): allocating \(frames) frames failed with an aligned block free"
          }
          if allocator.statistics != before {
            return "step \(index): a failed allocation changed state"
          }
          continue
        }
        let first = address >> 12
        guard address % (4096 << UInt64(alignOrder)) == 0 else {
          return "step \(index): " + hex(address) + " is not aligned for \(frames) frames"
        }
        for f in first..<(first + UInt64(frames)) {
          guard model.owned.contains(f) else { return "step \(index): frame \(f) is not owned" }
          guard model.allocated.insert(f).inserted else {
            return "step \(index): frame \(f) allocated twice"
          }
        }
        model.live[first] = frames
      } else if step < 80, let victim = model.live.keys.randomElement(using: &rng) {
        // A valid free, plain or counted.
        let frames = model.live[victim]!
        let address = victim << 12
        let counted = next(2) == 0
        let result = counted ? allocator.free(address, frames: frames) : allocator.free(address)
        guard case .success = result else { return "step \(index): valid free failed: \(result)" }
        model.live[victim] = nil
        for f in victim..<(victim + UInt64(frames)) { model.allocated.remove(f) }
        released.append(address)
      } else {
        // A free that may well be invalid; the model says what should happen.
        var address: UInt64
        let liveStart = model.live.keys.randomElement(using: &rng)
        switch next(7) {
        case 0 where !released.isEmpty: address = released[next(released.count)]
        case 1 where liveStart != nil:
          let count = model.live[liveStart!]!
          address = (liveStart! + UInt64(next(count))) << 12
        case 2 where liveStart != nil: address = (liveStart! << 12) + UInt64(1 + next(4095))
        case 3: address = (ownedList.first! &- UInt64(1 + next(3))) << 12
        case 4: address = (ownedList.last! + UInt64(1 + next(300))) << 12
        case 5: address = UInt64(next(1 << 30)) << 12
        default: address = ownedList[next(ownedList.count)] << 12
        }
        var frames: Int? = nil
        if next(3) == 0 { frames = 1 + next(8) }
        let expected = model.expectedError(freeing: address, frames: frames)
        let result: Result<Void, BuddyError>
        if let frames {
          result = allocator.free(address, frames: frames)
        } else {
          result = allocator.free(address)
        }
        switch result {
        case .success:
          guard expected == nil else {
            return "step \(index): free of " + hex(address) + " succeeded, expected \(expected!)"
          }
          let first = address >> 12
          let count = model.live.removeValue(forKey: first)!
          for f in first..<(first + UInt64(count)) { model.allocated.remove(f) }
          released.append(address)
        case .failure(let error):
          guard error == expected else {
            return "step \(index): free of " + hex(address)
              + " gave \(error), expected \(String(describing: expected))"
          }
          if allocator.statistics != before { return "step \(index): a refused free changed state" }
        }
      }
      let expectedFree = model.owned.count - model.allocated.count
      guard allocator.freeFrames == expectedFree else {
        return "step \(index): \(allocator.freeFrames) frames free, the model has \(expectedFree)"
      }
      // Links are only ever written into memory that is free afterwards.
      for address in allocator.storage.written[writesBefore...] {
        let f = address >> 12
        guard address % 4096 == 0, model.owned.contains(f), !model.allocated.contains(f) else {
          return "step \(index): links written at " + hex(address) + " which is not free"
        }
      }
      if index % 32 == 0, let violation = allocator.consistencyViolation() {
        return "step \(index): " + violation
      }
    }
    if let violation = allocator.consistencyViolation() { return "after the steps: " + violation }
    for (first, frames) in model.live {
      guard case .success = allocator.free(first << 12, frames: frames) else {
        return "final free of " + hex(first << 12) + " failed"
      }
    }
    guard allocator.freeBlocks == initialBlocks else {
      return "not fully coalesced: \(allocator.freeBlocks), after init \(initialBlocks)"
    }
    return allocator.consistencyViolation()
  }
}

/// A small seeded generator (an LCG with an xorshift on the output) for the
/// choices a property case makes beyond its generated inputs.
private struct ModelRandom: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return state ^ (state >> 29)
  }
}
