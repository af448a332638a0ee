/// The registers saved on interrupt entry, lowest address first, exactly as
/// `isr_common` in Boot/interrupts.S pushes them on top of the CPU's frame.
struct InterruptFrame {
  var r15, r14, r13, r12, r11, r10, r9, r8: UInt64
  var rbp, rdi, rsi, rdx, rcx, rbx, rax: UInt64
  var vector: UInt64
  var errorCode: UInt64
  // Pushed by the CPU.
  var rip, cs, rflags, rsp, ss: UInt64
}
