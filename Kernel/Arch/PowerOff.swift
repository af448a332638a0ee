import X86

/// ACPI soft-off (S5): the sleep type from the DSDT's \_S5 package written
/// with SLP_EN to the PM1 control registers the FADT names.
enum PowerOff {
  static func run() {
    guard let info = boot.bootInfo, let copy = info.rsdp else {
      print("poweroff: no ACPI RSDP from the boot loader; cannot power off")
      return
    }
    let rsdp = PhysicalMemory.view(boot.bootInfoAddress + UInt64(copy.offset), copy.length)
    switch ACPIPowerOff.plan(rsdp: rsdp, using: PhysicalMemory.view) {
    case .failure(let error):
      print("poweroff: ACPI tables unusable: \(error.description)")
    case .success(let plan):
      print(
        "poweroff: ACPI S5 via PM1a control port \(hex(UInt64(plan.pm1aControlPort), digits: 4))")
      // With ACPI still in legacy mode (SCI_EN clear) the write is ignored:
      // hand the chipset to ACPI first when the FADT says how.
      if x86_inw(plan.pm1aControlPort) & 1 == 0, let smi = plan.smiCommandPort,
        plan.acpiEnableValue != 0
      {
        x86_outb(smi, plan.acpiEnableValue)
        var spins = 0
        while x86_inw(plan.pm1aControlPort) & 1 == 0 && spins < 1_000_000 {
          x86Pause()
          spins += 1
        }
      }
      x86_outw(plan.pm1aControlPort, plan.pm1aControlValue(current: x86_inw(plan.pm1aControlPort)))
      if let port = plan.pm1bControlPort {
        x86_outw(port, plan.pm1bControlValue(current: x86_inw(port)))
      }
      // The machine should be gone; if it is not, say so and keep the shell.
      var spins = 0
      while spins < 10_000_000 {
        x86Pause()
        spins += 1
      }
      print("poweroff: the machine is still running after the S5 request")
    }
  }
}
