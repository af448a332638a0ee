/// The LWK's triage counters as the system-call path keeps them: one row of
/// plain words per CPU (local and shipped count per call number, messages,
/// doorbells), each written only by its own CPU, so counting takes no lock
/// and no allocation. `triage` sums the rows into the Core TriageCounters
/// that renders the table. The route of each call number is looked up once
/// from the Core triage table into a byte per number (0: no such call,
/// 1: local, 2: shipped); everything here is a pointer or an integer, so
/// the hot path reads no lazily initialized global.
enum TriageCounts {
  nonisolated(unsafe) static var routes: UnsafeMutablePointer<UInt8>? = nil
  nonisolated(unsafe) static var rows: UnsafeMutablePointer<UInt64>? = nil
  /// Call numbers 0..<slots have a route byte and two counters.
  nonisolated(unsafe) static var slots = 0
  nonisolated(unsafe) static var cpus = 0
  /// Words per row: local counts, shipped counts, messages, doorbells.
  nonisolated(unsafe) static var rowWords = 0

  static func setUp(cpus: Int) {
    var highest = 0
    for call in SystemCallNumber.allCases { highest = max(highest, Int(call.rawValue)) }
    let table = UnsafeMutablePointer<UInt8>.allocate(capacity: highest + 1)
    for number in 0...highest {
      let route = SystemCallNumber(rawValue: UInt64(number)).map { SystemCallTriage.route(of: $0) }
      table[number] = route == nil ? 0 : route == .local ? 1 : 2
    }
    let words = cpus * (2 * (highest + 1) + 2)
    let memory = UnsafeMutablePointer<UInt64>.allocate(capacity: words)
    memory.initialize(repeating: 0, count: words)
    slots = highest + 1
    rowWords = 2 * slots + 2
    self.cpus = cpus
    rows = memory
    routes = table
  }

  /// The route of the call in RAX (nil: not a call).
  @inline(__always)
  static func route(_ number: UInt64) -> TriageRoute? {
    guard let routes, number < UInt64(slots) else { return nil }
    switch routes[Int(number)] {
    case 1: return .local
    case 2: return .shipped
    default: return nil
    }
  }

  @inline(__always)
  static func count(_ number: UInt64, _ route: TriageRoute, cpu: Int) {
    guard let rows, cpu < cpus, number < UInt64(slots) else { return }
    let column = route == .local ? Int(number) : slots + Int(number)
    rows[cpu * rowWords + column] &+= 1
  }

  static func countMessage(doorbell: Bool, cpu: Int) {
    guard let rows, cpu < cpus else { return }
    rows[cpu * rowWords + 2 * slots] &+= 1
    if doorbell { rows[cpu * rowWords + 2 * slots + 1] &+= 1 }
  }

  /// Every CPU's row summed (a row being written meanwhile may be one
  /// count behind).
  static var total: TriageCounters {
    var counters = TriageCounters()
    guard let rows else { return counters }
    for cpu in 0..<cpus {
      let row = rows + cpu * rowWords
      for number in 0..<slots {
        guard let call = SystemCallNumber(rawValue: UInt64(number)) else { continue }
        counters.record(call, route: .local, count: row[number])
        counters.record(call, route: .shipped, count: row[slots + number])
      }
      counters.recordMessages(row[2 * slots], interrupts: row[2 * slots + 1])
    }
    return counters
  }
}
