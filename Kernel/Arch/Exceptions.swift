import X86

/// The architecture's names for the 32 exception vectors.
func exceptionName(_ vector: UInt64) -> StaticString {
  switch vector {
  case 0: return "#DE divide error"
  case 1: return "#DB debug"
  case 2: return "NMI non-maskable interrupt"
  case 3: return "#BP breakpoint"
  case 4: return "#OF overflow"
  case 5: return "#BR bound range exceeded"
  case 6: return "#UD invalid opcode"
  case 7: return "#NM device not available"
  case 8: return "#DF double fault"
  case 9: return "coprocessor segment overrun"
  case 10: return "#TS invalid TSS"
  case 11: return "#NP segment not present"
  case 12: return "#SS stack-segment fault"
  case 13: return "#GP general protection"
  case 14: return "#PF page fault"
  case 16: return "#MF x87 floating-point error"
  case 17: return "#AC alignment check"
  case 18: return "#MC machine check"
  case 19: return "#XM SIMD floating-point error"
  case 20: return "#VE virtualization exception"
  case 21: return "#CP control protection"
  case 28: return "#HV hypervisor injection"
  case 29: return "#VC VMM communication"
  case 30: return "#SX security exception"
  default: return "reserved exception"
  }
}

/// Entry from Boot/interrupts.S for every vector.
@_cdecl("interrupt_dispatch")
func interruptDispatch(_ rawFrame: UnsafeMutableRawPointer) {
  let frame = rawFrame.assumingMemoryBound(to: InterruptFrame.self)
  let vector = frame.pointee.vector
  if vector < 32 {
    // User faults end the process; kernel faults stop the CPU, unless they
    // hit one of the probing accesses (Boot/probe.S), which report them.
    if frame.pointee.cs & 3 == 3 {
      // The check takes KernelLock, whose holder may be shooting down this
      // very page and waiting for this CPU's answer: wait with interrupts
      // on, as a system call would (the fault came from user mode).
      x86_sti()
      let stale = vector == 14 && ProcessRunner.isStalePageFault(frame.pointee)
      x86_cli()
      if stale { return }
      ProcessRunner.userFault(frame.pointee)
    }
    if Probe.recover(frame) { return }
    Panic.exception(frame)
  }
  let fromUser = frame.pointee.cs & 3 == 3
  var reschedule = false
  switch UInt8(truncatingIfNeeded: vector) {
  case InterruptVector.timer:
    if !processors.isEmpty {
      Timer.tick()
      reschedule = Scheduler.tick(fromUser: fromUser)
    }
  case InterruptVector.serial:
    Serial.handleInterrupt()
  case InterruptVector.remoteCall:
    RemoteCall.handleInterrupt()
  case InterruptVector.reschedule:
    reschedule = true
  case InterruptVector.doorbell:
    LWKControl.doorbell()
  case InterruptVector.spurious, InterruptVector.legacyBase + 7, InterruptVector.legacyBase + 15:
    return  // spurious: no EOI
  case InterruptVector.apicError:
    LocalAPIC.write(.errorStatus, 0)
  default:
    unexpectedInterrupts &+= 1
  }
  LocalAPIC.endOfInterrupt()
  Scheduler.preemptIfNeeded(fromUser: fromUser, requested: reschedule)
}

/// Interrupts on vectors nothing was set up for (shown by `cpus`).
nonisolated(unsafe) var unexpectedInterrupts: UInt64 = 0

/// Stacks whose guard pages Boot/entry.S leaves unmapped.
enum GuardPages {
  static func name(containing address: UInt64) -> StaticString? {
    let page = address & ~0xFFF
    if page == symbol_boot_stack_guard() { return "boot stack" }
    if page == symbol_ist_df_stack_guard() { return "double-fault stack" }
    if page == symbol_ist_nmi_stack_guard() { return "NMI stack" }
    if KernelStacks.guardSlot(containing: page) != nil { return "a CPU's kernel stack" }
    return nil
  }
}
