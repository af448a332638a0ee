import UserSystem

/// DTU memory endpoints: byte windows into a memory object, checked by the
/// kernel whether or not the program goes through the library. Argument
/// "overrun" ends with a write one byte past a mapped window, which must
/// fault. Prints one line per check and a summary.
enum Program {
  static let memory: UInt64 = 40
  static let pageWindow: UInt64 = 41
  static let readWindow: UInt64 = 42
  static let writeWindow: UInt64 = 43
  static let base: UInt64 = 0x0000_0200_0000_0000

  nonisolated(unsafe) static var failures = 0

  static func check(_ ok: Bool, _ what: String) {
    if !ok { failures += 1 }
    print("dtumem: \(ok ? "ok" : "WRONG"): \(what)")
  }

  static func main(argument: String) -> Int64 {
    guard Capabilities.createMemory(memory, pages: 3) == 0,
      Capabilities.map(memory, at: base, rights: 3) == 0,
      let bytes = UnsafeMutablePointer<UInt8>(bitPattern: UInt(base))
    else {
      print("dtumem: cannot set up the memory object")
      return 1
    }
    for i in 0..<(3 * 4096) { bytes[i] = UInt8(truncatingIfNeeded: i * 7) }

    // A page-exact window, mapped: the same bytes under the MMU's rights.
    check(
      Endpoints.createMemory(memory, offset: 4096, length: 4096, rights: 3, into: pageWindow) == 0,
      "a page-exact window of 4096 bytes at 4096")
    let mapped = Endpoints.map(pageWindow)
    check(mapped > 0, "it maps")
    if mapped > 0, let window = UnsafeMutablePointer<UInt8>(bitPattern: UInt(mapped)) {
      check(window[5] == bytes[4096 + 5], "the mapping shows the object's bytes")
      window[9] = 0xAB
      check(bytes[4096 + 9] == 0xAB, "a write through it lands in the object")
    }

    // A byte window, read-only: not mappable, the command path checks it.
    check(
      Endpoints.createMemory(memory, offset: 100, length: 50, rights: 1, into: readWindow) == 0,
      "a read-only window of 50 bytes at 100")
    check(
      Endpoints.map(readWindow) == SystemCallError.badAlignment.rawValue,
      "it does not map (not page-exact)")
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 8)
    buffer.initializeMemory(as: UInt8.self, repeating: 0, count: 256)
    check(Endpoints.read(readWindow, offset: 0, into: buffer, length: 50) == 50, "read all 50")
    check(
      (0..<50).allSatisfy { buffer.load(fromByteOffset: $0, as: UInt8.self) == bytes[100 + $0] },
      "the bytes are the window's")
    check(
      Endpoints.read(readWindow, offset: 40, into: buffer, length: 11)
        == SystemCallError.outOfWindow.rawValue, "one byte past the end is refused")
    check(
      Endpoints.read(readWindow, offset: 50, into: buffer, length: 0) == 0,
      "an empty read at the very end is allowed")
    check(
      Endpoints.read(readWindow, offset: .max, into: buffer, length: 2)
        == SystemCallError.outOfWindow.rawValue, "an offset that wraps is refused")
    check(
      Endpoints.write(readWindow, offset: 0, from: buffer, length: 1)
        == SystemCallError.missingRights.rawValue, "a write is refused (read-only)")
    check(
      Endpoints.createMemory(memory, offset: 3 * 4096 - 10, length: 11, rights: 1, into: 44)
        == SystemCallError.outOfWindow.rawValue, "a window beyond the object is refused")
    check(
      Endpoints.createMemory(memory, offset: 0, length: 8, rights: 4, into: 44)
        == SystemCallError.undefinedRights.rawValue, "undefined rights are refused")

    // A write-only window: a refused write changes nothing.
    check(
      Endpoints.createMemory(memory, offset: 10, length: 20, rights: 2, into: writeWindow) == 0,
      "a write-only window of 20 bytes at 10")
    buffer.initializeMemory(as: UInt8.self, repeating: 0xEE, count: 256)
    let before = bytes[10 + 15]
    check(
      Endpoints.write(writeWindow, offset: 15, from: buffer, length: 10)
        == SystemCallError.outOfWindow.rawValue && bytes[10 + 15] == before,
      "a write running past the end is refused and writes nothing")
    check(Endpoints.write(writeWindow, offset: 0, from: buffer, length: 20) == 20, "write all 20")
    check(
      (10..<30).allSatisfy { bytes[$0] == 0xEE } && bytes[9] != 0xEE && bytes[30] != 0xEE,
      "exactly the window's bytes changed")
    check(
      Endpoints.read(writeWindow, offset: 0, into: buffer, length: 1)
        == SystemCallError.missingRights.rawValue, "a read is refused (write-only)")
    check(
      Endpoints.read(
        readWindow, offset: 0, into: UnsafeMutableRawPointer(bitPattern: 0x1000)!, length: 8)
        == SystemCallError.notUserAddress.rawValue, "a kernel-half buffer is refused")

    // Bypassing the library: random raw calls never reach outside a window.
    var random = XorShift(seed: 7)
    var escaped = 0
    let guardByte = bytes[0]
    for _ in 0..<2000 {
      let slot = [readWindow, writeWindow, pageWindow, 999][Int(random.next() % 4)]
      let offset = [0, 1, 19, 20, 49, 50, 4095, 4096, .max, random.next()][Int(random.next() % 10)]
      let length = [0, 1, 2, 20, 51, 4097, 65537, .max, random.next() % 100][Int(random.next() % 9)]
      let call = random.next() % 2 == 0 ? SystemCallNumber.dtuMemoryRead : .dtuMemoryWrite
      _ = System.raw(
        call.rawValue, [slot, offset, UInt64(UInt(bitPattern: buffer)), min(length, 200)])
      if bytes[0] != guardByte
        || bytes[3 * 4096 - 1] != UInt8(truncatingIfNeeded: (3 * 4096 - 1) * 7)
      {
        escaped += 1
      }
    }
    check(escaped == 0, "2000 random raw calls changed nothing outside the windows")

    if argument == "overrun" && mapped > 0 {
      print("dtumem: writing one byte past the mapped window")
      UnsafeMutablePointer<UInt8>(bitPattern: UInt(mapped) + 4096)!.pointee = 1
      print("dtumem: the write went through")
      return 1
    }
    print("dtumem: \(failures == 0 ? "all checks passed" : "\(failures) checks failed")")
    return failures == 0 ? 0 : 1
  }
}
