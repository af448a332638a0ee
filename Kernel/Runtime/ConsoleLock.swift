import X86

/// Keeps lines from different CPUs apart on the serial console: a CPU that
/// starts a line owns the console until its newline (or until it waits for
/// input). COM1 is per machine, so once the shared region exists the lock
/// word lives there and both kernel instances take the same lock; before
/// that (early boot, one CPU) a word of this instance's serves. The wait is
/// bounded, so a CPU that stopped mid-line (a panic, in either instance)
/// cannot silence the others; a panic takes the lock too (and keeps it:
/// its CPU stops), so its report is not cut into another CPU's line.
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

  /// Takes the console for a line; a prompt line the shell waits on is
  /// ended first (PromptLine), unless `shell` (its prompt and echo).
  static func acquire(shell: Bool = false) {
    let me = UInt64(Processor.currentIndex) + 1
    var taken = false
    withWord { word in
      if x86_load_relaxed(word) == me { return }
      taken = true
      // Long enough that a line whose vCPU the host descheduled (QEMU runs
      // every vCPU as a host thread, and a loaded host stalls them for tens
      // of milliseconds) is not cut; a CPU that really stopped costs one
      // such wait.
      let deadline = x86_rdtsc() + Clock.cycles(microseconds: 1_000_000)
      while !x86_compare_exchange(word, free, me) {
        if x86_rdtsc() > deadline {
          x86_unlock(word)  // the owner stopped mid-line: take it over
          continue
        }
        x86_pause()
      }
    }
    if taken && !shell { PromptLine.breakIfOpen() }
  }

  /// Takes the console only if nobody holds it (the timer tick's redraw).
  static func tryAcquire() -> Bool {
    let me = UInt64(Processor.currentIndex) + 1
    var taken = false
    withWord { taken = x86_compare_exchange($0, free, me) }
    return taken
  }

  /// Whether this CPU owns the console (is in the middle of a line).
  static var ownedHere: Bool {
    let me = UInt64(Processor.currentIndex) + 1
    var owned = false
    withWord { owned = x86_load_relaxed($0) == me }
    return owned
  }

  static func release() {
    let me = UInt64(Processor.currentIndex) + 1
    withWord { word in
      guard x86_load_relaxed(word) == me else { return }
      flushDeferred()
      x86_unlock(word)
    }
  }

  /// Whole lines that an interrupt handler wrote (the shipping server, for
  /// LWK programs) while the code it interrupted on this CPU was in the
  /// middle of a line: they go out right after that line ends.
  nonisolated(unsafe) static var deferred: [UInt8] = []
  static let deferredLimit = 16 << 10
  nonisolated(unsafe) static var deferredDropped: UInt64 = 0

  /// Writes bytes from an interrupt handler without cutting into a line
  /// the interrupted code is writing.
  static func writeFromInterrupt(_ bytes: ByteView) {
    guard bytes.count > 0 else { return }
    let me = UInt64(Processor.currentIndex) + 1
    var midLine = false
    withWord { midLine = x86_load_relaxed($0) == me }
    if midLine {
      for i in 0..<bytes.count {
        guard deferred.count < deferredLimit else {
          deferredDropped &+= UInt64(bytes.count - i)
          return
        }
        deferred.append(bytes.u8(i)!)
      }
      return
    }
    // Released even without a newline: a handler must never leave this
    // CPU owning a line, or its next write would look like the interrupted
    // code's and be deferred.
    acquire()
    for i in 0..<bytes.count { Console.put(bytes.u8(i)!) }
    release()
  }

  /// Writes what was deferred, with interrupts off (a handler could add to
  /// it meanwhile); the caller owns the console.
  static func flushDeferred() {
    guard !deferred.isEmpty else { return }
    let interruptsWereOn = x86_read_rflags() & (1 << 9) != 0
    x86_cli()
    for byte in deferred { Console.put(byte) }
    deferred.removeAll(keepingCapacity: true)
    if interruptsWereOn { x86_sti() }
  }
}
