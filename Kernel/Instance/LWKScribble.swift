import X86

/// `lwk crash scribble`: the LWK instance turns hostile and writes garbage
/// over everything its page tables let it reach, to show what the
/// partition boundary is worth. It first probes every 2 MiB of physical
/// memory for a write and reports how much it could reach: the service
/// partition is not in its direct map, so none of it. Then it writes over
/// all it maps — its partition's memory, both halves of every ring region,
/// the whole shared region, the trampoline page — and stops with interrupts
/// off, for the service's watchdog to find.
///
/// Two places are spared, each for a reason outside the kernel's reach:
/// its own image (code, boot stack, page tables: a CPU that faults with no
/// usable stack or IDT triple-faults, and a triple fault resets the whole
/// machine, on QEMU as on a PC), and the local APIC page (an IPI to any
/// CPU is a write there; x86 without virtualization cannot fence IPIs off).
/// For the same reason it first stops its other CPUs with INIT: their
/// stacks and page tables live in the memory it is about to overwrite.
enum LWKScribble {
  static let pattern: UInt64 = 0xDEAD_BEEF_5C21_BB1E
  static let block: UInt64 = 2 << 20

  static func run() -> Never {
    guard let handoff = LWKInstance.handoff else { Panic.halt(because: "no hand-off block") }
    var targets: [PhysicalRange] = []
    for node in memory.nodes { targets += node.ranges }
    targets += NodeRings.regions.map { $0.range }
    targets.append(SharedRegion.range)
    targets.append(PhysicalRange(base: SMP.trampolinePage, length: 4096))
    targets = targets.flatMap { $0.subtracting([handoff.lwkImage]) }
    let top = max(
      targets.map { $0.end }.max() ?? 0, handoff.kernelImage.end, handoff.lwkImage.end)
    var writable = 0
    var refused = 0
    var base: UInt64 = 0
    while base < top {
      // The block's last word: a block's first page may be the trampoline's.
      let probe = base + block - 8
      if case .success = Probe.write(PhysicalMemory.directMapBase + probe, pattern) {
        writable += 1
      } else {
        refused += 1
      }
      base += block
    }
    let serviceKernel = Probe.write(
      PhysicalMemory.directMapBase + handoff.kernelImage.base, pattern)
    let bytes = targets.reduce(UInt64(0)) { $0 + $1.length }
    print(
      "lwk: scribble: of \(writable + refused) blocks of 2 MiB up to \(hex(top)), \(writable) take a write from here and \(refused) do not; the service kernel's image \(serviceKernel.isSuccess ? "TOOK A WRITE" : "faults"). Writing over \(formatSize(bytes)) now."
    )
    let me = Processor.currentIndex
    for cpu in processors where !cpu.isService && cpu.index != me {
      SMP.sendINIT(cpu)
    }
    x86_cli()
    // The ranges are copied to the stack first: the heap is overwritten too.
    let count = min(targets.count, 64)
    withUnsafeTemporaryAllocation(of: (UInt64, UInt64).self, capacity: 64) { list in
      for index in 0..<count { list[index] = (targets[index].base, targets[index].end) }
      for index in 0..<count {
        var address = list[index].0
        while address < list[index].1 {
          UnsafeMutablePointer<UInt64>(bitPattern: UInt(PhysicalMemory.directMapBase + address))!
            .pointee = pattern ^ address
          address += 8
        }
      }
    }
    while true { x86_hlt() }
  }
}
