// Fuzz target `shell-command`: the shell's command-line parser. The input
// is a line (bytes taken as UTF-8, invalid sequences repaired as a String
// would hold them; the editor only passes printable ASCII, but the parser
// must not rely on that). Properties:
// - `ShellCommand.words` equals an independent split of the line's UTF-8
//   bytes (blanks are space and tab, a double quote toggles quoting and is
//   dropped, `""` is a word): the same words byte for byte, or the same
//   error naming the unclosed quote (a `"` at that byte offset), with its
//   column in the description;
// - `parse` is nil exactly for a line with no words, else the first word
//   and the rest;
// - the words, each put in quotes and joined by blanks, split back to
//   themselves;
// - `parseUnsigned` on the line and on every word equals an independent
//   reading (decimal digits, or `0x`/`0X` and hex digits, whole word, value
//   below 2^64 compared as digit strings); a number prints back in decimal
//   and hex to the same value, and its canonical spelling is the word
//   without leading zeros;
// - the same line gives the same answers twice.

func fuzzShellCommand(_ bytes: [UInt8]) {
  let text = String(decoding: bytes, as: UTF8.self)
  let utf8 = Array(text.utf8)
  let expected = shellWords(utf8)

  var words: [String] = []
  do throws(ShellCommand.SyntaxError) {
    words = try ShellCommand.words(of: text)
    guard case .words(let model) = expected else {
      fatalError("fuzz property violated: shell-command: words where the model finds an error")
    }
    require(words.map { Array($0.utf8) } == model, "shell-command: words differ from the model")
  } catch {
    guard case .unterminated(let offset) = expected else {
      fatalError("fuzz property violated: shell-command: an error where the model finds words")
    }
    require(error.offset == offset, "shell-command: error offset differs from the model")
    require(
      error.offset >= 0 && error.offset < utf8.count && utf8[error.offset] == UInt8(ascii: "\""),
      "shell-command: error offset does not name a quote")
    require(
      error.description == "unterminated quote at column " + String(offset + 1),
      "shell-command: error description")
  }

  // parse agrees with words.
  do throws(ShellCommand.SyntaxError) {
    let command = try ShellCommand.parse(text)
    if case .unterminated = expected {
      fatalError("fuzz property violated: shell-command: parse accepted an unclosed quote")
    }
    if words.isEmpty {
      require(command == nil, "shell-command: a command from a line with no words")
    } else {
      require(
        command == ShellCommand(name: words[0], arguments: Array(words.dropFirst())),
        "shell-command: parse differs from the words")
    }
  } catch {
    guard case .unterminated(let offset) = expected, error.offset == offset else {
      fatalError("fuzz property violated: shell-command: parse error differs from words")
    }
  }

  // Quoted and joined again, the words split back to themselves.
  if case .words = expected {
    let quoted = words.map { "\"" + $0 + "\"" }.joined(separator: " \t")
    require(
      (try? ShellCommand.words(of: quoted)) == words,
      "shell-command: quoted words do not round trip")
  }

  // Numbers: the line itself and every word.
  for word in [text] + words {
    let value = ShellCommand.parseUnsigned(word)
    let digits = Array(word.utf8)
    require(value == unsignedModel(digits), "shell-command: parseUnsigned differs from the model")
    guard let value else { continue }
    require(ShellCommand.parseUnsigned(String(value)) == value, "shell-command: decimal round trip")
    require(
      ShellCommand.parseUnsigned("0x" + String(value, radix: 16)) == value,
      "shell-command: hex round trip")
    let hex = digits.count > 2 && digits[1] | 0x20 == UInt8(ascii: "x")
    let body = hex ? Array(digits.dropFirst(2)) : digits
    let significant = Array(body.drop { $0 == UInt8(ascii: "0") })
    let canonical = Array(String(value, radix: hex ? 16 : 10).utf8)
    require(
      significant.map { $0 >= UInt8(ascii: "A") ? $0 | 0x20 : $0 } == (value == 0 ? [] : canonical),
      "shell-command: the number is not its word's value")
  }

  // Deterministic.
  require((try? ShellCommand.words(of: text)) == (try? ShellCommand.words(of: text)), "again")
  let first = Result { () throws(ShellCommand.SyntaxError) in try ShellCommand.parse(text) }
  let second = Result { () throws(ShellCommand.SyntaxError) in try ShellCommand.parse(text) }
  require(first == second, "shell-command: parse not deterministic")
}

private enum ShellWordsModel {
  case words([[UInt8]])
  case unterminated(Int)
}

/// The line split as ShellCommand.swift's header describes it.
private func shellWords(_ line: [UInt8]) -> ShellWordsModel {
  var words: [[UInt8]] = []
  var current: [UInt8]? = nil
  var quote: Int? = nil
  for offset in line.indices {
    let byte = line[offset]
    if byte == UInt8(ascii: "\"") {
      quote = quote == nil ? offset : nil
      if current == nil { current = [] }
    } else if quote == nil && (byte == 0x20 || byte == 0x09) {
      if let word = current { words.append(word) }
      current = nil
    } else {
      current = (current ?? []) + [byte]
    }
  }
  if let quote { return .unterminated(quote) }
  if let word = current { words.append(word) }
  return .words(words)
}

/// A whole word as an unsigned number: decimal digits, or `0x`/`0X` and hex
/// digits; nil when it is not one or is 2^64 or more (compared as digit
/// strings without leading zeros).
private func unsignedModel(_ word: [UInt8]) -> UInt64? {
  let hex = word.count >= 2 && word[0] == UInt8(ascii: "0") && word[1] | 0x20 == UInt8(ascii: "x")
  let body = hex ? Array(word.dropFirst(2)) : word
  let digitSet = Array((hex ? "0123456789abcdefABCDEF" : "0123456789").utf8)
  guard !body.isEmpty, body.allSatisfy({ digitSet.contains($0) }) else { return nil }
  let significant = Array(body.drop { $0 == UInt8(ascii: "0") }).map {
    $0 >= UInt8(ascii: "A") ? $0 | 0x20 : $0
  }
  let maximum = Array((hex ? "ffffffffffffffff" : "18446744073709551615").utf8)
  if significant.count > maximum.count
    || (significant.count == maximum.count
      && significant.lexicographicallyPrecedes(maximum) == false
      && significant != maximum)
  {
    return nil
  }
  var value: UInt64 = 0
  for digit in significant {
    let d = digit <= UInt8(ascii: "9") ? digit - UInt8(ascii: "0") : digit - UInt8(ascii: "a") + 10
    value = value * (hex ? 16 : 10) + UInt64(d)
  }
  return value
}
