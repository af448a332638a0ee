import X86

/// Page-table memory reached through the direct map; new tables come from
/// a frame source the caller chooses (a boot-time reserved pool, later the
/// service partition's allocator) and are zeroed here.
struct DirectMapTableMemory: PageTableMemory {
  let frames: () -> UInt64?

  func load(_ physical: UInt64) -> UInt64 {
    PhysicalMemory.pointer(physical)!.load(as: UInt64.self)
  }

  func store(_ physical: UInt64, _ value: UInt64) {
    PhysicalMemory.pointer(physical)!.storeBytes(of: value, as: UInt64.self)
  }

  func allocateTableFrame() -> UInt64? {
    guard let frame = frames(), let page = PhysicalMemory.pointer(frame) else { return nil }
    page.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
    return frame
  }
}

/// The kernel's own address space: the image at KERNEL_VMA with W^X
/// (text read-only executable, rodata read-only, data and bss no-execute),
/// stack guard pages left unmapped, and every byte of physical memory in the
/// direct map with the largest pages the CPU offers. Nothing is identity
/// mapped, so a null pointer faults.
enum KernelAddressSpace {
  static let kernelVirtualBase: UInt64 = 0x4000_0000
  nonisolated(unsafe) static var table: PageTable<DirectMapTableMemory>? = nil

  /// Builds the tables and switches to them. `physicalEnd` is the end of the
  /// highest RAM range; the direct map covers at least the low 4 GiB
  /// (firmware tables and device memory live there).
  static func build(
    physicalEnd: UInt64, features: CPUFeatures, frames: @escaping () -> UInt64?
  ) -> Result<Void, PageTableError> {
    guard let table = PageTable(memory: DirectMapTableMemory(frames: frames)) else {
      return .failure(.outOfMemory)
    }
    let textStart = symbol___text_start()
    let textEnd = symbol___text_end()
    let rodataEnd = symbol___rodata_end()
    let kernelEnd = symbol___kernel_end()
    var page = textStart
    while page < kernelEnd {
      let flags: PageFlags =
        page < textEnd ? .kernelCode : page < rodataEnd ? .kernelReadOnly : .kernelData
      if GuardPages.name(containing: page) == nil {
        let mapped = table.map(page, to: page - kernelVirtualBase, size: .small, flags: flags)
        if case .failure(let error) = mapped { return .failure(error) }
      }
      page += 4096
    }
    // The AP trampoline runs from its page with paging on before it reaches
    // the kernel: that one page is identity mapped.
    if case .failure(let error) = table.map(
      SMP.trampolinePage, to: SMP.trampolinePage, size: .small, flags: .kernelCode)
    {
      return .failure(error)
    }
    let twoMiB: UInt64 = 1 << 21
    let end = (max(physicalEnd, PhysicalMemory.bootDirectMapSize) + twoMiB - 1) & ~(twoMiB - 1)
    let direct = table.mapRange(
      PhysicalMemory.directMapBase, to: 0, length: end, flags: .kernelData,
      largest: features.hugePages ? .huge : .large)
    if case .failure(let error) = direct { return .failure(error) }
    x86_write_cr3(table.root)
    PhysicalMemory.directMapSize = end
    self.table = table
    return .success(())
  }

  /// Page-table frames `build` needs at most, so boot can set them aside
  /// before any allocator exists.
  static func framesNeeded(physicalEnd: UInt64) -> Int {
    let kernelPages = Int((symbol___kernel_end() - symbol___text_start()) / 4096)
    let gib = Int(max(physicalEnd, PhysicalMemory.bootDirectMapSize) >> 30) + 1
    return 1 + 2 + (kernelPages / 512 + 2) + (gib >> 9) + 1 + gib + 1
  }
}
