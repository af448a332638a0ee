// The kernel command line (mOS-style boot options), parsed into settings.
//
// Syntax: tokens separated by whitespace, each `key=value` or a bare `flag`.
// Keys are lowercase ASCII letters, digits, `_`, `-` and `.` (case matters).
// A value may contain double-quoted parts, which may hold whitespace; the
// quotes are removed (`console="ttyS0 115200"`). Quotes belong to values only.
//
// Parsing never fails as a whole: a bad token is dropped and reported in
// `errors`, every other token still applies. Unknown keys and repeated keys
// are warnings. When a key repeats, the last *valid* occurrence wins (a
// malformed later value is dropped and the earlier one stays).
public struct KernelCommandLine {
  /// One token as written, after quote removal; `value` is nil for a bare flag.
  public struct Option: Equatable {
    public var key: String
    public var value: String?

    public init(key: String, value: String?) {
      self.key = key
      self.value = value
    }

    public var description: String {
      guard let value else { return key }
      return key + "=" + value
    }
  }

  /// The text that was parsed.
  public var raw: String
  /// Every well-formed token in order, known or not (a token whose key is
  /// malformed or whose quote is unterminated is not listed).
  public var options: [Option] = []

  /// `maxcpus=N`: CPUs of the service partition (range checks come later).
  public var maxCPUs: Int?
  /// `mem=SIZE`: memory of the service partition.
  public var serviceMemory: UInt64?
  /// `lwkcpus=LIST`: explicit CPUs of the LWK partition.
  public var lwkCPUs: CPUList?
  /// `nostart=LIST`: CPUs the boot CPU does not send INIT/SIPI to, so they
  /// never report in (a testing aid for the bring-up's failure path).
  public var notStarted: CPUList?
  /// `lwkmem=SIZE`: explicit memory of the LWK partition.
  public var lwkMemory: UInt64?
  /// `ringmem=SIZE`: each NUMA node's DTU ring region.
  public var ringMemory: UInt64?
  /// `console=NAME`: which console the kernel should use.
  public var console: String?
  public var debug = false
  public var quiet = false
  /// `nofastpath`: IPC takes its general path only (to measure and test it).
  public var noFastPath = false

  /// One line per unknown or repeated option, naming the token.
  public var warnings: [String] = []
  public var errors: [CommandLineError] = []

  public init(raw: String) {
    self.raw = raw
  }

  public static func parse(_ text: String) -> KernelCommandLine {
    var result = KernelCommandLine(raw: text)
    let bytes = Array(text.utf8)
    var seenKeys: [ArraySlice<UInt8>] = []
    var position = 0
    while let token = CommandLineToken.next(in: bytes, from: &position) {
      result.take(token, seenKeys: &seenKeys)
    }
    return result
  }

  private mutating func take(_ token: CommandLineToken, seenKeys: inout [ArraySlice<UInt8>]) {
    let tokenText = String(decoding: token.raw, as: UTF8.self)
    let keyText = String(decoding: token.key, as: UTF8.self)
    func fail(_ message: String) {
      errors.append(CommandLineError(token: tokenText, message: message))
    }
    if token.unterminatedQuote {
      return fail("unterminated quote")
    }
    guard CommandLineToken.isValidKey(token.key) else {
      return fail(
        "invalid option name \"\(keyText)\" (expected lowercase letters, digits, '_', '-' or '.')")
    }
    let value = token.value.map { String(decoding: $0, as: UTF8.self) }
    options.append(Option(key: keyText, value: value))

    if seenKeys.contains(where: { $0.elementsEqual(token.key) }) {
      warnings.append("\(tokenText): \"\(keyText)\" given again, the last valid value wins")
    } else {
      seenKeys.append(token.key)
    }
    guard let known = KnownOption.named(token.key) else {
      warnings.append("\(tokenText): unknown option \"\(keyText)\" ignored")
      return
    }
    if let message = apply(known, value: token.value) { fail(message) }
  }

  /// Every option the kernel understands. Add new keys here and in `apply`.
  public enum KnownOption: CaseIterable {
    case maxCPUs, serviceMemory, lwkCPUs, lwkMemory, ringMemory, notStarted, console, debug, quiet,
      noFastPath

    public var key: String {
      switch self {
      case .maxCPUs: "maxcpus"
      case .serviceMemory: "mem"
      case .lwkCPUs: "lwkcpus"
      case .lwkMemory: "lwkmem"
      case .ringMemory: "ringmem"
      case .notStarted: "nostart"
      case .console: "console"
      case .debug: "debug"
      case .quiet: "quiet"
      case .noFastPath: "nofastpath"
      }
    }

    /// How the option is written, for help text and error messages.
    public var syntax: String {
      switch self {
      case .maxCPUs: "maxcpus=N"
      case .serviceMemory: "mem=SIZE"
      case .lwkCPUs: "lwkcpus=LIST"
      case .lwkMemory: "lwkmem=SIZE"
      case .ringMemory: "ringmem=SIZE"
      case .notStarted: "nostart=LIST"
      case .console: "console=NAME"
      case .debug: "debug"
      case .quiet: "quiet"
      case .noFastPath: "nofastpath"
      }
    }

    public var takesValue: Bool {
      switch self {
      case .debug, .quiet, .noFastPath: false
      default: true
      }
    }

    /// Compares bytes, not Strings, so the kernel needs no Unicode tables.
    public static func named(_ key: ArraySlice<UInt8>) -> KnownOption? {
      allCases.first { $0.key.utf8.elementsEqual(key) }
    }
  }

  /// Applies one known option; returns an error message when the value is bad.
  private mutating func apply(_ option: KnownOption, value: [UInt8]?) -> String? {
    guard option.takesValue == (value != nil) else {
      return option.takesValue
        ? "option \"\(option.key)\" needs a value (\(option.syntax))"
        : "option \"\(option.key)\" takes no value"
    }
    let bytes = ArraySlice(value ?? [])
    let spelled = String(decoding: bytes, as: UTF8.self)
    switch option {
    case .maxCPUs:
      guard let count = try? UnsignedNumber.parse(bytes, hexAllowed: false),
        count <= UInt64(CPUList.capacity)
      else {
        return
          "invalid CPU count \"\(spelled)\" (expected a decimal number 0...\(CPUList.capacity))"
      }
      maxCPUs = Int(count)
    case .serviceMemory, .lwkMemory, .ringMemory:
      let size: UInt64
      do {
        size = try SizeValue.parse(bytes)
      } catch {
        return error == .overflow
          ? "size \"\(spelled)\" does not fit in 64 bits"
          : "invalid size \"\(spelled)\" (expected a number with optional K/M/G/T suffix)"
      }
      if option == .serviceMemory { serviceMemory = size }
      if option == .lwkMemory { lwkMemory = size }
      if option == .ringMemory { ringMemory = size }
    case .lwkCPUs, .notStarted:
      do {
        let list = try CPUList.parse(bytes)
        if option == .lwkCPUs { lwkCPUs = list } else { notStarted = list }
      } catch {
        return "invalid CPU list \"\(spelled)\" (\(error.description))"
      }
    case .console:
      guard !bytes.isEmpty else { return "option \"console\" needs a value (console=NAME)" }
      console = spelled
    case .debug:
      debug = true
    case .quiet:
      quiet = true
    case .noFastPath:
      noFastPath = true
    }
    return nil
  }
}

/// A boot option that was dropped, with the token as written.
public struct CommandLineError: Error, Equatable {
  public var token: String
  public var message: String

  public init(token: String, message: String) {
    self.token = token
    self.message = message
  }

  /// The boot-log line, e.g. `mem=12Q: invalid size "12Q" (...)`.
  public var description: String { token + ": " + message }
}

/// One whitespace-separated token of the command line, split into key and
/// value with quotes removed from the value.
struct CommandLineToken {
  var raw: ArraySlice<UInt8>
  var key: ArraySlice<UInt8>
  var value: [UInt8]?
  var unterminatedQuote = false

  static func isWhitespace(_ byte: UInt8) -> Bool {
    byte == 0x20 || (0x09...0x0D).contains(byte)
  }

  static func isValidKey(_ key: ArraySlice<UInt8>) -> Bool {
    !key.isEmpty
      && key.allSatisfy { byte in
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
          UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
          true
        default: false
        }
      }
  }

  /// The token starting at or after `position`, advancing past it; nil at
  /// the end. An unterminated quote ends the token at the first whitespace
  /// after the quote, so the rest of the line is still parsed.
  static func next(in bytes: [UInt8], from position: inout Int) -> CommandLineToken? {
    while position < bytes.count, isWhitespace(bytes[position]) { position += 1 }
    guard position < bytes.count else { return nil }
    let start = position
    while position < bytes.count, !isWhitespace(bytes[position]),
      bytes[position] != UInt8(ascii: "=")
    {
      position += 1
    }
    var token = CommandLineToken(raw: [], key: bytes[start..<position])
    if position < bytes.count, bytes[position] == UInt8(ascii: "=") {
      position += 1
      var value: [UInt8] = []
      var openQuote: Int?
      while position < bytes.count {
        let byte = bytes[position]
        if byte == UInt8(ascii: "\"") {
          openQuote = openQuote == nil ? position : nil
        } else if openQuote == nil, isWhitespace(byte) {
          break
        } else {
          value.append(byte)
        }
        position += 1
      }
      if let quote = openQuote {
        token.unterminatedQuote = true
        position = quote + 1
        while position < bytes.count, !isWhitespace(bytes[position]) { position += 1 }
      }
      token.value = value
    }
    token.raw = bytes[start..<position]
    return token
  }
}
