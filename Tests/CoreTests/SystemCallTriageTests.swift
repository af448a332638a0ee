import PropertyBased
import Testing

@testable import TesseraCore

/// System-call triage (Kernel/Core/Shipping/SystemCallTriage.swift): the
/// table routes every call the way mOS's rule says, the counters the
/// `triage` command shows add up whatever is recorded, and their table
/// keeps its columns. The routes are pinned one by one because a call that
/// silently moves from local to shipped changes the LWK's latency and
/// noise, which no other test would notice.
struct SystemCallTriageTests {
  /// What the rule ships: the console (a device) and spawn (boot modules
  /// live with the service partition). Everything else stays on the LWK.
  static var shipped: Set<SystemCallNumber> { [.consoleWrite, .consoleRead, .spawn] }

  @Test func everyCallHasARouteAndAReason() {
    for call in SystemCallNumber.allCases {
      let decision = SystemCallTriage.decision(for: call)
      #expect(!decision.reason.isEmpty, "\(call.name)")
      #expect(SystemCallTriage.route(of: call) == decision.route)
      #expect(SystemCallTriage.route(rawNumber: call.rawValue) == decision.route)
    }
  }

  @Test func shippedCallsAreTheConsoleAndSpawn() {
    let shipped = SystemCallNumber.allCases.filter { SystemCallTriage.route(of: $0) == .shipped }
    #expect(Set(shipped) == Self.shipped)
  }

  @Test func memoryThreadsCapabilitiesIPCAndProcessCallsStayLocal() {
    let local: [SystemCallNumber] = [
      .exit, .wait, .processInfo, .yield, .setThreadPointer, .threadCreate, .threadExit,
      .threadPriority, .threadInfo, .memoryCreate, .memoryMap, .memoryUnmap, .capabilityCopy,
      .capabilityMint, .capabilityMove, .capabilityDelete, .capabilityRevoke, .capabilityInspect,
      .endpointCreate, .send, .receive, .call, .reply, .replyReceive, .dtuReceiveCreate,
      .dtuSendMint, .dtuActivate, .dtuWake, .dtuWait, .cpuNode, .dtuMemoryCreate, .dtuMemoryRead,
      .dtuMemoryWrite, .dtuPublish, .dtuConnect, .dtuRevokeSenders, .dtuExport, .dtuImport,
      .dtuRevokeExport,
    ]
    for call in local { #expect(SystemCallTriage.route(of: call) == .local, "\(call.name)") }
    #expect(local.count + Self.shipped.count == SystemCallNumber.allCases.count)
  }

  /// A number from RAX that names no call is the LWK's own business (it
  /// answers unknownSystemCall): no route, nothing counted, no trap.
  @Test func unknownNumbersHaveNoRouteAndAreNotCounted() {
    var counters = TriageCounters()
    let unknown: [UInt64] = [UInt64(SystemCallNumber.allCases.count), 1000, .max, 1 << 63]
    for number in unknown {
      #expect(SystemCallNumber(rawValue: number) == nil)
      #expect(SystemCallTriage.route(rawNumber: number) == nil)
      #expect(counters.record(rawNumber: number) == nil)
    }
    #expect(counters == TriageCounters())
    #expect(counters.total == 0)
    #expect(
      counters.lines() == ["call   local  shipped", "total      0        0", "messages 0, IPIs 0"])
  }

  @Test func rawNumbersAreCountedOnTheTablesRoute() {
    var counters = TriageCounters()
    #expect(counters.record(rawNumber: SystemCallNumber.consoleWrite.rawValue) == .shipped)
    #expect(counters.record(rawNumber: SystemCallNumber.yield.rawValue) == .local)
    #expect(counters.shipped(.consoleWrite) == 1)
    #expect(counters.local(.consoleWrite) == 0)
    #expect(counters.local(.yield) == 1)
    #expect(counters.totalLocal == 1 && counters.totalShipped == 1 && counters.total == 2)
  }

  /// Random records against a dictionary model: per-call counts, totals
  /// and the traffic counters all agree, unknown numbers included.
  @Test func countersAddUp() async {
    let records = zip(Gen.uint64(in: 0...40), Gen.bool(), Gen.bool()).array(of: 0...200)
    let messages = Gen.bool().array(of: 0...50)
    await propertyCheck(count: 300, input: records, messages) { records, interrupts in
      var counters = TriageCounters()
      var model: [SystemCallNumber: (local: UInt64, shipped: UInt64)] = [:]
      for (number, byTable, shipped) in records {
        if byTable {
          let route = counters.record(rawNumber: number)
          guard let call = SystemCallNumber(rawValue: number) else {
            #expect(route == nil)
            continue
          }
          #expect(route == SystemCallTriage.route(of: call))
          if route == .shipped {
            model[call, default: (0, 0)].shipped += 1
          } else {
            model[call, default: (0, 0)].local += 1
          }
        } else if let call = SystemCallNumber(rawValue: number) {
          // The dispatcher may override the table (a later per-operand
          // refinement); the counters count what was done.
          counters.record(call, route: shipped ? .shipped : .local)
          if shipped {
            model[call, default: (0, 0)].shipped += 1
          } else {
            model[call, default: (0, 0)].local += 1
          }
        }
      }
      for sent in interrupts { counters.recordMessage(sentInterrupt: sent) }
      for call in SystemCallNumber.allCases {
        #expect(counters.local(call) == model[call]?.local ?? 0)
        #expect(counters.shipped(call) == model[call]?.shipped ?? 0)
      }
      let local = model.values.reduce(0) { $0 + $1.local }
      let shipped = model.values.reduce(0) { $0 + $1.shipped }
      #expect(counters.totalLocal == local)
      #expect(counters.totalShipped == shipped)
      #expect(counters.total == local + shipped)
      #expect(counters.messages == UInt64(interrupts.count))
      #expect(counters.interrupts == UInt64(interrupts.filter { $0 }.count))
      // One row per counted call, a header, a totals row and the traffic.
      #expect(counters.lines().count == model.count + 3)
    }
  }

  @Test func tableLooksLikeThis() {
    var counters = TriageCounters()
    for _ in 0..<12 { counters.record(.consoleWrite, route: .shipped) }
    for _ in 0..<40 { counters.record(.yield, route: .local) }
    for _ in 0..<1234 { counters.record(.call, route: .local) }
    counters.recordMessage(sentInterrupt: true)
    for _ in 0..<11 { counters.recordMessage(sentInterrupt: false) }
    #expect(
      counters.lines() == [
        "call          local  shipped",
        "consoleWrite      0       12",
        "yield            40        0",
        "call           1234        0",
        "total          1274       12",
        "messages 12, IPIs 1",
      ])
  }

  /// Whatever the counts, the table's lines (all but the traffic line)
  /// have the same length and the same column edges: names start at 0,
  /// each count column ends where the header's word for it ends, and
  /// columns are at least two spaces apart.
  @Test func renderingIsAligned() async {
    // Counts of 1 to 1000 give columns of different widths.
    let counts = zip(Gen.int(in: 0...26), Gen.int(in: 0...3), Gen.bool()).array(of: 0...12)
    await propertyCheck(count: 200, input: counts) { counts in
      var counters = TriageCounters()
      for (number, digits, shipped) in counts {
        let call = SystemCallNumber.allCases[number]
        for _ in 0..<[1, 10, 100, 1000][digits] {
          counters.record(call, route: shipped ? .shipped : .local)
        }
      }
      let lines = counters.lines()
      #expect(lines.last == "messages 0, IPIs 0")
      let table = lines.dropLast()
      let header = words(table.first!)
      #expect(header.count == 3)
      for line in table {
        #expect(line.utf8.count == table.first!.utf8.count, "\(lines)")
        let columns = words(line)
        #expect(columns.count == 3, "\(line)")
        guard columns.count == 3 else { continue }
        #expect(columns[0].lowerBound == 0)
        #expect(columns[1].upperBound == header[1].upperBound, "\(lines)")
        #expect(columns[2].upperBound == header[2].upperBound, "\(lines)")
        #expect(columns[1].lowerBound >= columns[0].upperBound + 2)
        #expect(columns[2].lowerBound >= columns[1].upperBound + 2)
      }
    }
  }

  /// The byte ranges of the runs of non-spaces in `line`.
  private func words(_ line: String) -> [Range<Int>] {
    var words: [Range<Int>] = []
    var start: Int?
    for (index, byte) in line.utf8.enumerated() {
      if byte == UInt8(ascii: " ") {
        if let begun = start { words.append(begun..<index) }
        start = nil
      } else if start == nil {
        start = index
      }
    }
    if let begun = start { words.append(begun..<line.utf8.count) }
    return words
  }
}

/// Per-CPU counters summed for display give what one set would have counted.
struct TriageCountersSumTests {
  @Test func sumOfPartsEqualsTheWhole() async {
    let calls = SystemCallNumber.allCases
    await propertyCheck(input: Gen.int(in: 0...(calls.count - 1)).array(of: 0...60), Gen.bool()) {
      indices, sent in
      var whole = TriageCounters()
      var parts = [TriageCounters(), TriageCounters(), TriageCounters()]
      for (n, index) in indices.enumerated() {
        let call = calls[index]
        let route = SystemCallTriage.route(of: call)
        whole.record(call, route: route)
        parts[n % 3].record(call, route: route)
        whole.recordMessage(sentInterrupt: sent)
        parts[n % 3].recordMessage(sentInterrupt: sent)
      }
      var sum = TriageCounters()
      for part in parts { sum.add(part) }
      #expect(sum == whole)
    }
  }
}
