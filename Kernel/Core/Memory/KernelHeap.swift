// The kernel heap: power-of-two size classes carved from whole pages for small
// objects, runs of whole pages for large ones, over one or more arenas of
// memory. Each arena keeps its bookkeeping inside itself, so the heap never
// allocates (it is what the Embedded Swift runtime allocates from). When every
// arena is full the heap asks its `grow` source for another one: at boot that
// is nothing (a fixed early arena), later whole frames from the partition's
// frame allocator. Pages of a grown arena are not given back.

public enum KernelHeapFreeError: Error, Equatable {
  case outsideHeap(UInt)
  case notAllocated(UInt)
  case misaligned(UInt)

  public var description: String {
    switch self {
    case .outsideHeap(let a): return "free of 0x\(String(a, radix: 16)) outside the kernel heap"
    case .notAllocated(let a): return "free of 0x\(String(a, radix: 16)) which is not allocated"
    case .misaligned(let a): return "free of 0x\(String(a, radix: 16)) not at the start of a block"
    }
  }
}

public struct KernelHeapStatistics: Equatable {
  public var arenas = 0
  public var totalPages = 0
  public var freePages = 0
  public var slabPages = 0
  public var largePages = 0
  public var bytesInUse = 0
  public var allocations = 0

  static func + (a: Self, b: Self) -> Self {
    KernelHeapStatistics(
      arenas: a.arenas + b.arenas, totalPages: a.totalPages + b.totalPages,
      freePages: a.freePages + b.freePages, slabPages: a.slabPages + b.slabPages,
      largePages: a.largePages + b.largePages, bytesInUse: a.bytesInUse + b.bytesInUse,
      allocations: a.allocations + b.allocations)
  }
}

/// One arena. Layout: [page kinds: 1 byte/page][run lengths or use counts:
/// 4 bytes/page][free-list heads][padding to a page][pages handed out ...]
struct HeapArena {
  typealias FreeError = KernelHeapFreeError
  typealias Statistics = KernelHeapStatistics

  static let pageSize = 4096
  /// Block sizes of the small classes: 16 B ... 2 KiB.
  static let classSizes: [Int] = [16, 32, 64, 128, 256, 512, 1024, 2048]
  static let classCount = 8

  // Page kinds.
  static let freePage: UInt8 = 0
  static let largeHead: UInt8 = 0xFE
  static let largeTail: UInt8 = 0xFD
  // 1...classCount: a slab page of that class (index + 1).

  var kinds: UnsafeMutablePointer<UInt8>? = nil
  var counts: UnsafeMutablePointer<UInt32>? = nil
  var freeLists: UnsafeMutablePointer<UInt>? = nil
  var firstPage: UInt = 0
  var pageCount = 0
  var searchHint = 0
  /// The caller's share of the bookkeeping pages, if it asked for one.
  var extraMetadata: UnsafeMutableRawPointer? = nil
  private(set) var statistics = Statistics()

  /// Takes over `size` bytes at `arena` (page aligned). Returns false when the
  /// arena is too small to hold its bookkeeping and one page.
  /// `extra` more bytes of bookkeeping are set aside for the caller (see `extraMetadata`).
  mutating func initialize(arena: UnsafeMutableRawPointer, size: Int, extra: Int = 0) -> Bool {
    let start = UInt(bitPattern: arena)
    guard start % UInt(Self.pageSize) == 0, size >= 2 * Self.pageSize, extra >= 0,
      extra <= size
    else { return false }
    let totalPages = size / Self.pageSize
    // Bookkeeping for every page of the arena (a little more than needed).
    let countsOffset = (totalPages + 7) & ~7
    let listsOffset = (countsOffset + totalPages * 4 + 7) & ~7
    let extraOffset = (listsOffset + Self.classCount * 8 + 15) & ~15
    let metaPages = (extraOffset + extra + Self.pageSize - 1) / Self.pageSize
    guard metaPages < totalPages else { return false }
    kinds = arena.bindMemory(to: UInt8.self, capacity: totalPages)
    counts = (arena + countsOffset).bindMemory(to: UInt32.self, capacity: totalPages)
    freeLists = (arena + listsOffset).bindMemory(to: UInt.self, capacity: Self.classCount)
    extraMetadata = extra > 0 ? arena + extraOffset : nil
    for i in 0..<totalPages {
      kinds![i] = Self.freePage
      counts![i] = 0
    }
    for c in 0..<Self.classCount { freeLists![c] = 0 }
    firstPage = start + UInt(metaPages * Self.pageSize)
    pageCount = totalPages - metaPages
    searchHint = 0
    statistics = Statistics(arenas: 1, totalPages: pageCount, freePages: pageCount)
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
  mutating func allocate(size: Int, alignment: Int = 16) -> UnsafeMutableRawPointer? {
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
  mutating func free(_ pointer: UnsafeMutableRawPointer) -> Result<Void, FreeError> {
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
  func blockSize(_ pointer: UnsafeRawPointer) -> Int? {
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

  func contains(_ address: UInt) -> Bool {
    kinds != nil && address >= firstPage && address < firstPage + UInt(pageCount * Self.pageSize)
  }
}

public struct KernelHeap {
  public static let pageSize = HeapArena.pageSize
  public static let classSizes = HeapArena.classSizes
  public typealias FreeError = KernelHeapFreeError
  public typealias Statistics = KernelHeapStatistics
  /// Gives a new page-aligned arena of at least the requested bytes, or nil.
  public typealias ArenaSource = (Int) -> (UnsafeMutableRawPointer, Int)?

  /// Arena descriptors live in the first arena's first allocation.
  static let maxArenas = 64
  var arenas: UnsafeMutablePointer<HeapArena>? = nil
  var arenaCount = 0
  public var grow: ArenaSource? = nil

  public init() {}

  /// Starts the heap on its first arena.
  public mutating func initialize(arena: UnsafeMutableRawPointer, size: Int) -> Bool {
    var first = HeapArena()
    guard
      first.initialize(
        arena: arena, size: size, extra: Self.maxArenas * MemoryLayout<HeapArena>.stride),
      let table = first.extraMetadata
    else { return false }
    arenas = table.bindMemory(to: HeapArena.self, capacity: Self.maxArenas)
    arenas!.initialize(to: first)
    arenaCount = 1
    return true
  }

  /// Adds memory to the heap. False when it is unusable or the table is full.
  public mutating func addArena(_ arena: UnsafeMutableRawPointer, size: Int) -> Bool {
    guard arenas != nil, arenaCount < Self.maxArenas else { return false }
    var next = HeapArena()
    guard next.initialize(arena: arena, size: size) else { return false }
    (arenas! + arenaCount).initialize(to: next)
    arenaCount += 1
    return true
  }

  public mutating func allocate(size: Int, alignment: Int = 16) -> UnsafeMutableRawPointer? {
    guard let arenas else { return nil }
    for i in 0..<arenaCount {
      if let block = arenas[i].allocate(size: size, alignment: alignment) { return block }
    }
    // Every arena is full: grow by at least 2 MiB, or enough for this block
    // plus the arena's own bookkeeping page(s).
    guard let grow, size >= 0, size <= Int.max / 2 else { return nil }
    let wanted = max(
      2 << 20, (size + alignment + 2 * Self.pageSize + Self.pageSize - 1) & ~(Self.pageSize - 1))
    guard let (memory, bytes) = grow(wanted), addArena(memory, size: bytes) else { return nil }
    return arenas[arenaCount - 1].allocate(size: size, alignment: alignment)
  }

  public mutating func free(_ pointer: UnsafeMutableRawPointer) -> Result<Void, FreeError> {
    let address = UInt(bitPattern: pointer)
    guard let arenas else { return .failure(.outsideHeap(address)) }
    for i in 0..<arenaCount where arenas[i].contains(address) {
      return arenas[i].free(pointer)
    }
    return .failure(.outsideHeap(address))
  }

  /// The usable size of an allocated block.
  public func blockSize(_ pointer: UnsafeRawPointer) -> Int? {
    let address = UInt(bitPattern: pointer)
    guard let arenas else { return nil }
    for i in 0..<arenaCount where arenas[i].contains(address) {
      return arenas[i].blockSize(pointer)
    }
    return nil
  }

  public var statistics: Statistics {
    var total = Statistics()
    guard let arenas else { return total }
    for i in 0..<arenaCount { total = total + arenas[i].statistics }
    return total
  }
}
