import Synchronization
import X86

/// Starting CPUs: the trampoline is copied to its reserved page below 1 MiB,
/// and each CPU is started with INIT-SIPI-SIPI addressed to its own APIC ID
/// (never the all or all-but-self shorthands, which would reach the other
/// partition), one at a time, with a bounded wait. A CPU that does not
/// report in is marked failed and boot goes on without it. Each kernel
/// instance starts its own CPUs; the service instance also starts the LWK
/// instance's first CPU (Kernel/Instance/LWKLoader.swift).
enum SMP {
  static let trampolinePage: UInt64 = 0x8000  // must match Boot/trampoline.S
  static let kernelStackPages = 8  // 32 KiB
  static let interruptStackPages = 4  // 16 KiB each for double faults and NMIs
  /// How long an AP gets to report in.
  static let reportMicroseconds: UInt64 = 200_000
  /// Set when this instance may use the trampoline page (the service: boot
  /// reserved it; the LWK: its loader mapped it).
  nonisolated(unsafe) static var trampolineReady = false

  /// What one start hands the trampoline: page tables, stack, entry point
  /// and its two arguments (the CPU's number and `argument`).
  struct Launch {
    var pageTableRoot: UInt64
    var stackTop: UInt64
    var entry: @convention(c) (UInt64, UInt64) -> Void
    var argument: UInt64
  }

  /// Starts `cpus` of this instance one after the other, each on a new
  /// kernel stack of this instance, at `entry`. Returns one boot-log line
  /// per CPU that failed.
  static func start(_ cpus: [Processor], entry: @convention(c) (UInt64, UInt64) -> Void) -> [String]
  {
    var problems: [String] = []
    guard !cpus.isEmpty else { return problems }
    guard trampolineReady, KernelAddressSpace.table != nil else {
      for cpu in cpus { cpu.state = .failed }
      return ["smp: the AP trampoline page 0x8000 is not available; only the boot CPU runs"]
    }
    for cpu in cpus {
      guard let stack = KernelStacks.allocate(pages: kernelStackPages),
        let doubleFault = KernelStacks.allocate(pages: interruptStackPages),
        let nmi = KernelStacks.allocate(pages: interruptStackPages)
      else {
        cpu.state = .failed
        problems.append("smp: no memory for CPU \(cpu.index)'s stacks")
        continue
      }
      cpu.interruptStackTops = (doubleFault, nmi)
      let launch = Launch(
        pageTableRoot: x86_read_cr3(), stackTop: stack, entry: entry, argument: 0)
      if !start(cpu, launch) {
        cpu.state = .failed
        problems.append(
          "smp: CPU \(cpu.index) (APIC \(cpu.apicID)) did not start; continuing without it")
      }
    }
    return problems
  }

  /// Copies the trampoline to its page and fills in its data.
  static func prepareTrampoline(_ launch: Launch, cpu: Int) {
    let size = Int(symbol_trampoline_end() - symbol_trampoline_start())
    let source = UnsafeRawPointer(bitPattern: UInt(symbol_trampoline_start()))!
    PhysicalMemory.pointer(trampolinePage)!.copyMemory(from: source, byteCount: size)
    let data = PhysicalMemory.pointer(
      trampolinePage + symbol_trampoline_data() - symbol_trampoline_start())!
      .assumingMemoryBound(to: UInt64.self)
    data[0] = launch.pageTableRoot
    data[1] = launch.stackTop
    data[2] = UInt64(UInt(bitPattern: unsafeBitCast(launch.entry, to: UnsafeRawPointer.self)))
    data[3] = UInt64(cpu)
    data[4] = x86_rdmsr(0xC000_0080) & ((1 << 8) | (1 << 11))  // LME, NXE as on this CPU
    data[5] = launch.argument
  }

  /// The wait after INIT: the MP specification's 10 ms for old processors;
  /// family 6 and later (everything QEMU models) take the SIPI at once, as
  /// Linux also assumes, so 200 µs is enough.
  static var initDelayMicroseconds: UInt64 {
    let family = (x86_cpuid(1, 0).eax >> 8) & 0xF
    return family >= 6 ? 200 : 10_000
  }

  /// INIT, the INIT delay, SIPI, 200 µs, SIPI again unless it already runs,
  /// then wait (bounded) for it to report in by leaving `.starting`.
  /// With `nostart=` naming the CPU nothing is sent, so it never reports in
  /// and takes the failure path, as a CPU that ignores its SIPI would.
  static func start(_ cpu: Processor, _ launch: Launch) -> Bool {
    prepareTrampoline(launch, cpu: cpu.index)
    cpu.state = .starting
    let vector = UInt32(trampolinePage >> 12)
    let begin = x86_rdtsc()
    if boot.commandLine.notStarted?.contains(cpu.index) != true {
      sendINIT(cpu)
      Clock.delay(microseconds: initDelayMicroseconds)
      LocalAPIC.send(to: cpu.apicID, command: LocalAPIC.deliveryStartup | vector)
      Clock.delay(microseconds: 200)
      if cpu.state == .starting {
        LocalAPIC.send(to: cpu.apicID, command: LocalAPIC.deliveryStartup | vector)
      }
    }
    let deadline = x86_rdtsc() + Clock.cycles(microseconds: reportMicroseconds)
    while cpu.state == .starting {
      if x86_rdtsc() > deadline { return false }
      x86_pause()
    }
    cpu.bringUpCycles = x86_rdtsc() - begin
    return true
  }

  /// INIT to `cpu`: whatever it was doing (a panic's hlt, a spin with
  /// interrupts off), it stops and waits for a startup IPI. No code can
  /// refuse it, which is why the LWK's watchdog, restart and scribble use
  /// it to stop LWK CPUs.
  static func sendINIT(_ cpu: Processor) {
    LocalAPIC.send(to: cpu.apicID, command: LocalAPIC.deliveryINIT | LocalAPIC.levelAssert)
  }

  /// The set-up every CPU that joins an instance does first, on its own
  /// stack: per-CPU block, GDT/TSS with its IST stacks, the instance's IDT,
  /// system-call MSRs and the local APIC.
  static func joinInstance(_ cpu: Processor) {
    // First, so Processor.currentIndex works from here on; again below,
    // because loading the GDT's segment registers clears the GS base.
    cpu.installPerCPUBlock()
    cpu.tables = DescriptorTables(
      doubleFaultStackTop: cpu.interruptStackTops.doubleFault,
      nmiStackTop: cpu.interruptStackTops.nmi)
    interruptTable?.load()
    cpu.installPerCPUBlock()
    UserMode.enableOnThisCPU()
    LocalAPIC.enable()
    cpu.tscKHz = Clock.tscKHz
  }
}

/// Where the trampoline lands on the service instance's APs.
let apEntry: @convention(c) (UInt64, UInt64) -> Void = { index, _ in
  let cpu = processors[Int(index)]
  SMP.joinInstance(cpu)
  Scheduler.startOnThisCPU(bootName: "idle", bootIsIdle: true)
  Timer.startTick()
  cpu.state = .online
  while true { x86_sti_hlt() }
}
