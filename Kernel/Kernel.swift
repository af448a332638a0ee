import X86

/// What the boot CPU learned at boot and the shell reports.
struct BootState {
  var bootInfoAddress: UInt64 = 0
  var bootInfo: BootInformation? = nil
  var bootInfoError: String? = nil
  var commandLine = KernelCommandLine(raw: "")
}

nonisolated(unsafe) var boot = BootState()
/// The boot CPU's GDT and TSS (the other CPUs make theirs in apEntry).
nonisolated(unsafe) var bootDescriptorTables: DescriptorTables? = nil

/// The Swift entry, called by Boot/entry.S on the boot stack with the
/// Multiboot2 magic and the physical address of the boot information.
@_cdecl("kmain")
func kmain(_ magic: UInt32, _ bootInfoAddress: UInt64) -> Never {
  Serial.initialize()
  initializeKernelHeap()
  bootDescriptorTables = DescriptorTables(
    doubleFaultStackTop: symbol_ist_df_stack_top(), nmiStackTop: symbol_ist_nmi_stack_top())
  interruptTable = InterruptTable()
  interruptTable!.load()

  print("Tessera: x86-64 capability microkernel")
  if case .failure(let error) = Multiboot2.checkMagic(magic) {
    // Boot/entry.S already refuses a wrong magic; this guards other entries.
    Panic.halt(because: "not started by a Multiboot2 loader: " + error.description)
  }
  readBootInformation(at: bootInfoAddress)
  logBootInformation()
  let features = CPUFeatures.detect()
  let haveMemory = reserveBootMemory()
  discoverACPI()
  planPlatform()
  if haveMemory, let request = platform?.memoryRequest {
    partitionMemory(request: request, features: features)
  }
  bringUpProcessors()
  ProcessRunner.startInit()
  reportKernelBootTime()
  var shell = Shell()
  shell.run()
}

/// Boot information is untrusted input: a bad block is reported and the
/// kernel carries on without it.
func readBootInformation(at address: UInt64) {
  boot.bootInfoAddress = address
  guard let header = PhysicalMemory.view(address, 8), let total = header.u32(0) else {
    boot.bootInfoError = "boot information at \(hex(address)) is outside the direct map"
    return
  }
  // Far larger than any real block; a wild size must not make us read the world.
  let limit = 1 << 20
  guard let view = PhysicalMemory.view(address, min(Int(total), limit)) else {
    boot.bootInfoError = "boot information at \(hex(address)) is outside the direct map"
    return
  }
  switch Multiboot2.parse(view) {
  case .success(let info):
    boot.bootInfo = info
    boot.commandLine = KernelCommandLine.parse(info.commandLine ?? "")
  case .failure(let error):
    boot.bootInfoError = error.description
  }
}

func logBootInformation() {
  if let error = boot.bootInfoError {
    print("boot: malformed Multiboot2 information: \(error); continuing without it")
    return
  }
  guard let info = boot.bootInfo else { return }
  print(
    "boot: loader \"\(info.bootLoaderName ?? "(unnamed)")\", boot information at \(hex(boot.bootInfoAddress)) (\(info.totalSize) bytes)"
  )
  print("boot: command line \"\(boot.commandLine.raw)\"")
  for warning in boot.commandLine.warnings { print("boot: command line warning: \(warning)") }
  for error in boot.commandLine.errors {
    print("boot: command line error: \(error.description) (ignored)")
  }
  if boot.commandLine.noFastPath {
    IPCFastPathLayout.requested = false
    print("boot: IPC fast path off (nofastpath): call and replyReceive take the general path")
  }
  printMemoryMap(info.memoryMap)
  for (i, module) in info.modules.enumerated() {
    print(
      "boot: module \(i) \(hex(UInt64(module.start)))-\(hex(UInt64(module.end))) \(module.size) bytes \"\(module.commandLine)\""
    )
  }
  if let rsdp = info.rsdp {
    let version = info.newRSDP != nil ? "2" : "1"
    print(
      "boot: ACPI RSDP v\(version) copy at \(hex(boot.bootInfoAddress + UInt64(rsdp.offset))) (\(rsdp.length) bytes)"
    )
  } else {
    print("boot: no ACPI RSDP from the loader")
  }
}

func printMemoryMap(_ map: [MemoryMapEntry]) {
  var usable: UInt64 = 0
  print("memory map (\(map.count) entries, as the loader reported it):")
  for entry in map {
    let end = entry.end ?? UInt64.max
    print(
      "  \(hex(entry.base))-\(hex(end &- 1))  \(formatSize(entry.length).padded(to: 12))  \(entry.type.description)"
    )
    if entry.type == .available { usable &+= entry.length }
  }
  print("total usable: \(usable / 1024) KiB (\(usable >> 20) MiB)")
}

/// The kernel's own part of the boot, from the TSC the 32-bit entry read
/// (in the identity-placed boot stub) to the first prompt; `make bench`
/// sets it beside the wall time from QEMU's start to split off firmware and
/// loader.
func reportKernelBootTime() {
  guard let entry = PhysicalMemory.view(symbol_kernel_entry_tsc(), 8)?.u64(0), entry != 0,
    Clock.tscKHz > 0
  else { return }
  let cycles = x86_rdtsc() &- entry
  let microseconds = cycles * 1000 / Clock.tscKHz
  print(
    "boot: kernel entry to prompt: \(formatThousandths(microseconds)) ms (\(cycles) TSC cycles)"
  )
}
