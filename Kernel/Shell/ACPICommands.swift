/// `acpi`: the firmware's tables with addresses, lengths and checksum state;
/// `acpi dump SIG` prints one table in hex (how the hosted tests' fixtures
/// were captured).
enum ACPICommands {
  static func acpi(_ arguments: [String]) {
    if arguments.count == 2, arguments[0] == "dump" {
      dump(arguments[1])
      return
    }
    guard arguments.isEmpty else {
      print("usage: acpi [dump SIGNATURE]")
      return
    }
    if let error = ACPIStateView.error { print("acpi: \(error)") }
    guard let rsdp = ACPIStateView.rsdp, let directory = ACPIStateView.directory else { return }
    print(
      "RSDP revision \(rsdp.revision), OEM \"\(rsdp.oemID)\", \(rsdp.xsdtAddress != nil ? "XSDT" : "RSDT") at \(hex(directory.root.address))"
    )
    var summaries = directory.summaries(using: PhysicalMemory.view)
    // The DSDT hangs off the FADT, not the root table.
    if let fadt = ACPIStateView.find(.fadt), let dsdt = fadt.view.u32(40), dsdt != 0 {
      summaries.append(ACPITableSummary(of: UInt64(dsdt), using: PhysicalMemory.view))
    }
    for summary in summaries {
      let name = summary.signature?.description ?? "????"
      print(
        "  \(name)  \(hex(summary.address))  \(String(summary.length).padded(to: 6)) bytes  checksum \(summary.isValid ? "ok" : "BAD")"
      )
    }
  }

  static func dump(_ name: String) {
    let bytes = Array(name.utf8)
    guard bytes.count == 4 else {
      print("error: a table signature has four characters, like APIC or SRAT")
      return
    }
    let signature = ACPISignature(
      rawValue: UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3])
        << 24)
    var table = ACPIStateView.find(signature)
    if table == nil, signature == .dsdt, let fadt = ACPIStateView.find(.fadt),
      let address = fadt.view.u32(40),
      case .success(let dsdt) = ACPITable.read(
        at: UInt64(address), expecting: .dsdt, using: PhysicalMemory.view)
    {
      table = dsdt
    }
    guard let table else {
      print("error: no valid \(name) table")
      return
    }
    print("\(name) at \(hex(table.address)), \(table.view.count) bytes:")
    ShellCommands.dumpHex(address: table.address, count: table.view.count)
  }
}

/// The global ACPI state as the shell reads it.
enum ACPIStateView {
  static var error: String? { acpi.error }
  static var rsdp: RSDP? { acpi.rsdp }
  static var directory: ACPITableDirectory? { acpi.directory }
  static func find(_ signature: ACPISignature) -> ACPITable? { acpi.find(signature) }
}
