import PropertyBased
import Testing

@testable import TesseraCore

/// `ps`'s history of finished processes (Kernel/Core/Scheduling/
/// ProcessHistory.swift), against a model that keeps every entry in an array
/// and looks at its last `capacity`.
struct ProcessHistoryTests {
  @Test func keepsTheNewestAndFindsByPID() {
    var history = ProcessHistory(capacity: 3)
    #expect(history.entry(pid: 1) == nil && history.newest(5).isEmpty)
    for pid in 1...4 {
      history.record(pid: pid, name: "p\(pid)", status: "exited with status \(pid)")
    }
    #expect(history.count == 3)
    #expect(history.entry(pid: 1) == nil)
    #expect(history.entry(pid: 4)?.status == "exited with status 4")
    #expect(history.newest(2).map(\.pid) == [3, 4])
    #expect(history.newest(9).map(\.name) == ["p2", "p3", "p4"])
  }

  @Test func aReusedPIDFindsTheNewestEntry() {
    var history = ProcessHistory(capacity: 4)
    history.record(pid: 7, name: "old", status: "killed")
    history.record(pid: 7, name: "new", status: "exited with status 0")
    #expect(history.entry(pid: 7)?.name == "new")
  }

  @Test func longTextIsCutAtACharacterBoundary() {
    var history = ProcessHistory(capacity: 1)
    let name = String(repeating: "a", count: ProcessHistory.nameBytes - 1) + "é"  // 2 bytes
    let status = String(repeating: "x", count: 200)
    history.record(pid: 1, name: name, status: status)
    let entry = history.entry(pid: 1)!
    #expect(entry.name == String(repeating: "a", count: ProcessHistory.nameBytes - 1))
    #expect(entry.status == String(repeating: "x", count: ProcessHistory.statusBytes))
    history.record(pid: 2, name: "", status: "")
    #expect(history.entry(pid: 2)! == ("", "") && history.entry(pid: 1) == nil)
  }

  @Test func agreesWithAnArrayModel() async {
    let step = zip(Gen.int(in: 1...12), Gen.int(in: 0...40), Gen.int(in: 0...120))
    await propertyCheck(input: Gen.int(in: 1...6), step.array(of: 0...60)) { capacity, steps in
      var history = ProcessHistory(capacity: capacity)
      var model: [(pid: Int, name: String, status: String)] = []
      for (pid, nameLength, statusLength) in steps {
        let name = String(repeating: "n", count: nameLength)
        let status = String(repeating: "s", count: statusLength)
        history.record(pid: pid, name: name, status: status)
        model.append(
          (
            pid, String(name.prefix(ProcessHistory.nameBytes)),
            String(status.prefix(ProcessHistory.statusBytes))
          ))
      }
      let kept = Array(model.suffix(capacity))
      #expect(history.count == kept.count)
      #expect(history.newest(capacity).map(\.pid) == kept.map(\.pid))
      #expect(history.newest(capacity).map(\.status) == kept.map(\.status))
      for pid in 1...12 {
        let expected = kept.last { $0.pid == pid }
        let found = history.entry(pid: pid)
        #expect(found?.name == expected?.name && found?.status == expected?.status)
      }
    }
  }
}
