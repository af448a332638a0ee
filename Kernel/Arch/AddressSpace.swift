import X86

/// An address space for user programs: its own page tables whose kernel slots
/// (PML4 entries of the kernel image and of the direct map) are shared with
/// the kernel's, so the kernel stays mapped after a switch. Tables it creates
/// come from the service partition's frames and go back when its process is
/// destroyed (`release`), not when the last reference goes: a kernel record
/// that still names the space (a DTU mapping of a channel that outlives its
/// process) must not hold its frames, or `mem since` would count them as
/// leaked until that record goes. A released space maps nothing and
/// unmapping from it does nothing. Unmapping invalidates the page on every running service CPU (remote calls)
/// before it returns.
final class AddressSpace {
  /// PML4 slots user mappings may use: 1-127 (0 holds the kernel image, 128
  /// and up the direct map).
  static let userSlots: ClosedRange<UInt64> = 1...127

  let table: PageTable<DirectMapTableMemory>
  private let tracker: TableFrameTracker
  /// Its tables went back to the allocator (`release`).
  private(set) var released = false

  init?() {
    guard let kernel = KernelAddressSpace.table else { return nil }
    let tracker = TableFrameTracker()
    let memory = DirectMapTableMemory { tracker.allocate() }
    guard let table = PageTable(memory: memory) else { return nil }
    for slot in [UInt64(0)] + Array(128...511) {
      memory.store(table.root + slot * 8, memory.load(kernel.root + slot * 8))
    }
    self.table = table
    self.tracker = tracker
  }

  deinit { release() }

  /// Gives its page tables back. Only once no CPU runs on them: its
  /// process's threads are all switched away from, and a switch to a kernel
  /// thread loads the kernel's tables.
  func release() {
    guard !released else { return }
    if isActive { KernelAddressSpace.activate() }
    released = true
    tracker.releaseAll()
  }

  /// The user memory mapped, by page size, NUMA node and physically
  /// contiguous runs ("2.0 MiB: 12 x 4 KiB, 1 x 2 MiB; node 1; 2 runs").
  var pageSummary: String {
    guard !released else { return "released" }
    let counts = table.leafCounts(slots: Self.userSlots)
    let bytes = UInt64(counts.small) * 4096 + UInt64(counts.large) << 21 + UInt64(counts.huge) << 30
    var text = formatSize(bytes) + ": \(counts.small) x 4 KiB"
    if counts.large > 0 { text += ", \(counts.large) x 2 MiB" }
    if counts.huge > 0 { text += ", \(counts.huge) x 1 GiB" }
    // Which NUMA nodes it lives on (an instance with per-node allocators).
    var nodes = CPUList()
    var pieces: [PhysicalRange] = []
    table.forEachLeaf(slots: Self.userSlots) { physical, size in
      if let node = Frames.node(of: physical) { nodes.insert(node) }
      pieces.append(PhysicalRange(base: physical, length: size.bytes))
    }
    if !nodes.isEmpty { text += "; node " + nodes.description }
    let runs = PhysicalRange.coalesced(pieces).count
    return text + "; \(runs) " + (runs == 1 ? "run" : "runs")
  }

  var isActive: Bool { !released && x86_read_cr3() & 0x000F_FFFF_FFFF_F000 == table.root }

  static func isUserAddress(_ virtual: UInt64) -> Bool {
    userSlots.contains(virtual >> 39)
  }

  func map(_ virtual: UInt64, to physical: UInt64, size: PageSize, flags: PageFlags) -> Result<
    Void, PageTableError
  > {
    guard !released, Self.isUserAddress(virtual), Self.isUserAddress(virtual + size.bytes - 1)
    else {
      return .failure(.outsideRange(virtual))
    }
    return table.map(virtual, to: physical, size: size, flags: flags)
  }

  func unmap(_ virtual: UInt64) -> Result<Translation, PageTableError> {
    guard !released else { return .failure(.notMapped(virtual)) }
    guard Self.isUserAddress(virtual) else { return .failure(.outsideRange(virtual)) }
    let result = table.unmap(virtual)
    // One invlpg drops the whole TLB entry, large pages included; every
    // service CPU may have used this space, so all of them drop it.
    if case .success = result { _ = TLBShootdown.invalidate(virtual) }
    return result
  }

  func translate(_ virtual: UInt64) -> Translation? {
    released ? nil : table.translate(virtual)
  }

  func activate() {
    guard !released else { return }
    x86_write_cr3(table.root)
  }
}

/// The page-table frames one address space allocated, to give back.
final class TableFrameTracker {
  var frames: [UInt64] = []

  func allocate() -> UInt64? {
    guard let frame = Frames.allocate() else { return nil }
    frames.append(frame)
    return frame
  }

  func releaseAll() {
    for frame in frames { Frames.free(frame) }
    frames.removeAll()
  }
}

extension KernelAddressSpace {
  static func activate() {
    if let table { x86_write_cr3(table.root) }
  }
}

extension AddressSpace {
  /// Unmaps `pages` pages from `address` and drops them from every service
  /// CPU's TLB in one shootdown.
  func unmapRange(_ address: UInt64, pages: UInt64) {
    guard !released else { return }
    var page: UInt64 = 0
    while page < pages {
      _ = table.unmap(address + page * 4096)
      page += 1
    }
    if pages > 0 { _ = TLBShootdown.invalidate(address, pages: pages) }
  }
}
