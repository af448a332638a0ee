// Where the kernel's instructions go, per system call: reads a QEMU exec log
// taken with -singlestep (one line per guest instruction, "Trace N: HOST
// [CS/PC/FLAGS/...]") and cuts it into windows from `syscall_entry` to the
// next user-mode instruction, i.e. one kernel entry each. Windows that ran
// the same set of functions are grouped; each group shows its count, its
// median length and the instructions per function of its median window.
// With the TSC counting instructions under -icount shift=0, this is what a
// benchmark's figure is made of (`tessera-scenario profile`).
import Foundation

struct ExecProfile {
  /// A function of the kernel image and its first address.
  struct Symbol {
    var address: UInt64
    var name: String
  }

  /// One kernel entry: instructions per function, in the order first met.
  struct Window {
    var length: Int
    var functions: [(name: String, count: Int)]
  }

  struct Group {
    var windows: [Window]
    var medianWindow: Window { windows.sorted { $0.length < $1.length }[windows.count / 2] }
  }

  /// User programs are linked at 1 TiB and up (Userland/user.ld); the kernel
  /// lives below (Boot/, linker.ld).
  static let userBase: UInt64 = 0x0000_0100_0000_0000
  static let userEnd: UInt64 = 0x0000_8000_0000_0000

  let symbols: [Symbol]
  let entry: UInt64

  /// `symbols` sorted by address; `entry` is `syscall_entry`'s address.
  init(symbols: [Symbol], entry: UInt64) {
    self.symbols = symbols.sorted { $0.address < $1.address }
    self.entry = entry
  }

  func name(of pc: UInt64) -> String {
    var low = 0
    var high = symbols.count
    while low < high {
      let middle = (low + high) / 2
      if symbols[middle].address <= pc { low = middle + 1 } else { high = middle }
    }
    return low == 0 ? "?" : symbols[low - 1].name
  }

  /// The guest PC of an exec-log line, or nil for other lines.
  static func pc(ofLine line: Substring) -> UInt64? {
    guard line.hasPrefix("Trace"), let open = line.firstIndex(of: "[") else { return nil }
    let fields = line[line.index(after: open)...].split(separator: "/", maxSplits: 2)
    guard fields.count >= 2 else { return nil }
    return UInt64(fields[1], radix: 16)
  }

  /// Every window of the log, read line by line.
  func windows(logPath: String) throws -> [Window] {
    guard let file = FileHandle(forReadingAtPath: logPath) else {
      throw ProfileError("cannot read the exec log \(logPath)")
    }
    defer { try? file.close() }
    var windows: [Window] = []
    var current: [UInt64]? = nil
    var pending = Data()
    func take(_ line: Substring) {
      guard let pc = Self.pc(ofLine: line) else { return }
      if pc == entry { current = [] }
      guard current != nil else { return }
      if pc >= Self.userBase && pc < Self.userEnd {
        windows.append(window(current!))
        current = nil
      } else {
        current!.append(pc)
      }
    }
    while let chunk = try file.read(upToCount: 1 << 22), !chunk.isEmpty {
      pending.append(chunk)
      guard let last = pending.lastIndex(of: UInt8(ascii: "\n")) else { continue }
      let text = String(decoding: pending[..<last], as: UTF8.self)
      for line in text.split(separator: "\n") { take(line) }
      pending = Data(pending[(last + 1)...])
    }
    return windows
  }

  private func window(_ pcs: [UInt64]) -> Window {
    var order: [String] = []
    var counts: [String: Int] = [:]
    for pc in pcs {
      let function = name(of: pc)
      if counts[function] == nil { order.append(function) }
      counts[function, default: 0] += 1
    }
    return Window(length: pcs.count, functions: order.map { ($0, counts[$0]!) })
  }

  /// Windows that ran the same functions, largest groups first.
  static func groups(_ windows: [Window]) -> [Group] {
    var byKey: [String: [Window]] = [:]
    var keys: [String] = []
    for window in windows {
      let key = window.functions.map(\.name).sorted().joined(separator: "\n")
      if byKey[key] == nil { keys.append(key) }
      byKey[key, default: []].append(window)
    }
    return keys.map { Group(windows: byKey[$0]!) }.sorted { $0.windows.count > $1.windows.count }
  }

  /// The report: per group its size, median length and the functions of
  /// its median window, most instructions first.
  static func report(_ groups: [Group], top: Int) -> String {
    var text = ""
    for group in groups.prefix(top) {
      let window = group.medianWindow
      text +=
        "\n\(group.windows.count) kernel entries of this kind, median \(window.length) instructions:\n"
      for function in window.functions.sorted(by: { $0.count > $1.count }) {
        text += String(format: "  %5d  ", function.count) + function.name + "\n"
      }
    }
    return text
  }
}

struct ProfileError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
