// The kernel heap: power-of-two size classes carved from whole pages for small
// objects, runs of whole pages for large ones. It manages one arena of memory
// handed to it and keeps all of its bookkeeping inside that arena, so it never
// allocates itself (it is what the Embedded Swift runtime allocates from).
//
// Arena layout: [page kinds: 1 byte/page][run lengths/use counts: 4 bytes/page]
// [free-list heads][padding to a page] [pages handed out ...]
public struct KernelHeap {
  public static let pageSize = 4096
  /// Block sizes of the small classes: 16 B ... 2 KiB.
  public static let classSizes: [Int] = [16, 32, 64, 128, 256, 512, 1024, 2048]
  static let classCount = 8

  // Page kinds.
  static let freePage: UInt8 = 0
  static let largeHead: UInt8 = 0xFE
  static let largeTail: UInt8 = 0xFD
  // 1...classCount: a slab page of that class (index + 1).

  public enum FreeError: Error, Equatable {
    case outsideHeap(UInt)
    case notAllocated(UInt)
    case misaligned(UInt)

    public var description: String {
      switch self {
      case .outsideHeap(let a): return "free of 0x\(String(a, radix: 16)) outside the kernel heap"
      case .notAllocated(let a): return "free of 0x\(String(a, radix: 16)) which is not allocated"
      case .misaligned(let a):
        return "free of 0x\(String(a, radix: 16)) not at the start of a block"
      }
    }
  }

  public struct Statistics: Equatable {
    public var totalPages = 0
    public var freePages = 0
    public var slabPages = 0
    public var largePages = 0
    public var bytesInUse = 0
    public var allocations = 0
  }

  var kinds: UnsafeMutablePointer<UInt8>? = nil
  var counts: UnsafeMutablePointer<UInt32>? = nil
  var freeLists: UnsafeMutablePointer<UInt>? = nil
  var firstPage: UInt = 0
  var pageCount = 0
  var searchHint = 0
  public private(set) var statistics = Statistics()

  public init() {}

  /// Takes over `size` bytes at `arena` (page aligned). Returns false when the
  /// arena is too small to hold its bookkeeping and one page.
  public mutating func initialize(arena: UnsafeMutableRawPointer, size: Int) -> Bool {
    let start = UInt(bitPattern: arena)
    guard start % UInt(Self.pageSize) == 0, size >= 2 * Self.pageSize else { return false }
    let totalPages = size / Self.pageSize
    // Bookkeeping for every page of the arena (a little more than needed).
    let metaBytes = totalPages * 5 + Self.classCount * MemoryLayout<UInt>.size
    let metaPages = (metaBytes + Self.pageSize - 1) / Self.pageSize
    guard metaPages < totalPages else { return false }
    kinds = arena.bindMemory(to: UInt8.self, capacity: totalPages)
    counts = (arena + totalPages).bindMemory(to: UInt32.self, capacity: totalPages)
    freeLists = (arena + totalPages * 5).bindMemory(to: UInt.self, capacity: Self.classCount)
    for i in 0..<totalPages {
      kinds![i] = Self.freePage
      counts![i] = 0
    }
    for c in 0..<Self.classCount { freeLists![c] = 0 }
    firstPage = start + UInt(metaPages * Self.pageSize)
    pageCount = totalPages - metaPages
    searchHint = 0
    statistics = Statistics(totalPages: pageCount, freePages: pageCount)
    return true
  }

  /// The size class that serves `size` bytes at `alignment`, or nil for a large allocation.
  static func sizeClass(size: Int, alignment: Int) -> Int? {
    let needed = max(size, alignment, 1)
    for (i, s) in classSizes.enumerated() where s >= needed { return i }
    return nil
  }

  /// Allocates `size` bytes aligned to `alignment` (a power of two, at most a
  /// page). Returns nil when the heap is exhausted or the request is invalid.
  public mutating func allocate(size: Int, alignment: Int = 16) -> UnsafeMutableRawPointer? {
    guard kinds != nil, size >= 0, alignment > 0, alignment & (alignment - 1) == 0,
      alignment <= Self.pageSize, size <= pageCount * Self.pageSize
    else { return nil }
    if let c = Self.sizeClass(size: size, alignment: alignment) {
      return allocateSmall(sizeClass: c)
    }
    let pages = (size + Self.pageSize - 1) / Self.pageSize
    guard let first = findFreeRun(pages) else { return nil }
    kinds![first] = Self.largeHead
    counts![first] = UInt32(pages)
    for p in (first + 1)..<(first + pages) { kinds![p] = Self.largeTail }
    statistics.freePages -= pages
    statistics.largePages += pages
    statistics.bytesInUse += pages * Self.pageSize
    statistics.allocations += 1
    return UnsafeMutableRawPointer(bitPattern: pageAddress(first))
  }

  mutating func allocateSmall(sizeClass c: Int) -> UnsafeMutableRawPointer? {
    if freeLists![c] == 0 {
      // Carve a fresh page into blocks of this class.
      guard let page = findFreeRun(1) else { return nil }
      kinds![page] = UInt8(c + 1)
      counts![page] = 0
      statistics.freePages -= 1
      statistics.slabPages += 1
      let size = UInt(Self.classSizes[c])
      let base = pageAddress(page)
      var block = base + UInt(Self.pageSize) - size
      var next: UInt = 0
      while true {
        UnsafeMutablePointer<UInt>(bitPattern: block)!.pointee = next
        next = block
        if block == base { break }
        block -= size
      }
      freeLists![c] = next
    }
    let block = freeLists![c]
    freeLists![c] = UnsafeMutablePointer<UInt>(bitPattern: block)!.pointee
    counts![pageIndex(block)] += 1
    statistics.bytesInUse += Self.classSizes[c]
    statistics.allocations += 1
    return UnsafeMutableRawPointer(bitPattern: block)
  }

  /// Returns a block. A pointer the heap did not hand out is refused, not
  /// absorbed (which would corrupt the free lists).
  public mutating func free(_ pointer: UnsafeMutableRawPointer) -> Result<Void, FreeError> {
    let address = UInt(bitPattern: pointer)
    guard kinds != nil, address >= firstPage,
      address < firstPage + UInt(pageCount * Self.pageSize)
    else { return .failure(.outsideHeap(address)) }
    let page = pageIndex(address)
    switch kinds![page] {
    case Self.freePage, Self.largeTail:
      return .failure(.notAllocated(address))
    case Self.largeHead:
      guard address == pageAddress(page) else { return .failure(.misaligned(address)) }
      let pages = Int(counts![page])
      for p in page..<(page + pages) { kinds![p] = Self.freePage }
      counts![page] = 0
      searchHint = min(searchHint, page)
      statistics.freePages += pages
      statistics.largePages -= pages
      statistics.bytesInUse -= pages * Self.pageSize
      statistics.allocations -= 1
      return .success(())
    default:
      let c = Int(kinds![page]) - 1
      let size = UInt(Self.classSizes[c])
      guard (address - pageAddress(page)) % size == 0 else { return .failure(.misaligned(address)) }
      guard counts![page] > 0 else { return .failure(.notAllocated(address)) }
      counts![page] -= 1
      UnsafeMutablePointer<UInt>(bitPattern: address)!.pointee = freeLists![c]
      freeLists![c] = address
      statistics.bytesInUse -= Int(size)
      statistics.allocations -= 1
      return .success(())
    }
  }

  /// The usable size of an allocated block (for realloc-style callers).
  public func blockSize(_ pointer: UnsafeRawPointer) -> Int? {
    let address = UInt(bitPattern: pointer)
    guard kinds != nil, address >= firstPage,
      address < firstPage + UInt(pageCount * Self.pageSize)
    else { return nil }
    let page = pageIndex(address)
    switch kinds![page] {
    case Self.freePage, Self.largeTail: return nil
    case Self.largeHead: return Int(counts![page]) * Self.pageSize
    default: return Self.classSizes[Int(kinds![page]) - 1]
    }
  }

  func pageAddress(_ index: Int) -> UInt { firstPage + UInt(index * Self.pageSize) }
  func pageIndex(_ address: UInt) -> Int { Int((address - firstPage) / UInt(Self.pageSize)) }

  /// First fit. `searchHint` is a lower bound on the free pages, kept so
  /// that the common case does not rescan the used bottom of the heap.
  mutating func findFreeRun(_ pages: Int) -> Int? {
    guard pages > 0 else { return nil }
    var firstFree: Int? = nil
    var run = 0
    var index = searchHint
    while index < pageCount {
      if kinds![index] == Self.freePage {
        if firstFree == nil { firstFree = index }
        run += 1
        if run == pages {
          let start = index + 1 - pages
          searchHint = start == firstFree ? index + 1 : firstFree!
          return start
        }
      } else {
        run = 0
      }
      index += 1
    }
    searchHint = firstFree ?? pageCount
    return nil
  }
}
