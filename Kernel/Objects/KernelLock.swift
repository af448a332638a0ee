/// The lock of the object layer: the capability system, the kernel-object
/// table, endpoint queues and every thread's IPC state, the process table,
/// mappings made through capabilities, and kernel stacks. One lock keeps the
/// rules simple to check; the IPC fast path (Boot/ipcfast.S) holds it for
/// a few dozen instructions, and only takes it when it is free. Order: KernelLock, then a scheduler's lock, then Frames.
enum KernelLock {
  static let lock = IRQSpinLock()

  static func acquire() -> Bool { lock.lock() }
  static func release(_ interruptsWereOn: Bool) { lock.unlock(interruptsWereOn) }
  static func tryAcquire() -> Bool? { lock.tryLock() }

  static func held<T>(_ body: () -> T) -> T {
    let interrupts = lock.lock()
    defer { lock.unlock(interrupts) }
    return body()
  }
}
