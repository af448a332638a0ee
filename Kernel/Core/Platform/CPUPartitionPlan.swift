// The mOS-style CPU split: which enabled CPUs the service partition runs on
// and which belong to the lightweight kernel (LWK), from the topology and the
// boot options `maxcpus=` and `lwkcpus=`; plus what that means for the
// memory split (the LWK draws memory from its CPUs' NUMA nodes) and the
// one-line-per-partition summary the shell's `parts` command prints.
//
// Every enabled CPU belongs to exactly one partition; the boot CPU always to
// the service partition (it runs the service kernel that does the split).
//
// Node order: the boot CPU, then the other CPUs of its node by logical
// number, then node by node in ascending node id, each by logical number.
// The service partition fills up in this order, so it stays on as few nodes
// as possible, starting with the boot CPU's. `serviceCPUs` lists the service
// CPUs in this order (the boot CPU first); `lwkCPUs` ascending.
//
// Decisions:
// - `maxcpus=N`: the first N CPUs in node order are service, the rest LWK.
//   N = 0 is treated as 1 (the service partition must hold the boot CPU);
//   N above the enabled CPUs gives the service partition all of them and the
//   LWK none (Linux's meaning: a limit, never an error).
// - `lwkcpus=LIST` fixes the LWK set; the service partition is every other
//   enabled CPU. Dropped from the list, each with a boot-log line: CPUs the
//   topology does not list, disabled CPUs, and the boot CPU. A list that
//   leaves no CPU is ignored as if it had not been given (so `maxcpus=`, or
//   the default, applies).
// - Both: `maxcpus=N` must equal the number of CPUs `lwkcpus=` leaves for the
//   service partition (N = 0 counting as 1). It is a count, not a second set,
//   so `lwkcpus=1,3 maxcpus=2` (one service CPU per socket, the usual mOS
//   layout) is consistent. Any other N would put a CPU in both partitions
//   (N too large) or in neither (N too small): that is a conflict, reported,
//   and `lwkcpus=` wins (it is the more specific option).
// - Neither: the default gives the service partition a quarter of the
//   enabled CPUs, rounded up (so at least the boot CPU), in node order, and
//   the LWK the rest: like `mem=`'s default, mOS-style few CPUs for the
//   service side and most for the LWK. With one CPU the LWK has none, which
//   is a valid plan.
// - The LWK partition runs at most `lwkCPULimit` CPUs (32): each LWK CPU
//   ships system calls over its own channel of the shipping ring, and a
//   ring has at most that many channels. The lowest-numbered ones are kept;
//   the rest stay offline in neither partition (`offlineCPUs`), with a
//   boot-log line, as Linux leaves CPUs beyond NR_CPUS.
// - A malformed `maxcpus=`/`lwkcpus=` was already reported by the command-line
//   parser; here it counts as absent, with a line saying what applies
//   instead. When options were given but none could be used, `cpuSource` is
//   `.fallback` (the default split) rather than `.defaultSplit`.
// - Topology oddities never trap: CPU entries whose logical number cannot be
//   named in a CPU list (negative or not below `CPUList.capacity`) are ignored,
//   a number listed twice counts once (the first entry), and when no enabled
//   CPU is marked as the boot CPU, CPU 0 if enabled, else the lowest enabled
//   one is taken. Without any enabled CPU both partitions are empty.
//
// Memory (`memoryRequest`): the LWK may take memory only from the NUMA nodes
// of its CPUs. An LWK without CPUs gets no memory (`lwkNodes` empty): memory
// no LWK CPU could use would only look assigned; it stays unassigned and
// `mem=` still sizes the service partition. When the topology assigns memory
// to no node, or none of the LWK CPUs' nodes holds memory (memoryless CPU
// nodes), the node restriction is dropped and the LWK may take memory from
// any node, with a boot-log line.

/// Which kernel instance a CPU belongs to.
public enum Partition: Equatable, Sendable {
  case service
  case lwk

  public var description: String {
    switch self {
    case .service: "service"
    case .lwk: "LWK"
    }
  }
}

/// Which rule produced the CPU split.
public enum CPUSplitSource: Equatable, Sendable {
  /// No CPU option was given: a quarter of the CPUs for the service partition.
  case defaultSplit
  /// `maxcpus=` alone (possibly raised to 1 or limited to the enabled CPUs).
  case maxCPUs
  /// `lwkcpus=` (possibly with CPUs dropped; a conflicting `maxcpus=` ignored).
  case lwkCPUs
  /// `lwkcpus=` and a `maxcpus=` that agrees with it.
  case both
  /// CPU options were given but none was usable: the default split.
  case fallback

  public var description: String {
    switch self {
    case .defaultSplit: "default"
    case .maxCPUs: "from maxcpus="
    case .lwkCPUs: "from lwkcpus="
    case .both: "from lwkcpus= and maxcpus="
    case .fallback: "default, the CPU options were unusable"
    }
  }
}

public struct CPUPartitionPlan: Equatable, Sendable {
  /// Logical CPU numbers, the boot CPU first, then in node order.
  public var serviceCPUs: [Int]
  /// Logical CPU numbers, ascending.
  public var lwkCPUs: [Int]
  /// Enabled CPUs left out of both partitions (beyond `lwkCPULimit`), ascending.
  public var offlineCPUs: [Int]
  public var cpuSource: CPUSplitSource
  /// Why the service partition got its CPUs, e.g. "maxcpus=2".
  public var serviceReason: String
  /// Why the LWK got its CPUs, e.g. "the remaining CPUs".
  public var lwkReason: String
  /// The NUMA nodes the LWK may take memory from, ascending; nil: any node.
  public var lwkMemoryNodes: [Int]?
  /// Why, e.g. "the LWK CPUs' nodes".
  public var lwkMemoryNodesReason: String
  /// Boot-log lines: every adjustment and fallback, then the split.
  public var messages: [String]

  /// The most CPUs the LWK partition runs: one shipping-ring channel each.
  public static let lwkCPULimit = ReceiveEndpointLayout.maximumChannels

  /// The service partition's CPU count without options: a quarter of the
  /// enabled CPUs, rounded up, at least one.
  public static func defaultServiceCount(enabledCPUs: Int) -> Int {
    guard enabledCPUs > 0 else { return 1 }
    return enabledCPUs / 4 + (enabledCPUs % 4 == 0 ? 0 : 1)
  }

  /// Splits the enabled CPUs of `topology` (rules at the top of the file).
  public init(topology: Topology, commandLine: KernelCommandLine) {
    var messages: [String] = []
    let machine = PartitionableCPUs(topology, messages: &messages)
    serviceCPUs = []
    lwkCPUs = []
    offlineCPUs = []
    cpuSource = .fallback
    serviceReason = "no enabled CPU"
    lwkReason = "no enabled CPU"
    lwkMemoryNodes = []
    lwkMemoryNodesReason = "the LWK partition has no CPUs"
    guard let boot = machine.boot else {
      messages.append("the topology lists no enabled CPU: both partitions are empty")
      self.messages = messages
      return
    }

    let maxRejected = commandLine.maxCPUs == nil && Self.rejected("maxcpus", in: commandLine)
    let lwkRejected = commandLine.lwkCPUs == nil && Self.rejected("lwkcpus", in: commandLine)
    if maxRejected {
      messages.append("maxcpus= is malformed (reported above): ignored")
    }
    if lwkRejected {
      messages.append("lwkcpus= is malformed (reported above): ignored")
    }

    let lwkSet = commandLine.lwkCPUs.flatMap {
      Self.usableLWKCPUs($0, machine: machine, boot: boot, messages: &messages)
    }
    if let given = commandLine.maxCPUs, given == 0 {
      messages.append(
        "maxcpus=0 leaves no CPU for the service partition, which must hold the boot CPU: "
          + "treated as maxcpus=1")
    }
    let enabledCount = machine.nodeOrder.count

    if let lwkSet, let given = commandLine.lwkCPUs {
      // lwkcpus= fixes the LWK; maxcpus= may only confirm the count.
      serviceCPUs = machine.nodeOrder.filter { !lwkSet.contains($0) }
      lwkCPUs = Array(lwkSet)
      let dropped = Self.difference(given, lwkSet)
      lwkReason =
        "lwkcpus=" + given.description + (dropped.isEmpty ? "" : " without " + dropped.description)
      serviceReason = "the CPUs not in lwkcpus="
      cpuSource = .lwkCPUs
      if let maxCPUs = commandLine.maxCPUs {
        if max(maxCPUs, 1) == serviceCPUs.count {
          cpuSource = .both
          serviceReason = "maxcpus=" + String(maxCPUs) + ", the CPUs not in lwkcpus="
        } else {
          let left = serviceCPUs.count
          messages.append(
            "maxcpus=" + String(maxCPUs) + " conflicts with lwkcpus=" + given.description
              + ", which leaves " + Self.cpus(left) + " (" + cpuSet(serviceCPUs).description
              + ") for the service partition: "
              + (max(maxCPUs, 1) > left
                ? "a CPU cannot be in both partitions" : "every enabled CPU needs a partition")
              + "; lwkcpus= wins, maxcpus= ignored")
          serviceReason += "; maxcpus=" + String(maxCPUs) + " ignored"
        }
      }
    } else if let maxCPUs = commandLine.maxCPUs {
      if maxCPUs > enabledCount {
        messages.append(
          "maxcpus=" + String(maxCPUs) + " is more than the " + Self.cpus(enabledCount)
            + " enabled: the service partition gets all of them, the LWK partition none")
      }
      let count = min(max(maxCPUs, 1), enabledCount)
      serviceCPUs = Array(machine.nodeOrder.prefix(count))
      lwkCPUs = Array(Self.difference(machine.enabled, cpuSet(serviceCPUs)))
      cpuSource = .maxCPUs
      serviceReason =
        "maxcpus=" + String(maxCPUs)
        + (maxCPUs == 0
          ? " treated as 1"
          : maxCPUs > enabledCount ? ", limited to the enabled CPUs" : "")
      lwkReason = "the remaining CPUs"
    } else {
      let count = Self.defaultServiceCount(enabledCPUs: enabledCount)
      let optionsGiven = maxRejected || lwkRejected || commandLine.lwkCPUs != nil
      messages.append(
        (optionsGiven ? "no usable maxcpus= or lwkcpus=" : "no maxcpus= or lwkcpus= given")
          + ": the service partition gets the default, a quarter of the enabled CPUs in node "
          + "order (at least the boot CPU): " + String(count) + " of " + String(enabledCount))
      serviceCPUs = Array(machine.nodeOrder.prefix(count))
      lwkCPUs = Array(Self.difference(machine.enabled, cpuSet(serviceCPUs)))
      cpuSource = optionsGiven ? .fallback : .defaultSplit
      serviceReason =
        optionsGiven
        ? "default: a quarter of the CPUs, the CPU options were unusable"
        : "default: a quarter of the CPUs"
      lwkReason = "the remaining CPUs"
    }

    if lwkCPUs.count > Self.lwkCPULimit {
      offlineCPUs = Array(lwkCPUs.dropFirst(Self.lwkCPULimit))
      lwkCPUs = Array(lwkCPUs.prefix(Self.lwkCPULimit))
      messages.append(
        "the LWK partition runs at most " + String(Self.lwkCPULimit)
          + " CPUs (one shipping-ring channel each): " + Self.cpus(offlineCPUs.count) + " ("
          + cpuSet(offlineCPUs).description + ") stay offline")
    }
    if lwkCPUs.isEmpty {
      messages.append("the LWK partition gets no CPUs")
      lwkReason = "none left"
    } else {
      let nodes = machine.nodes(of: lwkCPUs)
      let withMemory = topology.nodes.filter { $0.memoryBytes > 0 }.map { $0.id }
      if withMemory.isEmpty {
        lwkMemoryNodes = nil
        lwkMemoryNodesReason = "no NUMA memory information: any node"
      } else if !nodes.contains(where: { withMemory.contains($0) }) {
        lwkMemoryNodes = nil
        lwkMemoryNodesReason = "its CPUs' nodes hold no memory: any node"
        messages.append(
          "no memory on the LWK CPUs' " + Self.nodeList(nodes)
            + ": the LWK partition may take memory from any node")
      } else {
        lwkMemoryNodes = nodes
        lwkMemoryNodesReason = "the LWK CPUs' nodes"
      }
    }
    messages.append(
      "CPU split (" + cpuSource.description + "): service " + cpuSet(serviceCPUs).description
        + ", LWK " + (lwkCPUs.isEmpty ? "none" : cpuSet(lwkCPUs).description))
    self.messages = messages
  }

  /// The partition `cpu` belongs to; nil for CPUs that do not exist, are
  /// disabled, or were ignored.
  public func partition(of cpu: Int) -> Partition? {
    if serviceCPUs.contains(cpu) { return .service }
    if lwkCPUs.contains(cpu) { return .lwk }
    return nil
  }

  /// What to ask of `MemoryPartitionPlan(splitting:request:)`: `mem=` and
  /// `lwkmem=` from the command line, every node's memory from the topology,
  /// and the nodes the LWK may draw from (see `lwkMemoryNodes`).
  public func memoryRequest(topology: Topology, commandLine: KernelCommandLine)
    -> MemoryPartitionRequest
  {
    var request = MemoryPartitionRequest(commandLine: commandLine)
    var nodeMemory: [NodeMemoryRange] = []
    for node in topology.nodes {
      for range in node.memory where !range.isEmpty {
        nodeMemory.append(NodeMemoryRange(node: node.id, range: range))
      }
    }
    request.nodeMemory = nodeMemory
    request.lwkNodes = lwkMemoryNodes
    return request
  }

  // MARK: helpers

  /// Whether the parser rejected a `key=...` (or bare `key`) token.
  private static func rejected(_ key: String, in commandLine: KernelCommandLine) -> Bool {
    commandLine.errors.contains {
      $0.token == key || $0.token.utf8.starts(with: (key + "=").utf8)
    }
  }

  /// `lwkcpus=` without the CPUs it may not name, each kind with a boot-log
  /// line; nil when nothing is left.
  private static func usableLWKCPUs(
    _ given: CPUList, machine: PartitionableCPUs, boot: Int, messages: inout [String]
  ) -> CPUList? {
    var missing = CPUList()
    var disabled = CPUList()
    var usable = CPUList()
    for cpu in given {
      if !machine.known.contains(cpu) {
        missing.insert(cpu)
      } else if !machine.enabled.contains(cpu) {
        disabled.insert(cpu)
      } else if cpu != boot {
        usable.insert(cpu)
      }
    }
    let option = "lwkcpus=" + given.description + ": "
    if !missing.isEmpty {
      messages.append(
        option + cpuNames(missing) + (missing.count == 1 ? " does" : " do")
          + " not exist: dropped")
    }
    if !disabled.isEmpty {
      messages.append(
        option + cpuNames(disabled) + (disabled.count == 1 ? " is" : " are")
          + " disabled: dropped")
    }
    if given.contains(boot) {
      messages.append(
        option + "CPU " + String(boot)
          + " is the boot CPU, which stays in the service partition: removed from the LWK")
    }
    guard !usable.isEmpty else {
      messages.append(option + "no CPU left for the LWK partition: ignored")
      return nil
    }
    return usable
  }

  /// The CPUs of `list` that are not in `other`.
  private static func difference(_ list: CPUList, _ other: CPUList) -> CPUList {
    var result = CPUList()
    for cpu in list where !other.contains(cpu) { result.insert(cpu) }
    return result
  }

  /// "CPU 5" or "CPUs 5-7,9".
  private static func cpuNames(_ list: CPUList) -> String {
    (list.count == 1 ? "CPU " : "CPUs ") + list.description
  }

  /// "1 CPU", "3 CPUs".
  private static func cpus(_ count: Int) -> String {
    String(count) + (count == 1 ? " CPU" : " CPUs")
  }

  /// "node 1" or "nodes 0, 2".
  static func nodeList(_ nodes: [Int]) -> String {
    var text = nodes.count == 1 ? "node " : "nodes "
    for (position, node) in nodes.enumerated() {
      if position > 0 { text += ", " }
      text += String(node)
    }
    return text
  }
}

/// The topology's CPUs as the planner sees them: nameable, deduplicated,
/// the boot CPU chosen and the enabled ones in node order.
private struct PartitionableCPUs {
  /// Every CPU the topology lists with a usable number.
  var known = CPUList()
  var enabled = CPUList()
  var boot: Int?
  /// The enabled CPUs, boot CPU first, then its node, then node by node.
  var nodeOrder: [Int] = []
  /// The node of each enabled CPU.
  private var nodeOf: [(cpu: Int, node: Int)] = []

  init(_ topology: Topology, messages: inout [String]) {
    var usable: [CPUDescriptor] = []
    for cpu in topology.cpus {
      guard cpu.index >= 0, cpu.index < CPUList.capacity else {
        messages.append(
          "the topology lists a CPU numbered " + String(cpu.index)
            + ", which no CPU list can name: ignored")
        continue
      }
      guard !known.contains(cpu.index) else {
        messages.append(
          "the topology lists CPU " + String(cpu.index) + " twice: the first entry counts")
        continue
      }
      known.insert(cpu.index)
      if cpu.enabled {
        enabled.insert(cpu.index)
        usable.append(cpu)
      }
    }
    guard !usable.isEmpty else { return }

    let marked = usable.first { $0.isBootCPU }
    let bootCPU =
      marked ?? usable.first { $0.index == 0 } ?? usable.min { $0.index < $1.index } ?? usable[0]
    if marked == nil {
      messages.append(
        "the topology marks no enabled CPU as the boot CPU: CPU " + String(bootCPU.index)
          + " is taken as it")
    }
    boot = bootCPU.index
    let home = bootCPU.node
    let others = usable.filter { $0.index != bootCPU.index }.sorted { a, b in
      if (a.node == home) != (b.node == home) { return a.node == home }
      if a.node != b.node { return a.node < b.node }
      return a.index < b.index
    }
    nodeOrder = [bootCPU.index] + others.map { $0.index }
    nodeOf = usable.map { (cpu: $0.index, node: $0.node) }
  }

  /// The distinct nodes of `cpus`, ascending.
  func nodes(of cpus: [Int]) -> [Int] {
    var result: [Int] = []
    for entry in nodeOf where cpus.contains(entry.cpu) && !result.contains(entry.node) {
      result.append(entry.node)
    }
    return result.sorted()
  }
}

/// The set of `cpus` (numbers outside 0..<capacity are left out).
private func cpuSet(_ cpus: [Int]) -> CPUList {
  var list = CPUList()
  for cpu in cpus { list.insert(cpu) }
  return list
}

/// What the shell's `parts` command prints: one line per partition saying
/// which CPUs and how much memory it has and where each came from, e.g.
/// `service: CPUs 0-1 (maxcpus=2), memory 64 MiB (mem=64M)`.
public struct PartitionSummary: Equatable, Sendable {
  public var lines: [String]

  public init(
    cpus: CPUPartitionPlan, memoryRequest: MemoryPartitionRequest, memory: MemoryPartitionPlan
  ) {
    let serviceMemory: String
    let mem = memoryRequest.serviceBytes.map { "mem=" + SizeValue.format($0) } ?? "mem="
    switch memory.source {
    case .commandLine: serviceMemory = mem
    case .defaultShare:
      serviceMemory =
        "default: a quarter, at least " + formatSize(memoryRequest.serviceMinimum)
    case .raisedToMinimum: serviceMemory = mem + " raised to the minimum"
    case .limitedToUsable: serviceMemory = mem + " limited to usable memory"
    }
    var lines = [
      "service: " + Self.cpuText(cpus.serviceCPUs) + " (" + cpus.serviceReason + "), memory "
        + formatSize(memory.serviceBytes) + " (" + serviceMemory + ")"
    ]

    var lwkMemory = "memory " + formatSize(memory.lwkBytes)
    if let limit = memoryRequest.lwkBytesLimit {
      lwkMemory += " (lwkmem=" + SizeValue.format(limit) + ")"
    } else if !cpus.lwkCPUs.isEmpty {
      lwkMemory += " (the rest)"
    }
    if let nodes = cpus.lwkMemoryNodes, !nodes.isEmpty {
      lwkMemory += " from " + CPUPartitionPlan.nodeList(nodes)
    } else if cpus.lwkMemoryNodes == nil {
      lwkMemory += " from any node"
    }
    lwkMemory += " (" + cpus.lwkMemoryNodesReason + ")"
    lines.append(
      "LWK: " + Self.cpuText(cpus.lwkCPUs) + " (" + cpus.lwkReason + "), " + lwkMemory)

    if memory.unassignedBytes > 0 {
      lines.append(
        "unassigned: memory " + formatSize(memory.unassignedBytes)
          + " (in neither partition, see the boot log)")
    }
    self.lines = lines
  }

  /// The lines joined with newlines.
  public var description: String {
    var text = ""
    for line in lines {
      if !text.isEmpty { text += "\n" }
      text += line
    }
    return text
  }

  /// "CPUs 0-1", "CPU 2", "no CPUs".
  private static func cpuText(_ cpus: [Int]) -> String {
    cpus.isEmpty ? "no CPUs" : (cpus.count == 1 ? "CPU " : "CPUs ") + cpuSet(cpus).description
  }
}
