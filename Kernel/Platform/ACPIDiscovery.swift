/// The ACPI tables the firmware left: found through the RSDP the loader
/// copied into the boot information (or, failing that, by scanning the BIOS
/// area), read through the direct map. Bad tables are reported, not trusted.
struct ACPIState {
  var rsdp: RSDP? = nil
  var directory: ACPITableDirectory? = nil
  var error: String? = nil

  func find(_ signature: ACPISignature) -> ACPITable? {
    guard let directory,
      case .success(let table) = directory.find(signature, using: PhysicalMemory.view)
    else { return nil }
    return table
  }
}

nonisolated(unsafe) var acpi = ACPIState()

func discoverACPI() {
  var rsdpView: ByteView? = nil
  if let copy = boot.bootInfo?.rsdp {
    rsdpView = PhysicalMemory.view(boot.bootInfoAddress + UInt64(copy.offset), copy.length)
  } else if let bios = PhysicalMemory.view(0xE0000, 0x20000), let offset = RSDP.search(in: bios) {
    rsdpView = bios.slice(offset, min(36, bios.count - offset))
  }
  guard let rsdpView else {
    acpi.error = "no ACPI RSDP (neither from the loader nor in the BIOS area)"
    print("acpi: \(acpi.error!)")
    return
  }
  switch RSDP.parse(rsdpView) {
  case .failure(let error):
    acpi.error = error.description
  case .success(let rsdp):
    acpi.rsdp = rsdp
    switch ACPITableDirectory.load(rsdp: rsdp, using: PhysicalMemory.view) {
    case .success(let directory): acpi.directory = directory
    case .failure(let error): acpi.error = error.description
    }
  }
  if let error = acpi.error { print("acpi: \(error); continuing without ACPI tables") }
}
