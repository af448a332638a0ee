import X86

/// Segment selectors of the kernel's GDT. The user pair sits in the order
/// `sysret` expects (data, then code) for the user-mode issue.
enum Selector {
  static let kernelCode: UInt16 = 0x08
  static let kernelData: UInt16 = 0x10
  static let userData: UInt16 = 0x18 | 3
  static let userCode: UInt16 = 0x20 | 3
  static let tss: UInt16 = 0x28
}

/// Interrupt stack table slots (1-based, as the IDT encodes them).
enum InterruptStack {
  static let doubleFault: UInt8 = 1
  static let nmi: UInt8 = 2
}

/// A CPU's GDT and TSS. The TSS carries the IST stacks that double faults and
/// NMIs switch to, so they are reported even when the kernel stack is gone.
struct DescriptorTables {
  static let gdtEntries = 7  // null, kcode, kdata, udata, ucode, TSS (two slots)
  static let tssSize = 104

  let gdt: UnsafeMutablePointer<UInt64>
  let tss: UnsafeMutableRawPointer

  /// Builds and loads the tables on the calling CPU.
  init(doubleFaultStackTop: UInt64, nmiStackTop: UInt64) {
    gdt = UnsafeMutablePointer<UInt64>.allocate(capacity: Self.gdtEntries)
    tss = UnsafeMutableRawPointer.allocate(byteCount: Self.tssSize, alignment: 16)
    tss.initializeMemory(as: UInt8.self, repeating: 0, count: Self.tssSize)
    // IST n lives at offset 36 + 8(n-1); the I/O map base points past the end (no map).
    tss.storeBytes(of: doubleFaultStackTop, toByteOffset: 36, as: UInt64.self)
    tss.storeBytes(of: nmiStackTop, toByteOffset: 44, as: UInt64.self)
    tss.storeBytes(of: UInt16(Self.tssSize), toByteOffset: 102, as: UInt16.self)

    gdt[0] = 0
    gdt[1] = 0x00AF_9A00_0000_FFFF  // 64-bit code, DPL 0
    gdt[2] = 0x00CF_9200_0000_FFFF  // data, DPL 0
    gdt[3] = 0x00CF_F200_0000_FFFF  // data, DPL 3
    gdt[4] = 0x00AF_FA00_0000_FFFF  // 64-bit code, DPL 3
    let base = UInt64(UInt(bitPattern: tss))
    let limit = UInt64(Self.tssSize - 1)
    gdt[5] =
      (limit & 0xFFFF) | ((base & 0xFF_FFFF) << 16) | (0x89 << 40)  // present, available 64-bit TSS
      | (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56)
    gdt[6] = base >> 32

    x86_lgdt(UInt64(UInt(bitPattern: gdt)), UInt16(Self.gdtEntries * 8 - 1))
    x86_reload_segments(Selector.kernelCode, Selector.kernelData)
    x86_ltr(Selector.tss)
  }
}
