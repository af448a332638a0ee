import PropertyBased
import Testing

@testable import TesseraCore

/// Physical memory as a dictionary of words, with a frame budget.
final class FakeTableMemory: PageTableMemory {
  var words: [UInt64: UInt64] = [:]
  var nextFrame: UInt64 = 0x10_0000
  var framesLeft: Int

  init(frames: Int = 10_000) { framesLeft = frames }

  func load(_ physical: UInt64) -> UInt64 {
    precondition(physical % 8 == 0, "unaligned table access")
    return words[physical, default: 0]
  }
  func store(_ physical: UInt64, _ value: UInt64) { words[physical] = value }
  func allocateTableFrame() -> UInt64? {
    guard framesLeft > 0 else { return nil }
    framesLeft -= 1
    defer { nextFrame += 4096 }
    return nextFrame
  }
}

extension Result where Success == Void {
  /// The error, or nil on success (Void results are not Equatable).
  var failure: Failure? {
    if case .failure(let error) = self { return error }
    return nil
  }
}

@Suite struct PageTableTests {
  let kernelText: PageFlags = .kernelCode

  @Test func mapsAndTranslatesEachPageSize() throws {
    let memory = FakeTableMemory()
    let table = try #require(PageTable(memory: memory))
    #expect(throws: Never.self) {
      try table.map(0x4000_1000, to: 0x20_3000, size: .small, flags: .kernelData).get()
    }
    #expect(throws: Never.self) {
      try table.map(0x4000_0000_0000, to: 0x4000_0000, size: .large, flags: .kernelReadOnly).get()
    }
    #expect(throws: Never.self) {
      try table.map(0x7F80_0000_0000, to: 0x1_0000_0000, size: .huge, flags: kernelText).get()
    }
    #expect(
      table.translate(0x4000_1ABC)
        == Translation(physical: 0x20_3ABC, flags: .kernelData, size: .small))
    #expect(table.translate(0x4000_0012_3456)?.physical == 0x4012_3456)
    #expect(table.translate(0x4000_0012_3456)?.size == .large)
    #expect(table.translate(0x7F80_3FFF_FFFF)?.physical == 0x1_3FFF_FFFF)
    #expect(table.translate(0x4000_2000) == nil)
    #expect(table.translate(0x8000_0000_0000) == nil)  // not canonical
  }

  @Test func countsLeavesBySizeWithinSlots() throws {
    let table = try #require(PageTable(memory: FakeTableMemory()))
    let user: PageFlags = [.present, .writable, .user]
    let tib: UInt64 = 1 << 40  // PML4 slot 2
    for i in UInt64(0)..<3 {
      #expect(table.map(tib + i * 4096, to: i * 4096, size: .small, flags: user).failure == nil)
    }
    #expect(table.map(tib + (4 << 20), to: 2 << 20, size: .large, flags: user).failure == nil)
    #expect(table.map(tib + (1 << 30), to: 1 << 30, size: .huge, flags: user).failure == nil)
    #expect(table.map(0x4000_0000, to: 0, size: .small, flags: kernelText).failure == nil)
    let counts = table.leafCounts(slots: 1...127)
    #expect(counts.small == 3 && counts.large == 1 && counts.huge == 1)
    let all = table.leafCounts(slots: 0...511)
    #expect(all.small == 4)
    #expect(table.leafCounts(slots: 3...127) == (0, 0, 0))
    var leaves: [UInt64] = []
    table.forEachLeaf(slots: 1...127) { physical, _ in leaves.append(physical) }
    #expect(leaves.sorted() == [0, 4096, 8192, 2 << 20, 1 << 30])
  }

  @Test func refusesConflictsAndBadArguments() throws {
    let memory = FakeTableMemory()
    let table = try #require(PageTable(memory: memory))
    _ = table.map(0x20_0000, to: 0x20_0000, size: .large, flags: .kernelData)
    #expect(
      table.map(0x20_0000, to: 0, size: .large, flags: .kernelData).failure
        == .alreadyMapped(0x20_0000))
    #expect(
      table.map(0x20_1000, to: 0, size: .small, flags: .kernelData).failure
        == .insideLargePage(0x20_1000))
    _ = table.map(0x60_1000, to: 0x1000, size: .small, flags: .kernelData)
    #expect(
      table.map(0x60_0000, to: 0, size: .large, flags: .kernelData).failure
        == .tableInTheWay(0x60_0000))
    #expect(
      table.map(0x1234, to: 0, size: .small, flags: .kernelData).failure
        == .misaligned(virtual: 0x1234, physical: 0))
    #expect(
      table.map(0x20_0000, to: 0x1000, size: .large, flags: .kernelData).failure
        == .misaligned(virtual: 0x20_0000, physical: 0x1000))
    #expect(
      table.map(0x0000_9000_0000_0000, to: 0, size: .small, flags: .kernelData).failure
        == .nonCanonical(0x0000_9000_0000_0000))
    #expect(table.unmap(0x7000) == .failure(.notMapped(0x7000)))
    #expect(table.unmap(0x20_1000) == .failure(.insideLargePage(0x20_1000)))
  }

  @Test func runsOutOfTableMemoryWithAnError() throws {
    let memory = FakeTableMemory(frames: 2)
    let table = try #require(PageTable(memory: memory))
    #expect(table.map(0x1000, to: 0x1000, size: .small, flags: .kernelData).failure == .outOfMemory)
  }

  @Test func userLeavesMakeTheirTablesUserAccessible() throws {
    let memory = FakeTableMemory()
    let table = try #require(PageTable(memory: memory))
    _ = table.map(0x100_0000_0000, to: 0x5000, size: .small, flags: [.present, .user, .writable])
    let pml4e = memory.load(
      table.root + PageTable<FakeTableMemory>.index(0x100_0000_0000, level: 4) * 8)
    #expect(pml4e & PageFlags.user.rawValue != 0)
  }

  @Test func mapRangeUsesLargePagesWhereAligned() throws {
    let memory = FakeTableMemory()
    let table = try #require(PageTable(memory: memory))
    #expect(throws: Never.self) {
      try table.mapRange(
        0x4000_0000_0000 + 0x1F_F000, to: 0x1F_F000, length: 0x40_2000, flags: .kernelData
      ).get()
    }
    #expect(table.translate(0x4000_0000_0000 + 0x1F_F000)?.size == .small)
    #expect(table.translate(0x4000_0000_0000 + 0x20_0000)?.size == .large)
    #expect(table.translate(0x4000_0000_0000 + 0x40_0000)?.size == .large)
    #expect(table.translate(0x4000_0000_0000 + 0x60_0000)?.size == .small)
    #expect(table.translate(0x4000_0000_0000 + 0x60_0123)?.physical == 0x60_0123)
    #expect(table.translate(0x4000_0000_0000 + 0x60_1000) == nil)
  }

  /// Random maps and unmaps of 4 KiB and 2 MiB pages in a small window,
  /// against a model that records which physical page each virtual page shows.
  @Test func randomOperationsMatchTheModel() async {
    let op = Gen.int(in: 0...(1 << 20)).array(of: 1...120)
    await propertyCheck(count: 150, input: op) { ops in
      let memory = FakeTableMemory()
      let table = PageTable(memory: memory)!
      var model: [UInt64: (physical: UInt64, large: Bool)] = [:]  // 4 KiB virtual page → mapping
      let window: UInt64 = 0x4000_0000  // 1 GiB at 1 GiB
      for value in ops {
        let large = value & 1 == 1
        let size: PageSize = large ? .large : .small
        let page = UInt64(value >> 2) % (window / size.bytes)
        let virtual = window + page * size.bytes
        let physical = UInt64(value) * size.bytes % (1 << 40) / size.bytes * size.bytes
        if value & 2 == 0 {
          let covered = (0..<(size.bytes / 4096)).map { virtual + $0 * 4096 }
          let free = covered.allSatisfy { model[$0] == nil }
          let result = table.map(virtual, to: physical, size: size, flags: .kernelData)
          // A large page over a range whose 4 KiB pages were all unmapped may
          // still find a page table there: that is a refusal, not a mapping.
          if case .success = result {
            #expect(free)
            for (i, v) in covered.enumerated() { model[v] = (physical + UInt64(i) * 4096, large) }
          } else {
            #expect(!free || large)
          }
        } else if let existing = model[virtual] {
          let isPageStart = !existing.large || virtual % PageSize.large.bytes == 0
          switch table.unmap(virtual) {
          case .success(let translation):
            #expect(isPageStart)
            for i in 0..<(translation.size.bytes / 4096) { model[virtual + i * 4096] = nil }
          case .failure(let error):
            #expect(!isPageStart)
            #expect(error == .insideLargePage(virtual))
          }
        }
      }
      for (virtual, mapping) in model {
        #expect(table.translate(virtual + 0x123)?.physical == mapping.physical + 0x123)
      }
      let step: UInt64 = 0x3_7000  // not a multiple of 2 MiB: probes land everywhere in pages
      for probe in stride(from: window, to: 2 * window, by: Int(step)) {
        #expect((table.translate(probe) != nil) == (model[probe & ~0xFFF] != nil))
      }
    }
  }
}
