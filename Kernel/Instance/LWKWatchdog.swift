import X86

/// The service instance's watch over the LWK instance, which shares nothing
/// with it but a region of memory and can fail on its own (mOS and the
/// multikernel papers: one instance's failure must not take the other
/// down). Three failures are told apart:
///
/// - a panic: the LWK's panic path marks the shared state `failed` itself;
/// - a hang: every `period` ticks of the service's boot CPU the watchdog
///   rings the LWK control CPU's doorbell, whose handler bumps a heartbeat
///   word; `missedLimit` periods with neither a beat nor visible work
///   (shipped requests, control requests served) mean the instance has
///   stopped (only the control CPU is pinged: the others run tickless
///   programs that must not be disturbed);
/// - a corrupted ring: the control queue's reader finds a slot no healthy
///   instance could have written (`LWKControl.call`).
///
/// Once failed, the LWK is asked nothing more: control calls and
/// cross-instance exchanges fail at once (or, already waiting, within a
/// period), and the shell says so. Then `contain` stops its CPUs and ends
/// what crossed to it; `lwk restart` (LWKRestart) brings it back.
enum LWKWatchdog {
  enum Failure: UInt64 {
    case none = 0
    case panic = 1
    case hang = 2
    case corruptRing = 3
    /// Its state or failure word holds no value it could have written.
    case corruptStatus = 4

    var description: String {
      switch self {
      case .none: "none"
      case .panic: "a kernel panic"
      case .hang: "a hang (no heartbeat)"
      case .corruptRing: "a corrupted reply queue"
      case .corruptStatus: "an overwritten status page"
      }
    }
  }

  /// Timer ticks (100 Hz) between pings: 100 ms.
  static let period: UInt64 = 10
  /// Pings left unanswered before a hang is declared at the next check:
  /// a hang is detected within (missedLimit + 2) × period, 10.1 s. Not
  /// less: the control CPU answers only with interrupts on, and with a
  /// system-call fuzzer on it, on a loaded two-core host, silences of 0.9 s
  /// and of over 3 s were seen (`lwk` shows the longest); a false alarm
  /// stops a working instance.
  static let missedLimit = 99

  nonisolated(unsafe) static var lastBeat: UInt64 = 0
  nonisolated(unsafe) static var lastWork: UInt64 = 0
  /// The most periods in a row without a beat or visible work (`lwk`).
  nonisolated(unsafe) static var longestSilence = 0
  nonisolated(unsafe) static var missed = 0
  /// What the watchdog concluded (on this side), and how long after the
  /// failure it did, in TSC cycles (nil: not measured).
  nonisolated(unsafe) static var detected: Failure = .none
  nonisolated(unsafe) static var detectionCycles: UInt64? = nil
  /// Failures detected since boot.
  nonisolated(unsafe) static var failures = 0

  /// The boot CPU's timer tick (interrupts off). Cheap when nothing is due.
  static func tick(_ count: UInt64) {
    guard KernelInstance.kind == .service else { return }
    if containmentPending { contain() }
    guard count % period == 0, detected == .none, let server = LWKControl.server else { return }
    guard SharedRegion.lwkStateIsValid else {
      declare(.corruptStatus)
      return
    }
    switch SharedRegion.lwkState {
    case .up: break
    case .failed:
      noticeDeclaredFailure()
      return
    case .absent, .booting: return
    }
    // Work the LWK visibly does counts as much as a beat: requests it
    // ships here, control requests it serves. A control CPU kept from
    // answering (interrupts off in a long system call, a console wait, a
    // vCPU the host descheduled) is not a hang while the instance works.
    let beat = x86_load_relaxed(SharedRegion.heartbeatWord!)
    let work =
      FunctionShipping.served &+ (SharedRegion.controlWord(0).map { x86_load_relaxed($0) } ?? 0)
    if beat != lastBeat || work != lastWork {
      lastBeat = beat
      lastWork = work
      missed = 0
    } else {
      missed += 1
      longestSilence = max(longestSilence, missed)
      if missed > missedLimit {
        declare(.hang)
        return
      }
    }
    LocalAPIC.send(
      to: server.apicID, command: UInt32(InterruptVector.doorbell) | LocalAPIC.deliveryFixed)
  }

  /// Service side: the LWK marked itself failed (its panic path); the
  /// first to see it (the tick, or a control call) declares it here.
  static func noticeDeclaredFailure() {
    let interrupts = x86_read_rflags() & (1 << 9) != 0
    x86_cli()
    let recorded = SharedRegion.failureWord.map { x86_load_relaxed($0) } ?? 0
    declare(
      SharedRegion.lwkStateIsValid ? Failure(rawValue: recorded) ?? .corruptStatus : .corruptStatus)
    if interrupts { x86_sti() }
  }

  /// Set when a failure is declared, until `contain` has run.
  nonisolated(unsafe) static var containmentPending = false
  /// What the containment took back: our send endpoints into its rings,
  /// and its channels on ours.
  nonisolated(unsafe) static var contained: (ours: Int, theirs: Int) = (0, 0)

  /// Ends what crossed to the failed instance (DTU.forgetOtherInstance):
  /// from the tick, only when KernelLock is free (the interrupted code
  /// holds none: the lock keeps interrupts off), so it never waits in an
  /// interrupt; otherwise at the next tick.
  static func contain() {
    guard let interrupts = KernelLock.tryAcquire() else { return }
    containmentPending = false
    // The failed instance's other CPUs may still run (a panic stops only
    // its own CPU): INIT stops them before anything of theirs is undone,
    // so none of them writes into a ring given back below.
    for cpu in processors where !cpu.isService && cpu.state == .online {
      SMP.sendINIT(cpu)
      cpu.state = .failed
    }
    FunctionShipping.pendingReads.removeAll()
    let taken = DTU.forgetOtherInstance()
    EndpointDelegation.forgetOtherInstance()
    KernelLock.release(interrupts)
    contained = (contained.ours + taken.ours, contained.theirs + taken.theirs)
  }

  /// `lwk restart` does the containment itself, before it starts the new
  /// instance: a containment the tick ran later would stop the new one.
  static func takeOverContainment() {
    let interruptsWereOn = x86_read_rflags() & (1 << 9) != 0
    x86_cli()
    containmentPending = false
    if interruptsWereOn { x86_sti() }
  }

  /// After a restart: watching a new instance.
  static func reset() {
    let interruptsWereOn = x86_read_rflags() & (1 << 9) != 0
    x86_cli()
    lastBeat = 0
    missed = 0
    containmentPending = false
    contained = (0, 0)
    detectionCycles = nil
    detected = .none
    if interruptsWereOn { x86_sti() }
  }

  /// LWK side, in the doorbell handler of the control CPU.
  static func beat() {
    guard let word = SharedRegion.heartbeatWord else { return }
    x86_store_release(word, x86_load_relaxed(word) &+ 1)
  }

  /// LWK side: the instance is failing for `reason` (from its panic path:
  /// no allocation). Only a panic is declared by the LWK itself; an
  /// injected hang or corruption is only timed, for the detection figure.
  static func failing(_ reason: Failure) {
    guard let time = SharedRegion.failureTimeWord, let word = SharedRegion.failureWord else {
      return
    }
    x86_store_release(time, x86_rdtsc())
    guard reason == .panic else { return }
    x86_store_release(word, reason.rawValue)
    SharedRegion.lwkState = .failed
  }

  /// Service side (interrupts off): the LWK instance has failed. From now
  /// on nothing is asked of it; the shell is told (from interrupt context
  /// too).
  static func declare(_ reason: Failure) {
    guard detected == .none else { return }
    detected = reason
    failures += 1
    containmentPending = true
    if let word = SharedRegion.failureWord { x86_store_release(word, reason.rawValue) }
    SharedRegion.lwkState = .failed
    let began = SharedRegion.failureTimeWord.map { x86_load_relaxed($0) } ?? 0
    let now = x86_rdtsc()
    detectionCycles = began != 0 && began < now ? now - began : nil
    let line = "\nlwk: the LWK instance failed: \(reason.description)\(detectionText)\n"
    var bytes = Array(line.utf8)
    bytes.withUnsafeMutableBytes { buffer in
      ConsoleLock.writeFromInterrupt(
        ByteView(base: UnsafeRawPointer(buffer.baseAddress), count: buffer.count))
    }
  }

  /// ", detected after N ms" when the failure's start is known.
  static var detectionText: String {
    guard let cycles = detectionCycles else { return "" }
    return ", detected after \(cycles / max(Clock.tscKHz, 1)) ms"
  }
}
