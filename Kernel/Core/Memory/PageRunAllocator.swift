// Runs of whole pages out of one small region: the receive rings a kernel
// instance places in a NUMA node's DTU ring region. A ring is a handful of
// page-aligned areas that must each be physically contiguous (so a channel
// maps as consecutive pages), regions are a few MiB, and rings come and go
// rarely, so a bitmap with first fit is enough and easy to check: one bit
// per page, set while the page is handed out.
//
// Plain state over its own storage; the kernel keeps one per instance per
// node (each instance owns half of every region, so the two never allocate
// the same page and need no shared lock).

public struct PageRunAllocator: Equatable, Sendable {
  public static let pageSize: UInt64 = 4096

  /// The first page's physical address.
  public let base: UInt64
  public let pages: Int
  private var used: [UInt64]

  /// `pages` pages from `base` (page aligned), all free.
  public init(base: UInt64, pages: Int) {
    self.base = base & ~(Self.pageSize - 1)
    self.pages = max(pages, 0)
    used = Array(repeating: 0, count: (self.pages + 63) / 64)
  }

  public var freePages: Int {
    var taken = 0
    for word in used { taken += word.nonzeroBitCount }
    return pages - taken
  }

  /// The physical address of `count` contiguous free pages whose first
  /// page index is a multiple of `alignment` pages, now taken; nil when
  /// there is no such run (nothing changes).
  public mutating func allocate(pages count: Int, alignment: Int = 1) -> UInt64? {
    guard count > 0, count <= pages, alignment > 0 else { return nil }
    var start = 0
    while start + count <= pages {
      if let taken = firstUsed(from: start, count: count) {
        start = (taken + 1 + alignment - 1) / alignment * alignment
        continue
      }
      for page in start..<(start + count) { set(page, true) }
      return base + UInt64(start) * Self.pageSize
    }
    return nil
  }

  /// Gives back `count` pages from `address`. False (nothing changes) when
  /// the run is not inside the region or not wholly taken: a double free
  /// or a wrong size is refused, not absorbed.
  @discardableResult
  public mutating func free(_ address: UInt64, pages count: Int) -> Bool {
    guard count > 0, address >= base, (address - base) % Self.pageSize == 0 else { return false }
    let first = (address - base) / Self.pageSize
    guard first < UInt64(pages), UInt64(count) <= UInt64(pages) - first else { return false }
    let start = Int(first)
    for page in start..<(start + count) where !isUsed(page) { return false }
    for page in start..<(start + count) { set(page, false) }
    return true
  }

  public func isUsed(_ page: Int) -> Bool {
    page >= 0 && page < pages && used[page / 64] & (1 << UInt64(page % 64)) != 0
  }

  /// Whether `address` lies in a page this allocator handed out.
  public func contains(_ address: UInt64) -> Bool {
    guard address >= base else { return false }
    let page = (address - base) / Self.pageSize
    return page < UInt64(pages) && isUsed(Int(page))
  }

  private func firstUsed(from start: Int, count: Int) -> Int? {
    for page in start..<(start + count) where isUsed(page) { return page }
    return nil
  }

  private mutating func set(_ page: Int, _ value: Bool) {
    let bit: UInt64 = 1 << UInt64(page % 64)
    if value { used[page / 64] |= bit } else { used[page / 64] &= ~bit }
  }
}
