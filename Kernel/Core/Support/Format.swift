// Number formatting for the console: fixed-width hex addresses and human
// sizes, the same in the kernel and in host tests.

/// `0x` and 16 hex digits (or `digits` of them), zero padded.
public func hex(_ value: UInt64, digits: Int = 16) -> String {
  let text = String(value, radix: 16)
  return "0x" + String(repeating: "0", count: max(0, digits - text.utf8.count)) + text
}

/// A byte count in the largest binary unit that keeps it exact to one
/// decimal (B, KiB, MiB, GiB, TiB), e.g. "127.5 MiB" or "4 KiB".
public func formatSize(_ bytes: UInt64) -> String {
  let units = ["B", "KiB", "MiB", "GiB", "TiB"]
  var unit = 0
  var scale: UInt64 = 1
  while unit + 1 < units.count && bytes >= scale << 10 {
    scale <<= 10
    unit += 1
  }
  let whole = bytes / scale
  let tenths = (bytes % scale) * 10 / scale
  return tenths == 0 ? "\(whole) \(units[unit])" : "\(whole).\(tenths) \(units[unit])"
}

extension String {
  /// Left-aligned in a field of `width` bytes (never truncated).
  public func padded(to width: Int) -> String {
    let count = utf8.count
    return count >= width ? self : self + String(repeating: " ", count: width - count)
  }
}

/// A count of thousandths as a decimal with three places, e.g. 12345 as
/// "12.345" and 7 as "0.007" (milliseconds from microseconds).
public func formatThousandths(_ value: UInt64) -> String {
  let fraction = String(value % 1000)
  return "\(value / 1000)." + String(repeating: "0", count: 3 - fraction.utf8.count) + fraction
}
