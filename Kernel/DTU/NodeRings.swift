/// The DTU ring regions, one per NUMA node (`ringmem=`, reserved at boot
/// from that node's memory): where the receive rings of endpoints on the
/// node live, so a receiver reads its messages from local memory. Which
/// regions exist is per machine (the service instance reserves them and the
/// hand-off block names them; both instances map all of them). Pages are
/// per instance: the service hands out the lower half of every region and
/// the LWK the upper half, so the two never place rings on the same page
/// and need no shared allocator.
enum NodeRings {
  struct Region {
    let node: Int
    let range: PhysicalRange
    /// This instance's half.
    var pages: PageRunAllocator
  }

  nonisolated(unsafe) static var regions: [Region] = []

  /// Default size of each node's region when `ringmem=` is not given.
  static let defaultBytes: UInt64 = 2 << 20

  /// Takes the regions (by node) and this instance's half of each.
  static func adopt(_ list: [NodeMemoryRange]) {
    regions = list.map { entry in
      let half = entry.range.length / 2
      let mine = KernelInstance.kind == .service ? entry.range.base : entry.range.base + half
      return Region(
        node: entry.node, range: entry.range,
        pages: PageRunAllocator(base: mine, pages: Int(half / PageRunAllocator.pageSize)))
    }
  }

  static func region(ofNode node: Int) -> Int? { regions.firstIndex { $0.node == node } }

  /// Whether `physical` lies in any node's ring region (either half).
  static func contains(_ physical: UInt64) -> Bool {
    regions.contains { $0.range.contains(physical) }
  }
}
