/// Allocates and gives back kernel memory as fast as it can, for the
/// scenarios that run shell diagnostics (`memtest`, `vmtest`, `bench alloc`,
/// `mem`) while programs on other CPUs use the same allocators. Each round
/// creates a memory object of 1–16 pages (frames and capability objects from
/// the kernel heap), maps it, writes and checks every page, unmaps it and
/// deletes it. Argument: "ROUNDS" (default 2000). Prints how many rounds
/// went wrong; the exit status is that count.
enum Program {
  static let slot: UInt64 = 40
  static let address: UInt64 = 0x0000_0200_0000_0000

  static func main(argument: String) -> Int64 {
    var rounds: UInt64 = 2000
    if !argument.isEmpty {
      guard let n = UInt64(argument), n > 0 else {
        print("usage: churn [ROUNDS]   (ROUNDS > 0)")
        return 2
      }
      rounds = n
    }
    var wrong: Int64 = 0
    for round in 0..<rounds {
      let pages = 1 + round % 16
      if !churnOnce(pages: pages, pattern: round &* 0x9E37_79B9_7F4A_7C15) { wrong += 1 }
    }
    print("churn: \(rounds) rounds, \(wrong) wrong")
    return wrong
  }

  /// One create-map-write-check-unmap-delete round; false (after saying
  /// why) when any step failed or a page did not hold what was written.
  static func churnOnce(pages: UInt64, pattern: UInt64) -> Bool {
    let created = Capabilities.createMemory(slot, pages: pages)
    guard created == 0 else {
      print("churn: memoryCreate of \(pages) pages gave \(resultName(created))")
      return false
    }
    defer { _ = Capabilities.delete(slot) }
    let mapped = Capabilities.map(slot, at: address, rights: 3)
    guard mapped == 0 else {
      print("churn: memoryMap gave \(resultName(mapped))")
      return false
    }
    let base = UnsafeMutablePointer<UInt64>(bitPattern: UInt(address))!
    for page in 0..<Int(pages) { base[page * 512 + 511] = pattern &+ UInt64(page) }
    var good = true
    for page in 0..<Int(pages) where base[page * 512 + 511] != pattern &+ UInt64(page) {
      good = false
    }
    let unmapped = Capabilities.unmap(slot, at: address)
    if unmapped != 0 {
      print("churn: memoryUnmap gave \(resultName(unmapped))")
      good = false
    }
    return good
  }
}
