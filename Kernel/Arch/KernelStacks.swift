/// Kernel stacks for the CPUs that boot after the boot CPU: a region of the
/// kernel half laid out in 64 KiB slots, each with an unmapped guard page at
/// its bottom and 4 KiB pages of service-partition memory above it. A stack
/// that overflows runs into its guard page and faults.
enum KernelStacks {
  static let regionBase: UInt64 = 0x8000_0000  // 2 GiB, PML4 slot 0 (kernel)
  static let slotSize: UInt64 = 64 << 10
  static let slots: UInt64 = 4096
  nonisolated(unsafe) static var nextSlot: UInt64 = 0

  /// A new stack of `pages` 4 KiB pages; returns its top, or nil when memory
  /// or slots run out.
  static func allocate(pages: Int) -> UInt64? {
    guard pages >= 1, UInt64(pages + 1) * 4096 <= slotSize, nextSlot < slots,
      let table = KernelAddressSpace.table
    else { return nil }
    let slot = regionBase + nextSlot * slotSize
    nextSlot += 1
    let top = slot + slotSize
    for i in 1...pages {
      guard let frame = memory.service?.allocate(order: 0) else { return nil }
      PhysicalMemory.pointer(frame)!.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
      let page = top - UInt64(i) * 4096
      guard case .success = table.map(page, to: frame, size: .small, flags: .kernelData) else {
        return nil
      }
    }
    return top
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
