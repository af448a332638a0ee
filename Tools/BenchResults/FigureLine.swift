/// The line grammar the benchmark programs print, parsed exactly: a summary
/// (`LABEL: median M min m max x UNIT (N samples)`), a single value
/// (`LABEL: value V UNIT (N samples)`) or a piece of a trace
/// (`LABEL: trace v1 v2 ...`). The collector refuses anything else that
/// starts with a catalogued label, so a garbled or truncated transcript can
/// never become a figure.

/// What follows `LABEL: ` on a figure line.
public enum FigureValue: Equatable, Sendable {
  case summary(median: Double, min: Double, max: Double, unit: String, samples: Int)
  case value(Double, unit: String, samples: Int)
  case trace([Int])
}

/// One parsed figure line: its label (free text, may contain colons) and value.
public struct FigureLine: Equatable, Sendable {
  public var label: String
  public var value: FigureValue

  public init(label: String, value: FigureValue) {
    self.label = label
    self.value = value
  }

  /// The grammar of a summary or value line, as quoted in error messages.
  public static let figureGrammar =
    "LABEL: median M min m max x UNIT (N samples)' or 'LABEL: value V UNIT (N samples)"
  /// The grammar of a trace line, as quoted in error messages.
  public static let traceGrammar = "LABEL: trace v1 v2 ..."

  /// Parses a line (prompt already stripped) into label and value, or nil when
  /// it does not follow the grammar or breaks its rules (min <= median <= max,
  /// at least one sample). The label is everything before the last `": "`:
  /// the value part never contains one, so labels may contain colons.
  public static func parse(_ line: String) -> FigureLine? {
    guard let (label, body) = split(line), let value = parseValue(body) else { return nil }
    return FigureLine(label: label, value: value)
  }

  /// Why a line that follows the grammar's shape breaks its rules (for the
  /// error message), e.g. `min 150 > median 147`; nil otherwise.
  public static func inconsistency(_ line: String) -> String? {
    guard let (_, body) = split(line) else { return nil }
    let words = body.split(separator: " ")
    let counts = [("median", 9, 7), ("value", 5, 3)]
    guard let (_, count, samplesAt) = counts.first(where: { Substring($0.0) == words.first }),
      words.count == count
    else { return nil }
    if words[samplesAt] == "(0" { return "0 samples" }
    guard words.first == "median", let median = number(words[1]), let min = number(words[3]),
      let max = number(words[5])
    else { return nil }
    if min > median { return "min \(words[3]) > median \(words[1])" }
    if median > max { return "median \(words[1]) > max \(words[5])" }
    return nil
  }

  /// Label and value part: the label is everything before the last `": "`.
  private static func split(_ line: String) -> (String, Substring)? {
    let text = Substring(line)
    guard let split = text.ranges(of: ": ").last, split.lowerBound > text.startIndex else {
      return nil
    }
    return (String(text[..<split.lowerBound]), text[split.upperBound...])
  }

  private static func parseValue(_ body: Substring) -> FigureValue? {
    let words = body.split(separator: " ", omittingEmptySubsequences: true)
    guard let keyword = words.first else { return nil }
    switch keyword {
    case "median":
      guard words.count == 9, words[2] == "min", words[4] == "max",
        let median = number(words[1]), let min = number(words[3]), let max = number(words[5]),
        isUnit(words[6]), let samples = sampleCount(words[7], words[8]),
        min <= median, median <= max
      else { return nil }
      return .summary(
        median: median, min: min, max: max, unit: String(words[6]), samples: samples)
    case "value":
      guard words.count == 5, let value = number(words[1]), isUnit(words[2]),
        let samples = sampleCount(words[3], words[4])
      else { return nil }
      return .value(value, unit: String(words[2]), samples: samples)
    case "trace":
      guard words.count >= 2 else { return nil }
      var values: [Int] = []
      for word in words.dropFirst() {
        guard word.allSatisfy(\.isASCIIDigit), let value = Int(word) else { return nil }
        values.append(value)
      }
      return .trace(values)
    default:
      return nil
    }
  }

  /// A non-negative integer or decimal: `147`, `0.442`. No sign, exponent or
  /// bare point.
  static func number(_ word: Substring) -> Double? {
    let parts = word.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count <= 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) })
    else { return nil }
    return Double(word)
  }

  /// `(N` and `samples)` (or `sample)`), N >= 1.
  private static func sampleCount(_ open: Substring, _ close: Substring) -> Int? {
    guard open.first == "(", close == "samples)" || close == "sample)" else { return nil }
    let digits = open.dropFirst()
    guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit), let count = Int(digits), count >= 1
    else { return nil }
    return count
  }

  /// One word starting with a letter: `ticks`, `cycles`, `s`, `bytes`, `fraction`.
  private static func isUnit(_ word: Substring) -> Bool {
    guard let first = word.first, first.isASCII, first.isLetter else { return false }
    return word.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-/%".contains($0)) }
  }
}

extension Character {
  var isASCIIDigit: Bool { isASCII && isNumber }
}
