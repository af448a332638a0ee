import PropertyBased
import Testing

@testable import TesseraCore

@Suite struct LineEditorTests {
  /// Feeds every byte; returns all echoed bytes and all events.
  static func run(_ editor: inout LineEditor, _ input: [UInt8]) -> (
    echo: [UInt8], events: [LineEditor.Event]
  ) {
    var echo: [UInt8] = []
    var events: [LineEditor.Event] = []
    for byte in input {
      let output = editor.feed(byte)
      echo.append(contentsOf: output.echo)
      if let event = output.event { events.append(event) }
    }
    return (echo, events)
  }

  static func run(_ input: [UInt8], limit: Int = 256) -> (echo: [UInt8], events: [LineEditor.Event])
  {
    var editor = LineEditor(limit: limit)
    return run(&editor, input)
  }

  static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

  @Test func printableBytesAreEchoedAndEnterGivesTheLine() {
    let (echo, events) = Self.run(Self.bytes("ls -l\r"))
    #expect(echo == Self.bytes("ls -l\r\n"))
    #expect(events == [.line("ls -l")])
  }

  @Test func everyPrintableByteIsKept() {
    let printable = Array(UInt8(0x20)...UInt8(0x7E))
    let (echo, events) = Self.run(printable + [0x0A])
    #expect(echo == printable + [0x0D, 0x0A])
    #expect(events == [.line(String(decoding: printable, as: UTF8.self))])
  }

  @Test func crLfIsOneLineEndButLfLfIsTwo() {
    #expect(Self.run(Self.bytes("a\r\nb\r\n")).events == [.line("a"), .line("b")])
    #expect(Self.run(Self.bytes("a\n\n")).events == [.line("a"), .line("")])
    #expect(Self.run(Self.bytes("a\r\r")).events == [.line("a"), .line("")])
    #expect(Self.run(Self.bytes("a\r\n\n")).events == [.line("a"), .line("")])
    // The LF swallowed after CR echoes nothing.
    #expect(Self.run(Self.bytes("\r\n")).echo == Self.bytes("\r\n"))
  }

  @Test func backspaceAndDeleteEraseOneCharacter() {
    let (echo, events) = Self.run(Self.bytes("abc") + [0x08, 0x7F] + Self.bytes("x\r"))
    #expect(events == [.line("ax")])
    #expect(echo == Self.bytes("abc\u{8} \u{8}\u{8} \u{8}x\r\n"))
  }

  @Test func backspaceOnEmptyLineEchoesNothing() {
    let (echo, events) = Self.run([0x08, 0x7F, 0x0D])
    #expect(echo == Self.bytes("\r\n"))
    #expect(events == [.line("")])
  }

  @Test func ctrlUErasesTheWholeLine() {
    var editor = LineEditor()
    let (echo, _) = Self.run(&editor, Self.bytes("abc") + [0x15])
    #expect(echo == Self.bytes("abc\u{8} \u{8}\u{8} \u{8}\u{8} \u{8}"))
    #expect(editor.current.isEmpty)
    #expect(Self.run(&editor, Self.bytes("d\r")).events == [.line("d")])
    #expect(Array(editor.feed(0x15).echo).isEmpty)
  }

  @Test func ctrlCCancelsTheLine() {
    var editor = LineEditor()
    let (echo, events) = Self.run(&editor, Self.bytes("abc") + [0x03])
    #expect(echo == Self.bytes("abc^C\r\n"))
    #expect(events == [.cancelled])
    #expect(editor.current.isEmpty)
    #expect(Self.run(&editor, Self.bytes("x\n")).events == [.line("x")])
  }

  @Test func fullLineRefusesInputAndEnterReportsTooLong() {
    var editor = LineEditor(limit: 4)
    let (echo, events) = Self.run(&editor, Self.bytes("abcdef\r"))
    #expect(echo == Self.bytes("abcd\r\n"))
    #expect(events == [.tooLong(4)])
    // The next line is fresh.
    #expect(Self.run(&editor, Self.bytes("ab\r")).events == [.line("ab")])
  }

  @Test func lineOfExactlyTheLimitIsAccepted() {
    #expect(Self.run(Self.bytes("abcd\r"), limit: 4).events == [.line("abcd")])
  }

  @Test func backspaceDoesNotClearOverflow() {
    let events = Self.run(Self.bytes("abcde") + [0x08] + Self.bytes("\r"), limit: 4).events
    #expect(events == [.tooLong(4)])
  }

  @Test func ctrlCAndCtrlUClearOverflow() {
    #expect(
      Self.run(Self.bytes("abcde") + [0x03] + Self.bytes("ab\r"), limit: 4).events == [
        .cancelled, .line("ab"),
      ])
    #expect(
      Self.run(Self.bytes("abcde") + [0x15] + Self.bytes("ab\r"), limit: 4).events == [.line("ab")])
  }

  @Test func zeroLimitRefusesEverything() {
    #expect(Self.run(Self.bytes("\ra\r"), limit: 0).events == [.line(""), .tooLong(0)])
    #expect(LineEditor(limit: -5).limit == 0)
  }

  @Test func defaultLimitIs256() {
    let editor = LineEditor()
    #expect(editor.limit == 256)
    let (_, events) = Self.run(Array(repeating: UInt8(ascii: "a"), count: 257) + [0x0D])
    #expect(events == [.tooLong(256)])
  }

  @Test(arguments: [
    "\u{1B}[C", "\u{1B}[D",  // right and left (up and down recall history)
    "\u{1B}[3~", "\u{1B}[1;5C", "\u{1B}[1;5A", "\u{1B}[15~",  // delete, ctrl-right/up, F5
    "\u{1B}OC", "\u{1B}OP",  // application-mode arrow, F1
    "\u{1B}x", "\u{1B}\u{1B}[C",  // alt-x, doubled escape
  ])
  func escapeSequencesDoNothing(sequence: String) {
    let (echo, events) = Self.run(Self.bytes("a" + sequence + "b\r"))
    #expect(events == [.line("ab")])
    #expect(echo == Self.bytes("ab\r\n"))
  }

  @Test func controlByteInsideEscapeSequenceStillActs() {
    #expect(Self.run(Self.bytes("ab\u{1B}[1\r")).events == [.line("ab")])
    #expect(Self.run(Self.bytes("ab\u{1B}\u{3}")).events == [.cancelled])
    #expect(Self.run(Self.bytes("ab\u{1B}O\r")).events == [.line("ab")])
  }

  @Test func otherBytesAreIgnored() {
    let ignored: [UInt8] = [0x00, 0x01, 0x07, 0x0B, 0x0C, 0x1F, 0x80, 0xC3, 0xA9, 0xFF]
    let (echo, events) = Self.run([UInt8(ascii: "a")] + ignored + [UInt8(ascii: "b"), 0x0D])
    #expect(events == [.line("ab")])
    #expect(echo == Self.bytes("ab\r\n"))
  }

  // MARK: history and completion

  static let up = "\u{1B}[A"
  static let down = "\u{1B}[B"

  @Test func upAndDownRecallEnteredLines() {
    var editor = LineEditor(limit: 32)
    _ = Self.run(&editor, Self.bytes("echo one\recho two\r\r"))
    // Up: the newest first; an empty line is not recorded.
    var (echo, events) = Self.run(&editor, Self.bytes(Self.up))
    #expect(editor.current == Self.bytes("echo two") && echo == Self.bytes("echo two"))
    (echo, events) = Self.run(&editor, Self.bytes(Self.up + Self.up))
    #expect(editor.current == Self.bytes("echo one"))
    #expect(echo.last == 0x07)  // nothing older: bell
    (echo, events) = Self.run(&editor, Self.bytes(Self.down + "X\r"))
    #expect(events == [.line("echo twoX")])
    // Down past the newest gives an empty line; Down with nothing: bell.
    (echo, events) = Self.run(&editor, Self.bytes(Self.up + Self.down))
    #expect(editor.current.isEmpty && echo.count == 3 * 9 + 9)
    #expect(Self.run(&editor, Self.bytes(Self.down)).echo == [0x07])
    // The application-mode arrows do the same.
    _ = Self.run(&editor, Self.bytes("\u{1B}OA"))
    #expect(editor.current == Self.bytes("echo twoX"))
  }

  @Test func repeatsAreStoredOnceAndTheHistoryIsBounded() {
    var editor = LineEditor(limit: 8, historyLines: 3)
    _ = Self.run(&editor, Self.bytes("a\ra\rb\rc\rd\r"))
    #expect(editor.history.count == 3)
    #expect(
      (0..<3).map { editor.history.line(age: $0)! } == [
        Self.bytes("d"), Self.bytes("c"), Self.bytes("b"),
      ])
    #expect(editor.history.line(age: 3) == nil)
  }

  @Test func tabCompletesCommandsAndModules() {
    var editor = LineEditor(limit: 40)
    editor.commands = ["help", "hello", "memmap", "memtest", "run", "lwk"]
    editor.modules = ["hello", "badcalls", "bigmem"]
    // A unique match is completed with a space after it.
    var (echo, _) = Self.run(&editor, Self.bytes("memm\t"))
    #expect(editor.current == Self.bytes("memmap ") && echo == Self.bytes("memmap "))
    _ = Self.run(&editor, [0x15])
    // Several: their shared prefix; nothing more to add: bell.
    (echo, _) = Self.run(&editor, Self.bytes("me\t"))
    #expect(editor.current == Self.bytes("mem"))
    #expect(Self.run(&editor, Self.bytes("\t")).echo == [0x07])
    _ = Self.run(&editor, [0x15])
    // The program of run and lwk run, after -c CPU too.
    _ = Self.run(&editor, Self.bytes("run ba\t"))
    #expect(editor.current == Self.bytes("run badcalls "))
    _ = Self.run(&editor, [0x15])
    _ = Self.run(&editor, Self.bytes("lwk run -c 2 bi\t"))
    #expect(editor.current == Self.bytes("lwk run -c 2 bigmem "))
    _ = Self.run(&editor, [0x15])
    // Not after other words, and not in the CPU's place.
    #expect(Self.run(&editor, Self.bytes("echo he\t")).echo.last == 0x07)
    _ = Self.run(&editor, [0x15])
    #expect(Self.run(&editor, Self.bytes("run -c \t")).echo.last == 0x07)
  }

  @Test func completionStopsAtTheLimit() {
    var editor = LineEditor(limit: 5)
    editor.commands = ["memtest"]
    let (echo, _) = Self.run(&editor, Self.bytes("me\t"))
    #expect(echo.last == 0x07 && editor.current == Self.bytes("me"))
  }

  /// Up and Down against a model: the entered lines in an array, and an
  /// index into its last `capacity` entries.
  @Test func historyMatchesAModel() async {
    let (up, down) = (Self.up, Self.down)
    let keys: [String] = ["a\r", "b\r", "ab\r", "\r", up, down, "x"]
    await propertyCheck(
      count: 500, input: Gen.element(of: keys).array(of: 0...60), Gen.int(in: 1...4)
    ) { picked, capacity in
      var editor = LineEditor(limit: 8, historyLines: capacity)
      var entered: [[UInt8]] = []
      var line: [UInt8] = []
      var browsing = 0
      var overflowed = false
      for key in picked.compactMap({ $0 }) {
        _ = Self.run(&editor, Self.bytes(key))
        switch key {
        case up, down:
          let kept = Array(entered.suffix(capacity))
          let target = key == up ? browsing + 1 : browsing - 1
          if target >= 0 && target <= kept.count {
            browsing = target
            line = target == 0 ? [] : kept[kept.count - target]
            overflowed = false
          }
        default:
          for byte in Self.bytes(key) {
            guard byte == 0x0D else {
              if line.count < 8 { line.append(byte) } else { overflowed = true }
              continue
            }
            // A line that overflowed is refused, and not recorded.
            if !overflowed && !line.isEmpty && line != entered.last { entered.append(line) }
            line = []
            overflowed = false
            browsing = 0
          }
        }
        #expect(editor.current == line)
      }
    }
  }

  @Test func eventDescriptions() {
    #expect(LineEditor.Event.line("x").description == "line \"x\"")
    #expect(LineEditor.Event.cancelled.description == "cancelled")
    #expect(LineEditor.Event.tooLong(8).description == "too long (limit 8)")
  }

  // MARK: properties

  @Test func randomBytesNeverTrapOrExceedTheLimit() async {
    await propertyCheck(
      count: 1000, input: Gen<UInt8>.value(in: 0...255).array(of: 0...300), Gen.int(in: 0...20)
    ) { input, limit in
      var editor = LineEditor(limit: limit)
      for byte in input {
        let output = editor.feed(byte)
        #expect(editor.current.count <= limit)
        #expect(output.echo.count <= max(4, 3 * limit))
        if case .line(let text) = output.event { #expect(text.utf8.count <= limit) }
      }
    }
  }

  /// The editor against a plain array: printable bytes, backspaces and Enter.
  @Test func linesMatchASimpleModel() async {
    let alphabet: [UInt8] = [
      UInt8(ascii: "a"), UInt8(ascii: "z"), 0x20, 0x7E, 0x08, 0x7F, 0x0D, 0x0A,
    ]
    await propertyCheck(
      count: 1000, input: Gen.element(of: alphabet).array(of: 0...120), Gen.int(in: 0...12)
    ) { picked, limit in
      let input = picked.compactMap { $0 }
      var model: [UInt8] = []
      var modelOverflowed = false
      var expected: [LineEditor.Event] = []
      var previous: UInt8 = 0
      for byte in input {
        switch byte {
        case 0x08, 0x7F:
          if !model.isEmpty { model.removeLast() }
        case 0x0D, 0x0A:
          if byte == 0x0A && previous == 0x0D { break }  // CR LF is one end
          expected.append(
            modelOverflowed ? .tooLong(limit) : .line(String(decoding: model, as: UTF8.self)))
          model = []
          modelOverflowed = false
        default:
          if model.count < limit { model.append(byte) } else { modelOverflowed = true }
        }
        previous = byte
      }
      var editor = LineEditor(limit: limit)
      #expect(Self.run(&editor, input).events == expected)
      #expect(editor.current == model)
      #expect(editor.overflowed == modelOverflowed)
    }
  }

  /// What the terminal shows equals what the editor holds, on a dumb terminal
  /// that only knows printable bytes, backspace, CR and LF.
  @Test func echoKeepsTheScreenInStep() async {
    await propertyCheck(count: 1000, input: Gen<UInt8>.value(in: 0...127).array(of: 0...200)) {
      input in
      var editor = LineEditor(limit: 16)
      var screen: [UInt8] = []
      for byte in input {
        for shown in editor.feed(byte).echo {
          switch shown {
          case 0x08: if !screen.isEmpty { screen.removeLast() }  // cursor left, next byte overwrites
          case 0x0D, 0x0A: screen = []
          case 0x07: break  // the bell shows nothing
          default: screen.append(shown)
          }
        }
        #expect(screen == editor.current)
      }
    }
  }
}
