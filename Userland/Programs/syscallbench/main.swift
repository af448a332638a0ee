import UserSystem

/// The system-call figures of the LWK issue, N rdtsc-timed samples each
/// (argument: "N [TAG]", N default 1000, TAG naming the run in the figure
/// lines; under QEMU -icount shift=0 a tick is one guest instruction):
/// - a null system call (processInfo), served by the kernel the program
///   runs on;
/// - a console write of no bytes: local on the service partition, shipped
///   LWK -> service -> LWK on the LWK (the shipped null system call);
/// - such writes back to back, in bursts of 100: ticks per call.
enum Program {
  static func main(argument: String) -> Int64 {
    let words = argument.split(separator: " ")
    var rounds = 1000
    if let first = words.first, let n = Int(first), n >= 10, n <= 100_000 { rounds = n }
    // A tag names the run in the figure lines ("syscallbench TAG: ...").
    let label = words.count > 1 ? "syscallbench \(words[1])" : "syscallbench"
    let overhead = Timing.median(rounds) {}
    print("\(label): \(rounds) samples per figure, rdtsc overhead \(overhead) subtracted")
    report(
      label, "null system call (processInfo)", overhead, Timing.measure(rounds) { _ = System.pid })
    var nothing: UInt8 = 0
    let address = withUnsafeMutablePointer(to: &nothing) { UInt64(UInt(bitPattern: $0)) }
    report(
      label, "console write of 0 bytes (shipped on the LWK)", overhead,
      Timing.measure(rounds) { _ = System.call(.consoleWrite, address, 0) })
    // Bursts of 100 back to back; each sample is ticks per call.
    let bursts = Swift.max(rounds / 100, 1)
    var perCall = [UInt64](repeating: 0, count: bursts)
    for b in 0..<bursts {
      let start = user_rdtsc()
      for _ in 0..<100 { _ = System.call(.consoleWrite, address, 0) }
      perCall[b] = (user_rdtsc() - start) / 100
    }
    Timing.report(
      "\(label): console writes of 0 bytes back to back, per call",
      BenchmarkFigure(samples: perCall))
    return 0
  }

  static func report(_ label: String, _ what: String, _ overhead: UInt64, _ figure: BenchmarkFigure)
  {
    Timing.report("\(label): \(what)", figure.net(overhead))
  }

}
