/// How figures are written for people (RESULTS.md) and for gnuplot (.dat):
/// integers with thousands separators (`1,264`), decimals with up to three
/// significant decimal digits (`0.442`, `0.0063`, `3.78`), no exponent.
import Foundation

public enum NumberFormatting {
  /// For RESULTS.md: `1,264`, `326,521`, `0.442`, `0.00633`, `1,264.5`.
  public static func human(_ value: Double) -> String {
    let plain = self.plain(value)
    let negative = plain.hasPrefix("-")
    let unsigned = negative ? String(plain.dropFirst()) : plain
    let parts = unsigned.split(separator: ".", maxSplits: 1)
    let integer = String(parts[0])
    var grouped = ""
    for (index, digit) in integer.enumerated() {
      if index > 0 && (integer.count - index) % 3 == 0 { grouped.append(",") }
      grouped.append(digit)
    }
    let fraction = parts.count > 1 ? "." + parts[1] : ""
    return (negative ? "-" : "") + grouped + fraction
  }

  /// Without separators, for data files and JSON-like contexts: `1264`,
  /// `0.442`. Decimals keep three digits from the first non-zero one after
  /// the point (`0.0063333` -> `0.00633`, `3.7812` -> `3.781`), trailing
  /// zeros dropped.
  public static func plain(_ value: Double) -> String {
    guard value.isFinite else { return "NaN" }
    if value == value.rounded(), abs(value) < 1e18 { return String(Int64(value)) }
    let fraction = abs(value) - abs(value).rounded(.towardZero)
    // Digits after the point: the leading zeros of the fraction plus three.
    let leadingZeros = fraction > 0 ? Swift.max(0, Int((-log10(fraction)).rounded(.down))) : 0
    var text = String(format: "%.\(Swift.min(leadingZeros + 3, 15))f", value)
    while text.hasSuffix("0") { text.removeLast() }
    if text.hasSuffix(".") { text.removeLast() }
    return text
  }
}
