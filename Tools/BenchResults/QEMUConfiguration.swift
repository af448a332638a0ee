/// The QEMU configuration a transcript's figures were measured under, read
/// from its `# qemu: Tools/qemu.sh ISO SMP MEM NUMA [extra...]` header: the
/// topology, the timing mode (`-icount` or plain TCG) and the CPU model. The
/// mode decides what a `ticks` figure counts, so it is checked against the
/// catalog.

/// How the guest TSC behaves: counting guest instructions or host cycles.
public enum TimingMode: String, Codable, Sendable, CaseIterable {
  /// `-icount shift=0`: one TSC tick per guest instruction.
  case icount
  /// Plain TCG: the TSC follows the host's cycles.
  case tcg
}

public struct QEMUConfiguration: Equatable, Sendable {
  public var smp: Int
  public var memory: String
  public var numa: Int
  /// Extra QEMU arguments after NUMA, as written.
  public var extra: [String]

  public init(smp: Int, memory: String, numa: Int, extra: [String]) {
    self.smp = smp
    self.memory = memory
    self.numa = numa
    self.extra = extra
  }

  /// The header's prefix.
  public static let headerPrefix = "# qemu: "

  /// Parses the text after `# qemu: `: PROGRAM ISO SMP MEM NUMA [extra...];
  /// nil when a field is missing or SMP/NUMA are not numbers.
  public init?(headerArguments text: String) {
    let words = text.split(separator: " ").map(String.init)
    guard words.count >= 5, let smp = Int(words[2]), smp >= 1, let numa = Int(words[4]), numa >= 0
    else { return nil }
    self.init(smp: smp, memory: words[3], numa: numa, extra: Array(words[5...]))
  }

  public var mode: TimingMode { extra.contains("-icount") ? .icount : .tcg }

  /// The word after `-cpu`, else QEMU's default `qemu64`.
  public var cpu: String {
    if let index = extra.firstIndex(of: "-cpu"), index + 1 < extra.count { return extra[index + 1] }
    return "qemu64"
  }

  /// The header's arguments after the ISO: "SMP MEM NUMA extra...".
  public var arguments: String {
    ([String(smp), memory, String(numa)] + extra).joined(separator: " ")
  }

  /// The QEMU column of RESULTS.md, e.g. `-icount shift=0, -smp 2 -m 256M, qemu64`
  /// or `plain TCG, -smp 4 -m 512M, 2 nodes, qemu64`.
  public var summary: String {
    var parts: [String] = []
    if let index = extra.firstIndex(of: "-icount") {
      parts.append(extra[index...].prefix(2).joined(separator: " "))
    } else {
      parts.append("plain TCG")
    }
    parts.append("-smp \(smp) -m \(memory)")
    if numa >= 1 { parts.append(numa == 1 ? "1 node" : "\(numa) nodes") }
    parts.append(cpu)
    return parts.joined(separator: ", ")
  }
}
