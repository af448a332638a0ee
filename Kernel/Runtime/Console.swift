/// Kernel console output that never allocates, for paths that must work when
/// the heap cannot be trusted (panics, the allocator itself). Everything else
/// may use `print`, which reaches the same serial port through `putchar`.
enum Console {
  static func write(_ text: StaticString) {
    text.withUTF8Buffer { bytes in
      for b in bytes { put(b) }
    }
  }

  static func write(_ text: String) {
    var copy = text
    copy.withUTF8 { bytes in
      for b in bytes { put(b) }
    }
  }

  /// Translates "\n" to CR LF for terminals.
  static func put(_ byte: UInt8) {
    if byte == 0x0A { Serial.write(byte: 0x0D) }
    Serial.write(byte: byte)
  }

  static func writeHex(_ value: UInt64, digits: Int = 16) {
    write("0x")
    var shift = (digits - 1) * 4
    while shift >= 0 {
      let nibble = UInt8((value >> UInt64(shift)) & 0xF)
      put(nibble < 10 ? 0x30 + nibble : 0x57 + nibble)
      shift -= 4
    }
  }

  static func writeDecimal(_ value: UInt64) {
    var digits:
      (
        UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
        UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
      ) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var count = 0
    var v = value
    withUnsafeMutableBytes(of: &digits) { buffer in
      repeat {
        buffer[count] = 0x30 + UInt8(v % 10)
        v /= 10
        count += 1
      } while v > 0
      while count > 0 {
        count -= 1
        put(buffer[count])
      }
    }
  }
}
