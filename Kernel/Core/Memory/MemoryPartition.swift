// The mOS-style memory split: one normalized map (boot reservations already
// taken out) becomes two E820-style maps, one per partition. In each, the
// other partition's memory is marked reserved, so an instance that builds its
// allocator from its own map never touches the other's pages (mOS gives its
// LWK exactly such a map, with Linux's `mem=` memory marked reserved).
//
// Decisions:
// - The service partition takes its share from the LOWEST usable memory
//   (where the boot CPU's node usually is, and what `mem=` means to Linux),
//   in whole pages, splitting a range where needed.
// - Its size: `mem=SIZE` rounded up to a page. Without a valid `mem=`, the
//   default: a quarter of usable memory (rounded up to a page), at least the
//   minimum (32 MiB), at most all of it.
// - `mem=` below the minimum is raised to the minimum. `mem=` above what is
//   usable gives the service partition all of it and the LWK partition
//   nothing, as Linux treats `mem=` as a limit: a larger `mem=` never gives
//   the service partition less than a smaller one would. With less usable
//   memory than the minimum, the service partition gets all of it.
// - The LWK partition gets the rest, restricted to the NUMA nodes it may
//   draw from (`lwkNodes`) and capped by `lwkmem=`, taking the lowest
//   eligible memory first. What the node restriction or the cap leaves is
//   UNASSIGNED: it stays out of both partitions' allocators (marked
//   reserved as `unassigned` in both maps), because giving it to the service
//   partition would override an explicit `mem=`. A boot-log line says so.
// - Without NUMA information one node, 0, holds all memory.

/// Memory of one NUMA node, as an SRAT memory affinity entry gives it.
public struct NodeMemoryRange: Equatable, Sendable {
  public var node: Int
  public var range: PhysicalRange

  public init(node: Int, range: PhysicalRange) {
    self.node = node
    self.range = range
  }
}

/// What the boot options and the topology ask of the split.
public struct MemoryPartitionRequest: Equatable, Sendable {
  /// The service partition never gets less than this unless less is usable.
  public static let defaultServiceMinimum: UInt64 = 32 << 20

  /// `mem=`: the service partition's size.
  public var serviceBytes: UInt64?
  /// `mem=` was given but the parser rejected it (it reported the error).
  public var serviceBytesMalformed: Bool
  /// `lwkmem=`: the most the LWK partition gets.
  public var lwkBytesLimit: UInt64?
  /// `lwkmem=` was given but the parser rejected it.
  public var lwkBytesLimitMalformed: Bool
  public var serviceMinimum: UInt64
  /// Which node each range of memory belongs to; empty means node 0 holds
  /// everything. Memory outside every listed range belongs to no node.
  public var nodeMemory: [NodeMemoryRange]
  /// The nodes the LWK partition may take memory from; nil: any memory.
  public var lwkNodes: [Int]?

  public init(
    serviceBytes: UInt64? = nil, lwkBytesLimit: UInt64? = nil,
    serviceMinimum: UInt64 = MemoryPartitionRequest.defaultServiceMinimum,
    nodeMemory: [NodeMemoryRange] = [], lwkNodes: [Int]? = nil,
    serviceBytesMalformed: Bool = false, lwkBytesLimitMalformed: Bool = false
  ) {
    self.serviceBytes = serviceBytes
    self.serviceBytesMalformed = serviceBytesMalformed
    self.lwkBytesLimit = lwkBytesLimit
    self.lwkBytesLimitMalformed = lwkBytesLimitMalformed
    self.serviceMinimum = serviceMinimum
    self.nodeMemory = nodeMemory
    self.lwkNodes = lwkNodes
  }

  /// `mem=` and `lwkmem=` from the command line, with no NUMA constraint.
  public init(commandLine: KernelCommandLine) {
    func rejected(_ key: String) -> Bool {
      commandLine.errors.contains { $0.token.utf8.starts(with: (key + "=").utf8) }
    }
    self.init(
      serviceBytes: commandLine.serviceMemory, lwkBytesLimit: commandLine.lwkMemory,
      serviceBytesMalformed: commandLine.serviceMemory == nil && rejected("mem"),
      lwkBytesLimitMalformed: commandLine.lwkMemory == nil && rejected("lwkmem"))
  }
}

/// How the service partition's size was chosen.
public enum ServiceSizeSource: Equatable, Sendable {
  /// `mem=` as given, rounded up to a page.
  case commandLine
  /// No valid `mem=`: a quarter of usable memory, at least the minimum.
  case defaultShare
  /// `mem=` was below the minimum.
  case raisedToMinimum
  /// `mem=` was more than is usable: the service partition got all of it.
  case limitedToUsable

  public var description: String {
    switch self {
    case .commandLine: "from mem="
    case .defaultShare: "default"
    case .raisedToMinimum: "mem= raised to the minimum"
    case .limitedToUsable: "mem= limited to usable memory"
    }
  }
}

public struct MemoryPartitionPlan: Sendable {
  /// The service partition's map: its usable ranges are its memory; LWK
  /// memory is reserved as `lwkMemory`, unassigned memory as `unassigned`.
  public var service: MemoryMap
  /// The LWK partition's map: service memory is reserved as
  /// `serviceMemory`, unassigned memory as `unassigned`.
  public var lwk: MemoryMap
  public var serviceBytes: UInt64
  public var lwkBytes: UInt64
  public var unassignedBytes: UInt64
  public var source: ServiceSizeSource
  /// Boot-log lines explaining the decisions and fallbacks.
  public var messages: [String]

  /// Splits the usable memory of `map` (rules at the top of the file).
  public init(splitting map: MemoryMap, request: MemoryPartitionRequest) {
    let usable = map.usableRanges
    let total = usable.totalBytes
    var messages: [String] = []

    let (serviceSize, source) = MemoryPartitionPlan.serviceSize(
      total: total, request: request, messages: &messages)
    let (serviceRanges, remaining) = usable.splitLowest(serviceSize)

    // The LWK may only draw from its nodes' memory.
    var eligible = remaining
    if let lwkNodes = request.lwkNodes {
      let nodes =
        request.nodeMemory.isEmpty
        ? [NodeMemoryRange(node: 0, range: PhysicalRange(base: 0, end: UInt64.max))]
        : request.nodeMemory
      let allowed = nodes.filter { lwkNodes.contains($0.node) }.map { $0.range }.sortedAndMerged()
      eligible = remaining.intersection(allowed).compactMap { $0.pageAlignedInward }
      let outside = remaining.totalBytes - eligible.totalBytes
      if outside > 0 && lwkNodes.isEmpty {
        messages.append(
          formatSize(outside) + " stays unassigned: the LWK partition has no CPUs to use it")
      } else if outside > 0 {
        messages.append(
          formatSize(outside) + " outside the LWK partition's NUMA nodes ("
            + MemoryPartitionPlan.list(lwkNodes)
            + ") stays unassigned")
      }
    }

    var lwkRanges = eligible
    if let limit = request.lwkBytesLimit {
      let cap = PhysicalRange.alignUp(limit, to: PhysicalRange.pageSize) ?? UInt64.max
      lwkRanges = eligible.splitLowest(cap).taken
      if cap < eligible.totalBytes {
        messages.append(
          "lwkmem=" + SizeValue.format(limit) + " limits the LWK partition; "
            + formatSize(eligible.totalBytes - cap) + " more stays unassigned")
      } else if cap > eligible.totalBytes {
        messages.append(
          "lwkmem=" + SizeValue.format(limit) + " is more than the "
            + formatSize(eligible.totalBytes)
            + " left for the LWK partition: it gets that")
      }
    } else if request.lwkBytesLimitMalformed {
      messages.append("lwkmem= is malformed: the LWK partition is not limited")
    }
    let unassigned = remaining.subtracting(lwkRanges)

    var service = map
    var lwk = map
    for range in lwkRanges { service.reserve(range, reason: .lwkMemory) }
    for range in serviceRanges { lwk.reserve(range, reason: .serviceMemory) }
    for range in unassigned {
      service.reserve(range, reason: .unassigned)
      lwk.reserve(range, reason: .unassigned)
    }

    self.service = service
    self.lwk = lwk
    self.serviceBytes = serviceRanges.totalBytes
    self.lwkBytes = lwkRanges.totalBytes
    self.unassignedBytes = unassigned.totalBytes
    self.source = source
    if lwkBytes == 0 { messages.append("the LWK partition gets no memory") }
    var summary =
      "memory split: service " + formatSize(serviceBytes) + " (" + source.description + "), LWK "
      + formatSize(lwkBytes)
    if unassignedBytes > 0 { summary += ", unassigned " + formatSize(unassignedBytes) }
    messages.append(summary)
    self.messages = messages
  }

  /// The service partition's size in bytes (whole pages, at most `total`).
  private static func serviceSize(
    total: UInt64, request: MemoryPartitionRequest, messages: inout [String]
  ) -> (UInt64, ServiceSizeSource) {
    let page = PhysicalRange.pageSize
    let minimum = PhysicalRange.alignUp(request.serviceMinimum, to: page) ?? UInt64.max
    let tooLittle =
      "only " + formatSize(total) + " is usable, less than the service partition's minimum of "
      + formatSize(minimum) + ": the service partition gets all of it"

    guard let requested = request.serviceBytes else {
      let reason = request.serviceBytesMalformed ? "mem= is malformed" : "no mem= given"
      messages.append(
        reason
          + ": the service partition gets the default, a quarter of usable memory and at least "
          + formatSize(minimum))
      if total < minimum { messages.append(tooLittle) }
      let quarter = PhysicalRange.alignUp(total / 4, to: page) ?? UInt64.max
      return (min(max(quarter, minimum), total), .defaultShare)
    }

    let name = "mem=" + SizeValue.format(requested)
    let rounded = PhysicalRange.alignUp(requested, to: page) ?? UInt64.max
    if rounded > total && rounded >= minimum {
      messages.append(
        name + " is more than the " + formatSize(total)
          + " of usable memory: the service partition gets all of it, the LWK partition none")
      return (total, .limitedToUsable)
    }
    if rounded < minimum {
      messages.append(
        name + " is below the service partition's minimum of " + formatSize(minimum)
          + ": raised to it")
      if total < minimum { messages.append(tooLittle) }
      return (min(minimum, total), .raisedToMinimum)
    }
    return (rounded, .commandLine)
  }

  /// "0, 2, 3"
  private static func list(_ numbers: [Int]) -> String {
    var text = ""
    for number in numbers {
      if !text.isEmpty { text += ", " }
      text += String(number)
    }
    return text
  }
}
