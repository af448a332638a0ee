import UserSystem

/// Burns CPU in ring 3 and reports every `step` million iterations, `rounds`
/// times (argument: "ROUNDS [TAG]", default 5 rounds; 0 = forever). Shows
/// that the timer preempts user threads and that `kill` stops them.
enum Program {
  static func main(argument: String) -> Int64 {
    let words = argument.split(separator: " ")
    var rounds = 5
    if let first = words.first, let n = Int(first) { rounds = n }
    let tag = words.count > 1 ? String(words[1]) : "spin"
    var round = 0
    var sum: UInt64 = 0
    while rounds == 0 || round < rounds {
      user_busy_loop(20_000_000)
      sum = sum &+ UInt64(round) &* 2_654_435_761
      round += 1
      print("\(tag): round \(round) (pid \(System.pid))")
    }
    print("\(tag): done, checksum \(sum & 0xFFFF)")
    return 0
  }
}
