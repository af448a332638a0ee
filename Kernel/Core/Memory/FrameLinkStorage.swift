// The buddy allocator's free lists are intrusive: the first 16 bytes of every
// free block hold the physical addresses of the previous and the next free
// block of the same order, so the lists cost no memory of their own. How
// those bytes are reached differs: the kernel goes through its direct map of
// physical memory, host tests through a dictionary. The allocator is generic
// over this (not an existential), so Embedded Swift specializes it and the
// kernel's list operations compile to plain loads and stores.

/// Reads and writes the list links kept inside free blocks. `UInt64.max`
/// stands for "no block" (the end of a list).
public protocol FrameLinkStorage {
  /// The links stored in the free block at `physical`.
  mutating func links(at physical: UInt64) -> (previous: UInt64, next: UInt64)
  /// Stores the links of the free block at `physical`.
  mutating func setLinks(at physical: UInt64, previous: UInt64, next: UInt64)
}

/// Links stored in memory that maps physical address `p` at `base + p`: the
/// kernel's direct map, or a host region standing in for it.
public struct DirectMapLinkStorage: FrameLinkStorage {
  public let base: UnsafeMutableRawPointer

  public init(base: UnsafeMutableRawPointer) {
    self.base = base
  }

  public func links(at physical: UInt64) -> (previous: UInt64, next: UInt64) {
    let block = base + Int(truncatingIfNeeded: physical)
    return (block.load(as: UInt64.self), block.load(fromByteOffset: 8, as: UInt64.self))
  }

  public func setLinks(at physical: UInt64, previous: UInt64, next: UInt64) {
    let block = base + Int(truncatingIfNeeded: physical)
    block.storeBytes(of: previous, as: UInt64.self)
    block.storeBytes(of: next, toByteOffset: 8, as: UInt64.self)
  }
}
