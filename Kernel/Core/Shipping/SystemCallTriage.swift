// System-call triage for the LWK kernel instance (mOS's rule, DESIGN.md and
// REFERENCES.md "mOS and McKernel"): every call is either served on the LWK
// CPU that took it, or shipped as a message to the service partition, which
// runs it and sends the answer back.
//
// The rule: what touches only the caller's own LWK objects (its memory,
// threads, capability space, endpoints, process record) or the clock stays
// local, so the common path never leaves the LWK CPU and never disturbs the
// service side. What needs a device (the console) or an object that only
// the service partition holds (boot modules, for spawn) is shipped, because
// the two instances share nothing but the hand-off block and the rings.
//
// The table routes by call number alone. It is one exhaustive `switch` with
// no `default`: adding a system call without deciding its route does not
// compile. A later refinement may route a local call by its operand (a
// capability naming a service-side object); that would sit on top of this
// table, not replace it.

/// Where the LWK instance runs a system call.
public enum TriageRoute: UInt8, CaseIterable, Equatable, Sendable {
  /// Served by the LWK instance on the calling CPU.
  case local = 0
  /// Sent to the service partition as a message, answered by a reply.
  case shipped = 1

  public var name: String {
    switch self {
    case .local: "local"
    case .shipped: "shipped"
    }
  }
}

/// One row of the triage table: the route and why.
public struct TriageDecision: Equatable, Sendable {
  public var route: TriageRoute
  public var reason: String

  public init(_ route: TriageRoute, _ reason: String) {
    self.route = route
    self.reason = reason
  }
}

public enum SystemCallTriage {
  /// The table. Reasons are one line each, for the reader and for `triage`
  /// output; the route is what the dispatcher acts on.
  public static func decision(for call: SystemCallNumber) -> TriageDecision {
    switch call {
    case .exit: TriageDecision(.local, "ends an LWK process and its LWK threads")
    case .consoleWrite: TriageDecision(.shipped, "the serial console is a service-side device")
    case .yield: TriageDecision(.local, "the LWK scheduler owns its CPUs")
    case .setThreadPointer: TriageDecision(.local, "sets a register of the caller's own thread")
    case .processInfo: TriageDecision(.local, "reads the caller's own process record")
    case .capabilityCopy: TriageDecision(.local, "changes the caller's LWK capability space")
    case .capabilityMint: TriageDecision(.local, "changes the caller's LWK capability space")
    case .capabilityMove: TriageDecision(.local, "changes the caller's LWK capability space")
    case .capabilityDelete: TriageDecision(.local, "changes the caller's LWK capability space")
    case .capabilityRevoke: TriageDecision(.local, "walks the LWK instance's derivation tree")
    case .capabilityInspect: TriageDecision(.local, "reads the caller's LWK capability space")
    case .memoryCreate: TriageDecision(.local, "frames come from the LWK partition's allocator")
    case .memoryMap: TriageDecision(.local, "edits the caller's page tables, owned by the LWK")
    case .memoryUnmap: TriageDecision(.local, "edits the caller's page tables, owned by the LWK")
    case .endpointCreate: TriageDecision(.local, "creates an LWK object")
    case .threadCreate: TriageDecision(.local, "creates an LWK thread on an LWK CPU")
    case .threadExit: TriageDecision(.local, "ends an LWK thread")
    case .send: TriageDecision(.local, "IPC through an LWK endpoint")
    case .receive: TriageDecision(.local, "IPC through an LWK endpoint")
    case .call: TriageDecision(.local, "IPC through an LWK endpoint")
    case .reply: TriageDecision(.local, "IPC through an LWK endpoint")
    case .replyReceive: TriageDecision(.local, "IPC through an LWK endpoint")
    case .spawn: TriageDecision(.shipped, "programs are boot modules, held by the service side")
    case .wait: TriageDecision(.local, "waits for a child process of the LWK instance")
    case .threadPriority: TriageDecision(.local, "changes an LWK thread")
    case .consoleRead: TriageDecision(.shipped, "console input arrives at the service side")
    case .threadInfo: TriageDecision(.local, "reads an LWK thread's record")
    case .dtuReceiveCreate: TriageDecision(.local, "rings in the LWK's half of a node's region")
    case .dtuSendMint: TriageDecision(.local, "binds a channel of an LWK receive endpoint")
    case .dtuActivate: TriageDecision(.local, "maps into the caller's LWK address space")
    case .dtuWake: TriageDecision(.local, "wakes an LWK receiver")
    case .dtuWait: TriageDecision(.local, "blocks an LWK thread")
    case .cpuNode: TriageDecision(.local, "reads the hand-off block's topology")
    case .dtuMemoryCreate: TriageDecision(.local, "a window into an LWK memory object")
    case .dtuMemoryRead: TriageDecision(.local, "copies through an LWK memory endpoint")
    case .dtuMemoryWrite: TriageDecision(.local, "copies through an LWK memory endpoint")
    case .dtuPublish: TriageDecision(.local, "names an LWK receive endpoint")
    case .dtuConnect: TriageDecision(.local, "binds a channel of an LWK receive endpoint")
    case .dtuRevokeSenders: TriageDecision(.local, "revokes the senders of an LWK receive endpoint")
    case .dtuExport: TriageDecision(.local, "records a delegable capability in the LWK's directory")
    case .dtuImport: TriageDecision(.local, "the LWK's kernel asks the service's for the copy")
    case .dtuRevokeExport: TriageDecision(.local, "revokes through the LWK's directory")
    }
  }

  public static func route(of call: SystemCallNumber) -> TriageRoute {
    decision(for: call).route
  }

  /// The route of a raw call number from RAX, or nil when no call has that
  /// number: the LWK answers `unknownSystemCall` itself, nothing is shipped.
  public static func route(rawNumber: UInt64) -> TriageRoute? {
    SystemCallNumber(rawValue: rawNumber).map(route(of:))
  }
}

/// What the LWK instance did with the system calls it took, per call, plus
/// the shipping traffic: messages sent to the service side and the IPIs that
/// woke it. Messages per IPI is the piggy-back ratio (an IPI goes out only
/// when the queue was empty, so a busy queue carries many messages per IPI).
///
/// A plain value: one per LWK instance, changed only by that instance, read
/// by the `triage` shell command from a copy. Counters wrap instead of
/// trapping; a kernel must not die of its statistics.
public struct TriageCounters: Equatable, Sendable {
  /// Indexed by `SystemCallNumber.rawValue`.
  private var localCounts: [UInt64]
  private var shippedCounts: [UInt64]
  /// Shipped messages put on the ring to the service partition.
  public private(set) var messages: UInt64 = 0
  /// IPIs sent to the service partition for those messages.
  public private(set) var interrupts: UInt64 = 0

  public init() {
    // Sized by the highest number, not the case count, so a gap in the
    // numbering can never index past the end.
    var slots = 0
    for call in SystemCallNumber.allCases { slots = max(slots, Int(call.rawValue) + 1) }
    localCounts = [UInt64](repeating: 0, count: slots)
    shippedCounts = [UInt64](repeating: 0, count: slots)
  }

  public mutating func record(_ call: SystemCallNumber, route: TriageRoute, count: UInt64 = 1) {
    let index = Int(call.rawValue)
    switch route {
    case .local: localCounts[index] &+= count
    case .shipped: shippedCounts[index] &+= count
    }
  }

  /// Adds another set of counters to these (the kernel keeps one per CPU,
  /// so the system-call path takes no lock, and sums them for `triage`).
  public mutating func add(_ other: TriageCounters) {
    for index in 0..<min(localCounts.count, other.localCounts.count) {
      localCounts[index] &+= other.localCounts[index]
      shippedCounts[index] &+= other.shippedCounts[index]
    }
    messages &+= other.messages
    interrupts &+= other.interrupts
  }

  /// Triages a raw call number by the table and counts it; nil (and
  /// nothing counted) for a number that names no call.
  @discardableResult
  public mutating func record(rawNumber: UInt64) -> TriageRoute? {
    guard let call = SystemCallNumber(rawValue: rawNumber) else { return nil }
    let route = SystemCallTriage.route(of: call)
    record(call, route: route)
    return route
  }

  /// One message put on the ring, and whether an IPI went with it.
  public mutating func recordMessage(sentInterrupt: Bool) {
    messages &+= 1
    if sentInterrupt { interrupts &+= 1 }
  }

  /// `count` messages at once, `interrupts` of them with an IPI.
  public mutating func recordMessages(_ count: UInt64, interrupts: UInt64) {
    messages &+= count
    self.interrupts &+= interrupts
  }

  public func local(_ call: SystemCallNumber) -> UInt64 { localCounts[Int(call.rawValue)] }
  public func shipped(_ call: SystemCallNumber) -> UInt64 { shippedCounts[Int(call.rawValue)] }

  public var totalLocal: UInt64 { localCounts.reduce(0, &+) }
  public var totalShipped: UInt64 { shippedCounts.reduce(0, &+) }
  public var total: UInt64 { totalLocal &+ totalShipped }

  /// The `triage` command's table: a header, one row per call that was
  /// counted at all (in call-number order), a totals row, then the
  /// shipping traffic. The table's rows share their column positions: the
  /// name left-aligned, the counts right-aligned in columns as wide as the
  /// widest entry.
  ///
  ///     call          local  shipped
  ///     consoleWrite      0       12
  ///     yield            40        0
  ///     total            40       12
  ///     messages 12, IPIs 3
  public func lines() -> [String] {
    var rows: [(String, String, String)] = [("call", "local", "shipped")]
    for call in SystemCallNumber.allCases where local(call) != 0 || shipped(call) != 0 {
      rows.append((call.name, String(local(call)), String(shipped(call))))
    }
    rows.append(("total", String(totalLocal), String(totalShipped)))
    var widths = (0, 0, 0)
    for row in rows {
      widths.0 = max(widths.0, row.0.utf8.count)
      widths.1 = max(widths.1, row.1.utf8.count)
      widths.2 = max(widths.2, row.2.utf8.count)
    }
    var lines: [String] = []
    for row in rows {
      lines.append(
        row.0.padded(to: widths.0) + "  " + rightAligned(row.1, widths.1) + "  "
          + rightAligned(row.2, widths.2))
    }
    lines.append("messages " + String(messages) + ", IPIs " + String(interrupts))
    return lines
  }

  private func rightAligned(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.utf8.count)) + text
  }
}
