/// Kernel stacks for the CPUs that boot after the boot CPU: a region of the
/// kernel half laid out in 64 KiB slots, each with an unmapped guard page at
/// its bottom and 4 KiB pages of service-partition memory above it. A stack
/// that overflows runs into its guard page and faults.
enum KernelStacks {
  static let regionBase: UInt64 = 0x8000_0000  // 2 GiB, PML4 slot 0 (kernel)
  static let slotSize: UInt64 = 64 << 10
  static let slots: UInt64 = 4096
  nonisolated(unsafe) static var nextSlot: UInt64 = 0

  /// Slots given back, reused before new ones.
  nonisolated(unsafe) static var freeSlots: [UInt64] = []

  /// A new stack of `pages` 4 KiB pages; returns its top, or nil when memory
  /// or slots run out.
  static func allocate(pages: Int) -> UInt64? {
    guard pages >= 1, UInt64(pages + 1) * 4096 <= slotSize, let table = KernelAddressSpace.table
    else { return nil }
    let slotIndex: UInt64
    if let reused = freeSlots.popLast() {
      slotIndex = reused
    } else {
      guard nextSlot < slots else { return nil }
      slotIndex = nextSlot
      nextSlot += 1
    }
    let slot = regionBase + slotIndex * slotSize
    let top = slot + slotSize
    for i in 1...pages {
      guard let frame = Frames.allocate() else { return nil }
      PhysicalMemory.pointer(frame)!.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
      let page = top - UInt64(i) * 4096
      guard case .success = table.map(page, to: frame, size: .small, flags: .kernelData) else {
        return nil
      }
    }
    return top
  }

  /// Unmaps a stack from `allocate` (on every CPU) and frees its frames.
  static func release(top: UInt64) {
    guard contains(top - 1), let table = KernelAddressSpace.table else { return }
    let slotIndex = (top - 1 - regionBase) / slotSize
    let slot = regionBase + slotIndex * slotSize
    var page = slot + 4096
    while page < slot + slotSize {
      if case .success(let translation) = table.unmap(page) {
        _ = TLBShootdown.invalidate(page)
        Frames.free(translation.physical)
      }
      page += 4096
    }
    freeSlots.append(slotIndex)
  }

  /// The slot whose unmapped part holds `address`, if it is one of ours.
  static func guardSlot(containing address: UInt64) -> UInt64? {
    guard address >= regionBase, address < regionBase + nextSlot * slotSize else { return nil }
    guard KernelAddressSpace.table?.translate(address) == nil else { return nil }
    return (address - regionBase) / slotSize
  }

  static func contains(_ address: UInt64) -> Bool {
    address >= regionBase && address < regionBase + nextSlot * slotSize
  }
}
