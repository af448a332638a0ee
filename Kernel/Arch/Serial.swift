import X86

/// The 16550 UART at COM1, 115200 8N1. Output waits for the transmitter.
/// Input is polled until `enableReceiveInterrupt`; then the interrupt handler
/// moves bytes into a ring the shell drains, and the shell sleeps in hlt.
enum Serial {
  static let port: UInt16 = 0x3F8

  static func initialize() {
    x86_outb(port + 1, 0x00)  // no interrupts (the shell polls for now)
    x86_outb(port + 3, 0x80)  // DLAB on: divisor follows
    x86_outb(port + 0, 0x01)  // 115200 baud = 115200 / 1
    x86_outb(port + 1, 0x00)
    x86_outb(port + 3, 0x03)  // 8 data bits, no parity, one stop bit
    x86_outb(port + 2, 0x01)  // FIFOs on, interrupt at every byte; keep bytes already typed
    x86_outb(port + 4, 0x03)  // DTR, RTS
  }

  static func write(byte: UInt8) {
    // Bounded: a missing or wedged UART must not hang the kernel.
    var spins = 0
    while x86_inb(port + 5) & 0x20 == 0 && spins < 100_000 {
      x86_pause()
      spins += 1
    }
    x86_outb(port, byte)
  }

  static func read() -> UInt8? {
    guard x86_inb(port + 5) & 0x01 != 0 else { return nil }
    return x86_inb(port)
  }

  nonisolated(unsafe) static var interruptDriven = false
  nonisolated(unsafe) static var ring = ByteRing()

  /// Receive-data interrupts on; OUT2 gates the UART's IRQ line on PCs.
  static func enableReceiveInterrupt() {
    x86_outb(port + 4, 0x0B)
    x86_outb(port + 1, 0x01)
    interruptDriven = true
  }

  /// The thread sleeping until input arrives (the shell).
  nonisolated(unsafe) static var waiter: Thread? = nil

  /// The receive interrupt: drain the FIFO into the ring, wake the reader.
  static func handleInterrupt() {
    while let byte = read() { ring.push(byte) }
    // An LWK program the shell waits for takes the input (its shipped read).
    FunctionShipping.inputArrived()
    if let thread = waiter, !ring.isEmpty {
      waiter = nil
      Scheduler.wake(thread)
    }
  }

  /// The next input byte, sleeping until one arrives. Interrupts stay
  /// enabled on return (the shell runs with them on).
  static func waitForByte() -> UInt8 {
    ConsoleLock.release()  // the prompt has no newline; others may print now
    while true {
      if !interruptDriven {
        if let byte = read() { return byte }
        x86_pause()
        continue
      }
      x86_cli()
      if let byte = ring.pop() {
        x86_sti()
        return byte
      }
      if let scheduler = Scheduler.here {
        // Sleep as a thread, so that programs run meanwhile.
        waiter = scheduler.current
        Scheduler.block()
      } else {
        x86_sti_hlt()
      }
    }
  }
}
