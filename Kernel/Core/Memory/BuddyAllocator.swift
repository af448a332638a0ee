// The physical frame allocator of one partition: a binary buddy allocator over
// the partition's usable ranges.
//
// Blocks have orders 0 (one 4 KiB frame) to 18 (1 GiB) and are naturally
// aligned in physical address, so the buddy of a block is found by flipping
// one bit of its frame number. Free blocks of each order are kept on an
// intrusive doubly-linked list stored in the blocks themselves (see
// FrameLinkStorage), so pushing and removing are O(1) and the lists cost
// nothing. What each aligned position holds (nothing, a free block, an
// allocated block) is recorded in a BlockStateMap: about 4 bits per frame of
// the covered span, 128 KiB per GiB, and no struct per frame.
//
// An allocation of N frames with N not a power of two takes a block of the
// next power of two and gives the tail back at once. The part kept is recorded
// as its binary decomposition (pieces of decreasing order, each marked
// "continues" except the last), so a plain `free(address)` releases all of it
// and `free(address, frames:)` can check the count.
//
// Every free is validated before anything changes: a bad address (foreign,
// misaligned, inside a block, already free) is reported as a BuddyError and
// leaves the allocator as it was.

/// Why a free was refused.
public enum BuddyError: Error, Equatable {
  /// The address lies outside every range of this allocator.
  case notOwned(UInt64)
  /// The address is not 4 KiB aligned.
  case misaligned(UInt64)
  /// The address is inside an allocation but not at its start.
  case notBlockStart(UInt64)
  /// The address is in a free block: freed twice, or never allocated.
  case doubleFree(UInt64)
  /// A counted free named another number of frames than were allocated there.
  case wrongFrameCount(UInt64, allocated: Int, given: Int)

  public var description: String {
    switch self {
    case .notOwned(let a): return "free of " + hex(a) + " outside this allocator's memory"
    case .misaligned(let a): return "free of " + hex(a) + " which is not 4 KiB aligned"
    case .notBlockStart(let a):
      return "free of " + hex(a) + " inside an allocation, not at its start"
    case .doubleFree(let a): return "free of " + hex(a) + " which is already free"
    case .wrongFrameCount(let a, let allocated, let given):
      return "free of " + String(given) + " frames at " + hex(a) + " which has "
        + String(allocated) + " frames allocated"
    }
  }
}

/// A snapshot of the allocator's counters (what the shell's `mem` shows).
public struct BuddyStatistics: Equatable {
  public var totalFrames: Int
  public var freeFrames: Int
  /// Free blocks of each order, 0...BuddyAllocator.maxOrder.
  public var freeBlocks: [Int]
  /// The order of the largest free block, nil when nothing is free.
  public var largestFreeOrder: Int?

  /// Zero counts with room for every order: made before a lock is taken,
  /// so that `BuddyAllocator.copyStatistics(into:)` under it never allocates.
  public static func zeroed(orders: Int) -> BuddyStatistics {
    BuddyStatistics(
      totalFrames: 0, freeFrames: 0, freeBlocks: [Int](repeating: 0, count: orders),
      largestFreeOrder: nil)
  }

  /// A summary and a table of free blocks per order, for the shell's `mem`.
  public func description(rangeCount: Int) -> String {
    let frameSize: UInt64 = 4096
    var text =
      formatSize(UInt64(totalFrames) * frameSize) + " in " + String(rangeCount)
      + (rangeCount == 1 ? " range, " : " ranges, ") + formatSize(UInt64(freeFrames) * frameSize)
      + " free (" + String(freeFrames) + " of " + String(totalFrames) + " frames)"
    if let order = largestFreeOrder {
      text +=
        ", largest free block " + formatSize(frameSize << UInt64(order)) + " (order "
        + String(order) + ")"
    }
    text += "\n" + "order".padded(to: 7) + "block".padded(to: 10) + "free blocks"
    for order in freeBlocks.indices where freeBlocks[order] > 0 {
      text +=
        "\n" + String(order).padded(to: 7) + formatSize(frameSize << UInt64(order)).padded(to: 10)
        + String(freeBlocks[order])
    }
    return text
  }
}

public struct BuddyAllocator<Storage: FrameLinkStorage> {
  public static var maxOrder: Int { 18 }
  public static var frameSize: UInt64 { 4096 }
  static var frameShift: UInt64 { 12 }
  /// The end of a free list, in the links and in `heads`.
  static var endOfList: UInt64 { .max }
  /// x86-64 physical addresses have at most 52 bits; anything above is not memory.
  static var physicalLimit: UInt64 { 1 << 52 }

  /// Where the free-list links are read and written.
  public private(set) var storage: Storage
  /// The usable ranges: page aligned, sorted, disjoint and not adjacent.
  public let ranges: [PhysicalRange]
  public let totalFrames: Int
  public private(set) var freeFrames = 0
  /// Free blocks of each order.
  public private(set) var freeBlocks: [Int]
  /// The physical address of the first free block of each order, or endOfList.
  private var heads: [UInt64]
  /// Bit k is set when the free list of order k is not empty.
  private var nonEmptyOrders: UInt32 = 0
  private var states: BlockStateMap

  /// One allocated block, the whole of an allocation or one piece of it.
  struct Piece {
    var frame: UInt64
    var order: Int
    var state: BlockState
  }

  /// Manages `ranges` (any order, overlaps and unaligned ends allowed: they are
  /// cut to whole frames below 2^52, sorted and merged). All of it is free.
  /// Cost: clearing the state map (one 64-bit word per 16 frames of the span)
  /// plus one list push per maximal aligned block; no loop over frames.
  public init(ranges: [PhysicalRange], storage: Storage) {
    let usable = Self.normalized(ranges)
    self.ranges = usable
    self.storage = storage
    freeBlocks = [Int](repeating: 0, count: Self.maxOrder + 1)
    heads = [UInt64](repeating: Self.endOfList, count: Self.maxOrder + 1)
    let firstFrame = usable.first.map { $0.base >> Self.frameShift } ?? 0
    let endFrame = usable.last.map { $0.end >> Self.frameShift } ?? 0
    states = BlockStateMap(firstFrame: firstFrame, endFrame: endFrame, maxOrder: Self.maxOrder)
    var total = 0
    for range in usable { total += Int((range.end - range.base) >> Self.frameShift) }
    totalFrames = total
    freeFrames = total
    // Carve each range into maximal aligned blocks, from the top down so that
    // the lowest addresses end up at the heads of the lists and are handed
    // out first.
    for range in usable.reversed() {
      let first = range.base >> Self.frameShift
      var end = range.end >> Self.frameShift
      while end > first {
        let order = min(Self.maxOrder, end.trailingZeroBitCount, Self.floorLog2(end - first))
        end -= 1 << UInt64(order)
        pushFree(frame: end, order: order)
      }
    }
  }

  /// The bytes of metadata an allocator over `ranges` takes (its state map),
  /// for planning early memory before it exists.
  public static func metadataBytes(for ranges: [PhysicalRange]) -> Int {
    let usable = normalized(ranges)
    guard let first = usable.first, let last = usable.last else { return 0 }
    return BlockStateMap.bytes(
      firstFrame: first.base >> frameShift, endFrame: last.end >> frameShift, maxOrder: maxOrder)
  }

  /// The bytes of metadata this allocator holds.
  public var metadataBytes: Int { states.byteCount }

  // MARK: Allocation

  /// A free block of 2^order frames, naturally aligned; nil when no block
  /// that large is free or the order is out of range.
  public mutating func allocate(order: Int) -> UInt64? {
    guard order >= 0, order <= Self.maxOrder, let frame = takeBlock(order: order) else {
      return nil
    }
    states[order, frame] = .allocated
    freeFrames -= 1 << order
    return frame << Self.frameShift
  }

  /// Exactly `frames` contiguous frames (1...2^maxOrder), aligned to the next
  /// power of two; nil when no block that large is free. Free it with
  /// `free(address)` or `free(address, frames:)`.
  public mutating func allocate(frames: Int) -> UInt64? {
    guard frames >= 1, frames <= 1 << Self.maxOrder else { return nil }
    let order = Self.ceilingLog2(UInt64(frames))
    guard let frame = takeBlock(order: order) else { return nil }
    // Keep the binary decomposition of `frames`, largest piece first: each
    // piece starts at a multiple of its own size.
    var offset: UInt64 = 0
    var remaining = UInt64(frames)
    while remaining != 0 {
      let pieceOrder = Self.floorLog2(remaining)
      remaining -= 1 << UInt64(pieceOrder)
      states[pieceOrder, frame + offset] = remaining == 0 ? .allocated : .allocatedContinuing
      offset += 1 << UInt64(pieceOrder)
    }
    // Give back the tail. Its blocks grow towards the aligned end of the
    // block, and none has a free buddy (each buddy holds kept frames).
    let blockEnd: UInt64 = 1 << UInt64(order)
    while offset < blockEnd {
      let tailOrder = offset.trailingZeroBitCount
      pushFree(frame: frame + offset, order: tailOrder)
      offset += 1 << UInt64(tailOrder)
    }
    freeFrames -= frames
    return frame << Self.frameShift
  }

  /// Frees the allocation that starts at `address`, whatever its size,
  /// merging free buddies up to the largest order.
  public mutating func free(_ address: UInt64) -> Result<Void, BuddyError> {
    switch findAllocation(address) {
    case .success(let head):
      release(head)
      return .success(())
    case .failure(let error):
      return .failure(error)
    }
  }

  /// Frees the allocation at `address` if it holds exactly `frames` frames.
  public mutating func free(_ address: UInt64, frames: Int) -> Result<Void, BuddyError> {
    switch findAllocation(address) {
    case .success(let head):
      let allocated = framesOfAllocation(head)
      guard allocated == frames else {
        return .failure(.wrongFrameCount(address, allocated: allocated, given: frames))
      }
      release(head)
      return .success(())
    case .failure(let error):
      return .failure(error)
    }
  }

  /// The frames of the allocation starting at `address`, nil when none does.
  public func allocatedFrames(at address: UInt64) -> Int? {
    guard case .success(let head) = findAllocation(address) else { return nil }
    return framesOfAllocation(head)
  }

  /// Takes a free block of `order`, splitting the smallest larger one when
  /// needed (the upper halves go back on the lists). Leaves its state unset.
  private mutating func takeBlock(order: Int) -> UInt64? {
    let candidates = nonEmptyOrders >> UInt32(order)
    guard candidates != 0 else { return nil }
    var current = order + candidates.trailingZeroBitCount
    let frame = heads[current] >> Self.frameShift
    removeFree(frame: frame, order: current)
    while current > order {
      current -= 1
      pushFree(frame: frame + (1 << UInt64(current)), order: current)
    }
    return frame
  }

  /// Frees every piece of the allocation starting with `head`.
  private mutating func release(_ head: Piece) {
    var piece = head
    while true {
      states[piece.order, piece.frame] = .noBlock
      freeFrames += 1 << piece.order
      mergeAndPush(frame: piece.frame, order: piece.order)
      guard piece.state == .allocatedContinuing,
        let next = allocatedPiece(at: piece.frame + (1 << UInt64(piece.order)))
      else { return }
      piece = next
    }
  }

  /// Puts a block on the free lists after merging it with its free buddies.
  private mutating func mergeAndPush(frame: UInt64, order: Int) {
    var frame = frame
    var order = order
    while order < Self.maxOrder {
      let buddy = frame ^ (1 << UInt64(order))
      guard states.covers(buddy), states[order, buddy] == .free else { break }
      removeFree(frame: buddy, order: order)
      frame &= ~(1 << UInt64(order))
      order += 1
    }
    pushFree(frame: frame, order: order)
  }

  // MARK: Validating a free

  /// The first piece of the allocation starting at `address`, or why there is none.
  func findAllocation(_ address: UInt64) -> Result<Piece, BuddyError> {
    let frame = address >> Self.frameShift
    guard address & (Self.frameSize - 1) == 0 else {
      return .failure(owns(frame: frame) ? .misaligned(address) : .notOwned(address))
    }
    guard states.covers(frame) else { return .failure(.notOwned(address)) }
    guard let piece = allocatedPiece(at: frame) else {
      return .failure(classifyFreeOfUnallocated(address))
    }
    if continuesAnotherPiece(piece) { return .failure(.notBlockStart(address)) }
    return .success(piece)
  }

  /// The allocated block that starts at `frame` (inside the span), if any. A
  /// frame starts at most one block, so the first state found decides.
  private func allocatedPiece(at frame: UInt64) -> Piece? {
    for order in 0...min(Self.maxOrder, frame.trailingZeroBitCount) {
      let state = states[order, frame]
      switch state {
      case .noBlock: continue
      case .free: return nil
      case .allocated, .allocatedContinuing: return Piece(frame: frame, order: order, state: state)
      }
    }
    return nil
  }

  /// Whether `piece` is a later piece of an allocation of N frames: then the
  /// piece before it is larger, ends at its start and is marked continuing.
  private func continuesAnotherPiece(_ piece: Piece) -> Bool {
    var order = piece.order + 1
    while order <= Self.maxOrder, piece.frame.trailingZeroBitCount >= order,
      piece.frame >= 1 << UInt64(order)
    {
      let previous = piece.frame - (1 << UInt64(order))
      if states.covers(previous), states[order, previous] == .allocatedContinuing { return true }
      order += 1
    }
    return false
  }

  /// Why a page-aligned address that starts no allocation cannot be freed:
  /// the block that contains it decides.
  private func classifyFreeOfUnallocated(_ address: UInt64) -> BuddyError {
    let frame = address >> Self.frameShift
    guard owns(frame: frame) else { return .notOwned(address) }
    for order in 0...Self.maxOrder {
      let head = frame & ~((1 << UInt64(order)) - 1)
      guard states.covers(head) else { break }
      switch states[order, head] {
      case .noBlock: continue
      case .free: return .doubleFree(address)
      case .allocated, .allocatedContinuing: return .notBlockStart(address)
      }
    }
    // Every owned frame lies in some block; kept for safety.
    return .doubleFree(address)
  }

  /// The frames of the allocation starting with `head` (all its pieces).
  private func framesOfAllocation(_ head: Piece) -> Int {
    var piece = head
    var frames = 1 << piece.order
    while piece.state == .allocatedContinuing,
      let next = allocatedPiece(at: piece.frame + (1 << UInt64(piece.order)))
    {
      piece = next
      frames += 1 << piece.order
    }
    return frames
  }

  /// Whether `frame` lies in one of the ranges (binary search).
  func owns(frame: UInt64) -> Bool {
    rangeIndex(containing: frame) != nil
  }

  /// The index of the range that holds `frame`, or nil.
  private func rangeIndex(containing frame: UInt64) -> Int? {
    var low = 0
    var high = ranges.count
    while low < high {
      let middle = (low + high) / 2
      if ranges[middle].end >> Self.frameShift <= frame {
        low = middle + 1
      } else {
        high = middle
      }
    }
    guard low < ranges.count, ranges[low].base >> Self.frameShift <= frame else { return nil }
    return low
  }

  // MARK: Free lists

  private mutating func pushFree(frame: UInt64, order: Int) {
    let address = frame << Self.frameShift
    let oldHead = heads[order]
    storage.setLinks(at: address, previous: Self.endOfList, next: oldHead)
    if oldHead != Self.endOfList {
      let links = storage.links(at: oldHead)
      storage.setLinks(at: oldHead, previous: address, next: links.next)
    }
    heads[order] = address
    states[order, frame] = .free
    freeBlocks[order] += 1
    nonEmptyOrders |= 1 << UInt32(order)
  }

  private mutating func removeFree(frame: UInt64, order: Int) {
    let address = frame << Self.frameShift
    let links = storage.links(at: address)
    if links.previous == Self.endOfList {
      heads[order] = links.next
    } else {
      let previous = storage.links(at: links.previous)
      storage.setLinks(at: links.previous, previous: previous.previous, next: links.next)
    }
    if links.next != Self.endOfList {
      let next = storage.links(at: links.next)
      storage.setLinks(at: links.next, previous: links.previous, next: next.next)
    }
    states[order, frame] = .noBlock
    freeBlocks[order] -= 1
    if heads[order] == Self.endOfList { nonEmptyOrders &= ~(1 << UInt32(order)) }
  }

  // MARK: Statistics

  /// The order of the largest free block, nil when nothing is free.
  public var largestFreeOrder: Int? {
    nonEmptyOrders == 0 ? nil : 31 - nonEmptyOrders.leadingZeroBitCount
  }

  /// The size of the largest free block in bytes (0 when nothing is free).
  public var largestFreeBytes: UInt64 {
    guard let order = largestFreeOrder else { return 0 }
    return Self.frameSize << UInt64(order)
  }

  public var statistics: BuddyStatistics {
    BuddyStatistics(
      totalFrames: totalFrames, freeFrames: freeFrames, freeBlocks: freeBlocks,
      largestFreeOrder: largestFreeOrder)
  }

  /// Writes the counters into `statistics` in place, without allocating
  /// (a lock holder must not: the kernel heap grows by taking frames).
  /// `statistics` comes from `BuddyStatistics.zeroed(orders: maxOrder + 1)`.
  public func copyStatistics(into statistics: inout BuddyStatistics) {
    precondition(statistics.freeBlocks.count == Self.maxOrder + 1, "statistics of another shape")
    statistics.totalFrames = totalFrames
    statistics.freeFrames = freeFrames
    statistics.largestFreeOrder = largestFreeOrder
    for order in 0...Self.maxOrder { statistics.freeBlocks[order] = freeBlocks[order] }
  }

  /// A summary and a table of free blocks per order, for the shell's `mem`.
  public var description: String { statistics.description(rangeCount: ranges.count) }

  // MARK: Helpers

  /// ⌊log2 value⌋ for value ≥ 1.
  static func floorLog2(_ value: UInt64) -> Int { 63 - value.leadingZeroBitCount }

  /// ⌈log2 value⌉ for value ≥ 1.
  static func ceilingLog2(_ value: UInt64) -> Int {
    value <= 1 ? 0 : 64 - (value - 1).leadingZeroBitCount
  }

  /// Ranges cut to whole frames below the physical limit, sorted, and merged
  /// where they overlap or touch (so blocks may span the seam).
  static func normalized(_ ranges: [PhysicalRange]) -> [PhysicalRange] {
    let mask = frameSize - 1
    var cut: [PhysicalRange] = []
    for range in ranges {
      let base = (min(range.base, physicalLimit) + mask) & ~mask
      let end = min(range.end, physicalLimit) & ~mask
      if base < end { cut.append(PhysicalRange(base: base, end: end)) }
    }
    cut.sort { $0.base < $1.base }
    var merged: [PhysicalRange] = []
    for range in cut {
      if let last = merged.last, range.base <= last.end {
        merged[merged.count - 1] = PhysicalRange(base: last.base, end: max(last.end, range.end))
      } else {
        merged.append(range)
      }
    }
    return merged
  }
}

extension BuddyAllocator {
  /// The first broken invariant, or nil: every list is well linked and matches
  /// the state map and the counters, every free block is aligned and inside one
  /// range, no two free buddies are left unmerged, and the allocated states
  /// account for every frame not free. Walks every list and scans the whole
  /// state map, so it is for tests and debugging, not for hot paths.
  mutating func consistencyViolation() -> String? {
    var freeTotal = 0
    var allocatedTotal = 0
    for order in 0...Self.maxOrder {
      let size: UInt64 = 1 << UInt64(order)
      var previous = Self.endOfList
      var address = heads[order]
      var listed = 0
      while address != Self.endOfList {
        guard listed < freeBlocks[order] else {
          return "order \(order): list longer than its count \(freeBlocks[order])"
        }
        let frame = address >> Self.frameShift
        guard address % (Self.frameSize << UInt64(order)) == 0 else {
          return "order \(order): block " + hex(address) + " is misaligned"
        }
        guard let first = rangeIndex(containing: frame),
          rangeIndex(containing: frame + size - 1) == first
        else { return "order \(order): block " + hex(address) + " is not inside one range" }
        guard states[order, frame] == .free else {
          return "order \(order): listed block " + hex(address) + " is "
            + states[order, frame].description
        }
        if order < Self.maxOrder {
          let buddy = frame ^ size
          if states.covers(buddy), states[order, buddy] == .free {
            return "order \(order): block " + hex(address) + " and its buddy are both free"
          }
        }
        let links = storage.links(at: address)
        guard links.previous == previous else {
          return "order \(order): block " + hex(address) + " has a wrong previous link"
        }
        previous = address
        address = links.next
        listed += 1
      }
      guard listed == freeBlocks[order] else {
        return "order \(order): \(listed) blocks listed, \(freeBlocks[order]) counted"
      }
      guard states.count(of: .free, order: order) == listed else {
        return "order \(order): the state map has free blocks that are not listed"
      }
      guard (nonEmptyOrders >> UInt32(order)) & 1 == (listed > 0 ? 1 : 0) else {
        return "order \(order): the non-empty mask is wrong"
      }
      freeTotal += listed << order
      allocatedTotal +=
        (states.count(of: .allocated, order: order)
          + states.count(of: .allocatedContinuing, order: order)) << order
    }
    guard freeTotal == freeFrames else {
      return "free lists hold \(freeTotal) frames, the counter says \(freeFrames)"
    }
    guard allocatedTotal + freeFrames == totalFrames else {
      return "\(allocatedTotal) frames allocated + \(freeFrames) free != \(totalFrames) total"
    }
    return nil
  }
}
