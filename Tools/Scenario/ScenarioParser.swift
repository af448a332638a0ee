// Reads the line-based scenario format (documented in Tests/Scenarios/README.md).
// Every problem is reported as `file:line: message`, and a file with any
// problem is not run at all: half a scenario would test something else.
import Foundation

struct ScenarioParseError: Error, CustomStringConvertible {
  var file: String
  var line: Int
  var message: String

  var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
}

enum ScenarioParser {
  /// The most bytes one `send-random` may type: enough for any fuzzing the
  /// shell needs, small enough that a typo cannot stall a run for minutes.
  static let maxRandomBytes = 1 << 20

  static func parse(file: String) throws(ScenarioParseError) -> Scenario {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: file))
    } catch {
      throw ScenarioParseError(
        file: file, line: 0,
        message: "cannot read: \(error.localizedDescription)")
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw ScenarioParseError(file: file, line: 0, message: "not UTF-8 text")
    }
    return try parse(text: text, file: file)
  }

  static func parse(text: String, file: String) throws(ScenarioParseError) -> Scenario {
    let defaultName = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
    var scenario = Scenario(file: file, name: defaultName)
    var headerLines: [String: Int] = [:]
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    for (index, rawLine) in lines.enumerated() {
      let number = index + 1
      func fail(_ message: String) -> ScenarioParseError {
        ScenarioParseError(file: file, line: number, message: message)
      }
      let line = stripComment(String(rawLine)).trimmingCharacters(in: .whitespaces)
      if line.isEmpty { continue }
      guard let colon = line.firstIndex(of: ":") else {
        throw fail("expected 'directive: value', found \"\(line)\"")
      }
      let directive = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
      let value = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)

      if headerDirectives.contains(directive) {
        // Headers describe the machine, which is fixed before the first step runs.
        guard scenario.steps.isEmpty else {
          throw fail("'\(directive):' describes the machine and must come before the first step")
        }
        if let first = headerLines[directive] {
          throw fail("'\(directive):' is given twice (first on line \(first))")
        }
        headerLines[directive] = number
        do {
          try applyHeader(directive, value, to: &scenario)
        } catch {
          throw fail(error.message)
        }
        continue
      }
      let action: Step.Action
      do {
        action = try parseStep(directive, value)
      } catch {
        throw fail(error.message)
      }
      scenario.steps.append(Step(line: number, source: line, action: action))
    }
    if scenario.numa > 0 && scenario.smp % scenario.numa != 0 {
      throw ScenarioParseError(
        file: file, line: headerLines["numa"] ?? 0,
        message: "smp \(scenario.smp) does not split evenly over numa \(scenario.numa)")
    }
    return scenario
  }

  struct Problem: Error {
    var message: String
    init(_ message: String) { self.message = message }
  }

  static let headerDirectives: Set<String> = [
    "name", "smp", "mem", "numa", "cmdline", "modules", "timeout", "boot-timeout", "qemu-args",
    "host-check",
  ]
  static let stepDirectives = [
    "send", "send-raw", "send-random", "expect", "expect-line", "expect-re", "expect-not",
    "wait-exit",
  ]

  private static func applyHeader(_ directive: String, _ value: String, to scenario: inout Scenario)
    throws(Problem)
  {
    switch directive {
    case "name":
      guard !value.isEmpty else { throw Problem("'name:' needs a value") }
      scenario.name = value
    case "smp":
      guard let count = Int(value), (1...255).contains(count) else {
        throw Problem("'smp:' must be a CPU count from 1 to 255, not \"\(value)\"")
      }
      scenario.smp = count
    case "mem":
      guard value.range(of: #"^[1-9][0-9]*[MG]?$"#, options: .regularExpression) != nil else {
        throw Problem("'mem:' must look like 128M or 1G, not \"\(value)\"")
      }
      scenario.memory = value
    case "numa":
      guard let nodes = Int(value), (0...64).contains(nodes) else {
        throw Problem("'numa:' must be a node count (0 for none), not \"\(value)\"")
      }
      scenario.numa = nodes
    case "cmdline":
      // Taken literally (mkiso.sh drops single quotes, which GRUB cannot carry).
      scenario.commandLine = value
    case "modules":
      scenario.modules = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    case "timeout":
      scenario.timeout = try seconds(value, directive)
    case "boot-timeout":
      scenario.bootTimeout = try seconds(value, directive)
    case "qemu-args":
      // Extra QEMU options, e.g. `-icount shift=0` for benchmarks.
      scenario.qemuArguments = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(
        String.init)
    case "host-check":
      // A host program and its arguments, e.g. the bench collector's check.
      scenario.hostCheck = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(
        String.init)
      guard !scenario.hostCheck.isEmpty else { throw Problem("'host-check:' needs a command") }
    default:
      throw Problem("unknown header '\(directive):'")
    }
  }

  private static func parseStep(_ directive: String, _ value: String) throws(Problem) -> Step.Action
  {
    switch directive {
    case "send":
      // A terminal's Enter key sends CR.
      return .send(try unescape(value) + [0x0D])
    case "send-raw":
      let bytes = try unescape(value)
      guard !bytes.isEmpty else { throw Problem("'send-raw:' needs at least one byte") }
      return .send(bytes)
    case "send-random":
      return try parseSendRandom(value)
    case "expect", "expect-line", "expect-not":
      let bytes = try unescape(value)
      guard !bytes.isEmpty else { throw Problem("'\(directive):' needs a text to look for") }
      switch directive {
      case "expect": return .expect(.substring(bytes))
      case "expect-line": return .expect(.line(bytes))
      default: return .expectNot(bytes)
      }
    case "expect-re":
      guard !value.isEmpty else { throw Problem("'expect-re:' needs a regular expression") }
      do {
        _ = try Matching.compile(value)
      } catch {
        // Foundation's error on Linux says only "the value is invalid"; the
        // standard library's regex parser names the problem (its syntax is
        // close enough to ICU's for that).
        let reason = regexProblem(value)
        throw Problem("invalid regular expression /\(value)/: \(reason)")
      }
      return .expect(.regex(value))
    case "wait-exit":
      return try parseWaitExit(value)
    default:
      let known = (stepDirectives + headerDirectives.sorted()).joined(separator: ", ")
      throw Problem("unknown directive '\(directive):' (known: \(known))")
    }
  }

  private static func regexProblem(_ pattern: String) -> String {
    do {
      _ = try Regex(pattern)
      return "not valid ICU syntax"
    } catch {
      return "\(error)"
    }
  }

  /// `N [seed=S]`
  private static func parseSendRandom(_ value: String) throws(Problem) -> Step.Action {
    let words = value.split(separator: " ", omittingEmptySubsequences: true)
    guard let first = words.first, let count = Int(first), (1...maxRandomBytes).contains(count)
    else {
      throw Problem(
        "'send-random:' needs a byte count from 1 to \(maxRandomBytes), e.g. 'send-random: 1024 seed=7'"
      )
    }
    var seed: UInt64 = 0
    for word in words.dropFirst() {
      guard word.hasPrefix("seed="), let parsed = UInt64(word.dropFirst(5)) else {
        throw Problem("'send-random:' takes only 'seed=NUMBER' after the count, not \"\(word)\"")
      }
      seed = parsed
    }
    return .send(SplitMix64.bytes(count: count, seed: seed))
  }

  /// `SECONDS [code=C]`
  private static func parseWaitExit(_ value: String) throws(Problem) -> Step.Action {
    let words = value.split(separator: " ", omittingEmptySubsequences: true)
    guard let first = words.first else { throw Problem("'wait-exit:' needs a time in seconds") }
    let limit = try seconds(String(first), "wait-exit")
    var code: Int32?
    for word in words.dropFirst() {
      guard word.hasPrefix("code="), let parsed = Int32(word.dropFirst(5)) else {
        throw Problem("'wait-exit:' takes only 'code=NUMBER' after the time, not \"\(word)\"")
      }
      code = parsed
    }
    return .waitExit(seconds: limit, code: code)
  }

  private static func seconds(_ value: String, _ directive: String) throws(Problem) -> Double {
    guard let seconds = Double(value), seconds > 0, seconds <= 3600 else {
      throw Problem("'\(directive):' must be a number of seconds (0 < s <= 3600), not \"\(value)\"")
    }
    return seconds
  }

  /// Removes a comment: `#` at the start of the line or after whitespace. A `#`
  /// written as `\#` stays (in regular expressions `\#` also means `#`).
  static func stripComment(_ line: String) -> String {
    var previous: Character = " "
    for index in line.indices {
      let character = line[index]
      if character == "#" && previous.isWhitespace { return String(line[..<index]) }
      previous = character
    }
    return line
  }

  /// Text values are UTF-8 with these escapes: \xNN \r \n \t \\ \#. Anything
  /// else after a backslash is an error, so a typo cannot silently change the
  /// bytes a scenario types.
  static func unescape(_ text: String) throws(Problem) -> [UInt8] {
    var bytes: [UInt8] = []
    var input = Array(text.utf8)[...]
    while let byte = input.popFirst() {
      guard byte == UInt8(ascii: "\\") else {
        bytes.append(byte)
        continue
      }
      guard let escape = input.popFirst() else {
        throw Problem("a lone '\\' ends the text (write \\\\)")
      }
      switch escape {
      case UInt8(ascii: "r"): bytes.append(0x0D)
      case UInt8(ascii: "n"): bytes.append(0x0A)
      case UInt8(ascii: "t"): bytes.append(0x09)
      case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
      case UInt8(ascii: "#"): bytes.append(UInt8(ascii: "#"))
      case UInt8(ascii: "x"):
        let digits = input.prefix(2)
        guard digits.count == 2,
          let value = UInt8(String(decoding: digits, as: UTF8.self), radix: 16)
        else {
          throw Problem("'\\x' needs two hex digits")
        }
        bytes.append(value)
        input = input.dropFirst(2)
      default:
        throw Problem(
          "unknown escape '\\\(Character(Unicode.Scalar(escape)))' (use \\xNN \\r \\n \\t \\\\ \\#)"
        )
      }
    }
    return bytes
  }
}
