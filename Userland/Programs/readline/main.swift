/// Reads one line from the console (through the console capability's read
/// right) and prints it back: the input side of the console object.
enum Program {
  static func main(argument: String) -> Int64 {
    print("readline: type a line")
    var line: [UInt8] = []
    var buffer: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    reading: while line.count < 200 {
      let count = withUnsafeMutableBytes(of: &buffer) { bytes in
        System.call(
          .consoleRead, UInt64(UInt(bitPattern: bytes.baseAddress!)), UInt64(bytes.count))
      }
      guard count > 0 else {
        print("readline: consoleRead gave \(resultName(count))")
        return 1
      }
      let chunk = withUnsafeBytes(of: &buffer) { Array($0.prefix(Int(count))) }
      for byte in chunk {
        if byte == 13 || byte == 10 { break reading }
        line.append(byte)
      }
    }
    print("readline: you typed \"\(String(decoding: line, as: UTF8.self))\"")
    return Int64(line.count)
  }
}
