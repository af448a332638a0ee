// Tab completion for the shell's line editor: the word being typed is
// completed from the command names when it is the first word, and from the
// boot modules' names when it names the program of `run` or `lwk run`
// (after an optional `-c CPU`). Plain string logic over the line typed so
// far, so it is tested on the host.
public enum LineCompletion: Equatable {
  /// Append these bytes (the rest of the only match, and a space; or the
  /// longest prefix several matches share).
  case extend([UInt8])
  /// Nothing to add: no match, or several that share nothing more.
  case none

  public static func complete(
    _ line: [UInt8], commands: [String], modules: [String]
  ) -> LineCompletion {
    let space = UInt8(ascii: " ")
    let words = line.split(separator: space, omittingEmptySubsequences: true).map {
      String(decoding: $0, as: UTF8.self)
    }
    // The word under completion: empty when the line ends with a space.
    let endsWithSpace = line.last == space
    let partial = endsWithSpace || words.isEmpty ? "" : words.last!
    let before = endsWithSpace || words.isEmpty ? words : Array(words.dropLast())
    let candidates: [String]
    if before.isEmpty {
      candidates = commands
    } else if isProgramPosition(before) {
      candidates = modules
    } else {
      return .none
    }
    let matches = candidates.filter { $0.utf8.starts(with: partial.utf8) }
    guard let first = matches.first else { return .none }
    if matches.count == 1 {
      return .extend(Array(first.utf8.dropFirst(partial.utf8.count)) + [space])
    }
    var shared = Array(first.utf8)
    for match in matches.dropFirst() {
      let other = Array(match.utf8)
      var length = 0
      while length < shared.count, length < other.count, shared[length] == other[length] {
        length += 1
      }
      shared.removeLast(shared.count - length)
    }
    let extra = Array(shared.dropFirst(partial.utf8.count))
    return extra.isEmpty ? .none : .extend(extra)
  }

  /// Whether the words before the one being typed leave it naming the
  /// program: `run`, `lwk run`, each optionally followed by `-c CPU`.
  static func isProgramPosition(_ before: [String]) -> Bool {
    var rest = before[...]
    if rest.first == "lwk" { rest = rest.dropFirst() }
    guard rest.first == "run" else { return false }
    rest = rest.dropFirst()
    if rest.first == "-c" { rest = rest.dropFirst(2) }
    return rest.isEmpty && !(before.last == "-c")
  }
}
