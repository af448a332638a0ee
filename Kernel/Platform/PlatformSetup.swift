import X86

/// What boot learned about the machine and decided about it: the topology
/// from ACPI, the mOS-style CPU plan, the memory request it implies, and the
/// summary `parts` prints.
struct PlatformState {
  var topology: Topology
  var cpuPlan: CPUPartitionPlan
  var memoryRequest: MemoryPartitionRequest
  var summary: PartitionSummary? = nil
  var serialRouting = ""
}

nonisolated(unsafe) var platform: PlatformState? = nil

/// The boot CPU's APIC ID as CPUID reports it (before the APIC is touched).
func bootAPICID() -> UInt32 {
  x86_cpuid(1, 0).ebx >> 24
}

/// Reads the MADT, SRAT and SLIT into a topology and plans the partitions.
func planPlatform() {
  let reader: PhysicalMemoryReader = PhysicalMemory.view
  let madt = acpi.directory.flatMap { MADT.load(from: $0, using: reader) }
  let srat = acpi.directory.flatMap { SRAT.load(from: $0, using: reader) }
  let slit = acpi.directory.flatMap { SLIT.load(from: $0, using: reader) }
  let map = memory.plan == nil && memory.pageTablePool != nil ? memory.reserved : memory.firmware
  let topology = Topology.build(
    madt: madt, srat: srat, slit: slit, bootAPICID: bootAPICID(), memoryMap: map)
  for note in topology.notes { print("boot: topology: \(note)") }
  let plan = CPUPartitionPlan(topology: topology, commandLine: boot.commandLine)
  for message in plan.messages { print("boot: \(message)") }
  platform = PlatformState(
    topology: topology, cpuPlan: plan,
    memoryRequest: plan.memoryRequest(topology: topology, commandLine: boot.commandLine))
}

/// The local APIC, the clock, interrupt routing, the other service CPUs and
/// the LWK kernel instance.
func bringUpProcessors() {
  guard var state = platform else { return }
  LocalAPIC.choose(physicalBase: state.topology.localAPICAddress)
  LocalAPIC.enable()
  Clock.calibrate()
  IOAPIC.disableLegacyPIC()

  var list: [Processor] = []
  for descriptor in state.topology.cpus {
    list.append(
      Processor(
        index: descriptor.index, apicID: descriptor.apicID, node: descriptor.node,
        isService: state.cpuPlan.partition(of: descriptor.index) != .lwk))
  }
  processors = list
  let me = processors[0]
  me.tables = bootDescriptorTables
  me.installPerCPUBlock()
  UserMode.enableOnThisCPU()
  me.tscKHz = Clock.tscKHz
  me.state = .online
  Timer.startTick()

  state.serialRouting = IOAPIC.route(
    isaIRQ: 4, vector: InterruptVector.serial, to: me.apicID, topology: state.topology)
  print("boot: serial console \(state.serialRouting)")
  if state.serialRouting.hasPrefix("IRQ") { Serial.enableReceiveInterrupt() }
  if let plan = memory.plan {
    state.summary = PartitionSummary(
      cpus: state.cpuPlan, memoryRequest: state.memoryRequest, memory: plan)
  }
  platform = state

  Scheduler.perCPU = Array(repeating: nil, count: processors.count)
  Scheduler.startOnThisCPU(bootName: "shell", bootIsIdle: false)
  x86_sti()
  // CPUs beyond the LWK's limit are in neither partition and stay offline.
  let startable = state.topology.cpus.filter {
    $0.enabled && !$0.isBootCPU && state.cpuPlan.partition(of: $0.index) != nil
  }.map { processors[$0.index] }
  let service = startable.filter { $0.isService }
  for line in SMP.start(service, entry: apEntry) { print("boot: \(line)") }
  // The LWK instance starts the rest of its CPUs itself.
  for line in LWKLoader.start(startable.filter { !$0.isService }, platform: state) {
    print("boot: \(line)")
  }
  let up = processors.filter { $0.state == .online }.count
  print(
    "boot: \(up) of \(state.topology.enabledCPUs.count) CPUs running; TSC \(Clock.tscKHz) kHz, local APIC timer \(Clock.apicTicksPerMillisecond) ticks/ms"
  )
}
