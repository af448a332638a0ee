// Builds the `Topology` from the MADT, SRAT and SLIT as parsed, with a
// documented fallback for each table that is missing or malformed, so the
// kernel always gets a usable machine and the boot log says why it looks the
// way it does (every fallback adds a line to `notes`).
//
// CPUs (MADT types 0 and 9):
// - logical numbers: the boot CPU (APIC ID `bootAPICID`) is 0, then the
//   other enabled processors in MADT order, then the disabled ones in MADT
//   order;
// - an entry repeating an APIC ID listed before (typically an x2APIC entry
//   next to the xAPIC one) is counted once: the first entry wins;
// - no MADT, or a malformed one: the boot CPU alone;
// - the boot CPU not listed: it is added as CPU 0 with an unknown processor
//   UID; listed as disabled: it runs, so it counts as enabled.
// Nodes (SRAT, enabled entries only; node ids are the proximity domains):
// - every domain an enabled processor or memory affinity names is a node,
//   even when none of its memory is usable now (hot-plug);
// - a CPU without an affinity entry is placed on node 0;
// - a node's memory is its affinity ranges intersected with the memory
//   map's usable ranges, so holes, firmware areas and the kernel's
//   reservations never count as node memory. Where two ranges overlap the
//   earlier entry keeps the bytes; usable memory no range covers goes to
//   node 0;
// - no SRAT, a malformed one, or one without enabled entries: a single
//   node 0 with every CPU and all usable memory.
// Distances (SLIT): `distances[i][j]` is the SLIT entry for the proximity
// domains of `nodes[i]` and `nodes[j]`; nil without a SLIT, and nil with a
// note when it is malformed or does not cover every node.
// Interrupts: IOAPICs, overrides and the local APIC address (type 5 override
// first) come from the MADT; without one, none, none and 0xFEE00000.

extension CPUDescriptor {
  /// The ACPI processor UID of a CPU the MADT does not list.
  public static let unknownProcessorUID: UInt32 = 0xFFFF_FFFF
}

extension Topology {
  /// The machine from the parsed tables (nil: the firmware has no such
  /// table) and the memory map whose usable ranges the nodes divide up.
  public static func build(
    madt: Result<MADT, MADTError>?, srat: Result<SRAT, SRATError>?,
    slit: Result<SLIT, SLITError>?, bootAPICID: UInt32, memoryMap: MemoryMap
  ) -> Topology {
    var notes: [String] = []
    var topology = Topology(cpus: [], nodes: [])

    switch madt {
    case .success(let table):
      topology.cpus = numberedCPUs(table.processors, bootAPICID: bootAPICID, notes: &notes)
      topology.ioAPICs = table.ioAPICs
      topology.interruptOverrides = table.interruptOverrides
      topology.localAPICAddress = table.localAPICAddress
    case .failure(let error):
      notes.append(error.description + "; using the boot CPU alone")
      topology.cpus = [bootCPU(apicID: bootAPICID, listed: nil)]
    case nil:
      notes.append("madt: none; using the boot CPU alone")
      topology.cpus = [bootCPU(apicID: bootAPICID, listed: nil)]
    }

    let usable = memoryMap.usableRanges
    let fallback = " one node 0 with every CPU and all usable memory"
    switch srat {
    case .success(let table) where table.hasEnabledEntries:
      topology.nodes = nodes(from: table, cpus: &topology.cpus, usable: usable, notes: &notes)
    case .success:
      notes.append("srat: no enabled affinity entries;" + fallback)
      topology.nodes = [singleNode(cpus: topology.cpus, usable: usable)]
    case .failure(let error):
      notes.append(error.description + ";" + fallback)
      topology.nodes = [singleNode(cpus: topology.cpus, usable: usable)]
    case nil:
      notes.append("srat: none;" + fallback)
      topology.nodes = [singleNode(cpus: topology.cpus, usable: usable)]
    }

    switch slit {
    case .success(let table):
      topology.distances = distances(from: table, nodes: topology.nodes, notes: &notes)
    case .failure(let error):
      notes.append(error.description + "; no node distances")
    case nil:
      break
    }

    topology.notes = notes
    return topology
  }

  // MARK: CPUs

  /// CPU 0 before any node is known.
  private static func bootCPU(apicID: UInt32, listed: MADTProcessor?) -> CPUDescriptor {
    CPUDescriptor(
      index: 0, apicID: apicID,
      acpiProcessorID: listed?.acpiProcessorUID ?? CPUDescriptor.unknownProcessorUID, node: 0,
      enabled: true, isBootCPU: true)
  }

  private static func numberedCPUs(
    _ processors: [MADTProcessor], bootAPICID: UInt32, notes: inout [String]
  ) -> [CPUDescriptor] {
    var seen = APICIDTable()
    var unique: [MADTProcessor] = []
    var repeated: [UInt32] = []
    for processor in processors {
      if seen.insert(processor.apicID, value: 0) == nil {
        unique.append(processor)
      } else if !repeated.contains(processor.apicID) {
        repeated.append(processor.apicID)
      }
    }
    if !repeated.isEmpty {
      notes.append("madt: several entries for " + apicIDs(repeated) + "; the first one counts")
    }

    let boot = unique.first { $0.apicID == bootAPICID }
    if let boot, !boot.enabled {
      notes.append(
        "madt: the boot CPU (APIC ID " + String(bootAPICID)
          + ") is listed as disabled; it is running, so it counts as enabled")
    } else if boot == nil {
      notes.append(
        "madt: the boot CPU (APIC ID " + String(bootAPICID) + ") is not listed; added as CPU 0")
    }
    var cpus = [bootCPU(apicID: bootAPICID, listed: boot)]
    let others = unique.filter { $0.apicID != bootAPICID }
    for processor in others.filter({ $0.enabled }) + others.filter({ !$0.enabled }) {
      cpus.append(
        CPUDescriptor(
          index: cpus.count, apicID: processor.apicID, acpiProcessorID: processor.acpiProcessorUID,
          node: 0, enabled: processor.enabled, isBootCPU: false))
    }
    return cpus
  }

  // MARK: Nodes

  private static func singleNode(cpus: [CPUDescriptor], usable: [PhysicalRange]) -> NUMANode {
    NUMANode(id: 0, cpus: cpus.map { $0.index }, memory: usable)
  }

  /// Sets each CPU's node and returns the nodes, ordered by id.
  private static func nodes(
    from srat: SRAT, cpus: inout [CPUDescriptor], usable: [PhysicalRange], notes: inout [String]
  ) -> [NUMANode] {
    var ids: [Int] = []

    var domains = APICIDTable()
    var conflicts: [UInt32] = []
    for affinity in srat.processorAffinities where affinity.enabled {
      ids.append(Int(affinity.proximityDomain))
      if let earlier = domains.insert(affinity.apicID, value: affinity.proximityDomain),
        earlier != affinity.proximityDomain, !conflicts.contains(affinity.apicID)
      {
        conflicts.append(affinity.apicID)
      }
    }
    if !conflicts.isEmpty {
      notes.append(
        "srat: affinities to several domains for " + apicIDs(conflicts) + "; the first one counts")
    }
    var homeless: [String] = []
    for position in cpus.indices {
      if let domain = domains.value(for: cpus[position].apicID) {
        cpus[position].node = Int(domain)
      } else {
        cpus[position].node = 0
        homeless.append(
          "CPU " + String(cpus[position].index) + " (APIC ID " + String(cpus[position].apicID)
            + ")")
      }
    }
    if !homeless.isEmpty {
      notes.append("srat: no affinity for " + joined(homeless) + "; placed on node 0")
      ids.append(0)
    }

    // (node id, range) pieces in table order; merged per node below.
    var pieces: [(node: Int, range: PhysicalRange)] = []
    var claimed: [PhysicalRange] = []
    for affinity in srat.memoryAffinities where affinity.enabled {
      let node = Int(affinity.proximityDomain)
      ids.append(node)
      let present = usable.intersection([affinity.range])
      let owned = present.subtracting(claimed)
      if owned.totalBytes != present.totalBytes {
        notes.append(
          "srat: memory " + affinity.range.description + " of node " + String(node)
            + " overlaps an earlier range, which keeps the shared bytes")
      }
      for range in owned { pieces.append((node, range)) }
      claimed = (claimed + owned).sortedAndMerged()
    }
    let uncovered = usable.subtracting(claimed)
    if !uncovered.isEmpty {
      notes.append(
        "srat: " + formatSize(uncovered.totalBytes)
          + " of usable memory has no enabled affinity; placed on node 0")
      for range in uncovered { pieces.append((0, range)) }
      ids.append(0)
    }

    return uniqueSorted(ids).map { id in
      NUMANode(
        id: id,
        cpus: cpus.filter { $0.node == id }.map { $0.index },
        memory: pieces.filter { $0.node == id }.map { $0.range }.sortedAndMerged())
    }
  }

  // MARK: Distances

  private static func distances(from slit: SLIT, nodes: [NUMANode], notes: inout [String])
    -> [[UInt8]]?
  {
    if let outside = nodes.first(where: { $0.id >= slit.localityCount }) {
      notes.append(
        "slit: node " + String(outside.id) + " is not among its " + String(slit.localityCount)
          + " localities; no node distances")
      return nil
    }
    return nodes.map { from in nodes.map { to in slit.distance(from: from.id, to: to.id) ?? 0 } }
  }

  // MARK: Helpers

  private static func uniqueSorted(_ values: [Int]) -> [Int] {
    var result: [Int] = []
    for value in values.sorted() where result.last != value { result.append(value) }
    return result
  }

  /// "APIC ID 3" or "APIC IDs 3, 4".
  private static func apicIDs(_ ids: [UInt32]) -> String {
    (ids.count == 1 ? "APIC ID " : "APIC IDs ") + joined(ids.map { String($0) })
  }

  private static func joined(_ items: [String]) -> String {
    var text = ""
    for item in items { text += (text.isEmpty ? "" : ", ") + item }
    return text
  }
}

extension SRAT {
  /// Whether any entry the builder would use is enabled.
  var hasEnabledEntries: Bool {
    processorAffinities.contains { $0.enabled } || memoryAffinities.contains { $0.enabled }
  }
}

/// A map from APIC IDs to 32-bit values, kept sorted for binary search:
/// deterministic, and cheap for the few hundred CPUs a machine has.
private struct APICIDTable {
  private var keys: [UInt32] = []
  private var values: [UInt32] = []

  /// Adds the pair unless `key` is present; returns the value already there.
  mutating func insert(_ key: UInt32, value: UInt32) -> UInt32? {
    let position = self.position(of: key)
    if position < keys.count && keys[position] == key { return values[position] }
    keys.insert(key, at: position)
    values.insert(value, at: position)
    return nil
  }

  func value(for key: UInt32) -> UInt32? {
    let position = self.position(of: key)
    return position < keys.count && keys[position] == key ? values[position] : nil
  }

  /// The first position whose key is not below `key`.
  private func position(of key: UInt32) -> Int {
    var low = 0
    var high = keys.count
    while low < high {
      let middle = low + (high - low) / 2
      if keys[middle] < key { low = middle + 1 } else { high = middle }
    }
    return low
  }
}
