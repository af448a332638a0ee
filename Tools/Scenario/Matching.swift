// Searching the console output. The output is kept as bytes with CR removed;
// every search returns the byte offset just past its match, which becomes the
// start of the next search. Regular expressions run on a Latin-1 view of the
// bytes (one byte = one UTF-16 unit), so match offsets map back to bytes
// exactly even when the kernel echoes invalid UTF-8 (e.g. after send-random);
// patterns are mapped the same way, so non-ASCII text in a pattern matches its
// UTF-8 bytes.
import Foundation

enum Matching {
  static func compile(_ pattern: String) throws -> NSRegularExpression {
    // `^` and `$` match at line starts and ends: the output is many lines.
    try NSRegularExpression(pattern: latin1(Array(pattern.utf8)), options: [.anchorsMatchLines])
  }

  static func latin1<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
  }

  /// Offset just past the first match at or after `start`, or nil.
  static func firstMatchEnd(
    _ matcher: Matcher, regex: NSRegularExpression?, in text: [UInt8], from start: Int
  )
    -> Int?
  {
    let start = min(start, text.count)
    switch matcher {
    case .substring(let needle):
      return find(needle, in: text, from: start).map { $0 + needle.count }
    case .line(let wanted):
      // Only complete lines count: if the search starts in the middle of a
      // line (e.g. after a prompt, where the shell echoes the command), that
      // partial line is skipped.
      var position = start
      if position > 0 && text[position - 1] != 0x0A {
        guard let lineEnd = text[position...].firstIndex(of: 0x0A) else { return nil }
        position = lineEnd + 1
      }
      while let lineEnd = text[position...].firstIndex(of: 0x0A) {
        if trimmed(text[position..<lineEnd]).elementsEqual(wanted) { return lineEnd + 1 }
        position = lineEnd + 1
      }
      return nil
    case .regex:
      guard let regex else { return nil }
      let haystack = latin1(text[start...]) as NSString
      let found = regex.firstMatch(
        in: haystack as String, options: [], range: NSRange(location: 0, length: haystack.length))
      guard let found, found.range.location != NSNotFound else { return nil }
      return start + found.range.location + found.range.length
    }
  }

  /// A line without leading and trailing spaces and tabs: scenario values are
  /// trimmed too, so `expect-line:   option x` must match "  option x".
  static func trimmed(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    let isBlank = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
    guard let first = line.firstIndex(where: { !isBlank($0) }) else {
      return line[line.endIndex...]
    }
    let last = line.lastIndex(where: { !isBlank($0) })!
    return line[first...last]
  }

  /// Offset of the first occurrence of `needle` at or after `start`.
  static func find(_ needle: [UInt8], in text: [UInt8], from start: Int) -> Int? {
    guard let first = needle.first, text.count - start >= needle.count else { return nil }
    var position = start
    let last = text.count - needle.count
    while position <= last {
      if text[position] == first && text[position..<position + needle.count].elementsEqual(needle) {
        return position
      }
      position += 1
    }
    return nil
  }
}

/// Making console output safe and readable in a terminal report.
enum Printable {
  /// Control characters (other than tab) and bytes that are not valid UTF-8
  /// are shown as \xNN, so random input echoed back cannot garble the report.
  static func text<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    let bytes = Array(bytes)
    var result = ""
    var index = 0
    while index < bytes.count {
      let lead = bytes[index]
      let length =
        switch lead {
        case 0x00...0x7F: 1
        case 0xC2...0xDF: 2
        case 0xE0...0xEF: 3
        case 0xF0...0xF4: 4
        default: 0
        }
      if length > 0, index + length <= bytes.count,
        let decoded = String(validating: bytes[index..<index + length], as: UTF8.self),
        let scalar = decoded.unicodeScalars.first
      {
        let isControl =
          (scalar.value < 0x20 && scalar != "\t") || (0x7F...0x9F).contains(scalar.value)
        result += isControl ? bytes[index..<index + length].map(hex).joined() : decoded
        index += length
      } else {
        result += hex(lead)
        index += 1
      }
    }
    return result
  }

  static func quoted(_ bytes: [UInt8]) -> String { "\"\(text(bytes))\"" }

  static func hex(_ byte: UInt8) -> String {
    "\\x" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16)
  }

  /// The last `count` lines of the output, for failure reports.
  static func lastLines(_ bytes: [UInt8], count: Int) -> [String] {
    var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
    if lines.last?.isEmpty == true { lines.removeLast() }
    return lines.suffix(count).map { text($0) }
  }
}
