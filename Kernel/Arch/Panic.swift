import Synchronization
import X86

/// Kernel panics: a report on the serial console, then this CPU stops. The
/// report is written without allocating, since the heap may be the problem.
enum Panic {
  static let inProgress = Atomic<Bool>(false)

  static func halt(because reason: StaticString) -> Never {
    enter()
    Console.write("\n*** KERNEL PANIC: ")
    Console.write(reason)
    Console.write("\n")
    stop()
  }

  static func halt(because reason: String) -> Never {
    enter()
    Console.write("\n*** KERNEL PANIC: ")
    Console.write(reason)
    Console.write("\n")
    stop()
  }

  static func exception(_ framePointer: UnsafeMutablePointer<InterruptFrame>) -> Never {
    enter()
    let f = framePointer.pointee
    Console.write("\n*** KERNEL PANIC: exception ")
    Console.write(exceptionName(f.vector))
    Console.write(" (vector ")
    Console.writeDecimal(f.vector)
    Console.write(") in kernel mode\n")
    Console.write("error code ")
    Console.writeHex(f.errorCode)
    if f.vector == 14 { describePageFaultError(f.errorCode) }
    Console.write("\nRIP    ")
    Console.writeHex(f.rip)
    Console.write("  CS ")
    Console.writeHex(f.cs, digits: 4)
    Console.write("\nRSP    ")
    Console.writeHex(f.rsp)
    Console.write("  SS ")
    Console.writeHex(f.ss, digits: 4)
    Console.write("\nRFLAGS ")
    Console.writeHex(f.rflags)
    if f.vector == 14 || f.vector == 8 {
      // A double fault is usually a page fault that could not be delivered
      // (kernel stack overflow), so CR2 still names the culprit.
      let cr2 = x86_read_cr2()
      Console.write("\nCR2    ")
      Console.writeHex(cr2)
      if let stack = GuardPages.name(containing: cr2) {
        Console.write(" (guard page of the ")
        Console.write(stack)
        Console.write(": stack overflow)")
      }
    }
    Console.write("\n")
    register("RAX", f.rax, "RBX", f.rbx, "RCX", f.rcx)
    register("RDX", f.rdx, "RSI", f.rsi, "RDI", f.rdi)
    register("RBP", f.rbp, "R8 ", f.r8, "R9 ", f.r9)
    register("R10", f.r10, "R11", f.r11, "R12", f.r12)
    register("R13", f.r13, "R14", f.r14, "R15", f.r15)
    backtrace(rip: f.rip, rbp: f.rbp)
    stop()
  }

  static func describePageFaultError(_ code: UInt64) {
    Console.write(code & 1 != 0 ? " (protection violation" : " (page not present")
    Console.write(code & 2 != 0 ? ", write" : ", read")
    if code & 16 != 0 { Console.write(", instruction fetch") }
    Console.write(code & 4 != 0 ? ", user)" : ", kernel)")
  }

  static func register(
    _ n1: StaticString, _ v1: UInt64, _ n2: StaticString, _ v2: UInt64, _ n3: StaticString,
    _ v3: UInt64
  ) {
    Console.write(n1)
    Console.write(" ")
    Console.writeHex(v1)
    Console.write("  ")
    Console.write(n2)
    Console.write(" ")
    Console.writeHex(v2)
    Console.write("  ")
    Console.write(n3)
    Console.write(" ")
    Console.writeHex(v3)
    Console.write("\n")
  }

  /// Follows the frame-pointer chain while it stays on a kernel stack and
  /// returns into kernel text; a corrupt chain ends the walk, never faults.
  static func backtrace(rip: UInt64, rbp: UInt64) {
    let stacksStart = symbol___bss_start()
    let stacksEnd = symbol___bss_end()
    let textStart = symbol___text_start()
    let textEnd = symbol___text_end()
    Console.write("backtrace:\n  #0  ")
    Console.writeHex(rip)
    Console.write("\n")
    var frame = rbp
    var depth = 1
    while depth < 24, frame & 7 == 0,
      (frame >= stacksStart && frame + 16 <= stacksEnd) || KernelStacks.contains(frame),
      GuardPages.name(containing: frame) == nil
    {
      let record = UnsafePointer<UInt64>(bitPattern: UInt(frame))!
      let returnAddress = record[1]
      guard returnAddress >= textStart, returnAddress < textEnd else { break }
      Console.write("  #")
      Console.writeDecimal(UInt64(depth))
      Console.write(depth < 10 ? "  " : " ")
      Console.writeHex(returnAddress)
      Console.write("\n")
      guard record[0] > frame else { break }  // stacks grow down: callers are above
      frame = record[0]
      depth += 1
    }
  }

  static func enter() {
    x86_cli()
    if inProgress.exchange(true, ordering: .relaxed) {
      // A fault while reporting: say nothing more, just stop.
      stop()
    }
    // The service instance's watchdog sees this at its next check.
    if KernelInstance.kind == .lwk { LWKWatchdog.failing(.panic) }
    // The report goes out whole, not cut into another CPU's line (the
    // other instance's too: the lock is per machine). The wait is bounded:
    // a CPU that stopped holding the line is taken over.
    ConsoleLock.acquire()
  }

  static func stop() -> Never {
    Console.write("CPU halted.\n")
    while true {
      x86_cli()
      x86_hlt()
    }
  }
}
