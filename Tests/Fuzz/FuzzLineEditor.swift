// Fuzz target `line-editor`: the serial shell's line editor fed keystrokes.
// The first byte chooses the line limit (0...30, or 256) and the history
// size (1...8), the next two which command and module names Tab completes
// from; every later byte is a key, escape sequences, Tab, backspace, Ctrl
// keys and arrows included. The serial line is untrusted input, so:
// - the editor equals a model written here from LineEditor's documentation
//   (escape states, line, overflow, history as a list of entered lines,
//   completion as "the matches' longest shared prefix, a space after a
//   unique one"): the same echo bytes and the same event for every key,
//   events only at CR/LF (not the LF of CR LF) and Ctrl-C, the same line
//   and history afterwards;
// - the line never exceeds the limit, the history never its capacity, and
//   it holds only lines that were entered;
// - a dumb terminal that applies the echo (BS moves left, CR/LF start a new
//   line) shows exactly the line after the prompt, with only blanks after
//   the cursor;
// - Tab only inserts bytes that extend the word to a prefix of a known
//   name;
// - feeding the same keys to a second editor gives the same outputs.

func fuzzLineEditor(_ bytes: [UInt8]) {
  var input = FuzzInput(bytes)
  let setup = input.byte()
  let limit = setup & 31 == 31 ? 256 : Int(setup & 31)
  let historyLines = Int(setup >> 5) + 1
  let commandMask = input.byte()
  let moduleMask = input.byte()
  let commands = lineEditorCommandPool.enumerated().filter { commandMask >> $0.offset & 1 == 1 }
    .map { $0.element }
  let modules = lineEditorModulePool.enumerated().filter { moduleMask >> $0.offset & 1 == 1 }
    .map { $0.element }
  let keys = bytes.count > 3 ? Array(bytes[3...]) : []

  var editor = LineEditor(limit: limit, historyLines: historyLines)
  editor.commands = commands
  editor.modules = modules
  var model = LineEditorModel(
    limit: limit, capacity: historyLines, commands: commands.map { Array($0.utf8) },
    modules: modules.map { Array($0.utf8) })
  var terminal = DumbTerminal()
  var outputs: [([UInt8], LineEditor.Event?)] = []

  for key in keys {
    let output = editor.feed(key)
    let echo = Array(output.echo)
    require(echo.count == output.echo.count, "line-editor: echo count differs from its bytes")
    outputs.append((echo, output.event))
    let before = model.line
    let (expectedEcho, expectedEvent) = model.feed(key)
    require(echo == expectedEcho, "line-editor: echo differs from the model")
    require(output.event == expectedEvent, "line-editor: event differs from the model")
    require(editor.current == model.line, "line-editor: line differs from the model")
    require(editor.overflowed == model.overflowed, "line-editor: overflow differs from the model")
    require(editor.current.count <= limit, "line-editor: line longer than the limit")
    require(
      editor.current.allSatisfy { (0x20...0x7E).contains($0) },
      "line-editor: a non-printable byte in the line")
    if case .line(let text) = output.event {
      require(text.utf8.count <= limit, "line-editor: entered line longer than the limit")
    }

    // Tab: whatever was added extends the word to a prefix of a name.
    if key == 0x09 && model.state == .normal && echo != [0x07] && !echo.isEmpty {
      require(
        editor.current == before + echo, "line-editor: completion did more than append its echo")
      var word = Array(
        editor.current.split(separator: 0x20, omittingEmptySubsequences: false).last ?? [])
      if echo.last == 0x20 {
        word = Array(
          editor.current.dropLast().split(separator: 0x20, omittingEmptySubsequences: false).last
            ?? [])
      }
      require(
        (commands + modules).contains { Array($0.utf8).starts(with: word) },
        "line-editor: completion to a word no name starts with")
    }

    // The history: bounded, and what the model entered.
    let history = editor.history
    require(history.count <= history.capacity, "line-editor: history above its capacity")
    let kept = Array(model.entered.suffix(max(1, historyLines)))
    require(history.count == kept.count, "line-editor: history count differs from the model")
    for age in 0..<history.count {
      require(
        history.line(age: age) == kept[kept.count - 1 - age],
        "line-editor: history line differs from the entered lines")
    }
    require(history.line(age: history.count) == nil, "line-editor: history line past its count")
    require(history.line(age: -1) == nil, "line-editor: history line at a negative age")

    // The terminal shows the line after the prompt.
    terminal.show(echo)
    require(
      Array(terminal.row.prefix(terminal.cursor)) == editor.current
        && terminal.row.dropFirst(terminal.cursor).allSatisfy { $0 == 0x20 },
      "line-editor: the terminal does not show the line")
  }

  // The same keys again: the same outputs.
  var again = LineEditor(limit: limit, historyLines: historyLines)
  again.commands = commands
  again.modules = modules
  for (index, key) in keys.enumerated() {
    let output = again.feed(key)
    require(
      Array(output.echo) == outputs[index].0 && output.event == outputs[index].1,
      "line-editor: not deterministic")
  }
}

/// Names Tab may complete from (chosen by a mask): shared prefixes, a name
/// that is a prefix of others, one letter, and `run`/`lwk` for modules.
private let lineEditorCommandPool = [
  "help", "hello", "mem", "memmap", "memtest", "run", "lwk", "h",
]
private let lineEditorModulePool = ["hello", "badcalls", "bigmem", "big", "b", "x-y", "run", "c"]

/// The editor as LineEditor.swift's header describes it.
private struct LineEditorModel {
  enum State { case normal, afterCR, escape, csiStart, csi, ss3 }

  let limit: Int
  let capacity: Int
  let commands: [[UInt8]]
  let modules: [[UInt8]]
  var line: [UInt8] = []
  var overflowed = false
  var state = State.normal
  /// Every line recorded, oldest first (the editor keeps the last
  /// `capacity`).
  var entered: [[UInt8]] = []
  var browsing = 0

  init(limit: Int, capacity: Int, commands: [[UInt8]], modules: [[UInt8]]) {
    self.limit = limit
    self.capacity = max(1, capacity)
    self.commands = commands
    self.modules = modules
  }

  static let erase: [UInt8] = [0x08, 0x20, 0x08]

  mutating func feed(_ byte: UInt8) -> ([UInt8], LineEditor.Event?) {
    let printable = (0x20...0x7E).contains(byte)
    switch state {
    case .normal: break
    case .afterCR:
      state = .normal
      if byte == 0x0A { return ([], nil) }
    case .escape:
      state = .normal
      if byte == UInt8(ascii: "[") {
        state = .csiStart
        return ([], nil)
      }
      if byte == UInt8(ascii: "O") {
        state = .ss3
        return ([], nil)
      }
      if byte == 0x1B {
        state = .escape
        return ([], nil)
      }
      if printable { return ([], nil) }
    case .csiStart, .csi, .ss3:
      let wasStart = state == .csiStart
      let wasShift = state == .ss3
      state = .normal
      if (wasStart || wasShift) && (byte == UInt8(ascii: "A") || byte == UInt8(ascii: "B")) {
        return (recall(older: byte == UInt8(ascii: "A")), nil)
      }
      if wasShift {
        if printable { return ([], nil) }
      } else if (0x20...0x3F).contains(byte) {
        state = .csi
        return ([], nil)
      } else if (0x40...0x7E).contains(byte) {
        return ([], nil)
      }
    }
    switch byte {
    case 0x20...0x7E:
      if line.count < limit {
        line.append(byte)
        return ([byte], nil)
      }
      overflowed = true
      return ([], nil)
    case 0x08, 0x7F:
      if line.isEmpty { return ([], nil) }
      line.removeLast()
      return (Self.erase, nil)
    case 0x15:
      let echo = Array(repeating: Self.erase, count: line.count).flatMap { $0 }
      clear()
      return (echo, nil)
    case 0x03:
      clear()
      return (Array("^C\r\n".utf8), .cancelled)
    case 0x09:
      return (complete(), nil)
    case 0x0D, 0x0A:
      let event: LineEditor.Event =
        overflowed ? .tooLong(limit) : .line(String(decoding: line, as: UTF8.self))
      if !overflowed && !line.isEmpty && line != entered.last { entered.append(line) }
      clear()
      if byte == 0x0D { state = .afterCR }
      return ([0x0D, 0x0A], event)
    case 0x1B:
      state = .escape
      return ([], nil)
    default:
      return ([], nil)
    }
  }

  mutating func clear() {
    line = []
    overflowed = false
    browsing = 0
  }

  mutating func recall(older: Bool) -> [UInt8] {
    let kept = Array(entered.suffix(capacity))
    let target = browsing + (older ? 1 : -1)
    guard target >= 0 && target <= kept.count else { return [0x07] }
    let text = target == 0 ? [] : kept[kept.count - target]
    let echo = Array(repeating: Self.erase, count: line.count).flatMap { $0 } + text
    line = text
    overflowed = false
    browsing = target
    return echo
  }

  /// Tab: the word at the end of the line (empty after a blank) completed
  /// from the commands when it is the first word, from the modules when it
  /// follows `run` or `lwk run` (and an optional `-c CPU`), else nothing.
  mutating func complete() -> [UInt8] {
    let words = line.split(separator: 0x20).map { Array($0) }
    let partial = line.last == 0x20 ? [] : words.last ?? []
    let before = line.last == 0x20 ? words : Array(words.dropLast())
    var candidates: [[UInt8]] = []
    if before.isEmpty {
      candidates = commands
    } else {
      var rest = before[...]
      if rest.first == Array("lwk".utf8) { rest = rest.dropFirst() }
      if rest.first == Array("run".utf8) {
        rest = rest.dropFirst()
        // A CPU word that is itself `-c` is not taken as the CPU (as
        // LineCompletion does).
        if rest.isEmpty
          || (rest.count == 2 && rest.first == Array("-c".utf8) && rest.last != Array("-c".utf8))
        {
          candidates = modules
        }
      }
    }
    let matches = candidates.filter { $0.starts(with: partial) }
    guard var shared = matches.first else { return [0x07] }
    for match in matches {
      while !match.starts(with: shared) { shared.removeLast() }
    }
    var extra = Array(shared.dropFirst(partial.count))
    if matches.count == 1 { extra.append(0x20) }
    guard !extra.isEmpty, !overflowed, line.count + extra.count <= limit else { return [0x07] }
    line += extra
    return extra
  }
}

/// A terminal that knows only printable bytes, BS (cursor left), CR, LF and
/// BEL: one row and a cursor.
private struct DumbTerminal {
  var row: [UInt8] = []
  var cursor = 0

  mutating func show(_ echo: [UInt8]) {
    for byte in echo {
      switch byte {
      case 0x08: cursor = max(0, cursor - 1)
      case 0x0D: cursor = 0
      case 0x0A:
        row = []
        cursor = 0
      case 0x07: break
      default:
        if cursor < row.count { row[cursor] = byte } else { row.append(byte) }
        cursor += 1
      }
    }
  }
}
