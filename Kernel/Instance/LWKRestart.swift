import X86

/// `lwk restart`: brings a failed LWK instance back, from the partition's
/// own map, without touching the service partition. The LWK shares nothing
/// with the service but the shared region and its half of the ring
/// regions, so a restart is a fresh boot of the partition: its CPUs are
/// stopped with INIT (which no hang with interrupts off can refuse),
/// everything that crossed to the old instance is forgotten here, the image
/// is copied again from the pristine .data (LWKLoader.prepare) and the
/// first LWK CPU is started with INIT-SIPI-SIPI as at boot
/// (LWKLoader.start); the new instance starts its other CPUs itself.
enum LWKRestart {
  /// Restarts done since boot.
  nonisolated(unsafe) static var restarts = 0

  /// Returns lines for the shell.
  static func restart() -> [String] {
    guard SharedRegion.lwkState == .failed else {
      return [
        "lwk restart: the LWK instance is \(SharedRegion.lwkState.description); only a failed one is restarted (lwk crash fails it)"
      ]
    }
    guard let platform, let plan = memory.plan, LWKLoader.image != nil else {
      return ["lwk restart: there was never an LWK instance to restart"]
    }
    let cpus = platform.topology.cpus.filter { $0.enabled && !$0.isBootCPU }
      .map { processors[$0.index] }.filter { !$0.isService }
    let started = x86_rdtsc()
    LWKWatchdog.takeOverContainment()
    stop(cpus)
    let forgotten = KernelLock.held {
      OtherInstance.deferredReleases = nil
      EndpointDelegation.forgetOtherInstance()
      return DTU.forgetOtherInstance()
    }
    FunctionShipping.forgetLWK()
    SharedRegion.forgetLWK()
    let region = LWKLoader.image!.region
    let problem = withMapped(region) {
      LWKLoader.prepare(plan: plan, platform: platform, features: CPUFeatures.detect())
    }
    if let problem { return ["lwk restart: " + problem] }
    var lines = [
      "lwk restart: CPUs \(CPUCommands.cpuList(cpus.map { $0.index })) stopped; \(forgotten.ours) send endpoints into the old instance's rings and \(forgotten.theirs) of its channels on ours taken back"
    ]
    let problems = LWKLoader.start(cpus, platform: platform)
    lines += problems.map { "lwk restart: " + $0 }
    guard SharedRegion.lwkState == .up else { return lines }
    LWKWatchdog.reset()
    restarts += 1
    let milliseconds = (x86_rdtsc() - started) / max(Clock.tscKHz, 1)
    lines.append("lwk restart: the LWK instance is up again after \(milliseconds) ms")
    return lines
  }

  /// Runs `body` with `region` (LWK memory, 2 MiB aligned: the old image)
  /// in this instance's direct map, which otherwise leaves the LWK
  /// partition out: the image is written again from here, as at boot.
  static func withMapped<Result>(_ region: PhysicalRange, _ body: () -> Result) -> Result {
    let twoMiB: UInt64 = 2 << 20
    guard let table = KernelAddressSpace.table else { return body() }
    var mapped: [UInt64] = []
    var physical = region.base
    while physical < region.end {
      let virtual = PhysicalMemory.directMapBase + physical
      if case .success = table.map(virtual, to: physical, size: .large, flags: .kernelData) {
        mapped.append(virtual)
      }
      physical += twoMiB
    }
    let result = body()
    for virtual in mapped { _ = table.unmap(virtual) }
    if let first = mapped.first {
      _ = TLBShootdown.invalidate(first, pages: UInt64(mapped.count) * (twoMiB / 4096))
    }
    return result
  }

  /// INIT to every LWK CPU: whatever each was doing (a panic's hlt, a
  /// spin with interrupts off), it now waits for a startup IPI.
  static func stop(_ cpus: [Processor]) {
    for cpu in cpus {
      SMP.sendINIT(cpu)
    }
    Clock.delay(microseconds: SMP.initDelayMicroseconds)
    for cpu in cpus { cpu.state = .offline }
  }
}
