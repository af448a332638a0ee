import Synchronization
import X86

/// A spin lock that also keeps interrupts off on this CPU while held, so an
/// interrupt handler on the same CPU can never spin on a lock its own CPU
/// holds. While it waits, a CPU whose interrupts were on turns them back on:
/// the holder may be waiting for this CPU to answer a remote call (a TLB
/// shootdown). Every spin executes `pause` (QEMU runs vCPUs round robin
/// under -icount; see DESIGN.md).
///
/// The flag is a byte of its own memory (not a field of the object), so the
/// assembly IPC fast path can take the kernel lock by its address (`word`).
final class IRQSpinLock {
  private let flag: UnsafeMutablePointer<Atomic<Bool>>

  init() {
    flag = .allocate(capacity: 1)
    flag.initialize(to: Atomic<Bool>(false))
  }

  deinit { flag.deallocate() }

  /// The flag's byte: 1 while held.
  var word: UnsafeMutableRawPointer { UnsafeMutableRawPointer(flag) }

  /// Returns the interrupt flag to restore in `unlock`.
  func lock() -> Bool {
    let interruptsWereOn = x86_read_rflags() & (1 << 9) != 0
    x86_cli()
    while !flag.pointee.compareExchange(expected: false, desired: true, ordering: .acquiring)
      .exchanged
    {
      if interruptsWereOn { x86_sti() }
      while flag.pointee.load(ordering: .relaxed) { x86_pause() }
      x86_cli()
    }
    return interruptsWereOn
  }

  /// Takes the lock only if it is free (interrupts off while held); nil
  /// when another CPU holds it.
  func tryLock() -> Bool? {
    let interruptsWereOn = x86_read_rflags() & (1 << 9) != 0
    x86_cli()
    guard
      flag.pointee.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    else {
      if interruptsWereOn { x86_sti() }
      return nil
    }
    return interruptsWereOn
  }

  func unlock(_ interruptsWereOn: Bool) {
    flag.pointee.store(false, ordering: .releasing)
    if interruptsWereOn { x86_sti() }
  }
}
