import Synchronization
import X86

/// A spin lock that also keeps interrupts off on this CPU while held, so an
/// interrupt handler on the same CPU can never spin on a lock its own CPU
/// holds. While it waits, a CPU whose interrupts were on turns them back on:
/// the holder may be waiting for this CPU to answer a remote call (a TLB
/// shootdown). Every spin executes `pause` (QEMU runs vCPUs round robin
/// under -icount; see DESIGN.md).
final class IRQSpinLock {
  private let held = Atomic<Bool>(false)

  init() {}

  /// Returns the interrupt flag to restore in `unlock`.
  func lock() -> Bool {
    let interruptsWereOn = x86_read_rflags() & (1 << 9) != 0
    x86_cli()
    while !held.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
      if interruptsWereOn { x86_sti() }
      while held.load(ordering: .relaxed) { x86_pause() }
      x86_cli()
    }
    return interruptsWereOn
  }

  /// Takes the lock only if it is free (interrupts off while held); nil
  /// when another CPU holds it.
  func tryLock() -> Bool? {
    let interruptsWereOn = x86_read_rflags() & (1 << 9) != 0
    x86_cli()
    guard held.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    else {
      if interruptsWereOn { x86_sti() }
      return nil
    }
    return interruptsWereOn
  }

  func unlock(_ interruptsWereOn: Bool) {
    held.store(false, ordering: .releasing)
    if interruptsWereOn { x86_sti() }
  }
}
