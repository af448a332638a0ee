import Synchronization

/// The periodic tick of service CPUs (it will drive the scheduler). LWK CPUs
/// never start it: they run tickless.
enum Timer {
  static let hertz: UInt64 = 100

  static func startTick() {
    let count = max(Clock.apicTicksPerMillisecond * 1000 / hertz, 1)
    LocalAPIC.startPeriodicTimer(
      vector: InterruptVector.timer, count: UInt32(truncatingIfNeeded: count))
  }

  static func tick() {
    let cpu = Processor.currentIndex
    let (count, _) = processors[cpu].ticks.add(1, ordering: .relaxed)
    if cpu == 0 {
      LWKWatchdog.tick(count)
      PromptLine.tick()
    }
  }
}
