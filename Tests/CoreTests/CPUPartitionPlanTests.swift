import PropertyBased
import Testing

@testable import TesseraCore

@Suite struct CPUPartitionPlanTests {
  static let mib: UInt64 = 1 << 20

  /// CPU i sits on `nodes[i]`; `disabled` are not enabled; `boot` carries
  /// the boot flag. APIC IDs are 2i + `apicOffset`, as on machines whose
  /// boot CPU is not APIC 0.
  static func topology(
    nodes: [Int], disabled: [Int] = [], boot: Int = 0, apicOffset: UInt32 = 0,
    memory: [[PhysicalRange]] = []
  ) -> Topology {
    let cpus = nodes.enumerated().map { index, node in
      CPUDescriptor(
        index: index, apicID: UInt32(index) * 2 + apicOffset, acpiProcessorID: UInt32(index),
        node: node, enabled: !disabled.contains(index), isBootCPU: index == boot)
    }
    let nodeIDs = (nodes.max() ?? 0) + 1
    let numa = (0..<max(nodeIDs, memory.count)).map { id in
      NUMANode(
        id: id, cpus: nodes.indices.filter { nodes[$0] == id },
        memory: id < memory.count ? memory[id] : [])
    }
    return Topology(cpus: cpus, nodes: numa)
  }

  static func plan(_ topology: Topology, _ line: String) -> CPUPartitionPlan {
    CPUPartitionPlan(topology: topology, commandLine: .parse(line))
  }

  static let twoNodes = topology(nodes: [0, 0, 1, 1])
  static let fourNodes = topology(nodes: [0, 0, 1, 1, 2, 2, 3, 3])

  // MARK: default

  @Test func oneCPUHasAnEmptyLWK() {
    let plan = Self.plan(Self.topology(nodes: [0]), "")
    #expect(plan.serviceCPUs == [0] && plan.lwkCPUs == [])
    #expect(plan.cpuSource == .defaultSplit)
    #expect(
      plan.messages == [
        "no maxcpus= or lwkcpus= given: the service partition gets the default, a quarter of the enabled CPUs in node order (at least the boot CPU): 1 of 1",
        "the LWK partition gets no CPUs",
        "CPU split (default): service 0, LWK none",
      ])
    #expect(plan.partition(of: 0) == .service && plan.partition(of: 1) == nil)
  }

  /// 128 CPUs: the default gives the LWK 96, more than its 32 shipping
  /// channels; the lowest 32 run the LWK and the rest stay offline.
  @Test func theLWKRunsAtMost32CPUs() {
    let big = Self.plan(Self.topology(nodes: Array(repeating: 0, count: 128)), "")
    #expect(big.serviceCPUs == Array(0..<32) && big.lwkCPUs == Array(32..<64))
    #expect(big.offlineCPUs == Array(64..<128))
    #expect(
      big.messages.contains(
        "the LWK partition runs at most 32 CPUs (one shipping-ring channel each): 64 CPUs (64-127) stay offline"
      ))
    #expect(big.partition(of: 63) == .lwk && big.partition(of: 64) == nil)
    let listed = Self.plan(Self.topology(nodes: Array(repeating: 0, count: 48)), "lwkcpus=4-47")
    #expect(listed.lwkCPUs == Array(4..<36) && listed.offlineCPUs == Array(36..<48))
    #expect(listed.serviceCPUs == [0, 1, 2, 3])
    let exact = Self.plan(Self.topology(nodes: Array(repeating: 0, count: 33)), "maxcpus=1")
    #expect(exact.lwkCPUs.count == 32 && exact.offlineCPUs.isEmpty)
  }

  @Test func defaultGivesTheServiceAQuarterRoundedUp() {
    let four = Self.plan(Self.twoNodes, "")
    #expect(four.serviceCPUs == [0] && four.lwkCPUs == [1, 2, 3])
    #expect(four.messages.last == "CPU split (default): service 0, LWK 1-3")
    let eight = Self.plan(Self.fourNodes, "mem=64M debug")
    #expect(eight.serviceCPUs == [0, 1] && eight.lwkCPUs == [2, 3, 4, 5, 6, 7])
    #expect(eight.cpuSource == .defaultSplit && eight.messages.count == 2)
    #expect(
      [1, 2, 3, 4, 5, 8, 9, 16].map { CPUPartitionPlan.defaultServiceCount(enabledCPUs: $0) }
        == [1, 1, 1, 1, 2, 2, 3, 4])
    #expect(CPUPartitionPlan.defaultServiceCount(enabledCPUs: 0) == 1)
  }

  // MARK: maxcpus=

  @Test func maxcpusTakesTheBootNodeFirst() {
    // Nodes interleaved; the boot CPU is CPU 0 on node 1 with APIC ID 6.
    let topology = Self.topology(nodes: [1, 0, 1, 2, 0, 1, 3, 2], apicOffset: 6)
    #expect(topology.cpus[0].apicID == 6 && topology.cpus[0].isBootCPU)
    let plan = Self.plan(topology, "maxcpus=5")
    #expect(plan.serviceCPUs == [0, 2, 5, 1, 4])
    #expect(plan.lwkCPUs == [3, 6, 7])
    #expect(plan.cpuSource == .maxCPUs && plan.serviceReason == "maxcpus=5")
    #expect(plan.lwkReason == "the remaining CPUs")
    #expect(plan.messages == ["CPU split (from maxcpus=): service 0-2,4-5, LWK 3,6-7"])
    #expect(Self.plan(topology, "maxcpus=2").serviceCPUs == [0, 2])
    #expect(Self.plan(topology, "maxcpus=4").serviceCPUs == [0, 2, 5, 1])
  }

  @Test func maxcpusZeroMeansTheBootCPU() {
    let plan = Self.plan(Self.twoNodes, "maxcpus=0")
    #expect(plan.serviceCPUs == [0] && plan.lwkCPUs == [1, 2, 3])
    #expect(plan.cpuSource == .maxCPUs && plan.serviceReason == "maxcpus=0 treated as 1")
    #expect(
      plan.messages.first
        == "maxcpus=0 leaves no CPU for the service partition, which must hold the boot CPU: treated as maxcpus=1"
    )
  }

  @Test func maxcpusAboveTheEnabledCPUsGivesTheServiceAll() {
    let plan = Self.plan(Self.twoNodes, "maxcpus=100")
    #expect(plan.serviceCPUs == [0, 1, 2, 3] && plan.lwkCPUs == [])
    #expect(
      plan.messages == [
        "maxcpus=100 is more than the 4 CPUs enabled: the service partition gets all of them, the LWK partition none",
        "the LWK partition gets no CPUs",
        "CPU split (from maxcpus=): service 0-3, LWK none",
      ])
    // Exactly all of them is no adjustment.
    let exact = Self.plan(Self.twoNodes, "maxcpus=4")
    #expect(exact.lwkCPUs == [] && exact.serviceReason == "maxcpus=4")
    #expect(exact.messages.count == 2)
  }

  @Test func disabledCPUsBelongToNoPartition() {
    let topology = Self.topology(nodes: [0, 0, 1, 1], disabled: [1])
    let plan = Self.plan(topology, "maxcpus=2")
    #expect(plan.serviceCPUs == [0, 2] && plan.lwkCPUs == [3])
    #expect(plan.partition(of: 1) == nil && plan.partition(of: 3) == .lwk)
    #expect(plan.partition(of: 4) == nil && plan.partition(of: -1) == nil)
    let byDefault = Self.plan(topology, "")
    #expect(byDefault.serviceCPUs == [0] && byDefault.lwkCPUs == [2, 3])
  }

  // MARK: lwkcpus=

  @Test func lwkcpusNamesTheLWK() {
    let plan = Self.plan(Self.fourNodes, "lwkcpus=2-3,6")
    #expect(plan.lwkCPUs == [2, 3, 6] && plan.serviceCPUs == [0, 1, 4, 5, 7])
    #expect(plan.cpuSource == .lwkCPUs)
    #expect(plan.serviceReason == "the CPUs not in lwkcpus=" && plan.lwkReason == "lwkcpus=2-3,6")
    #expect(plan.messages == ["CPU split (from lwkcpus=): service 0-1,4-5,7, LWK 2-3,6"])
  }

  @Test func lwkcpusLosesTheBootCPU() {
    let plan = Self.plan(Self.twoNodes, "lwkcpus=0-2")
    #expect(plan.lwkCPUs == [1, 2] && plan.serviceCPUs == [0, 3])
    #expect(plan.lwkReason == "lwkcpus=0-2 without 0")
    #expect(
      plan.messages.first
        == "lwkcpus=0-2: CPU 0 is the boot CPU, which stays in the service partition: removed from the LWK"
    )
  }

  @Test func lwkcpusDropsMissingAndDisabledCPUs() {
    let topology = Self.topology(nodes: [0, 0, 1, 1], disabled: [3])
    let plan = Self.plan(topology, "lwkcpus=2-5,9")
    #expect(plan.lwkCPUs == [2] && plan.serviceCPUs == [0, 1])
    #expect(plan.partition(of: 3) == nil)
    #expect(
      plan.messages == [
        "lwkcpus=2-5,9: CPUs 4-5,9 do not exist: dropped",
        "lwkcpus=2-5,9: CPU 3 is disabled: dropped",
        "CPU split (from lwkcpus=): service 0-1, LWK 2",
      ])
    #expect(plan.lwkReason == "lwkcpus=2-5,9 without 3-5,9")
  }

  @Test func lwkcpusThatLeavesNothingIsIgnored() {
    let alone = Self.plan(Self.topology(nodes: [0]), "lwkcpus=0")
    #expect(alone.serviceCPUs == [0] && alone.lwkCPUs == [])
    #expect(alone.cpuSource == .fallback)
    #expect(
      alone.messages == [
        "lwkcpus=0: CPU 0 is the boot CPU, which stays in the service partition: removed from the LWK",
        "lwkcpus=0: no CPU left for the LWK partition: ignored",
        "no usable maxcpus= or lwkcpus=: the service partition gets the default, a quarter of the enabled CPUs in node order (at least the boot CPU): 1 of 1",
        "the LWK partition gets no CPUs",
        "CPU split (default, the CPU options were unusable): service 0, LWK none",
      ])
    // With maxcpus= that applies instead.
    let withMax = Self.plan(Self.twoNodes, "lwkcpus=7 maxcpus=2")
    #expect(withMax.serviceCPUs == [0, 1] && withMax.lwkCPUs == [2, 3])
    #expect(withMax.cpuSource == .maxCPUs)
    #expect(withMax.messages.count == 3)
  }

  // MARK: both

  @Test func bothAgreeOnTheCount() {
    let plan = Self.plan(Self.twoNodes, "maxcpus=2 lwkcpus=2-3")
    #expect(plan.serviceCPUs == [0, 1] && plan.lwkCPUs == [2, 3] && plan.cpuSource == .both)
    #expect(plan.messages == ["CPU split (from lwkcpus= and maxcpus=): service 0-1, LWK 2-3"])
    // One service CPU per node, the usual mOS layout: a count, not a set.
    let perNode = Self.plan(Self.twoNodes, "maxcpus=2 lwkcpus=1,3")
    #expect(perNode.serviceCPUs == [0, 2] && perNode.cpuSource == .both)
    #expect(perNode.serviceReason == "maxcpus=2, the CPUs not in lwkcpus=")
    // maxcpus=0 counts as 1.
    let zero = Self.plan(Self.twoNodes, "maxcpus=0 lwkcpus=1-3")
    #expect(zero.serviceCPUs == [0] && zero.cpuSource == .both && zero.messages.count == 2)
  }

  @Test func conflictingMaxcpusYieldsToLwkcpus() {
    let tooMany = Self.plan(Self.twoNodes, "maxcpus=3 lwkcpus=2-3")
    #expect(tooMany.serviceCPUs == [0, 1] && tooMany.lwkCPUs == [2, 3])
    #expect(tooMany.cpuSource == .lwkCPUs)
    #expect(
      tooMany.messages.first
        == "maxcpus=3 conflicts with lwkcpus=2-3, which leaves 2 CPUs (0-1) for the service partition: a CPU cannot be in both partitions; lwkcpus= wins, maxcpus= ignored"
    )
    #expect(tooMany.serviceReason == "the CPUs not in lwkcpus=; maxcpus=3 ignored")
    let tooFew = Self.plan(Self.twoNodes, "maxcpus=1 lwkcpus=3")
    #expect(tooFew.serviceCPUs == [0, 1, 2] && tooFew.lwkCPUs == [3])
    #expect(
      tooFew.messages.first
        == "maxcpus=1 conflicts with lwkcpus=3, which leaves 3 CPUs (0-2) for the service partition: every enabled CPU needs a partition; lwkcpus= wins, maxcpus= ignored"
    )
  }

  // MARK: malformed options

  @Test func malformedOptionsCountAsAbsent() {
    let line = KernelCommandLine.parse("maxcpus=two")
    #expect(line.maxCPUs == nil && line.errors.count == 1)
    let plan = CPUPartitionPlan(topology: Self.twoNodes, commandLine: line)
    #expect(plan.serviceCPUs == [0] && plan.cpuSource == .fallback)
    #expect(
      plan.messages == [
        "maxcpus= is malformed (reported above): ignored",
        "no usable maxcpus= or lwkcpus=: the service partition gets the default, a quarter of the enabled CPUs in node order (at least the boot CPU): 1 of 4",
        "CPU split (default, the CPU options were unusable): service 0, LWK 1-3",
      ])
    #expect(Self.plan(Self.twoNodes, "maxcpus").cpuSource == .fallback)
    #expect(Self.plan(Self.twoNodes, "maxcpus=5000").cpuSource == .fallback)

    let badList = Self.plan(Self.twoNodes, "lwkcpus=3-1 maxcpus=3")
    #expect(badList.serviceCPUs == [0, 1, 2] && badList.cpuSource == .maxCPUs)
    #expect(badList.messages.first == "lwkcpus= is malformed (reported above): ignored")
    // A valid earlier value stays.
    #expect(Self.plan(Self.twoNodes, "maxcpus=2 maxcpus=x").cpuSource == .maxCPUs)
  }

  // MARK: odd topologies

  @Test func bootCPUIsTakenFromTheFlag() {
    // The flag on CPU 2 (node 1): node 1 goes first.
    let plan = Self.plan(Self.topology(nodes: [0, 0, 1, 1], boot: 2), "maxcpus=3")
    #expect(plan.serviceCPUs == [2, 3, 0] && plan.lwkCPUs == [1])
    #expect(plan.partition(of: 2) == .service)
    let lwk = Self.plan(Self.topology(nodes: [0, 0, 1, 1], boot: 2), "lwkcpus=0-2")
    #expect(lwk.serviceCPUs == [2, 3] && lwk.lwkCPUs == [0, 1])
  }

  @Test func topologyOdditiesNeverTrap() {
    // No boot flag: CPU 0; then CPU 0 disabled: the lowest enabled.
    let unmarked = Self.plan(Self.topology(nodes: [0, 1], boot: -1), "")
    #expect(unmarked.serviceCPUs == [0] && unmarked.lwkCPUs == [1])
    #expect(
      unmarked.messages.first
        == "the topology marks no enabled CPU as the boot CPU: CPU 0 is taken as it")
    let bootDisabled = Self.plan(Self.topology(nodes: [0, 1, 1], disabled: [0]), "maxcpus=1")
    #expect(bootDisabled.serviceCPUs == [1] && bootDisabled.lwkCPUs == [2])

    // Duplicate and unnameable numbers.
    var topology = Self.twoNodes
    topology.cpus.append(topology.cpus[3])
    topology.cpus.append(
      CPUDescriptor(
        index: -1, apicID: 9, acpiProcessorID: 9, node: 0, enabled: true, isBootCPU: true))
    topology.cpus.append(
      CPUDescriptor(
        index: CPUList.capacity, apicID: 9, acpiProcessorID: 9, node: 0, enabled: true,
        isBootCPU: false))
    let odd = Self.plan(topology, "maxcpus=2")
    #expect(odd.serviceCPUs == [0, 1] && odd.lwkCPUs == [2, 3])
    #expect(
      odd.messages.prefix(3) == [
        "the topology lists CPU 3 twice: the first entry counts",
        "the topology lists a CPU numbered -1, which no CPU list can name: ignored",
        "the topology lists a CPU numbered 4096, which no CPU list can name: ignored",
      ])

    let empty = Self.plan(Topology(cpus: [], nodes: []), "maxcpus=2 lwkcpus=1")
    #expect(empty.serviceCPUs == [] && empty.lwkCPUs == [] && empty.cpuSource == .fallback)
    #expect(empty.messages == ["the topology lists no enabled CPU: both partitions are empty"])
    #expect(
      empty.memoryRequest(topology: Topology(cpus: [], nodes: []), commandLine: .parse("")).lwkNodes
        == [])
  }

  @Test func descriptions() {
    #expect(Partition.service.description == "service" && Partition.lwk.description == "LWK")
    let sources: [CPUSplitSource] = [.defaultSplit, .maxCPUs, .lwkCPUs, .both, .fallback]
    #expect(
      sources.map(\.description) == [
        "default", "from maxcpus=", "from lwkcpus=", "from lwkcpus= and maxcpus=",
        "default, the CPU options were unusable",
      ])
  }

  // MARK: memory

  /// 512 MiB in two nodes of 256 MiB.
  static let nodeMemory: [[PhysicalRange]] = [
    [PhysicalRange(base: 0, end: 256 * mib)], [PhysicalRange(base: 256 * mib, end: 512 * mib)],
  ]
  static let twoNodeMap = MemoryPartitionTests.usable([(0, 512 * mib)])

  @Test func lwkMemoryComesFromTheLWKCPUsNodes() {
    let topology = Self.topology(nodes: [0, 0, 1, 1], memory: Self.nodeMemory)
    let line = KernelCommandLine.parse("maxcpus=2 mem=64M")
    let cpus = CPUPartitionPlan(topology: topology, commandLine: line)
    #expect(cpus.lwkMemoryNodes == [1])
    let request = cpus.memoryRequest(topology: topology, commandLine: line)
    #expect(
      request
        == MemoryPartitionRequest(
          serviceBytes: 64 * Self.mib,
          nodeMemory: [
            NodeMemoryRange(node: 0, range: Self.nodeMemory[0][0]),
            NodeMemoryRange(node: 1, range: Self.nodeMemory[1][0]),
          ], lwkNodes: [1]))
    let memory = MemoryPartitionPlan(splitting: Self.twoNodeMap, request: request)
    #expect(memory.lwk.usableRanges == Self.nodeMemory[1])
    #expect(memory.unassignedBytes == 192 * Self.mib)
    #expect(
      PartitionSummary(cpus: cpus, memoryRequest: request, memory: memory).lines == [
        "service: CPUs 0-1 (maxcpus=2), memory 64 MiB (mem=64M)",
        "LWK: CPUs 2-3 (the remaining CPUs), memory 256 MiB (the rest) from node 1 (the LWK CPUs' nodes)",
        "unassigned: memory 192 MiB (in neither partition, see the boot log)",
      ])

    // The default split puts LWK CPUs on both nodes: all memory after the service's.
    let spread = CPUPartitionPlan(topology: topology, commandLine: .parse("lwkmem=300M"))
    let spreadRequest = spread.memoryRequest(topology: topology, commandLine: .parse("lwkmem=300M"))
    #expect(spreadRequest.lwkNodes == [0, 1] && spreadRequest.lwkBytesLimit == 300 * Self.mib)
    let spreadMemory = MemoryPartitionPlan(splitting: Self.twoNodeMap, request: spreadRequest)
    #expect(spreadMemory.lwkBytes == 300 * Self.mib)
    let summary = PartitionSummary(cpus: spread, memoryRequest: spreadRequest, memory: spreadMemory)
    #expect(
      summary.description
        == "service: CPU 0 (default: a quarter of the CPUs), memory 128 MiB (default: a quarter, at least 32 MiB)\n"
        + "LWK: CPUs 1-3 (the remaining CPUs), memory 300 MiB (lwkmem=300M) from nodes 0, 1 (the LWK CPUs' nodes)\n"
        + "unassigned: memory 84 MiB (in neither partition, see the boot log)")
  }

  @Test func anLWKWithoutCPUsGetsNoMemory() {
    let topology = Self.topology(nodes: [0, 1], memory: Self.nodeMemory)
    let line = KernelCommandLine.parse("maxcpus=2 mem=4G")
    let cpus = CPUPartitionPlan(topology: topology, commandLine: line)
    let request = cpus.memoryRequest(topology: topology, commandLine: line)
    #expect(request.lwkNodes == [])
    let memory = MemoryPartitionPlan(splitting: Self.twoNodeMap, request: request)
    #expect(memory.lwkBytes == 0 && memory.serviceBytes == 512 * Self.mib)
    #expect(
      PartitionSummary(cpus: cpus, memoryRequest: request, memory: memory).lines == [
        "service: CPUs 0-1 (maxcpus=2), memory 512 MiB (mem=4G limited to usable memory)",
        "LWK: no CPUs (none left), memory 0 B (the LWK partition has no CPUs)",
      ])
    let small = MemoryPartitionPlan(
      splitting: Self.twoNodeMap,
      request: cpus.memoryRequest(topology: topology, commandLine: .parse("maxcpus=2 mem=16M")))
    #expect(small.lwkBytes == 0 && small.serviceBytes == 32 * Self.mib)
    #expect(small.unassignedBytes == 480 * Self.mib)
  }

  @Test func withoutNodeMemoryTheLWKTakesAnyMemory() {
    // No memory information at all.
    let bare = Self.topology(nodes: [0, 1])
    let plan = Self.plan(bare, "maxcpus=1")
    #expect(plan.lwkMemoryNodes == nil)
    #expect(plan.lwkMemoryNodesReason == "no NUMA memory information: any node")
    let request = plan.memoryRequest(topology: bare, commandLine: .parse("maxcpus=1"))
    #expect(request.nodeMemory == [] && request.lwkNodes == nil)
    #expect(
      MemoryPartitionPlan(splitting: Self.twoNodeMap, request: request).lwkBytes == 384 * Self.mib)

    // The LWK's CPUs are on a node without memory.
    let memoryless = Self.topology(nodes: [0, 2, 2], memory: Self.nodeMemory)
    let onNode2 = Self.plan(memoryless, "maxcpus=1")
    #expect(onNode2.lwkCPUs == [1, 2] && onNode2.lwkMemoryNodes == nil)
    #expect(
      onNode2.messages.first
        == "no memory on the LWK CPUs' node 2: the LWK partition may take memory from any node")
  }

  // MARK: properties

  /// A random machine: up to 16 CPUs on up to 4 nodes, some disabled, the
  /// boot CPU anywhere (always enabled).
  struct MachineSeed: Sendable, CustomStringConvertible {
    var count: Int
    var nodeCount: Int
    var cpus: [(node: Int, disabled: Bool)]
    var boot: Int

    static let generator = zip(
      Gen.int(in: 1...16), Gen.int(in: 1...4),
      zip(Gen.int(in: 0...3), Gen.bool(0.2)).array(of: 16), Gen.int(in: 0...15)
    ).map { count, nodeCount, cpus, boot in
      MachineSeed(
        count: count, nodeCount: nodeCount, cpus: cpus.map { (node: $0.0, disabled: $0.1) },
        boot: boot % count)
    }

    var nodes: [Int] { cpus.prefix(count).map { $0.node % nodeCount } }
    var disabled: [Int] { (0..<count).filter { cpus[$0].disabled && $0 != boot } }

    func topology(memory: [[PhysicalRange]] = []) -> Topology {
      CPUPartitionPlanTests.topology(
        nodes: nodes, disabled: disabled, boot: boot, memory: memory)
    }

    var description: String { "nodes \(nodes) disabled \(disabled) boot \(boot)" }
  }

  /// Random boot options: maxcpus= absent, 0, small, equal to a count,
  /// huge or malformed; lwkcpus= absent, a random set of 0-19 (with or
  /// without the boot CPU) or malformed.
  struct OptionsSeed: Sendable, CustomStringConvertible {
    var maxKind: Int
    var maxValue: Int
    var lwkKind: Int
    var lwkMask: Int

    static let generator = zip(
      Gen.int(in: 0...6), Gen.int(in: 1...20), Gen.int(in: 0...4), Gen.int(in: 0...(1 << 20) - 1)
    ).map { OptionsSeed(maxKind: $0.0, maxValue: $0.1, lwkKind: $0.2, lwkMask: $0.3) }

    func line(boot: Int) -> String {
      var words: [String] = []
      switch maxKind {
      case 1: words.append("maxcpus=0")
      case 2, 3: words.append("maxcpus=\(maxValue)")
      case 4: words.append("maxcpus=\(CPUList.capacity)")
      case 5: words.append("maxcpus=lots")
      default: break
      }
      var lwk = (0..<20).filter { lwkMask & (1 << $0) != 0 }
      switch lwkKind {
      case 1, 2:
        if lwk.isEmpty { lwk = [lwkMask % 20] }
        words.append("lwkcpus=" + lwk.map(String.init).joined(separator: ","))
      case 3: words.append("lwkcpus=" + ([boot] + lwk).map(String.init).joined(separator: ","))
      case 4: words.append("lwkcpus=5-2")
      default: break
      }
      return words.joined(separator: " ")
    }

    var description: String { line(boot: -1) }
  }

  /// The rules, written as directly as possible.
  struct Model {
    var service: [Int]
    var lwk: [Int]
    var source: CPUSplitSource
    var adjusted: Bool

    init(_ topology: Topology, _ line: KernelCommandLine, maxMalformed: Bool, lwkMalformed: Bool) {
      let enabled = topology.cpus.filter(\.enabled)
      let boot = enabled.first(where: \.isBootCPU)!
      let rest = enabled.filter { $0.index != boot.index }.sorted {
        ($0.node == boot.node ? 0 : 1, $0.node, $0.index)
          < ($1.node == boot.node ? 0 : 1, $1.node, $1.index)
      }
      let order = [boot.index] + rest.map(\.index)
      adjusted = maxMalformed || lwkMalformed

      var lwkSet: Set<Int>? = nil
      if let given = line.lwkCPUs {
        let kept = Set(given).intersection(order).subtracting([boot.index])
        if kept.count != given.count { adjusted = true }
        if !kept.isEmpty { lwkSet = kept }
      }
      if line.maxCPUs == 0 { adjusted = true }
      if let lwkSet {
        service = order.filter { !lwkSet.contains($0) }
        source = .lwkCPUs
        if let wanted = line.maxCPUs {
          if max(wanted, 1) == service.count {
            source = .both
          } else {
            adjusted = true
          }
        }
      } else if let wanted = line.maxCPUs {
        if wanted > order.count { adjusted = true }
        service = Array(order.prefix(max(wanted, 1)))
        source = .maxCPUs
      } else {
        service = Array(order.prefix((order.count + 3) / 4))
        source = adjusted || line.lwkCPUs != nil ? .fallback : .defaultSplit
      }
      let serviceSet = Set(service)
      lwk = order.filter { !serviceSet.contains($0) }.sorted()
    }
  }

  @Test func splitsMatchTheModel() async {
    await propertyCheck(count: 1000, input: MachineSeed.generator, OptionsSeed.generator) {
      machine, options in
      let topology = machine.topology()
      let text = options.line(boot: machine.boot)
      let line = KernelCommandLine.parse(text)
      let plan = CPUPartitionPlan(topology: topology, commandLine: line)
      let model = Model(
        topology, line, maxMalformed: options.maxKind == 5, lwkMalformed: options.lwkKind == 4)
      let enabled = Set(topology.cpus.filter(\.enabled).map(\.index))

      // Disjoint, covering exactly the enabled CPUs, boot CPU first in service.
      let service = Set(plan.serviceCPUs)
      let lwk = Set(plan.lwkCPUs)
      #expect(service.count == plan.serviceCPUs.count && lwk.count == plan.lwkCPUs.count)
      #expect(service.isDisjoint(with: lwk), "\(text)")
      #expect(service.union(lwk).union(plan.offlineCPUs) == enabled, "\(text)")
      #expect(plan.offlineCPUs.isEmpty || lwk.count == CPUPartitionPlan.lwkCPULimit)
      #expect(plan.serviceCPUs.first == machine.boot)
      #expect(plan.lwkCPUs == plan.lwkCPUs.sorted())
      for cpu in -1...17 {
        let expected: Partition? =
          service.contains(cpu) ? .service : lwk.contains(cpu) ? .lwk : nil
        #expect(plan.partition(of: cpu) == expected)
      }

      // Exactly the model's split, order and source.
      #expect(plan.serviceCPUs == model.service, "\(text)")
      #expect(plan.lwkCPUs == model.lwk, "\(text)")
      #expect(plan.cpuSource == model.source, "\(text)")

      // A line beyond the informational ones exactly when something was adjusted.
      var informational = 1
      if plan.cpuSource == .defaultSplit || plan.cpuSource == .fallback { informational += 1 }
      if plan.lwkCPUs.isEmpty { informational += 1 }
      #expect((plan.messages.count > informational) == model.adjusted, "\(text): \(plan.messages)")
      #expect(plan.messages.last?.hasPrefix("CPU split (") == true)
    }
  }

  /// Random machines on the two-node memory map: LWK memory lies only in
  /// the nodes of the LWK's CPUs, and only LWKs without CPUs get none.
  @Test func lwkMemoryStaysOnTheLWKNodes() async {
    await propertyCheck(count: 300, input: MachineSeed.generator, OptionsSeed.generator) {
      machine, options in
      var seed = machine
      seed.nodeCount = min(seed.nodeCount, 2)
      let topology = seed.topology(memory: Self.nodeMemory)
      let line = KernelCommandLine.parse(options.line(boot: machine.boot) + " mem=64M")
      let plan = CPUPartitionPlan(topology: topology, commandLine: line)
      let request = plan.memoryRequest(topology: topology, commandLine: line)
      let lwkNodes = Set(plan.lwkCPUs.map { topology.cpus[$0].node })
      #expect(request.lwkNodes.map(Set.init) == lwkNodes)
      #expect(request.lwkNodes == request.lwkNodes?.sorted())
      #expect(request.serviceBytes == 64 * Self.mib)

      let memory = MemoryPartitionPlan(splitting: Self.twoNodeMap, request: request)
      let allowed = lwkNodes.sorted().flatMap { Self.nodeMemory[$0] }
      for range in memory.lwk.usableRanges {
        // The node ranges are disjoint, so a range lies in them when its
        // overlaps with them add up to its length (it may span both).
        let inside = allowed.reduce(UInt64(0)) { $0 + ($1.intersection(range)?.length ?? 0) }
        #expect(inside == range.length, "\(range.description)")
      }
      #expect((memory.lwkBytes == 0) == plan.lwkCPUs.isEmpty)
    }
  }
}
