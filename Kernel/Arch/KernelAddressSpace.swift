import X86

/// Page-table memory reached through the direct map; new tables come from
/// a frame source the caller chooses (a boot-time reserved pool, later the
/// instance's own frame allocator) and are zeroed here.
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

/// What one kernel instance's page tables map: the kernel image, whose
/// private part (.data and .bss) sits at `privatePhysical`, and the
/// physical ranges its direct map covers.
struct KernelAddressSpaceLayout {
  /// Where the instance's copy of [__data_start, __kernel_end) lives.
  var privatePhysical: UInt64
  /// Page-aligned physical ranges to map in the direct map.
  var directMap: [PhysicalRange]
  var largest: PageSize

  /// The layout of the instance that boot started: its private part is the
  /// one the loader placed.
  static func loaded(directMap: [PhysicalRange], largest: PageSize) -> KernelAddressSpaceLayout {
    KernelAddressSpaceLayout(
      privatePhysical: symbol___data_start() - KernelAddressSpace.kernelVirtualBase,
      directMap: directMap, largest: largest)
  }
}

/// A kernel instance's own address space: the image at KERNEL_VMA with W^X
/// (text read-only executable, rodata read-only, data and bss no-execute),
/// stack guard pages left unmapped, and the direct map of exactly the
/// physical memory the instance may touch, with the largest pages the CPU
/// offers. Text and rodata are the same frames in every instance; .data and
/// .bss are the instance's own (see Kernel/Instance/KernelInstance.swift).
/// Nothing is identity mapped but the AP trampoline page, so a null pointer
/// faults.
enum KernelAddressSpace {
  static let kernelVirtualBase: UInt64 = 0x4000_0000
  nonisolated(unsafe) static var table: PageTable<DirectMapTableMemory>? = nil

  /// The bytes of the instance-private part of the image.
  static var privateBytes: UInt64 { symbol___kernel_end() - symbol___data_start() }

  /// Builds an instance's tables without switching to them.
  static func build(
    _ layout: KernelAddressSpaceLayout, frames: @escaping () -> UInt64?
  ) -> Result<PageTable<DirectMapTableMemory>, PageTableError> {
    guard let table = PageTable(memory: DirectMapTableMemory(frames: frames)) else {
      return .failure(.outOfMemory)
    }
    let textEnd = symbol___text_end()
    let rodataEnd = symbol___rodata_end()
    let privateStart = symbol___data_start()
    var page = symbol___text_start()
    while page < symbol___kernel_end() {
      let flags: PageFlags =
        page < textEnd ? .kernelCode : page < rodataEnd ? .kernelReadOnly : .kernelData
      let physical =
        page < privateStart
        ? page - kernelVirtualBase : layout.privatePhysical + (page - privateStart)
      if GuardPages.name(containing: page) == nil {
        let mapped = table.map(page, to: physical, size: .small, flags: flags)
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
    for range in layout.directMap where !range.isEmpty {
      let direct = table.mapRange(
        PhysicalMemory.directMapBase + range.base, to: range.base, length: range.length,
        flags: .kernelData, largest: layout.largest)
      if case .failure(let error) = direct { return .failure(error) }
    }
    return .success(table)
  }

  /// Builds the tables and switches to them (the service instance at boot).
  static func buildAndSwitch(
    _ layout: KernelAddressSpaceLayout, frames: @escaping () -> UInt64?
  ) -> Result<Void, PageTableError> {
    switch build(layout, frames: frames) {
    case .success(let table):
      x86_write_cr3(table.root)
      PhysicalMemory.directMapSize = layout.directMap.map { $0.end }.max() ?? 0
      self.table = table
      return .success(())
    case .failure(let error): return .failure(error)
    }
  }

  /// Page-table frames `build` needs at most for a direct map of `ranges`
  /// below `physicalEnd`, so boot can set them aside before any allocator
  /// exists. Each range's unaligned ends may need 4 KiB tables of their own.
  static func framesNeeded(physicalEnd: UInt64, ranges: Int = 1) -> Int {
    let kernelPages = Int((symbol___kernel_end() - symbol___text_start()) / 4096)
    let gib = Int(max(physicalEnd, PhysicalMemory.bootDirectMapSize) >> 30) + 1
    return 1 + 2 + (kernelPages / 512 + 2) + (gib >> 9) + 1 + gib + 1 + 4 * ranges
  }
}
