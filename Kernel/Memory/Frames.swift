/// This instance's frames for every CPU it runs: the buddy allocator behind
/// one lock, since system calls on several CPUs allocate at once.
/// (Shell diagnostics such as `memtest` and `bench alloc` use the allocator
/// directly: they measure it, and run on the boot CPU.)
enum Frames {
  static let lock = IRQSpinLock()

  static func allocate(order: Int = 0) -> UInt64? {
    let interrupts = lock.lock()
    defer { lock.unlock(interrupts) }
    return memory.frames?.allocate(order: order)
  }

  static func free(_ frame: UInt64) {
    let interrupts = lock.lock()
    defer { lock.unlock(interrupts) }
    _ = memory.frames?.free(frame)
  }

  /// `count` physically contiguous frames filled with zeros (the LWK's
  /// process memory); free the run with `free(base)`.
  static func zeroedRun(_ count: Int) -> UInt64? {
    let interrupts = lock.lock()
    let base = memory.frames?.allocate(frames: count)
    lock.unlock(interrupts)
    guard let base, let start = PhysicalMemory.pointer(base) else { return nil }
    start.initializeMemory(as: UInt8.self, repeating: 0, count: count * 4096)
    return base
  }

  /// A frame filled with zeros.
  static func zeroed() -> UInt64? {
    guard let frame = allocate(), let page = PhysicalMemory.pointer(frame) else { return nil }
    page.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
    return frame
  }
}
