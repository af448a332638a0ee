/// Every system call with invalid arguments, then 100 000 random system
/// calls; prints how many returned each result. The kernel must survive and
/// this process must still be running at the end.
enum Program {
  static func main(argument: String) -> Int64 {
    var failures = 0
    func check(_ what: StaticString, _ result: Int64, _ expected: SystemCallError) {
      if result != expected.rawValue {
        print("badcalls: \(what): got \(result), expected \(expected.rawValue)")
        failures += 1
      }
    }
    let kernelAddress: UInt64 = 0x4010_0000
    let nonCanonical: UInt64 = 0x8000_0000_0000_0000
    let unmapped: UInt64 = 0x0000_2000_0000_0000
    check("consoleWrite kernel address", System.raw(1, [kernelAddress, 16]), .notUserAddress)
    check("consoleWrite non-canonical", System.raw(1, [nonCanonical, 16]), .notUserAddress)
    check("consoleWrite unmapped", System.raw(1, [unmapped, 16]), .badAddress)
    check("consoleWrite too long", System.raw(1, [unmapped, 1 << 20]), .badLength)
    check("consoleWrite wrapping", System.raw(1, [UInt64.max - 4, 16]), .notUserAddress)
    check("setThreadPointer kernel", System.raw(3, [kernelAddress]), .notUserAddress)
    check("setThreadPointer non-canonical", System.raw(3, [nonCanonical]), .notUserAddress)
    check("unknown number", System.raw(1000, []), .unknownSystemCall)
    check("huge number", System.raw(UInt64.max, []), .unknownSystemCall)
    print("badcalls: invalid-argument checks done, \(failures) unexpected results")

    // Random calls: every number but exit, random arguments.
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    func random() -> UInt64 {
      state ^= state << 13
      state ^= state >> 7
      state ^= state << 17
      return state
    }
    var counts = [Int](repeating: 0, count: 6)  // ok, -1 ... -4, other
    for _ in 0..<100_000 {
      var number = random() % 12
      if number == 0 { number = 100 + random() % 1000 }
      // A third of the pointers point into user space, the rest anywhere.
      var args: [UInt64] = []
      for _ in 0..<6 {
        let r = random()
        args.append(r % 3 == 0 ? 0x0000_0100_0000_0000 + r % (1 << 30) : r)
      }
      if number == 1 { args[1] %= 64 }  // keep accidental console output short
      let result = System.raw(number, args)
      if result >= 0 {
        counts[0] += 1
      } else if result >= -4 {
        counts[Int(-result)] += 1
      } else {
        counts[5] += 1
      }
    }
    print(
      "\nbadcalls: 100000 random calls: \(counts[0]) ok, \(counts[1]) unknown system call, \(counts[2]) bad address, \(counts[3]) bad length, \(counts[4]) not a user address, \(counts[5]) other"
    )
    print("badcalls: survived")
    return failures == 0 && counts[5] == 0 ? 0 : 1
  }
}
