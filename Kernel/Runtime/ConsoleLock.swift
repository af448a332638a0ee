import X86

/// Keeps lines from different CPUs apart on the serial console: a CPU that
/// starts a line owns the console until its newline (or until it waits for
/// input). COM1 is per machine, so once the shared region exists the lock
/// word lives there and both kernel instances take the same lock; before
/// that (early boot, one CPU) a word of this instance's serves. The wait is
/// bounded, so a CPU that stopped mid-line (a panic, in either instance)
/// cannot silence the others; panics write without the lock.
enum ConsoleLock {
  static let free: UInt64 = 0
  /// The early word: the owning CPU's number + 1, or `free`.
  nonisolated(unsafe) static var earlyOwner: UInt64 = 0

  static func withWord(_ body: (UnsafeMutablePointer<UInt64>) -> Void) {
    if let shared = SharedRegion.consoleLockWord {
      body(shared)
    } else {
      withUnsafeMutablePointer(to: &earlyOwner, body)
    }
  }

  static func acquire() {
    let me = UInt64(Processor.currentIndex) + 1
    withWord { word in
      if x86_load_relaxed(word) == me { return }
      let deadline = x86_rdtsc() + Clock.cycles(microseconds: 50_000)
      while !x86_compare_exchange(word, free, me) {
        if x86_rdtsc() > deadline {
          x86_unlock(word)  // the owner stopped mid-line: take it over
          continue
        }
        x86_pause()
      }
    }
  }

  static func release() {
    let me = UInt64(Processor.currentIndex) + 1
    withWord { word in
      if x86_load_relaxed(word) == me { x86_unlock(word) }
    }
  }
}
