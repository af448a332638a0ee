import X86

/// The I/O APIC that turns device interrupt lines into messages to CPUs, and
/// the legacy 8259 PICs, which are remapped away from the exception vectors
/// and masked so that only the I/O APIC delivers.
enum IOAPIC {
  /// Routes ISA `irq` to `vector` on the CPU with `apicID`, honouring the
  /// MADT's interrupt source overrides. Returns a line for the boot log.
  static func route(
    isaIRQ irq: UInt8, vector: UInt8, to apicID: UInt32, topology: Topology
  ) -> String {
    var gsi = UInt32(irq)
    var activeLow = false
    var level = false
    if let override = topology.interruptOverrides.first(where: { $0.sourceIRQ == irq }) {
      gsi = override.globalInterrupt
      activeLow = override.activeLow
      level = override.levelTriggered
    }
    guard
      let chip = topology.ioAPICs.first(where: {
        gsi >= $0.interruptBase && gsi - $0.interruptBase < UInt32(entries(of: $0))
      })
    else {
      return "no I/O APIC serves IRQ \(irq) (GSI \(gsi))"
    }
    let pin = gsi - chip.interruptBase
    var low = UInt32(vector)  // fixed delivery, physical destination
    if activeLow { low |= 1 << 13 }
    if level { low |= 1 << 15 }
    write(chip, 0x10 + 2 * pin + 1, apicID << 24)
    write(chip, 0x10 + 2 * pin, low)
    return "IRQ \(irq) -> I/O APIC \(chip.id) pin \(pin) -> vector \(vector) on APIC \(apicID)"
      + (activeLow ? ", active low" : "") + (level ? ", level" : "")
  }

  static func entries(of chip: IOAPICDescriptor) -> Int {
    Int((read(chip, 0x01) >> 16) & 0xFF) + 1
  }

  /// IOREGSEL at +0 selects the register, IOWIN at +0x10 reads or writes it.
  static func read(_ chip: IOAPICDescriptor, _ register: UInt32) -> UInt32 {
    guard let base = PhysicalMemory.pointer(chip.address) else { return 0 }
    let address = UInt64(UInt(bitPattern: base))
    x86_mmio_write32(address, register)
    return x86_mmio_read32(address + 0x10)
  }

  static func write(_ chip: IOAPICDescriptor, _ register: UInt32, _ value: UInt32) {
    guard let base = PhysicalMemory.pointer(chip.address) else { return }
    let address = UInt64(UInt(bitPattern: base))
    x86_mmio_write32(address, register)
    x86_mmio_write32(address + 0x10, value)
  }

  /// Remaps the two 8259s to legacyBase... and masks every line.
  static func disableLegacyPIC() {
    let base = InterruptVector.legacyBase
    x86_outb(0x20, 0x11)
    x86_outb(0xA0, 0x11)
    x86_outb(0x21, base)
    x86_outb(0xA1, base + 8)
    x86_outb(0x21, 4)
    x86_outb(0xA1, 2)
    x86_outb(0x21, 1)
    x86_outb(0xA1, 1)
    x86_outb(0x21, 0xFF)
    x86_outb(0xA1, 0xFF)
  }
}
