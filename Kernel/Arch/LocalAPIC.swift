import X86

/// The local APIC of the calling CPU, in x2APIC mode (MSRs) when the CPU has
/// it and xAPIC mode (MMIO through the direct map) otherwise. Every CPU uses
/// the same mode; the boot CPU decides.
enum LocalAPIC {
  enum Register: UInt32 {
    case id = 0x20
    case version = 0x30
    case taskPriority = 0x80
    case endOfInterrupt = 0xB0
    case spurious = 0xF0
    case errorStatus = 0x280
    case interruptCommandLow = 0x300
    case interruptCommandHigh = 0x310
    case timerVector = 0x320
    case lint0 = 0x350
    case lint1 = 0x360
    case errorVector = 0x370
    case timerInitialCount = 0x380
    case timerCurrentCount = 0x390
    case timerDivide = 0x3E0
  }

  static let baseMSR: UInt32 = 0x1B
  nonisolated(unsafe) static var x2APIC = false
  nonisolated(unsafe) static var physicalBase: UInt64 = 0xFEE0_0000

  /// Decides the mode on the boot CPU (before `enable` anywhere).
  static func choose(physicalBase: UInt64) {
    self.physicalBase = physicalBase
    x2APIC = x86_cpuid(1, 0).ecx & (1 << 21) != 0
  }

  static func read(_ register: Register) -> UInt32 {
    if x2APIC { return UInt32(truncatingIfNeeded: x86_rdmsr(0x800 + register.rawValue >> 4)) }
    return x86_mmio_read32(PhysicalMemory.directMapBase + physicalBase + UInt64(register.rawValue))
  }

  static func write(_ register: Register, _ value: UInt32) {
    if x2APIC {
      x86_wrmsr(0x800 + register.rawValue >> 4, UInt64(value))
      return
    }
    let address = PhysicalMemory.directMapBase + physicalBase + UInt64(register.rawValue)
    x86_mmio_write32(address, value)
  }

  /// Enables the APIC on the calling CPU: software enable with the spurious
  /// vector, no task priority filtering, LINTs and the timer masked.
  static func enable() {
    var base = x86_rdmsr(baseMSR) | (1 << 11)
    if x2APIC { base |= 1 << 10 }
    x86_wrmsr(baseMSR, base)
    write(.taskPriority, 0)
    write(.timerVector, 1 << 16)
    write(.lint0, 1 << 16)
    write(.lint1, 1 << 16)
    write(.errorVector, UInt32(InterruptVector.apicError))
    write(.spurious, 0x100 | UInt32(InterruptVector.spurious))
  }

  static var id: UInt32 {
    x2APIC ? read(.id) : read(.id) >> 24
  }

  static func endOfInterrupt() { write(.endOfInterrupt, 0) }

  // Interrupt command register fields.
  static let deliveryFixed: UInt32 = 0 << 8
  static let deliveryINIT: UInt32 = 5 << 8
  static let deliveryStartup: UInt32 = 6 << 8
  static let levelAssert: UInt32 = 1 << 14
  static let sendPending: UInt32 = 1 << 12

  /// Sends an interrupt to ONE CPU by APIC ID. Never uses the broadcast
  /// shorthands: every destination is named (mOS's rule across partitions).
  static func send(to apicID: UInt32, command: UInt32) {
    if x2APIC {
      x86_wrmsr(0x830, UInt64(apicID) << 32 | UInt64(command))
      return
    }
    // The two writes must not be split by an interrupt handler that sends
    // an IPI of its own (the shipping server answers LWK CPUs from one):
    // the second write would go out to the handler's destination.
    let interruptsWereOn = x86_read_rflags() & (1 << 9) != 0
    x86_cli()
    write(.interruptCommandHigh, apicID << 24)
    write(.interruptCommandLow, command)
    var spins = 0
    while read(.interruptCommandLow) & sendPending != 0 && spins < 1_000_000 {
      x86_pause()
      spins += 1
    }
    if interruptsWereOn { x86_sti() }
  }

  /// The timer: `vector` every `count` ticks (divide by 16), or masked.
  static func startPeriodicTimer(vector: UInt8, count: UInt32) {
    write(.timerDivide, 0x3)
    write(.timerVector, UInt32(vector) | (1 << 17))
    write(.timerInitialCount, count)
  }

  static func maskTimer() {
    write(.timerVector, 1 << 16)
    write(.timerInitialCount, 0)
  }
}
