// Memory sizes in boot options (`mem=512M`, `lwkmem=0x40000000`).
//
// Syntax: a decimal number, or hexadecimal after `0x`, then optionally one
// unit letter K, M, G or T (either case, powers of 1024), and after a unit
// letter optionally a `B`/`b` (so `512M`, `512m` and `512MB` are the same).
// A bare `B` without a unit letter is not accepted: in hex it would be a
// digit (`0x1B`), and one meaning for it is easier to explain than two.
public enum SizeValue {
  public enum ParseError: Error, Equatable {
    case invalid
    case overflow
  }

  /// How many times 1024 an upper-case unit letter multiplies by.
  static func unitPower(_ letter: UInt8) -> Int? {
    switch letter {
    case UInt8(ascii: "K"): 1
    case UInt8(ascii: "M"): 2
    case UInt8(ascii: "G"): 3
    case UInt8(ascii: "T"): 4
    default: nil
    }
  }

  static func unitLetter(power: Int) -> UInt8 {
    switch power {
    case 1: UInt8(ascii: "K")
    case 2: UInt8(ascii: "M")
    case 3: UInt8(ascii: "G")
    default: UInt8(ascii: "T")
    }
  }

  public static func parse(_ text: ArraySlice<UInt8>) throws(ParseError) -> UInt64 {
    let parts = UnsignedNumber.split(text)
    let shift: UInt64
    switch parts.rest.count {
    case 0:
      shift = 0
    case 1, 2:
      let unit = parts.rest[parts.rest.startIndex] & ~0x20  // ASCII upper case
      guard let power = unitPower(unit) else { throw .invalid }
      if parts.rest.count == 2, parts.rest[parts.rest.startIndex + 1] & ~0x20 != UInt8(ascii: "B") {
        throw .invalid
      }
      shift = UInt64(power) * 10
    default:
      throw .invalid
    }
    let number: UInt64
    do {
      number = try UnsignedNumber.value(of: parts.digits, radix: parts.radix)
    } catch {
      throw error == .overflow ? .overflow : .invalid
    }
    // The value must survive the shift unchanged, else it did not fit.
    guard shift == 0 || number >> (64 - shift) == 0 else { throw .overflow }
    return number << shift
  }

  public static func parse(_ text: String) throws(ParseError) -> UInt64 {
    try parse(ArraySlice(text.utf8))
  }

  /// The exact spelling with the largest unit that divides the value
  /// (536870912 → "512M", 1536 → "1536", 0 → "0"); parsing it gives the value
  /// back. Used for boot-log lines that echo a size.
  public static func format(_ bytes: UInt64) -> String {
    var value = bytes
    var unit = 0
    while value != 0, value & 1023 == 0, unit < 4 {
      value >>= 10
      unit += 1
    }
    guard unit > 0 else { return String(value) }
    var text = Array(String(value).utf8)
    text.append(unitLetter(power: unit))
    return String(decoding: text, as: UTF8.self)
  }
}
