/// Writes N short lines (argument, default 100) as fast as it can: on the
/// LWK every line is a shipped console write, so several of these at once
/// on several LWK CPUs are a burst of shipped calls (`triage` then shows
/// how many rode on a doorbell that was already pending).
enum Program {
  static func main(argument: String) -> Int64 {
    var count = 0
    for byte in argument.utf8 {
      guard byte >= 48, byte <= 57, count < 100_000 else { break }
      count = count * 10 + Int(byte - 48)
    }
    if argument.isEmpty { count = 100 }
    let pid = System.pid
    for i in 0..<count { print("chatter \(pid): \(i)") }
    print("chatter \(pid): done, \(count) lines")
    return 0
  }
}
