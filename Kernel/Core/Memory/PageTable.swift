// x86-64 four-level page tables as data: entry encoding, and mapping,
// unmapping and translation over table memory reached through a generic
// accessor. The kernel passes the direct map; tests pass a dictionary. The
// caller owns TLB invalidation (it knows which CPUs may cache what).

/// How the paging code reads and writes 64-bit words of physical memory and
/// gets zeroed frames for new tables.
public protocol PageTableMemory {
  func load(_ physical: UInt64) -> UInt64
  func store(_ physical: UInt64, _ value: UInt64)
  /// A zeroed 4 KiB frame for a page table, or nil when memory is exhausted.
  func allocateTableFrame() -> UInt64?
}

public enum PageSize: Equatable, Sendable {
  case small  // 4 KiB
  case large  // 2 MiB
  case huge  // 1 GiB

  public var bytes: UInt64 {
    switch self {
    case .small: 1 << 12
    case .large: 1 << 21
    case .huge: 1 << 30
    }
  }

  /// The table level whose entries map pages of this size (1 = page table).
  var level: Int {
    switch self {
    case .small: 1
    case .large: 2
    case .huge: 3
    }
  }

  public var description: String {
    switch self {
    case .small: "4 KiB"
    case .large: "2 MiB"
    case .huge: "1 GiB"
    }
  }
}

/// Page permissions and attributes, as the entry bits they become.
public struct PageFlags: OptionSet, Equatable, Sendable {
  public let rawValue: UInt64
  public init(rawValue: UInt64) { self.rawValue = rawValue }

  public static let present = PageFlags(rawValue: 1 << 0)
  public static let writable = PageFlags(rawValue: 1 << 1)
  public static let user = PageFlags(rawValue: 1 << 2)
  public static let writeThrough = PageFlags(rawValue: 1 << 3)
  public static let cacheDisabled = PageFlags(rawValue: 1 << 4)
  public static let global = PageFlags(rawValue: 1 << 8)
  public static let noExecute = PageFlags(rawValue: 1 << 63)

  /// The bits a leaf entry may carry besides the frame address.
  static let leafMask: UInt64 =
    (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 8) | (1 << 63)

  public static let kernelCode: PageFlags = [.present]
  public static let kernelReadOnly: PageFlags = [.present, .noExecute]
  public static let kernelData: PageFlags = [.present, .writable, .noExecute]
}

public enum PageTableError: Error, Equatable {
  case misaligned(virtual: UInt64, physical: UInt64)
  case nonCanonical(UInt64)
  case alreadyMapped(UInt64)
  /// A larger page already covers part of the range.
  case insideLargePage(UInt64)
  /// A page table hangs where a large page was asked for.
  case tableInTheWay(UInt64)
  case notMapped(UInt64)
  /// Outside the addresses this address space may map (e.g. kernel slots).
  case outsideRange(UInt64)
  case outOfMemory

  public var description: String {
    switch self {
    case .misaligned(let v, let p):
      "virtual 0x\(String(v, radix: 16)) or physical 0x\(String(p, radix: 16)) is not aligned to the page size"
    case .nonCanonical(let v): "0x\(String(v, radix: 16)) is not a canonical address"
    case .alreadyMapped(let v): "0x\(String(v, radix: 16)) is already mapped"
    case .insideLargePage(let v): "0x\(String(v, radix: 16)) lies inside a larger page"
    case .tableInTheWay(let v):
      "0x\(String(v, radix: 16)) already has smaller pages mapped below it"
    case .notMapped(let v): "0x\(String(v, radix: 16)) is not mapped"
    case .outsideRange(let v):
      "0x\(String(v, radix: 16)) is outside the range this address space may map"
    case .outOfMemory: "no memory for a page table"
    }
  }
}

/// What a virtual address translates to.
public struct Translation: Equatable {
  public var physical: UInt64
  public var flags: PageFlags
  public var size: PageSize
}

/// One address space's page tables, rooted at a PML4 frame.
public struct PageTable<Memory: PageTableMemory> {
  public let root: UInt64
  let memory: Memory

  static var addressMask: UInt64 { 0x000F_FFFF_FFFF_F000 }
  static var hugeBit: UInt64 { 1 << 7 }

  /// Wraps an existing root table.
  public init(root: UInt64, memory: Memory) {
    self.root = root
    self.memory = memory
  }

  /// A new, empty address space.
  public init?(memory: Memory) {
    guard let root = memory.allocateTableFrame() else { return nil }
    self.init(root: root, memory: memory)
  }

  public static func isCanonical(_ virtual: UInt64) -> Bool {
    let top = virtual >> 47
    return top == 0 || top == 0x1FFFF
  }

  static func index(_ virtual: UInt64, level: Int) -> UInt64 {
    (virtual >> (12 + 9 * UInt64(level - 1))) & 0x1FF
  }

  /// Maps one page. Intermediate tables are created as needed and made
  /// permissive (writable, user if the leaf is): the leaf decides access.
  public func map(_ virtual: UInt64, to physical: UInt64, size: PageSize, flags: PageFlags)
    -> Result<
      Void, PageTableError
    >
  {
    guard Self.isCanonical(virtual) else { return .failure(.nonCanonical(virtual)) }
    guard virtual % size.bytes == 0, physical % size.bytes == 0,
      physical & ~Self.addressMask & ~0xFFF == 0
    else { return .failure(.misaligned(virtual: virtual, physical: physical)) }
    var table = root
    var level = 4
    while level > size.level {
      let slot = table + Self.index(virtual, level: level) * 8
      var entry = memory.load(slot)
      if entry & PageFlags.present.rawValue == 0 {
        guard let frame = memory.allocateTableFrame() else { return .failure(.outOfMemory) }
        entry = frame | PageFlags.present.rawValue | PageFlags.writable.rawValue
        memory.store(slot, entry)
      } else if level <= 3 && entry & Self.hugeBit != 0 {
        return .failure(.insideLargePage(virtual))
      }
      if flags.contains(.user) && entry & PageFlags.user.rawValue == 0 {
        entry |= PageFlags.user.rawValue
        memory.store(slot, entry)
      }
      table = entry & Self.addressMask
      level -= 1
    }
    let slot = table + Self.index(virtual, level: level) * 8
    let existing = memory.load(slot)
    if existing & PageFlags.present.rawValue != 0 {
      let isLeaf = level == 1 || existing & Self.hugeBit != 0
      return .failure(isLeaf ? .alreadyMapped(virtual) : .tableInTheWay(virtual))
    }
    var entry = physical | (flags.rawValue & PageFlags.leafMask) | PageFlags.present.rawValue
    if size != .small { entry |= Self.hugeBit }
    memory.store(slot, entry)
    return .success(())
  }

  /// Removes the page that maps `virtual` (which must be its first address)
  /// and says what it mapped. Emptied tables are kept.
  public func unmap(_ virtual: UInt64) -> Result<Translation, PageTableError> {
    guard let (slot, translation) = walk(virtual) else { return .failure(.notMapped(virtual)) }
    guard virtual % translation.size.bytes == 0 else { return .failure(.insideLargePage(virtual)) }
    memory.store(slot, 0)
    return .success(translation)
  }

  public func translate(_ virtual: UInt64) -> Translation? {
    walk(virtual).map { $0.1 }
  }

  /// The leaf entry's slot and what it maps, with the offset into the page added.
  func walk(_ virtual: UInt64) -> (UInt64, Translation)? {
    guard Self.isCanonical(virtual) else { return nil }
    var table = root
    var level = 4
    while true {
      let slot = table + Self.index(virtual, level: level) * 8
      let entry = memory.load(slot)
      guard entry & PageFlags.present.rawValue != 0 else { return nil }
      let isLeaf = level == 1 || (level <= 3 && entry & Self.hugeBit != 0)
      if isLeaf {
        let size: PageSize = level == 1 ? .small : level == 2 ? .large : .huge
        let frame = entry & Self.addressMask & ~(size.bytes - 1)
        let flags = PageFlags(rawValue: entry & PageFlags.leafMask)
        return (slot, Translation(physical: frame + virtual % size.bytes, flags: flags, size: size))
      }
      if level == 4 && entry & Self.hugeBit != 0 { return nil }  // reserved in PML4
      table = entry & Self.addressMask
      level -= 1
    }
  }

  /// How many leaf pages of each size are mapped through PML4 entries
  /// `slots` (for `lwk ps`: which page sizes a process got).
  public func leafCounts(slots: ClosedRange<UInt64>) -> (small: Int, large: Int, huge: Int) {
    var counts = (small: 0, large: 0, huge: 0)
    forEachLeaf(slots: slots) { _, size in
      switch size {
      case .small: counts.small += 1
      case .large: counts.large += 1
      case .huge: counts.huge += 1
      }
    }
    return counts
  }

  /// Every leaf page mapped through PML4 entries `slots`: its physical
  /// address and size.
  public func forEachLeaf(slots: ClosedRange<UInt64>, _ body: (UInt64, PageSize) -> Void) {
    func walk(_ table: UInt64, level: Int, range: ClosedRange<UInt64>) {
      for index in range {
        let entry = memory.load(table + index * 8)
        guard entry & PageFlags.present.rawValue != 0 else { continue }
        if level == 1 {
          body(entry & Self.addressMask, .small)
        } else if level <= 3 && entry & Self.hugeBit != 0 {
          let size: PageSize = level == 2 ? .large : .huge
          body(entry & Self.addressMask & ~(size.bytes - 1), size)
        } else {
          walk(entry & Self.addressMask, level: level - 1, range: 0...511)
        }
      }
    }
    walk(root, level: 4, range: slots.clamped(to: 0...511))
  }

  /// Maps `[virtual, virtual + length)` to `[physical, ...)` with the largest
  /// pages alignment allows (`largest` caps the size, e.g. no 1 GiB pages on
  /// CPUs without them).
  public func mapRange(
    _ virtual: UInt64, to physical: UInt64, length: UInt64, flags: PageFlags,
    largest: PageSize = .large
  ) -> Result<Void, PageTableError> {
    var offset: UInt64 = 0
    while offset < length {
      let v = virtual + offset
      let p = physical + offset
      var size = PageSize.small
      for candidate in [PageSize.huge, .large] where candidate.bytes <= largest.bytes {
        if v % candidate.bytes == 0 && p % candidate.bytes == 0
          && length - offset >= candidate.bytes
        {
          size = candidate
          break
        }
      }
      if case .failure(let error) = map(v, to: p, size: size, flags: flags) {
        return .failure(error)
      }
      offset += size.bytes
    }
    return .success(())
  }
}
