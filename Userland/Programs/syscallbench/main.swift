import UserSystem

/// The system-call figures of the LWK issue, medians of N rdtsc-timed
/// samples (argument: N, default 1000; under QEMU -icount shift=0 a tick is
/// one guest instruction):
/// - a null system call (processInfo), served by the kernel the program
///   runs on;
/// - a console write of no bytes: local on the service partition, shipped
///   LWK -> service -> LWK on the LWK (the shipped null system call);
/// - a burst of N such writes back to back: ticks per call.
enum Program {
  static func main(argument: String) -> Int64 {
    var rounds = 1000
    if let n = Int(argument), n >= 10, n <= 100_000 { rounds = n }
    let overhead = Timing.median(rounds) {}
    print("syscallbench: \(rounds) samples per figure, rdtsc overhead \(overhead) subtracted")
    report("null system call (processInfo)", overhead, Timing.median(rounds) { _ = System.pid })
    var nothing: UInt8 = 0
    let address = withUnsafeMutablePointer(to: &nothing) { UInt64(UInt(bitPattern: $0)) }
    report(
      "console write of 0 bytes (shipped on the LWK)", overhead,
      Timing.median(rounds) { _ = System.call(.consoleWrite, address, 0) })
    let start = user_rdtsc()
    for _ in 0..<rounds { _ = System.call(.consoleWrite, address, 0) }
    let total = user_rdtsc() - start
    print(
      "syscallbench: burst of \(rounds) console writes of 0 bytes: \(total / UInt64(rounds)) ticks per call"
    )
    return 0
  }

  static func report(_ what: String, _ overhead: UInt64, _ ticks: UInt64) {
    print("syscallbench: \(what): \(Timing.net(ticks, overhead: overhead)) ticks")
  }

}
