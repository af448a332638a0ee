// The machine as the kernel sees it after reading the firmware: which CPUs
// exist, on which NUMA node each sits, and which memory belongs to which node.
// Built from the MADT, SRAT and SLIT (see TopologyBuilder) with fallbacks when
// they are missing or broken; the partition planner and the shell read it.

/// One processor the firmware lists.
public struct CPUDescriptor: Equatable, Sendable {
  /// The logical CPU number users name in `maxcpus=`/`lwkcpus=` and the shell:
  /// 0 is the boot CPU, then the other enabled processors in MADT order.
  /// Disabled processors get numbers after all enabled ones.
  public var index: Int
  public var apicID: UInt32
  public var acpiProcessorID: UInt32
  /// The NUMA node (proximity domain); 0 without an SRAT.
  public var node: Int
  /// Usable now (MADT enabled flag). Online-capable but disabled CPUs are false.
  public var enabled: Bool
  public var isBootCPU: Bool

  public init(
    index: Int, apicID: UInt32, acpiProcessorID: UInt32, node: Int, enabled: Bool, isBootCPU: Bool
  ) {
    self.index = index
    self.apicID = apicID
    self.acpiProcessorID = acpiProcessorID
    self.node = node
    self.enabled = enabled
    self.isBootCPU = isBootCPU
  }
}

/// One NUMA node: its CPUs (logical numbers) and its memory.
public struct NUMANode: Equatable, Sendable {
  public var id: Int
  public var cpus: [Int]
  public var memory: [PhysicalRange]

  public init(id: Int, cpus: [Int], memory: [PhysicalRange]) {
    self.id = id
    self.cpus = cpus
    self.memory = memory
  }

  public var memoryBytes: UInt64 { memory.reduce(0) { $0 &+ $1.length } }
}

public struct Topology: Equatable, Sendable {
  /// Every processor, ordered by logical number.
  public var cpus: [CPUDescriptor]
  /// Nodes ordered by id; without an SRAT a single node 0 holds everything.
  public var nodes: [NUMANode]
  /// SLIT distances, `distances[i][j]` from node i to node j (10 = local);
  /// nil when the firmware gives none.
  public var distances: [[UInt8]]?
  /// IOAPICs from the MADT, for interrupt routing.
  public var ioAPICs: [IOAPICDescriptor]
  /// MADT interrupt source overrides (ISA IRQ → global system interrupt).
  public var interruptOverrides: [InterruptOverride]
  /// The local APIC's physical MMIO address (MADT, possibly overridden).
  public var localAPICAddress: UInt64
  /// What was missing or malformed and which fallback was taken, for the boot log.
  public var notes: [String]

  public init(
    cpus: [CPUDescriptor], nodes: [NUMANode], distances: [[UInt8]]? = nil,
    ioAPICs: [IOAPICDescriptor] = [], interruptOverrides: [InterruptOverride] = [],
    localAPICAddress: UInt64 = 0xFEE0_0000, notes: [String] = []
  ) {
    self.cpus = cpus
    self.nodes = nodes
    self.distances = distances
    self.ioAPICs = ioAPICs
    self.interruptOverrides = interruptOverrides
    self.localAPICAddress = localAPICAddress
    self.notes = notes
  }

  public var enabledCPUs: [CPUDescriptor] { cpus.filter { $0.enabled } }

  public func cpu(_ index: Int) -> CPUDescriptor? {
    cpus.first { $0.index == index }
  }
}

public struct IOAPICDescriptor: Equatable, Sendable {
  public var id: UInt8
  public var address: UInt64
  /// The first global system interrupt this IOAPIC serves.
  public var interruptBase: UInt32

  public init(id: UInt8, address: UInt64, interruptBase: UInt32) {
    self.id = id
    self.address = address
    self.interruptBase = interruptBase
  }
}

public struct InterruptOverride: Equatable, Sendable {
  /// The ISA IRQ (bus 0) that is redirected.
  public var sourceIRQ: UInt8
  public var globalInterrupt: UInt32
  /// MPS INTI flags: polarity (bits 0-1) and trigger mode (bits 2-3).
  public var flags: UInt16

  public init(sourceIRQ: UInt8, globalInterrupt: UInt32, flags: UInt16) {
    self.sourceIRQ = sourceIRQ
    self.globalInterrupt = globalInterrupt
    self.flags = flags
  }

  /// Active low when the polarity field says so (3); ISA default is high.
  public var activeLow: Bool { flags & 0x3 == 0x3 }
  /// Level triggered when the trigger field says so (3); ISA default is edge.
  public var levelTriggered: Bool { (flags >> 2) & 0x3 == 0x3 }
}
