import UserSystem

/// Send capabilities handed from one kernel instance to the other, and
/// taken back across both (`dtuExport`, `dtuImport`, `dtuRevokeExport`).
///
/// "serve TAGS COUNT PID": a receive endpoint on this CPU's node and a send
/// endpoint to it with label 0x5ec0, exported for process PID of the other
/// instance; prints the ID. It takes
/// messages until each importer 1...TAGS has sent COUNT (each carries its
/// tag and a sequence number, checked in order, with the label the
/// capability carries), then revokes the export from two threads at once
/// on two CPUs: the second call joins the first, or finds it done. What
/// the importers had in flight stays readable and equals what the revoke
/// reported unread; nothing arrives after. The exporter's own send endpoint
/// still works.
/// "import ID TAG [reexport PID]": imports ID, optionally exports the copy
/// again (for process PID of the first instance: a derived tree across
/// both kernels), and sends TAG << 32 | n for n = 0, 1, ... until its send
/// endpoint is revoked, then checks that its capability is gone.
/// "bad OTHER": bad IDs and slots, each refused with its reason; OTHER is
/// the other instance's kernel number (0 service, 1 LWK).
enum Program {
  static let receive: UInt64 = 20
  static let own: UInt64 = 21
  static let imported: UInt64 = 22
  static let label: UInt64 = 0x5ec0

  static func main(argument: String) -> Int64 {
    let words = argument.split(separator: " ")
    if words.count == 4, words[0] == "serve", let tags = Int(words[1]), tags >= 1, tags <= 4,
      let count = UInt64(words[2]), count >= 1, count <= 100_000, let pid = UInt64(words[3])
    {
      return serve(tags: tags, count: count, for: pid)
    }
    if words.count == 3 || words.count == 5, words[0] == "import", let id = number(words[1]),
      let tag = UInt64(words[2]), tag >= 1, tag <= 4
    {
      if words.count == 3 { return importer(id, tag: tag, reexportFor: nil) }
      if words[3] == "reexport", let pid = UInt64(words[4]) {
        return importer(id, tag: tag, reexportFor: pid)
      }
    }
    if words.count == 2, words[0] == "bad", let other = UInt64(words[1]), other <= 1 {
      return bad(other: other)
    }
    print(usage)
    return 2
  }

  static let usage =
    "usage: dtudeleg serve TAGS (1-4) COUNT (1-100000) PID | import ID TAG (1-4) [reexport PID] | bad OTHER (0-1)"

  static func number(_ text: Substring) -> UInt64? {
    text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
  }

  static func errorName(_ code: Int64) -> String {
    SystemCallError(rawValue: code)?.name ?? "error \(code)"
  }

  static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

  // MARK: the exporter

  static func serve(tags: Int, count: UInt64, for pid: UInt64) -> Int64 {
    guard Endpoints.createReceive(receive, slotsLog2: 8, slotSizeLog2: 6) == 0,
      Endpoints.mintSend(receive, label: label, credits: 64, into: own) == 0,
      case .success(var receiver) = Endpoints.receiver(receive)
    else {
      print("dtudeleg: cannot make the endpoints")
      return 1
    }
    let exported = Endpoints.export(own, for: pid)
    guard exported > 0 else {
      print("dtudeleg: export refused: \(errorName(exported))")
      return 1
    }
    let exportID = UInt64(exported)
    print("dtudeleg: exported the send endpoint as \(hex(exportID))")
    var next = [UInt64](repeating: 0, count: tags + 1)
    var wrong = 0
    func take(_ message: ReceivedMessage) {
      let word = message.length >= 8 ? message.payload.loadUnaligned(as: UInt64.self) : 0
      let tag = Int(word >> 32)
      if message.label != label || tag < 1 || tag > tags || word & 0xFFFF_FFFF != next[tag] {
        wrong += 1
      } else {
        next[tag] += 1
      }
    }
    while next.dropFirst().contains(where: { $0 < count }) {
      guard let message = receiver.fetch() else {
        if receiver.prepareToSleep() { Endpoints.wait(receive) }
        continue
      }
      take(message)
      _ = try? receiver.ack(message)
    }
    print(
      "dtudeleg: \(count) messages from each of \(tags) importers, label \(hex(label)), \(wrong == 0 ? "all in order" : "\(wrong) wrong")"
    )
    guard let (mine, theirs) = SimultaneousCalls.twice(.dtuRevokeExport, exportID, slot: 31)
    else {
      print("dtudeleg: no second CPU for the second revoker")
      return 1
    }
    var kept = 0
    while let message = receiver.fetch() {
      take(message)
      _ = try? receiver.ack(message)
      kept += 1
    }
    let late = receiver.arrivals(within: 100_000_000)
    // Joined: both have the count. One after the other: the second finds
    // the export gone.
    let joins = (mine.joined ? 1 : 0) + (theirs.joined ? 1 : 0)
    let unread = max(mine.result, theirs.result)
    let consistent =
      joins == 1
      ? mine.result == theirs.result
      : joins == 0
        && min(mine.result, theirs.result) == SystemCallError.noSuchCapability.rawValue
    print(
      "dtudeleg: revoked the export: the second call \(joins == 1 ? "joined the first" : "came after it and found it gone"); \(unread) unread = \(kept) still readable, \(late) accepted after; the first call took \(mine.ticks) ticks"
    )
    Timing.reportValue(
      "dtudeleg: revoke of an export with a copy in each instance", String(mine.ticks),
      unit: "ticks", samples: 1)
    guard var sender = activatedSender(own) else { return 1 }
    var word: UInt64 = 0xABC
    let sent = withUnsafeBytes(of: &word) { sender.send(kind: .message, replyLabel: 0, bytes: $0) }
    var ownWorks = false
    if case .sent = sent, let message = receiver.fetch() {
      ownWorks =
        message.label == label && message.payload.loadUnaligned(as: UInt64.self) == 0xABC
      _ = try? receiver.ack(message)
    }
    print("dtudeleg: the exporter's own send endpoint \(ownWorks ? "still works" : "FAILED")")
    let good = wrong == 0 && consistent && unread == Int64(kept) && late == 0 && ownWorks
    return good ? 0 : 1
  }

  static func activatedSender(_ slot: UInt64) -> ChannelSender? {
    guard case .success(let sender) = Endpoints.sender(slot) else {
      print("dtudeleg: cannot activate the send endpoint in slot \(slot)")
      return nil
    }
    return sender
  }

  // MARK: an importer

  static func importer(_ id: UInt64, tag: UInt64, reexportFor pid: UInt64?) -> Int64 {
    let start = user_rdtsc()
    let result = Endpoints.importCapability(id, credits: 64, into: imported)
    let took = user_rdtsc() - start
    guard result == 0 else {
      print("dtudeleg: import of \(hex(id)) refused: \(errorName(result))")
      return 1
    }
    guard var sender = activatedSender(imported) else { return 1 }
    print("dtudeleg: imported \(hex(id)) as tag \(tag), activated; the import took \(took) ticks")
    Timing.reportValue(
      "dtudeleg: import of a send capability from the other instance (tag \(tag))", String(took),
      unit: "ticks", samples: 1)
    if let pid {
      let copy = Endpoints.export(imported, for: pid)
      guard copy > 0 else {
        print("dtudeleg: re-export refused: \(errorName(copy))")
        return 1
      }
      print("dtudeleg: re-exported as \(hex(UInt64(copy)))")
    }
    var sent: UInt64 = 0
    sending: while true {
      var word = tag << 32 | sent
      let outcome = withUnsafeBytes(of: &word) {
        sender.send(kind: .message, replyLabel: 0, bytes: $0)
      }
      switch outcome {
      case .sent(let wake):
        if wake { Endpoints.wake(imported) }
        sent += 1
      case .noCredits: System.call(.yield)
      default: break sending
      }
    }
    // The channel is revoked first; the capability goes with the copy's
    // deactivation, which came before it.
    let end = user_rdtsc() + 5_000_000_000
    while user_rdtsc() < end {
      if case .failure(.emptySlot) = Capabilities.inspect(imported) {
        print(
          "dtudeleg: tag \(tag) sent \(sent) messages; then its send endpoint was revoked, and its capability is gone"
        )
        return 0
      }
      System.call(.yield)
    }
    print("dtudeleg: tag \(tag): sending stopped, but the capability is still there")
    return 1
  }

  // MARK: bad input

  static func bad(other: UInt64) -> Int64 {
    let mine: UInt64 = 1 - other
    let cases: [(String, () -> Int64)] = [
      ("import of ID 0", { Endpoints.importCapability(0, credits: 64, into: imported) }),
      (
        "import of an ID of this instance",
        { Endpoints.importCapability(mine << 48 | 1 << 16, credits: 64, into: imported) }
      ),
      (
        "import of an ID the other instance never made",
        { Endpoints.importCapability(other << 48 | 7 << 16 | 200, credits: 64, into: imported) }
      ),
      (
        "import into slot 0",
        { Endpoints.importCapability(other << 48 | 1 << 16, credits: 64, into: 0) }
      ),
      ("export of an empty slot", { Endpoints.export(own, for: 0) }),
      ("revoke of an export never made", { Endpoints.revokeExport(mine << 48 | 3 << 16).0 }),
    ]
    var unexpected = 0
    for (what, call) in cases {
      let result = call()
      if result >= 0 { unexpected += 1 }
      print("dtudeleg: \(what): \(result < 0 ? errorName(result) : "ACCEPTED")")
    }
    return unexpected == 0 ? 0 : 1
  }
}
