/// A memory object: frames from the service partition, and every mapping
/// made of them, with the capability each was made through, so deleting or
/// revoking that capability can take the mapping away again (with a TLB
/// shootdown) before the system call returns. A program's segments are
/// memory objects too; their frames belong to the process, not the object.
final class MemoryObject {
  struct Mapping {
    var capability: CapabilityID
    let space: AddressSpace
    var address: UInt64
  }

  let frames: [UInt64]
  let ownsFrames: Bool
  /// One physically contiguous run (the LWK's memory objects).
  var contiguous = false
  var mappings: [Mapping] = []
  /// DTU memory endpoints over it: they die with it.
  var windows: [MemoryEndpoint] = []
  /// Its frames went back to the allocator (its last capability went).
  var released = false

  init(frames: [UInt64], ownsFrames: Bool) {
    self.frames = frames
    self.ownsFrames = ownsFrames
  }

  var bytes: UInt64 { UInt64(frames.count) * 4096 }

  /// Zeroed frames, or nil (and nothing kept) when the partition runs out.
  /// On the LWK instance (mOS policy) one physically contiguous run, which
  /// `map` maps with 2 MiB pages wherever the alignment allows.
  static func allocate(pages: Int) -> MemoryObject? {
    if KernelInstance.kind == .lwk {
      guard pages >= 1, let base = Frames.zeroedRun(pages) else { return nil }
      var frames: [UInt64] = []
      frames.reserveCapacity(pages)
      for page in 0..<pages { frames.append(base + UInt64(page) * 4096) }
      let object = MemoryObject(frames: frames, ownsFrames: true)
      object.contiguous = true
      return object
    }
    var frames: [UInt64] = []
    frames.reserveCapacity(pages)
    for _ in 0..<pages {
      guard let frame = Frames.zeroed() else {
        for frame in frames { Frames.free(frame) }
        return nil
      }
      frames.append(frame)
    }
    return MemoryObject(frames: frames, ownsFrames: true)
  }

  /// Maps every frame at `address` in `space`; nothing is mapped when any
  /// page of the range is taken or outside user space.
  func map(
    into space: AddressSpace, at address: UInt64, flags: PageFlags, through capability: CapabilityID
  ) -> SystemCallError? {
    guard address & 0xFFF == 0 else { return .badAlignment }
    guard UserSpace.contains(address, length: bytes) else { return .notUserAddress }
    for page in 0..<UInt64(frames.count) where space.translate(address + page * 4096) != nil {
      return .alreadyMapped
    }
    var page = 0
    while page < frames.count {
      let virtual = address + UInt64(page) * 4096
      let large =
        contiguous && page + 512 <= frames.count && virtual & 0x1F_FFFF == 0
        && frames[page] & 0x1F_FFFF == 0
      if case .failure = space.map(
        virtual, to: frames[page], size: large ? .large : .small, flags: flags)
      {
        // Out of page-table frames: take back what was mapped.
        space.unmapRange(address, pages: UInt64(page))
        return .outOfMemory
      }
      page += large ? 512 : 1
    }
    mappings.append(Mapping(capability: capability, space: space, address: address))
    return nil
  }

  func unmap(through capability: CapabilityID, at address: UInt64) -> SystemCallError? {
    guard
      let index = mappings.firstIndex(where: {
        $0.capability == capability && $0.address == address
      })
    else { return .notMapped }
    let mapping = mappings.remove(at: index)
    mapping.space.unmapRange(mapping.address, pages: UInt64(frames.count))
    return nil
  }

  /// The capability went: every mapping made through it goes too.
  func unmapAll(through capability: CapabilityID) {
    guard !mappings.isEmpty else { return }
    var kept: [Mapping] = []
    for mapping in mappings {
      if mapping.capability == capability {
        mapping.space.unmapRange(mapping.address, pages: UInt64(frames.count))
      } else {
        kept.append(mapping)
      }
    }
    mappings = kept
  }

  /// An address space is being destroyed: forget mappings into it (its
  /// page tables go with it).
  func forget(_ space: AddressSpace) {
    mappings.removeAll { $0.space === space }
  }

  /// The object is destroyed: all capabilities (and so all mappings) are gone.
  func release() {
    for window in windows { DTU.unmap(&window.mappings, through: nil) }
    windows.removeAll()
    released = true
    guard ownsFrames else { return }
    if contiguous, let base = frames.first {
      Frames.free(base)  // the whole run
    } else {
      for frame in frames { Frames.free(frame) }
    }
  }
}
