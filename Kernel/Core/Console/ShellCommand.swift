// A shell line split into a command name and its arguments.
//
// Words are separated by spaces and tabs. Double quotes group text that may
// contain spaces and are removed (`echo "a b"c` has the argument `a bc`);
// `""` is an empty argument. There are no backslash escapes.
public struct ShellCommand: Equatable {
  public var name: String
  public var arguments: [String]

  public init(name: String, arguments: [String]) {
    self.name = name
    self.arguments = arguments
  }

  public struct SyntaxError: Error, Equatable {
    /// Byte offset of the opening quote that was never closed.
    public var offset: Int

    public var description: String { "unterminated quote at column \(offset + 1)" }
  }

  /// The command on `line`, or nil for a line with no words.
  public static func parse(_ line: String) throws(SyntaxError) -> ShellCommand? {
    var words = try words(of: line)
    guard !words.isEmpty else { return nil }
    let name = words.removeFirst()
    return ShellCommand(name: name, arguments: words)
  }

  public static func words(of line: String) throws(SyntaxError) -> [String] {
    var words: [String] = []
    var word: [UInt8] = []
    var inWord = false
    var openQuote: Int?
    for (offset, byte) in line.utf8.enumerated() {
      if byte == UInt8(ascii: "\"") {
        openQuote = openQuote == nil ? offset : nil
        inWord = true  // so that "" is a word of its own
      } else if openQuote == nil, byte == 0x20 || byte == 0x09 {
        if inWord { words.append(String(decoding: word, as: UTF8.self)) }
        word.removeAll(keepingCapacity: true)
        inWord = false
      } else {
        word.append(byte)
        inWord = true
      }
    }
    if let openQuote { throw SyntaxError(offset: openQuote) }
    if inWord { words.append(String(decoding: word, as: UTF8.self)) }
    return words
  }

  /// An argument as an unsigned number (decimal or `0x` hex); nil when it is
  /// not one or does not fit in 64 bits.
  public static func parseUnsigned(_ word: String) -> UInt64? {
    try? UnsignedNumber.parse(word)
  }
}
