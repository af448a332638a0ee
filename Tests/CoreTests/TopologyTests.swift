import PropertyBased
import Testing

@testable import TesseraCore

private typealias Tables = ACPITestTables

private func parsed(_ table: CapturedTable) -> Result<MADT, MADTError> {
  (try? table.parse(MADT.parse)) ?? .failure(.tableTooShort(length: 0))
}

private func parsed(_ table: CapturedTable) -> Result<SRAT, SRATError> {
  (try? table.parse(SRAT.parse)) ?? .failure(.tableTooShort(length: 0))
}

private func parsed(_ table: CapturedTable) -> Result<SLIT, SLITError> {
  (try? table.parse(SLIT.parse)) ?? .failure(.tableTooShort(length: 0))
}

private func range(_ base: UInt64, _ end: UInt64) -> PhysicalRange {
  PhysicalRange(base: base, end: end)
}

private func cpu(
  _ index: Int, apic: UInt32, uid: UInt32? = nil, node: Int = 0, enabled: Bool = true
)
  -> CPUDescriptor
{
  CPUDescriptor(
    index: index, apicID: apic, acpiProcessorID: uid ?? apic, node: node, enabled: enabled,
    isBootCPU: index == 0)
}

private func processor(_ id: UInt32, enabled: Bool = true, x2APIC: Bool = false) -> MADTProcessor {
  MADTProcessor(apicID: id, acpiProcessorUID: id, flags: enabled ? 1 : 0, isX2APIC: x2APIC)
}

private let noSRAT = "srat: none; one node 0 with every CPU and all usable memory"

/// QEMU's usable memory below 640 KiB after normalization (the partial page
/// at 0x9F000 is dropped).
private let lowMemory = range(0, 0x9_F000)

@Suite struct TopologyTests {
  // MARK: QEMU's machines

  @Test func qemuSingleCPUWithoutSRAT() {
    let map = MemoryMap.normalize(qemu128MiBMemoryMap)
    let topology = Topology.build(
      madt: parsed(qemuSMP1MADT), srat: nil, slit: nil, bootAPICID: 0, memoryMap: map)
    #expect(
      topology
        == Topology(
          cpus: [cpu(0, apic: 0)],
          nodes: [NUMANode(id: 0, cpus: [0], memory: [lowMemory, range(0x10_0000, 0x7FE_0000)])],
          distances: nil,
          ioAPICs: [IOAPICDescriptor(id: 0, address: 0xFEC0_0000, interruptBase: 0)],
          interruptOverrides: [
            InterruptOverride(sourceIRQ: 0, globalInterrupt: 2, flags: 0),
            InterruptOverride(sourceIRQ: 5, globalInterrupt: 5, flags: 0xD),
            InterruptOverride(sourceIRQ: 9, globalInterrupt: 9, flags: 0xD),
            InterruptOverride(sourceIRQ: 10, globalInterrupt: 10, flags: 0xD),
            InterruptOverride(sourceIRQ: 11, globalInterrupt: 11, flags: 0xD),
          ],
          localAPICAddress: 0xFEE0_0000, notes: [noSRAT]))
  }

  @Test func qemuFourCPUsOnTwoNodes() {
    let map = MemoryMap.normalize(qemu512MiBMemoryMap)
    let topology = Topology.build(
      madt: parsed(qemuSMP4NUMA2MADT), srat: parsed(qemuSMP4NUMA2SRAT), slit: nil, bootAPICID: 0,
      memoryMap: map)
    #expect(
      topology.cpus == [
        cpu(0, apic: 0, node: 0), cpu(1, apic: 1, node: 0), cpu(2, apic: 2, node: 1),
        cpu(3, apic: 3, node: 1),
      ])
    #expect(
      topology.nodes == [
        NUMANode(id: 0, cpus: [0, 1], memory: [lowMemory, range(0x10_0000, 0x1000_0000)]),
        NUMANode(id: 1, cpus: [2, 3], memory: [range(0x1000_0000, 0x1FFE_0000)]),
      ])
    #expect(topology.distances == nil)
    #expect(topology.notes.isEmpty)
    #expect(topology.ioAPICs.count == 1 && topology.interruptOverrides.count == 5)
    #expect(topology.nodes[1].memoryBytes == 0x1000_0000 - 0x2_0000)
  }

  /// The boot CPU need not be the first entry: it becomes CPU 0 and the
  /// others keep their MADT order.
  @Test func bootCPUElsewhereIsStillCPU0() {
    let topology = Topology.build(
      madt: parsed(qemuSMP4NUMA2MADT), srat: parsed(qemuSMP4NUMA2SRAT), slit: nil, bootAPICID: 2,
      memoryMap: MemoryMap.normalize(qemu512MiBMemoryMap))
    #expect(
      topology.cpus == [
        cpu(0, apic: 2, node: 1), cpu(1, apic: 0, node: 0), cpu(2, apic: 1, node: 0),
        cpu(3, apic: 3, node: 1),
      ])
    #expect(topology.nodes.map(\.cpus) == [[1, 2], [0, 3]])
    #expect(topology.notes.isEmpty)
  }

  @Test func qemuEightCPUsOnFourNodes() {
    let topology = Topology.build(
      madt: parsed(qemuSMP8NUMA4MADT), srat: parsed(qemuSMP8NUMA4SRAT), slit: nil, bootAPICID: 0,
      memoryMap: MemoryMap.normalize(qemu1GiBMemoryMap))
    #expect(topology.cpus.map(\.apicID) == Array(0...7))
    #expect(topology.cpus.map(\.node) == [0, 0, 1, 1, 2, 2, 3, 3])
    #expect(
      topology.nodes == [
        NUMANode(id: 0, cpus: [0, 1], memory: [lowMemory, range(0x10_0000, 0x1000_0000)]),
        NUMANode(id: 1, cpus: [2, 3], memory: [range(0x1000_0000, 0x2000_0000)]),
        NUMANode(id: 2, cpus: [4, 5], memory: [range(0x2000_0000, 0x3000_0000)]),
        NUMANode(id: 3, cpus: [6, 7], memory: [range(0x3000_0000, 0x3FFE_0000)]),
      ])
    #expect(topology.notes.isEmpty)
  }

  @Test func qemuDistances() {
    let topology = Topology.build(
      madt: parsed(qemuSMP4NUMA2MADT), srat: parsed(qemuSMP4NUMA2SRAT), slit: parsed(qemuSLIT),
      bootAPICID: 0, memoryMap: MemoryMap.normalize(qemu512MiBMemoryMap))
    #expect(topology.distances == [[10, 21], [21, 10]])
    #expect(topology.notes.isEmpty)
  }

  /// Node 1's SRAT ranges cover the top of low memory, which is partly
  /// firmware area, and the memory above 4 GiB: only the usable bytes count.
  @Test func qemuNodeMemoryExcludesFirmwareAreas() {
    let topology = Topology.build(
      madt: parsed(qemuSMP2NUMA2At4GMADT), srat: parsed(qemuSMP2NUMA2At4GSRAT), slit: nil,
      bootAPICID: 0, memoryMap: MemoryMap.normalize(qemu4GiBMemoryMap))
    #expect(
      topology.nodes == [
        NUMANode(id: 0, cpus: [0], memory: [lowMemory, range(0x10_0000, 0x8000_0000)]),
        NUMANode(
          id: 1, cpus: [1],
          memory: [range(0x8000_0000, 0xBFFE_0000), range(0x1_0000_0000, 0x1_4000_0000)]),
      ])
  }

  /// The kernel's reservations are not node memory, even one that straddles
  /// the boundary between two nodes.
  @Test func nodeMemoryExcludesReservations() {
    var map = MemoryMap.normalize(qemu512MiBMemoryMap)
    map.reserve(range(0, 0x10_0000), reason: .lowMemory)
    map.reserve(range(0x100_0000, 0x140_0000), reason: .kernelImage)
    map.reserve(range(0xFF0_0000, 0x1010_0000), reason: .rings)
    let topology = Topology.build(
      madt: parsed(qemuSMP4NUMA2MADT), srat: parsed(qemuSMP4NUMA2SRAT), slit: nil, bootAPICID: 0,
      memoryMap: map)
    #expect(
      topology.nodes.map(\.memory) == [
        [range(0x10_0000, 0x100_0000), range(0x140_0000, 0xFF0_0000)],
        [range(0x1010_0000, 0x1FFE_0000)],
      ])
  }

  /// `-smp 2,maxcpus=4`: the hot-pluggable CPUs come after the enabled ones.
  @Test func qemuDisabledCPUsComeLast() {
    let topology = Topology.build(
      madt: parsed(qemuHotplugMADT), srat: nil, slit: nil, bootAPICID: 1,
      memoryMap: MemoryMap.normalize(qemu128MiBMemoryMap))
    #expect(
      topology.cpus == [
        cpu(0, apic: 1), cpu(1, apic: 0), cpu(2, apic: 2, enabled: false),
        cpu(3, apic: 3, enabled: false),
      ])
    #expect(topology.enabledCPUs.count == 2)
    #expect(topology.nodes.map(\.cpus) == [[0, 1, 2, 3]])
  }

  // MARK: CPU numbering

  @Test func enabledCPUsInMADTOrderThenDisabledOnes() {
    let madt = MADT(
      localAPICAddress32: 0xFEE0_0000,
      processors: [
        processor(4), processor(1, enabled: false), processor(0), processor(3, enabled: false),
        processor(2),
      ])
    let topology = Topology.build(
      madt: .success(madt), srat: nil, slit: nil, bootAPICID: 0, memoryMap: MemoryMap())
    #expect(
      topology.cpus == [
        cpu(0, apic: 0), cpu(1, apic: 4), cpu(2, apic: 2), cpu(3, apic: 1, enabled: false),
        cpu(4, apic: 3, enabled: false),
      ])
  }

  /// Firmware may list CPUs both as xAPIC and as x2APIC entries.
  @Test func x2APICEntriesRepeatingAnIDCountOnce() {
    let madt = MADT(
      localAPICAddress32: 0xFEE0_0000,
      processors: [
        processor(0), processor(1), processor(0, x2APIC: true), processor(1, x2APIC: true),
        processor(300, x2APIC: true),
      ])
    let topology = Topology.build(
      madt: .success(madt), srat: nil, slit: nil, bootAPICID: 0, memoryMap: MemoryMap())
    #expect(topology.cpus == [cpu(0, apic: 0), cpu(1, apic: 1), cpu(2, apic: 300)])
    #expect(
      topology.notes == [
        "madt: several entries for APIC IDs 0, 1; the first one counts", noSRAT,
      ])
  }

  /// SRAT type 0 and type 2 entries both name a CPU by its APIC ID.
  @Test func x2APICCPUsFindTheirNodes() {
    let madt = MADT(
      localAPICAddress32: 0xFEE0_0000,
      processors: [processor(0), processor(300, x2APIC: true), processor(301, x2APIC: true)])
    let srat = SRAT(
      processorAffinities: [
        ProcessorAffinity(apicID: 0, proximityDomain: 0, flags: 1, isX2APIC: false),
        ProcessorAffinity(apicID: 300, proximityDomain: 1, flags: 1, isX2APIC: true),
        ProcessorAffinity(apicID: 301, proximityDomain: 7, flags: 1, isX2APIC: true),
      ])
    let topology = Topology.build(
      madt: .success(madt), srat: .success(srat), slit: nil, bootAPICID: 0, memoryMap: MemoryMap())
    #expect(topology.cpus.map(\.node) == [0, 1, 7])
    #expect(topology.nodes.map(\.id) == [0, 1, 7])
    #expect(topology.nodes.map(\.cpus) == [[0], [1], [2]])
    #expect(topology.notes.isEmpty)
  }

  @Test func typeFiveOverridesTheLocalAPICAddress() {
    var madt = MADT(localAPICAddress32: 0xFEE0_0000, processors: [processor(0)])
    madt.localAPICAddressOverride = 0xF_FEE0_0000
    let topology = Topology.build(
      madt: .success(madt), srat: nil, slit: nil, bootAPICID: 0, memoryMap: MemoryMap())
    #expect(topology.localAPICAddress == 0xF_FEE0_0000)
  }

  // MARK: Fallbacks

  @Test func noMADTMeansTheBootCPUAlone() {
    let map = MemoryMap.normalize(qemu128MiBMemoryMap)
    let topology = Topology.build(madt: nil, srat: nil, slit: nil, bootAPICID: 3, memoryMap: map)
    #expect(
      topology
        == Topology(
          cpus: [cpu(0, apic: 3, uid: CPUDescriptor.unknownProcessorUID)],
          nodes: [NUMANode(id: 0, cpus: [0], memory: map.usableRanges)],
          localAPICAddress: 0xFEE0_0000,
          notes: ["madt: none; using the boot CPU alone", noSRAT]))
    #expect(topology.ioAPICs.isEmpty && topology.interruptOverrides.isEmpty)
  }

  @Test func malformedMADTMeansTheBootCPUAlone() throws {
    var bytes = qemuSMP4NUMA2MADT.bytes
    bytes[45] = 0  // the first entry's length
    Tables.fixChecksum(&bytes)
    let madt = try Tables.parse(bytes, MADT.parse)
    let topology = Topology.build(
      madt: madt, srat: parsed(qemuSMP4NUMA2SRAT), slit: nil, bootAPICID: 0,
      memoryMap: MemoryMap.normalize(qemu512MiBMemoryMap))
    #expect(topology.cpus == [cpu(0, apic: 0, uid: CPUDescriptor.unknownProcessorUID)])
    // The SRAT still places memory; node 1 has no CPU now.
    #expect(topology.nodes.map(\.cpus) == [[0], []])
    #expect(
      topology.notes == ["madt: bogus entry length 0 at offset 0x2c; using the boot CPU alone"])
    #expect(topology.ioAPICs.isEmpty)
  }

  @Test func bootCPUMissingFromTheMADTIsAdded() {
    let topology = Topology.build(
      madt: parsed(qemuSMP4NUMA2MADT), srat: parsed(qemuSMP4NUMA2SRAT), slit: nil, bootAPICID: 9,
      memoryMap: MemoryMap.normalize(qemu512MiBMemoryMap))
    #expect(
      topology.cpus == [
        cpu(0, apic: 9, uid: CPUDescriptor.unknownProcessorUID, node: 0), cpu(1, apic: 0, node: 0),
        cpu(2, apic: 1, node: 0), cpu(3, apic: 2, node: 1), cpu(4, apic: 3, node: 1),
      ])
    #expect(topology.nodes.map(\.cpus) == [[0, 1, 2], [3, 4]])
    #expect(
      topology.notes == [
        "madt: the boot CPU (APIC ID 9) is not listed; added as CPU 0",
        "srat: no affinity for CPU 0 (APIC ID 9); placed on node 0",
      ])
  }

  @Test func bootCPUListedAsDisabledCountsAsEnabled() {
    let madt = MADT(
      localAPICAddress32: 0xFEE0_0000, processors: [processor(0, enabled: false), processor(1)])
    let topology = Topology.build(
      madt: .success(madt), srat: nil, slit: nil, bootAPICID: 0, memoryMap: MemoryMap())
    #expect(topology.cpus == [cpu(0, apic: 0), cpu(1, apic: 1)])
    #expect(
      topology.notes.first
        == "madt: the boot CPU (APIC ID 0) is listed as disabled; it is running, so it counts as enabled"
    )
  }

  @Test func cpusWithoutAffinityGoToNode0() {
    var srat: SRAT? = try? parsed(qemuSMP4NUMA2SRAT).get()
    srat?.processorAffinities.removeLast(2)  // APIC IDs 2 and 3
    let topology = Topology.build(
      madt: parsed(qemuSMP4NUMA2MADT), srat: srat.map { .success($0) }, slit: nil, bootAPICID: 0,
      memoryMap: MemoryMap.normalize(qemu512MiBMemoryMap))
    #expect(topology.cpus.map(\.node) == [0, 0, 0, 0])
    #expect(topology.nodes.map(\.cpus) == [[0, 1, 2, 3], []])
    #expect(topology.nodes[1].memory == [range(0x1000_0000, 0x1FFE_0000)])
    #expect(
      topology.notes == [
        "srat: no affinity for CPU 2 (APIC ID 2), CPU 3 (APIC ID 3); placed on node 0"
      ])
  }

  @Test func malformedSRATMeansOneNode() throws {
    let srat = try Tables.parse(Tables.resized(qemuSMP4NUMA2SRAT.bytes, to: 250), SRAT.parse)
    let map = MemoryMap.normalize(qemu512MiBMemoryMap)
    let topology = Topology.build(
      madt: parsed(qemuSMP4NUMA2MADT), srat: srat, slit: parsed(qemuSLIT), bootAPICID: 0,
      memoryMap: map)
    #expect(topology.cpus.map(\.node) == [0, 0, 0, 0])
    #expect(topology.nodes == [NUMANode(id: 0, cpus: [0, 1, 2, 3], memory: map.usableRanges)])
    // The SLIT still answers for node 0.
    #expect(topology.distances == [[10]])
    #expect(
      topology.notes == [
        "srat: bogus entry length 40 at offset 0xe8; one node 0 with every CPU and all usable memory"
      ])
  }

  @Test func sratWithoutEnabledEntriesMeansOneNode() {
    let srat = SRAT(
      processorAffinities: [
        ProcessorAffinity(apicID: 0, proximityDomain: 1, flags: 0, isX2APIC: false)
      ],
      memoryAffinities: [MemoryAffinity(proximityDomain: 1, base: 0, length: 1 << 30, flags: 0)])
    let map = MemoryMap.normalize(qemu128MiBMemoryMap)
    let topology = Topology.build(
      madt: parsed(qemuSMP1MADT), srat: .success(srat), slit: nil, bootAPICID: 0, memoryMap: map)
    #expect(topology.nodes == [NUMANode(id: 0, cpus: [0], memory: map.usableRanges)])
    #expect(
      topology.notes == [
        "srat: no enabled affinity entries; one node 0 with every CPU and all usable memory"
      ])
  }

  @Test func usableMemoryNoRangeCoversGoesToNode0() {
    let srat = SRAT(
      processorAffinities: [
        ProcessorAffinity(apicID: 0, proximityDomain: 2, flags: 1, isX2APIC: false)
      ],
      memoryAffinities: [
        MemoryAffinity(proximityDomain: 2, base: 0x10_0000, length: 0x100_0000, flags: 1),
        // Disabled: its bytes are not covered.
        MemoryAffinity(proximityDomain: 3, base: 0x110_0000, length: 0x100_0000, flags: 0),
      ])
    let map = MemoryMap.normalize(qemu128MiBMemoryMap)
    let topology = Topology.build(
      madt: parsed(qemuSMP1MADT), srat: .success(srat), slit: nil, bootAPICID: 0, memoryMap: map)
    #expect(
      topology.nodes == [
        NUMANode(id: 0, cpus: [], memory: [lowMemory, range(0x110_0000, 0x7FE_0000)]),
        NUMANode(id: 2, cpus: [0], memory: [range(0x10_0000, 0x110_0000)]),
      ])
    #expect(
      topology.notes == [
        "srat: 111.4 MiB of usable memory has no enabled affinity; placed on node 0"
      ])
  }

  @Test func overlappingRangesGoToTheEarlierEntry() {
    let srat = SRAT(
      processorAffinities: [
        ProcessorAffinity(apicID: 0, proximityDomain: 0, flags: 1, isX2APIC: false)
      ],
      memoryAffinities: [
        MemoryAffinity(proximityDomain: 0, base: 0, length: 0x400_0000, flags: 1),
        MemoryAffinity(proximityDomain: 1, base: 0x300_0000, length: 0x500_0000, flags: 1),
      ])
    let topology = Topology.build(
      madt: parsed(qemuSMP1MADT), srat: .success(srat), slit: nil, bootAPICID: 0,
      memoryMap: MemoryMap.normalize(qemu128MiBMemoryMap))
    #expect(
      topology.nodes.map(\.memory) == [
        [lowMemory, range(0x10_0000, 0x400_0000)], [range(0x400_0000, 0x7FE_0000)],
      ])
    #expect(
      topology.notes == [
        "srat: memory 0x0000000003000000-0x0000000008000000 (80 MiB) of node 1 overlaps an earlier range, which keeps the shared bytes"
      ])
  }

  @Test func conflictingProcessorAffinitiesKeepTheFirst() {
    let srat = SRAT(processorAffinities: [
      ProcessorAffinity(apicID: 0, proximityDomain: 1, flags: 1, isX2APIC: false),
      ProcessorAffinity(apicID: 0, proximityDomain: 2, flags: 1, isX2APIC: true),
      ProcessorAffinity(apicID: 0, proximityDomain: 1, flags: 1, isX2APIC: true),
    ])
    let topology = Topology.build(
      madt: parsed(qemuSMP1MADT), srat: .success(srat), slit: nil, bootAPICID: 0,
      memoryMap: MemoryMap())
    #expect(topology.cpus[0].node == 1)
    #expect(topology.nodes.map(\.id) == [1, 2])
    #expect(
      topology.notes == [
        "srat: affinities to several domains for APIC ID 0; the first one counts"
      ])
  }

  @Test func malformedOrIncompleteSLITMeansNoDistances() throws {
    let map = MemoryMap.normalize(qemu512MiBMemoryMap)
    var bytes = qemuSLIT.bytes
    bytes[47] = 11
    Tables.fixChecksum(&bytes)
    let broken = try Tables.parse(bytes, SLIT.parse)
    let topology = Topology.build(
      madt: parsed(qemuSMP4NUMA2MADT), srat: parsed(qemuSMP4NUMA2SRAT), slit: broken,
      bootAPICID: 0, memoryMap: map)
    #expect(topology.distances == nil)
    #expect(
      topology.notes == ["slit: distance of locality 1 to itself is 11, not 10; no node distances"])

    let small = SLIT(localityCount: 1, distances: [10])
    let partial = Topology.build(
      madt: parsed(qemuSMP4NUMA2MADT), srat: parsed(qemuSMP4NUMA2SRAT), slit: .success(small),
      bootAPICID: 0, memoryMap: map)
    #expect(partial.distances == nil)
    #expect(partial.notes == ["slit: node 1 is not among its 1 localities; no node distances"])
  }

  // MARK: From the firmware's directory

  /// The whole path the kernel takes: RSDP → RSDT → each table at the
  /// address QEMU had it, `load`, then `build`.
  @Test func fromTheTableDirectory() throws {
    func machine(slit: [UInt8]) -> ACPITestMemory {
      let rsdt = Tables.table(
        "RSDT",
        body: [qemuSMP4NUMA2MADT, qemuSMP4NUMA2SRAT, qemuSLIT].flatMap {
          Tables.le32(UInt32($0.address))
        })
      return ACPITestMemory([
        (0x1FFE_1D47, rsdt), (qemuSMP4NUMA2MADT.address, qemuSMP4NUMA2MADT.bytes),
        (qemuSMP4NUMA2SRAT.address, qemuSMP4NUMA2SRAT.bytes), (qemuSLIT.address, slit),
      ])
    }
    let rsdp = try RSDP.parse(bytes: Tables.rsdp(rsdt: 0x1FFE_1D47)).get()

    let memory = machine(slit: qemuSLIT.bytes)
    let directory = try ACPITableDirectory.load(rsdp: rsdp, using: memory.read).get()
    let madt = MADT.load(from: directory, using: memory.read)
    let srat = SRAT.load(from: directory, using: memory.read)
    let slit = SLIT.load(from: directory, using: memory.read)
    #expect(try madt?.get().processors.count == 4)
    let topology = Topology.build(
      madt: madt, srat: srat, slit: slit, bootAPICID: 0,
      memoryMap: MemoryMap.normalize(qemu512MiBMemoryMap))
    #expect(topology.cpus.map(\.node) == [0, 0, 1, 1])
    #expect(topology.distances == [[10, 21], [21, 10]])
    #expect(topology.notes.isEmpty)

    // A SLIT with a bad checksum: no distances, and the note says why.
    var corrupted = qemuSLIT.bytes
    corrupted[46] = 20
    let badMemory = machine(slit: corrupted)
    let badDirectory = try ACPITableDirectory.load(rsdp: rsdp, using: badMemory.read).get()
    let badSLIT = SLIT.load(from: badDirectory, using: badMemory.read)
    #expect(badSLIT == .failure(.table(.badTableChecksum(.slit, address: qemuSLIT.address))))
    let degraded = Topology.build(
      madt: madt, srat: srat, slit: badSLIT, bootAPICID: 0,
      memoryMap: MemoryMap.normalize(qemu512MiBMemoryMap))
    #expect(degraded.distances == nil)
    #expect(
      degraded.notes == ["acpi: SLIT at 0x1ffe1cef has a bad checksum; no node distances"])

    // Tables the directory does not list load as nil.
    let bare = ACPITestMemory([(0x1FFE_1D47, Tables.table("RSDT", body: []))])
    let empty = try ACPITableDirectory.load(rsdp: rsdp, using: bare.read).get()
    #expect(MADT.load(from: empty, using: bare.read) == nil)
    #expect(SRAT.load(from: empty, using: bare.read) == nil)
    #expect(SLIT.load(from: empty, using: bare.read) == nil)
  }

  // MARK: Properties

  /// Whatever the tables say, the result is a consistent machine: CPU 0 is
  /// the boot CPU, numbers are dense, APIC IDs unique, enabled CPUs come
  /// before disabled ones, every CPU sits in exactly the node it names, and
  /// the nodes divide the usable memory exactly.
  static func checkInvariants(_ topology: Topology, bootAPICID: UInt32, map: MemoryMap) {
    let cpus = topology.cpus
    #expect(cpus.map(\.index) == Array(cpus.indices))
    #expect(cpus.first?.apicID == bootAPICID && cpus.first?.isBootCPU == true)
    #expect(cpus.first?.enabled == true)
    #expect(cpus.filter(\.isBootCPU).count == 1)
    #expect(Set(cpus.map(\.apicID)).count == cpus.count)
    let enabledFlags = cpus.dropFirst().map(\.enabled)
    #expect(enabledFlags == enabledFlags.sorted { $0 && !$1 })

    let ids = topology.nodes.map(\.id)
    #expect(ids == Array(Set(ids)).sorted())
    for cpu in cpus {
      let holders = topology.nodes.filter { $0.cpus.contains(cpu.index) }
      #expect(holders.count == 1 && holders.first?.id == cpu.node)
    }
    var all: [PhysicalRange] = []
    for node in topology.nodes {
      #expect(node.memory == node.memory.sortedAndMerged())
      all += node.memory
    }
    #expect(all.totalBytes == map.usableBytes)
    #expect(all.sortedAndMerged() == map.usableRanges.sortedAndMerged())

    if let distances = topology.distances {
      #expect(distances.count == topology.nodes.count)
      for (row, values) in distances.enumerated() {
        #expect(values.count == topology.nodes.count && values[row] == 10)
      }
    }
    #expect(topology.notes.allSatisfy { !$0.isEmpty })
  }

  @Test func mutatedQEMUTablesGiveAConsistentMachine() async {
    let mutation = zip(Gen.int(in: 0...2), Gen.int(in: 0...271), Gen.uint8())
    await propertyCheck(
      count: 400, input: mutation.array(of: 0...6), Gen.uint32(in: 0...4), Gen.bool()
    ) { mutations, bootAPICID, keepChecksums in
      var images = [qemuSMP4NUMA2MADT.bytes, qemuSMP4NUMA2SRAT.bytes, qemuSLIT.bytes]
      for (table, position, value) in mutations where position < images[table].count {
        images[table][position] = value
      }
      if keepChecksums {
        for index in images.indices { Tables.fixChecksum(&images[index]) }
      }
      func load<P, E: Error>(_ index: Int, _ parse: (ACPITable) -> Result<P, E>) -> Result<P, E>? {
        // A table that does not validate is one the kernel would not find.
        switch Tables.read(images[index], { $0.map(parse) }) {
        case .success(let parsed): return parsed
        case .failure: return nil
        }
      }
      let map = MemoryMap.normalize(qemu512MiBMemoryMap)
      let topology = Topology.build(
        madt: load(0, MADT.parse), srat: load(1, SRAT.parse), slit: load(2, SLIT.parse),
        bootAPICID: bootAPICID, memoryMap: map)
      Self.checkInvariants(topology, bootAPICID: bootAPICID, map: map)
    }
  }

  /// Random tables as parsed values: few APIC IDs (so they repeat), a few
  /// domains, memory ranges in and around a QEMU-like map.
  @Test func randomTablesGiveAConsistentMachine() async {
    let processors = zip(Gen.uint32(in: 0...7), Gen.uint32(in: 0...3), Gen.bool()).map {
      MADTProcessor(apicID: $0, acpiProcessorUID: $0, flags: $1 & 3, isX2APIC: $2)
    }.array(of: 0...10)
    let affinities = zip(Gen.uint32(in: 0...8), Gen.uint32(in: 0...3), Gen.uint32(in: 0...1)).map {
      ProcessorAffinity(apicID: $0, proximityDomain: $1, flags: $2, isX2APIC: false)
    }.array(of: 0...8)
    let memory = zip(
      Gen.uint32(in: 0...3), Gen.uint64(in: 0...0x3000), Gen.uint64(in: 0...0x1800),
      Gen.uint32(in: 0...3)
    ).map {
      MemoryAffinity(proximityDomain: $0, base: $1 << 16, length: $2 << 16, flags: $3)
    }.array(of: 0...6)
    let choice = Gen.int(in: 0...3)
    await propertyCheck(
      count: 500, input: zip(processors, affinities, memory), choice, Gen.uint32(in: 0...8)
    ) { tables, which, bootAPICID in
      let (cpus, cpuAffinities, ranges) = tables
      let map = MemoryMap.normalize(which == 3 ? qemu4GiBMemoryMap : qemu512MiBMemoryMap)
      let madt: Result<MADT, MADTError>? =
        which == 0 ? nil : .success(MADT(localAPICAddress32: 0xFEE0_0000, processors: cpus))
      let srat: Result<SRAT, SRATError>? =
        which == 1
        ? .failure(.tableTooShort(length: 40))
        : .success(SRAT(processorAffinities: cpuAffinities, memoryAffinities: ranges))
      let slit = SLIT(localityCount: 3, distances: [10, 20, 30, 20, 10, 20, 30, 20, 10])
      let topology = Topology.build(
        madt: madt, srat: srat, slit: .success(slit), bootAPICID: bootAPICID, memoryMap: map)
      Self.checkInvariants(topology, bootAPICID: bootAPICID, map: map)
      // Enabled MADT processors are never lost.
      for processor in cpus where processor.enabled && madt != nil {
        #expect(topology.cpus.contains { $0.apicID == processor.apicID })
      }
    }
  }
}
