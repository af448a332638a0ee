import X86

/// The CPU side of user mode: the syscall MSRs, SMEP/SMAP, and which kernel
/// stack the CPU switches to when user code enters the kernel.
enum UserMode {
  static let userCodeSelector: UInt64 = UInt64(Selector.userCode)
  static let userDataSelector: UInt64 = UInt64(Selector.userData)

  /// Per CPU: `syscall` lands in syscall_entry with interrupts, traps,
  /// direction and alignment-check flags cleared; `sysret` returns to the
  /// user selectors (STAR's layout needs user data right below user code).
  static func enableOnThisCPU() {
    x86_wrmsr(0xC000_0080, x86_rdmsr(0xC000_0080) | 1)  // EFER.SCE
    x86_wrmsr(
      0xC000_0081, (UInt64(Selector.kernelData) << 48) | (UInt64(Selector.kernelCode) << 32))
    x86_wrmsr(0xC000_0082, symbol_syscall_entry())
    x86_wrmsr(0xC000_0084, (1 << 9) | (1 << 8) | (1 << 10) | (1 << 18))
    // The kernel GS base (what swapgs brings in) is this CPU's block.
    x86_wrmsr(0xC000_0102, 0)
    let leaf7 = x86_cpuid(0, 0).eax >= 7 ? x86_cpuid(7, 0).ebx : 0
    var cr4 = x86_read_cr4()
    if leaf7 & (1 << 7) != 0 { cr4 |= 1 << 20 }  // SMEP: never execute user pages in ring 0
    if leaf7 & (1 << 20) != 0 { cr4 |= 1 << 21 }  // SMAP: user memory is read through the direct map
    x86_write_cr4(cr4)
  }

  static var hasSMEP: Bool { x86_read_cr4() & (1 << 20) != 0 }
  static var hasSMAP: Bool { x86_read_cr4() & (1 << 21) != 0 }

  /// The stack the CPU takes on an interrupt or syscall from user mode.
  /// Through the per-CPU block: the address of TSS.RSP0, and the stack
  /// syscall_entry switches to.
  static func setKernelStack(_ top: UInt64) {
    let rsp0 = x86_read_gs_qword(UInt64(PERCPU_TSS_STACK_FIELD))
    if rsp0 != 0 {
      UnsafeMutableRawPointer(bitPattern: UInt(rsp0))!.storeBytes(of: top, as: UInt64.self)
    }
    x86_write_gs_qword(UInt64(PERCPU_KERNEL_STACK_TOP), top)
  }
}

extension DescriptorTables {
  /// TSS.RSP0: where the CPU switches on entry from ring 3.
  func setKernelStack(_ top: UInt64) {
    tss.storeBytes(of: top, toByteOffset: 4, as: UInt64.self)
  }
}
