/// Physical memory as the kernel sees it: through the direct map at a fixed
/// offset. Boot/entry.S maps the low 4 GiB there; KernelAddressSpace extends
/// it to all RAM.
enum PhysicalMemory {
  static let directMapBase: UInt64 = 0x0000_4000_0000_0000
  static let bootDirectMapSize: UInt64 = 4 << 30
  nonisolated(unsafe) static var directMapSize: UInt64 = bootDirectMapSize

  static func pointer(_ physical: UInt64) -> UnsafeMutableRawPointer? {
    guard physical < directMapSize else { return nil }
    return UnsafeMutableRawPointer(bitPattern: UInt(directMapBase + physical))
  }

  /// A bounds-checked view of `length` bytes at `physical`, or nil when the
  /// range is not in the direct map.
  static func view(_ physical: UInt64, _ length: Int) -> ByteView? {
    guard length >= 0, physical < directMapSize, UInt64(length) <= directMapSize - physical,
      let base = pointer(physical)
    else { return nil }
    return ByteView(base: UnsafeRawPointer(base), count: length)
  }
}
