// A range of physical addresses, [base, end) with an exclusive end.
//
// An exclusive end cannot name the very last byte of the 64-bit space, so a
// range that would reach 2^64 ends at 2^64-1 instead: that one byte is never
// described. No machine has RAM there (x86-64 physical addresses have at most
// 52 bits), and it keeps every operation free of overflow traps on untrusted
// firmware values.
public struct PhysicalRange: Equatable, Sendable {
  public static let pageSize: UInt64 = 4096

  public private(set) var base: UInt64
  public private(set) var end: UInt64

  /// An `end` below `base` gives the empty range at `base` (no trap).
  public init(base: UInt64, end: UInt64) {
    self.base = base
    self.end = max(base, end)
  }

  /// `base + length`, clipped at 2^64-1 when the sum overflows.
  public init(base: UInt64, length: UInt64) {
    let (sum, overflow) = base.addingReportingOverflow(length)
    self.init(base: base, end: overflow ? UInt64.max : sum)
  }

  public var length: UInt64 { end - base }
  public var isEmpty: Bool { end == base }

  public func contains(_ address: UInt64) -> Bool {
    base <= address && address < end
  }

  /// Whether every byte of `other` lies in this range (an empty `other`
  /// counts when its position lies within this range's bounds).
  public func contains(_ other: PhysicalRange) -> Bool {
    base <= other.base && other.end <= end
  }

  /// Whether the two ranges share at least one byte.
  public func overlaps(_ other: PhysicalRange) -> Bool {
    max(base, other.base) < min(end, other.end)
  }

  /// The shared bytes, or nil when there are none.
  public func intersection(_ other: PhysicalRange) -> PhysicalRange? {
    let low = max(base, other.base)
    let high = min(end, other.end)
    return low < high ? PhysicalRange(base: low, end: high) : nil
  }

  /// What is left of this range once every one of `holes` is taken out,
  /// in address order, no piece empty (the holes may overlap each other or
  /// lie outside).
  public func subtracting(_ holes: [PhysicalRange]) -> [PhysicalRange] {
    var pieces = isEmpty ? [] : [self]
    for hole in holes where !hole.isEmpty {
      var next: [PhysicalRange] = []
      for piece in pieces {
        guard piece.overlaps(hole) else {
          next.append(piece)
          continue
        }
        if piece.base < hole.base { next.append(PhysicalRange(base: piece.base, end: hole.base)) }
        if hole.end < piece.end { next.append(PhysicalRange(base: hole.end, end: piece.end)) }
      }
      pieces = next
    }
    return pieces.sorted { $0.base < $1.base }
  }

  /// The ranges merged where they touch or overlap, in address order, no
  /// piece empty: how many physically contiguous runs a program's pages
  /// make up (`lwk ps`).
  public static func coalesced(_ ranges: [PhysicalRange]) -> [PhysicalRange] {
    var merged: [PhysicalRange] = []
    for range in ranges.sorted(by: { $0.base < $1.base }) where !range.isEmpty {
      if let last = merged.last, range.base <= last.end {
        merged[merged.count - 1] = PhysicalRange(base: last.base, end: max(last.end, range.end))
      } else {
        merged.append(range)
      }
    }
    return merged
  }

  /// The whole pages inside the range (base rounded up, end rounded down),
  /// or nil when it holds no whole page. Used for memory an allocator may
  /// hand out: a partial page is never usable.
  public var pageAlignedInward: PhysicalRange? {
    guard let low = PhysicalRange.alignUp(base, to: PhysicalRange.pageSize) else { return nil }
    let high = end & ~(PhysicalRange.pageSize - 1)
    return low < high ? PhysicalRange(base: low, end: high) : nil
  }

  /// The pages touching the range (base rounded down, end rounded up), for
  /// reservations: a page that holds one reserved byte is reserved. An end
  /// in the last page of the address space stays at 2^64-1 (see above).
  /// The empty range stays empty.
  public var pageAlignedOutward: PhysicalRange {
    guard !isEmpty else { return self }
    let low = base & ~(PhysicalRange.pageSize - 1)
    let high = PhysicalRange.alignUp(end, to: PhysicalRange.pageSize) ?? UInt64.max
    return PhysicalRange(base: low, end: high)
  }

  /// `value` rounded up to a multiple of `alignment` (a power of two), or
  /// nil when that does not fit in 64 bits.
  public static func alignUp(_ value: UInt64, to alignment: UInt64) -> UInt64? {
    let mask = alignment &- 1
    let (sum, overflow) = value.addingReportingOverflow(mask)
    return overflow ? nil : sum & ~mask
  }

  /// "0x0000000000100000-0x0000000007fe0000 (126.8 MiB)", end exclusive.
  public var description: String {
    hex(base) + "-" + hex(end) + " (" + formatSize(length) + ")"
  }
}

// Lists of ranges that are sorted by address and pairwise disjoint: the
// usable memory of a map and the shares of the partition split.
extension Array where Element == PhysicalRange {
  /// The total number of bytes. Cannot overflow: disjoint ranges below 2^64
  /// add up to less than 2^64.
  public var totalBytes: UInt64 {
    var sum: UInt64 = 0
    for range in self { sum &+= range.length }
    return sum
  }

  /// The lowest `bytes` bytes of the list (fewer when it holds fewer),
  /// splitting one range when needed, and what is left.
  func splitLowest(_ bytes: UInt64) -> (taken: [PhysicalRange], rest: [PhysicalRange]) {
    var taken: [PhysicalRange] = []
    var rest: [PhysicalRange] = []
    var wanted = bytes
    for range in self {
      if wanted == 0 {
        rest.append(range)
      } else if range.length <= wanted {
        taken.append(range)
        wanted -= range.length
      } else {
        let cut = range.base + wanted
        taken.append(PhysicalRange(base: range.base, end: cut))
        rest.append(PhysicalRange(base: cut, end: range.end))
        wanted = 0
      }
    }
    return (taken, rest)
  }

  /// The bytes in both lists (both sorted and disjoint).
  func intersection(_ other: [PhysicalRange]) -> [PhysicalRange] {
    var result: [PhysicalRange] = []
    var i = 0
    var j = 0
    while i < count && j < other.count {
      if let shared = self[i].intersection(other[j]) { result.append(shared) }
      // Advance whichever ends first; the other may still meet the next one.
      if self[i].end <= other[j].end { i += 1 } else { j += 1 }
    }
    return result
  }

  /// The bytes of this list that are not in `other` (both sorted and disjoint).
  func subtracting(_ other: [PhysicalRange]) -> [PhysicalRange] {
    var result: [PhysicalRange] = []
    var j = 0
    for range in self {
      var low = range.base
      while j < other.count && other[j].end <= low { j += 1 }
      var k = j
      while k < other.count && other[k].base < range.end {
        if other[k].base > low { result.append(PhysicalRange(base: low, end: other[k].base)) }
        low = Swift.max(low, other[k].end)
        k += 1
      }
      if low < range.end { result.append(PhysicalRange(base: low, end: range.end)) }
    }
    return result
  }

  /// Any ranges sorted, with overlapping and touching ones merged, empty
  /// ones dropped: the form the other operations expect.
  func sortedAndMerged() -> [PhysicalRange] {
    var result: [PhysicalRange] = []
    for range in sorted(by: { $0.base < $1.base }) where !range.isEmpty {
      if let last = result.last, range.base <= last.end {
        result[result.count - 1] = PhysicalRange(
          base: last.base, end: Swift.max(last.end, range.end))
      } else {
        result.append(range)
      }
    }
    return result
  }
}
