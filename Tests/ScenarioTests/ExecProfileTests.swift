/// The profiler's reading of a QEMU exec log (`tessera-scenario profile`):
/// a kernel entry runs from `syscall_entry` to the next user-mode
/// instruction, instructions are counted per function, and entries that
/// ran the same functions are grouped.
import Foundation
import Testing

@testable import ScenarioRunner

@Suite struct ExecProfileTests {
  let profile = ExecProfile(
    symbols: [
      .init(address: 0x4010_0000, name: "syscall_entry"),
      .init(address: 0x4020_0000, name: "dispatch"),
      .init(address: 0x4030_0000, name: "ipc"),
    ], entry: 0x4010_0000)

  func line(_ pc: UInt64) -> String {
    "Trace 0: 0x7f0000001000 [0000000000000000/\(String(pc, radix: 16))/0040c2b0/ff020201] \n"
  }

  @Test func readsThePCOfAnExecLine() {
    #expect(ExecProfile.pc(ofLine: Substring(line(0x4010_0004))) == 0x4010_0004)
    #expect(ExecProfile.pc(ofLine: "Linking TBs") == nil)
    #expect(ExecProfile.pc(ofLine: "Trace 0: no bracket") == nil)
  }

  @Test func cutsWindowsAndGroupsThem() throws {
    let user: UInt64 = 0x100_0000_0000
    // Kernel work before the first syscall_entry is not a window.
    var log = line(0x4030_0010) + line(user)
    // Two null calls (entry 3, dispatch 2) and one IPC call (entry 3, ipc 4).
    for _ in 0..<2 {
      log += [0x4010_0000, 0x4010_0004, 0x4010_0008, 0x4020_0000, 0x4020_0010].map(line).joined()
      log += line(user + 8)
    }
    log += [0x4010_0000, 0x4010_0004, 0x4010_0008].map(line).joined()
    log += [0x4030_0000, 0x4030_0004, 0x4030_0008, 0x4030_000c].map(line).joined()
    log += line(user + 16)
    // An entry still in the kernel when the log ends is not counted.
    log += line(0x4010_0000) + line(0x4020_0000)
    let path = FileManager.default.temporaryDirectory
      .appendingPathComponent("exec-\(UUID().uuidString).log").path
    try log.write(toFile: path, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path) }

    let windows = try profile.windows(logPath: path)
    #expect(windows.map(\.length) == [5, 5, 7])
    let groups = ExecProfile.groups(windows)
    #expect(groups.map(\.windows.count) == [2, 1])
    let ipc = groups[1].medianWindow.functions
    #expect(ipc.map(\.name) == ["syscall_entry", "ipc"] && ipc.map(\.count) == [3, 4])
    let report = ExecProfile.report(groups, top: 1)
    #expect(report.contains("2 kernel entries of this kind, median 5 instructions"))
    #expect(!report.contains("ipc"))
  }
}
