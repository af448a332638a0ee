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

  /// A new ring on `node`: 2^k slots of 2^m bytes split into equal
  /// channels (at most 32, each at least a page), in this instance's half
  /// of the node's region, formatted. Program endpoints (`DTU`) and the
  /// kernel's own rings (`KernelRing`) both come from here.
  static func newRing(node: Int, slotCountLog2: Int, slotSizeLog2: Int) -> Result<
    (physical: UInt64, pages: Int, control: ReceiveEndpointControl), SystemCallError
  > {
    guard let region = region(ofNode: node) else { return .failure(.noSuchNode) }
    let layout: ReceiveEndpointLayout
    do throws(ReceiveEndpointLayoutError) {
      let pageSlots = ReceiveEndpointLayout.pageSize >> max(min(slotSizeLog2, 12), 0)
      let slots = slotCountLog2 >= 0 && slotCountLog2 < 32 ? 1 << slotCountLog2 : 0
      let channels = max(1, min(ReceiveEndpointLayout.maximumChannels, slots / max(pageSlots, 1)))
      layout = try ReceiveEndpointLayout(
        slotCountLog2: slotCountLog2, slotSizeLog2: slotSizeLog2, channelCount: channels)
    } catch {
      return .failure(.badGeometry)
    }
    let pages = layout.totalBytes / ReceiveEndpointLayout.pageSize
    guard let physical = regions[region].pages.allocate(pages: pages),
      let base = PhysicalMemory.pointer(physical)
    else { return .failure(.outOfMemory) }
    let control = ReceiveEndpointControl.configure(
      layout, config: base + ReceiveEndpointLayout.configOffset,
      status: base + ReceiveEndpointLayout.statusOffset,
      slots: base + ReceiveEndpointLayout.slotsOffset)
    return .success((physical, pages, control))
  }

  /// Whether `physical` lies in any node's ring region (either half).
  static func contains(_ physical: UInt64) -> Bool {
    regions.contains { $0.range.contains(physical) }
  }
}
