// Unsigned integers written by people: boot options, shell arguments. Decimal,
// or hexadecimal behind a `0x`/`0X` prefix. Works on bytes and reports
// overflow as an error instead of trapping, because the text is untrusted.
public enum UnsignedNumber {
  public enum ParseError: Error, Equatable {
    /// Not a number: empty, a stray character, a sign, `0x` with no digits.
    case invalid
    /// Well-formed digits whose value does not fit in 64 bits.
    case overflow

    public var description: String {
      switch self {
      case .invalid: "not a number"
      case .overflow: "does not fit in 64 bits"
      }
    }
  }

  /// The digits at the start of `text` and what follows them. `radix` is 16
  /// when a `0x` prefix was present (the prefix is not part of `digits`).
  /// Splitting first lets callers check a suffix before computing the value.
  public struct Split {
    public var digits: ArraySlice<UInt8>
    public var radix: UInt64
    public var rest: ArraySlice<UInt8>
  }

  public static func split(_ text: ArraySlice<UInt8>, hexAllowed: Bool = true) -> Split {
    var start = text.startIndex
    var radix: UInt64 = 10
    if hexAllowed, text.count >= 2, text[start] == UInt8(ascii: "0"),
      text[start + 1] | 0x20 == UInt8(ascii: "x")
    {
      radix = 16
      start += 2
    }
    var end = start
    while end < text.endIndex, digitValue(text[end], radix: radix) != nil { end += 1 }
    return Split(digits: text[start..<end], radix: radix, rest: text[end...])
  }

  /// The value of `digits` in `radix` (10 or 16).
  public static func value(of digits: ArraySlice<UInt8>, radix: UInt64) throws(ParseError) -> UInt64
  {
    guard !digits.isEmpty else { throw .invalid }
    var value: UInt64 = 0
    for byte in digits {
      guard let digit = digitValue(byte, radix: radix) else { throw .invalid }
      let (shifted, overflowA) = value.multipliedReportingOverflow(by: radix)
      let (sum, overflowB) = shifted.addingReportingOverflow(digit)
      guard !overflowA, !overflowB else { throw .overflow }
      value = sum
    }
    return value
  }

  /// The whole of `text` as a number; anything after the digits is invalid.
  public static func parse(_ text: ArraySlice<UInt8>, hexAllowed: Bool = true) throws(ParseError)
    -> UInt64
  {
    let parts = split(text, hexAllowed: hexAllowed)
    guard parts.rest.isEmpty else { throw .invalid }
    return try value(of: parts.digits, radix: parts.radix)
  }

  public static func parse(_ text: String, hexAllowed: Bool = true) throws(ParseError) -> UInt64 {
    try parse(ArraySlice(text.utf8), hexAllowed: hexAllowed)
  }

  static func digitValue(_ byte: UInt8, radix: UInt64) -> UInt64? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt64(byte - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16:
      return UInt64(byte - UInt8(ascii: "a") + 10)
    case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16:
      return UInt64(byte - UInt8(ascii: "A") + 10)
    default: return nil
    }
  }
}
