/// A scenario's serial transcript as the collector sees it: numbered lines
/// with `\r` and the shell prompt (`tessera> `, possibly repeated) stripped,
/// each knowing the nearest `# qemu:` header above it (a transcript may hold
/// several, one per configuration, as the boot-time transcript does).
import Foundation

public struct Transcript: Sendable {
  public struct Line: Sendable {
    /// 1-based line number in the file.
    public var number: Int
    /// The text without line ending and leading prompts.
    public var text: String
    /// The nearest `# qemu:` header line above, if any.
    public var header: Header?
  }

  public struct Header: Sendable {
    public var number: Int
    public var text: String
    /// Nil when the header does not parse.
    public var configuration: QEMUConfiguration?
  }

  /// The path as given (used in messages and results).
  public var path: String
  public var lines: [Line]

  public static let prompt = "tessera> "

  public init(path: String, text: String) {
    self.path = path
    var lines: [Line] = []
    var header: Header?
    // Split on the byte: "\r\n" is a single Character in Swift.
    var rawLines = Array(text.utf8).split(separator: 0x0A, omittingEmptySubsequences: false)
    if rawLines.last?.isEmpty == true { rawLines.removeLast() }  // the final newline ends a line
    for (index, raw) in rawLines.enumerated() {
      let line = Self.clean(Substring(String(decoding: raw, as: UTF8.self)))
      if line.hasPrefix(QEMUConfiguration.headerPrefix) {
        header = Header(
          number: index + 1, text: line,
          configuration: QEMUConfiguration(
            headerArguments: String(line.dropFirst(QEMUConfiguration.headerPrefix.count))))
      }
      lines.append(Line(number: index + 1, text: line, header: header))
    }
    self.lines = lines
  }

  /// Reads a transcript file; nil when it does not exist. Invalid UTF-8 (a
  /// garbled serial byte) is repaired rather than refused.
  public static func load(path: String) -> Transcript? {
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    return Transcript(path: path, text: String(decoding: data, as: UTF8.self))
  }

  /// Strips trailing `\r` and leading prompts.
  static func clean(_ raw: Substring) -> String {
    var line = raw
    while line.last == "\r" { line = line.dropLast() }
    while line.hasPrefix(prompt) { line = line.dropFirst(prompt.count) }
    return String(line)
  }
}
