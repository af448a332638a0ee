// The serial shell's line editor: fed one received byte at a time, it returns
// what to echo back and, when a line is finished, an event. It assumes a dumb
// terminal (only backspace, space, BEL, CR and LF are used for display) and
// keeps no more than `limit` bytes a line and a fixed-size history, so a
// flood of input cannot grow the kernel heap.
//
//   0x20...0x7E       appended and echoed (refused once the line is full)
//   BS (0x08), DEL    erase the last character
//   Ctrl-U (0x15)     erase the whole line
//   Ctrl-C (0x03)     abandon the line: echo "^C", event .cancelled
//   CR or LF          finish the line: event .line (recorded in the
//                     history), or .tooLong when input was refused; CR LF
//                     counts as one line end
//   Up, Down          (ESC [ A / ESC [ B, or ESC O A / B) replace the line
//                     with an older or newer one from the history; Down
//                     past the newest gives an empty line
//   Tab (0x09)        completes the word being typed (LineCompletion) from
//                     `commands` or, after `run`/`lwk run`, `modules`; BEL
//                     when there is nothing to add
//   other ESC sequences swallowed (CSI `ESC [ ... final`, SS3 `ESC O x`,
//                     `ESC x`), so other arrow and function keys do nothing
//   anything else     ignored (NUL, other controls, bytes >= 0x80)
public struct LineEditor {
  public enum Event: Equatable {
    case line(String)
    case cancelled
    /// The user typed more than `limit` bytes; the line was discarded.
    case tooLong(Int)

    public var description: String {
      switch self {
      case .line(let text): "line \"\(text)\""
      case .cancelled: "cancelled"
      case .tooLong(let limit): "too long (limit \(limit))"
      }
    }
  }

  /// The bytes to write back to the terminal. A value type that produces its
  /// bytes on iteration, so feeding a byte allocates nothing.
  public struct Echo: RandomAccessCollection, Equatable {
    enum Kind: Equatable {
      case nothing
      case character(UInt8)
      /// "\u{8} \u{8}" per erased character.
      case erase(Int)
      case newline
      case interrupt
      /// The line replaced: "\u{8} \u{8}" per erased character, then the
      /// new text (history, completion).
      case replace(erase: Int, text: [UInt8])
      case bell
    }

    let kind: Kind

    public var startIndex: Int { 0 }

    public var endIndex: Int {
      switch kind {
      case .nothing: 0
      case .character: 1
      case .erase(let characters): characters * 3
      case .newline: 2
      case .interrupt: 4
      case .replace(let erase, let text): erase * 3 + text.count
      case .bell: 1
      }
    }

    public subscript(position: Int) -> UInt8 {
      switch kind {
      case .nothing: 0
      case .character(let byte): byte
      case .erase: position % 3 == 1 ? 0x20 : 0x08
      case .newline: position == 0 ? 0x0D : 0x0A
      case .interrupt:
        switch position {
        case 0: UInt8(ascii: "^")
        case 1: UInt8(ascii: "C")
        case 2: 0x0D
        default: 0x0A
        }
      case .replace(let erase, let text):
        position < erase * 3 ? (position % 3 == 1 ? 0x20 : 0x08) : text[position - erase * 3]
      case .bell: 0x07
      }
    }
  }

  public struct Output: Equatable {
    public var echo: Echo
    public var event: Event?
  }

  /// Where we are inside an escape sequence, and whether the last byte was CR.
  enum State {
    case normal
    case afterCarriageReturn
    case escape
    /// Right after `ESC [` (an arrow key's final byte may follow).
    case controlSequenceStart
    /// Inside `ESC [` after a parameter or intermediate byte: until a final byte.
    case controlSequence
    /// After `ESC O`: one more byte names the key.
    case singleShift
  }

  /// The most bytes a line may hold.
  public let limit: Int
  /// The line typed so far (what the terminal shows after the prompt).
  public private(set) var current: [UInt8] = []
  /// Printable input was refused because the line was full.
  public private(set) var overflowed = false
  var state = State.normal
  /// Lines entered before, and how far back Up has gone (0: not browsing).
  public private(set) var history: LineHistory
  var browsing = 0
  /// What Tab completes from (the shell fills them in).
  public var commands: [String] = []
  public var modules: [String] = []

  public init(limit: Int = 256, historyLines: Int = 16) {
    self.limit = max(0, limit)
    history = LineHistory(capacity: historyLines, lineLimit: self.limit)
    current.reserveCapacity(self.limit)
  }

  public mutating func feed(_ byte: UInt8) -> Output {
    switch state {
    case .normal:
      break
    case .afterCarriageReturn:
      state = .normal
      if byte == 0x0A { return Output(echo: Echo(kind: .nothing)) }
    case .escape:
      switch byte {
      case UInt8(ascii: "["): return swallow(next: .controlSequenceStart)
      case UInt8(ascii: "O"): return swallow(next: .singleShift)
      case 0x1B: return swallow(next: .escape)
      case 0x20...0x7E: return swallow(next: .normal)  // Alt-key: ESC x
      default: state = .normal  // a control byte interrupts the sequence
      }
    case .controlSequenceStart:
      switch byte {
      case UInt8(ascii: "A"), UInt8(ascii: "B"):
        state = .normal
        return recall(older: byte == UInt8(ascii: "A"))
      case 0x20...0x3F: return swallow(next: .controlSequence)
      case 0x40...0x7E: return swallow(next: .normal)
      default: state = .normal
      }
    case .controlSequence:
      switch byte {
      case 0x20...0x3F: return swallow(next: .controlSequence)
      case 0x40...0x7E: return swallow(next: .normal)
      default: state = .normal
      }
    case .singleShift:
      if byte == UInt8(ascii: "A") || byte == UInt8(ascii: "B") {
        state = .normal
        return recall(older: byte == UInt8(ascii: "A"))
      }
      if (0x20...0x7E).contains(byte) { return swallow(next: .normal) }
      state = .normal
    }
    return edit(byte)
  }

  private mutating func swallow(next: State) -> Output {
    state = next
    return Output(echo: Echo(kind: .nothing))
  }

  /// What a byte does outside escape sequences.
  private mutating func edit(_ byte: UInt8) -> Output {
    switch byte {
    case 0x20...0x7E:
      guard current.count < limit else {
        overflowed = true
        return Output(echo: Echo(kind: .nothing))
      }
      current.append(byte)
      return Output(echo: Echo(kind: .character(byte)))
    case 0x08, 0x7F:
      guard !current.isEmpty else { return Output(echo: Echo(kind: .nothing)) }
      current.removeLast()
      return Output(echo: Echo(kind: .erase(1)))
    case 0x15:
      let erased = current.count
      reset()
      return Output(echo: Echo(kind: .erase(erased)))
    case 0x03:
      reset()
      return Output(echo: Echo(kind: .interrupt), event: .cancelled)
    case 0x09:
      return complete()
    case 0x0D, 0x0A:
      let event: Event =
        overflowed ? .tooLong(limit) : .line(String(decoding: current, as: UTF8.self))
      if !overflowed { history.record(current) }
      reset()
      if byte == 0x0D { state = .afterCarriageReturn }
      return Output(echo: Echo(kind: .newline), event: event)
    case 0x1B:
      return swallow(next: .escape)
    default:
      return Output(echo: Echo(kind: .nothing))
    }
  }

  private mutating func reset() {
    current.removeAll(keepingCapacity: true)
    overflowed = false
    browsing = 0
  }

  /// Up (`older`) or Down: the line becomes an older or newer history line
  /// (Down past the newest: empty). BEL when there is none that way.
  private mutating func recall(older: Bool) -> Output {
    let target = older ? browsing + 1 : browsing - 1
    guard target >= 0, target <= history.count else {
      return Output(echo: Echo(kind: .bell))
    }
    let text = target == 0 ? [] : history.line(age: target - 1) ?? []
    let erased = current.count
    current.removeAll(keepingCapacity: true)
    current.append(contentsOf: text.prefix(limit))
    overflowed = false
    browsing = target
    return Output(echo: Echo(kind: .replace(erase: erased, text: current)))
  }

  /// Tab: what LineCompletion adds, as far as the line has room.
  private mutating func complete() -> Output {
    guard
      case .extend(let extra) = LineCompletion.complete(
        current, commands: commands, modules: modules),
      !overflowed, current.count + extra.count <= limit
    else { return Output(echo: Echo(kind: .bell)) }
    current.append(contentsOf: extra)
    return Output(echo: Echo(kind: .replace(erase: 0, text: extra)))
  }
}
