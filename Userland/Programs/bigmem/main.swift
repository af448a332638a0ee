/// Creates a 2 MiB memory object, maps it at a 2 MiB-aligned address,
/// writes every page and checks what it wrote, then waits in an IPC receive
/// until killed (so `ps`/`lwk ps` can look at its memory). On the LWK the
/// object is one physically contiguous run mapped with 2 MiB pages; on the
/// service partition, 4 KiB frames.
enum Program {
  static let slot: UInt64 = 50
  static let address: UInt64 = 0x0000_0200_0000_0000  // 2 TiB: 2 MiB aligned
  static let pages: UInt64 = 512

  static func main(argument: String) -> Int64 {
    let created = Capabilities.createMemory(slot, pages: pages)
    guard created == 0 else {
      print("bigmem: memoryCreate gave \(resultName(created))")
      return 1
    }
    let mapped = Capabilities.map(slot, at: address, rights: 3)
    guard mapped == 0 else {
      print("bigmem: memoryMap gave \(resultName(mapped))")
      return 1
    }
    let base = UnsafeMutablePointer<UInt64>(bitPattern: UInt(address))!
    for page in 0..<Int(pages) { base[page * 512] = UInt64(page) &* 0x9E37_79B9 }
    var bad = 0
    for page in 0..<Int(pages) where base[page * 512] != UInt64(page) &* 0x9E37_79B9 { bad += 1 }
    print("bigmem: 2 MiB mapped at 0x20000000000, \(pages) pages written, \(bad) wrong")
    // Wait for `kill` without reading the console (the shell keeps its
    // input): nobody else holds this endpoint, so the receive never ends.
    guard Capabilities.createEndpoint(51) == 0 else { return Int64(bad) }
    _ = IPC.receive(51)
    return Int64(bad)
  }
}
