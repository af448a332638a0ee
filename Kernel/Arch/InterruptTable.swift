import X86

/// The IDT: 256 interrupt gates, each pointing at its stub in
/// Boot/interrupts.S; double fault and NMI run on their own IST stacks. One
/// table serves every CPU.
struct InterruptTable {
  static let entries = 256
  let table: UnsafeMutablePointer<UInt64>

  init() {
    table = UnsafeMutablePointer<UInt64>.allocate(capacity: Self.entries * 2)
    table.initialize(repeating: 0, count: Self.entries * 2)
    let stubs = UnsafePointer<UInt64>(bitPattern: UInt(symbol_isr_stub_table()))!
    for vector in 0..<Self.entries {
      var ist: UInt8 = 0
      if vector == 8 { ist = InterruptStack.doubleFault }
      if vector == 2 { ist = InterruptStack.nmi }
      setGate(vector, handler: stubs[vector], ist: ist)
    }
  }

  func setGate(_ vector: Int, handler: UInt64, ist: UInt8 = 0, userCallable: Bool = false) {
    let typeAttributes: UInt64 = userCallable ? 0xEE : 0x8E  // present, DPL, 64-bit interrupt gate
    table[vector * 2] =
      (handler & 0xFFFF) | (UInt64(Selector.kernelCode) << 16) | (UInt64(ist & 7) << 32)
      | (typeAttributes << 40) | (((handler >> 16) & 0xFFFF) << 48)
    table[vector * 2 + 1] = handler >> 32
  }

  func load() {
    x86_lidt(UInt64(UInt(bitPattern: table)), UInt16(Self.entries * 16 - 1))
  }
}

nonisolated(unsafe) var interruptTable: InterruptTable? = nil
