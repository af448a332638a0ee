// A boot scenario as read from a Tests/Scenarios/*.scenario file: the machine
// to boot (topology, kernel command line, modules) and the steps that drive
// the serial shell. The file syntax is in Tests/Scenarios/README.md; the
// parser is ScenarioParser.swift and the interpreter is ScenarioExecution.swift.

struct Scenario: Sendable {
  /// The file the scenario came from, as given on the command line.
  var file: String
  var name: String
  var smp = 1
  /// QEMU's -m value: a number with an optional M or G suffix.
  var memory = "128M"
  /// 0 means no -numa; N splits CPUs and memory evenly over N nodes.
  var numa = 0
  var commandLine = ""
  /// Paths relative to the repository root, passed to mkiso.sh as modules.
  var modules: [String] = []
  /// More QEMU arguments, after the topology.
  var qemuArguments: [String] = []
  /// Seconds allowed for each step that waits.
  var timeout: Double = 10
  /// Seconds allowed from QEMU's start to the first prompt; `timeout` if unset.
  var bootTimeout: Double?
  /// A host program run on the transcript once every step passed (`{log}`
  /// stands for its path); a non-zero exit fails the scenario. Empty: none.
  var hostCheck: [String] = []
  var steps: [Step] = []

  var effectiveBootTimeout: Double { bootTimeout ?? timeout }
}

struct Step: Sendable {
  /// 1-based line in the scenario file, for reports.
  var line: Int
  /// The line as written (comment removed), for reports.
  var source: String
  var action: Action

  enum Action: Sendable {
    /// Bytes typed into the serial console (already including the Enter of
    /// `send:`); `send-random` is expanded to its bytes at parse time.
    case send([UInt8])
    /// Wait until the output since the window start satisfies the matcher.
    case expect(Matcher)
    /// Fail if these bytes appear in the output of the current send window.
    case expectNot([UInt8])
    /// Wait for QEMU to exit, optionally with a given exit code.
    case waitExit(seconds: Double, code: Int32?)
  }
}

/// What an `expect` step looks for. Matching works on bytes with CR removed
/// (the console's CR LF becomes LF); see `firstMatchEnd(in:from:)`.
enum Matcher: Sendable {
  case substring([UInt8])
  /// A complete line (starting after LF, ending in LF) equal to these bytes,
  /// ignoring the line's leading and trailing spaces and tabs.
  case line([UInt8])
  /// An ICU regular expression, checked at parse time.
  case regex(String)

  var summary: String {
    switch self {
    case .substring(let bytes): "the text \(Printable.quoted(bytes))"
    case .line(let bytes): "a line that is exactly \(Printable.quoted(bytes))"
    case .regex(let pattern): "a match of the regular expression /\(pattern)/"
    }
  }
}

/// SplitMix64: a tiny, well-known generator whose output depends only on the
/// seed, so `send-random: N seed=S` types the same bytes on every run and
/// every machine (the standard library's generator is neither seedable nor
/// stable across releases).
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  static func bytes(count: Int, seed: UInt64) -> [UInt8] {
    var generator = SplitMix64(seed: seed)
    return (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
  }
}
