/// Where a kernel instance begins.
///
/// The machine runs one kernel binary twice: the service instance, which the
/// boot loader started, and the LWK instance on the LWK partition's CPUs.
/// They share nothing but a read-only hand-off block and the rings of the
/// shared region (Kernel/Instance/SharedRegion.swift).
///
/// Design: each instance has a private copy of the kernel's `.data` and
/// `.bss`, mapped at the same virtual addresses by the instance's own page
/// tables; text and read-only data are the same frames for both. We chose
/// this over an instance object reached from the per-CPU block (Barrelfish's
/// kernel control block) because every global of the kernel — heap and its
/// lock, frame allocator, kernel lock, object table, capability system,
/// process table, schedulers, kernel stacks, IDT — becomes per instance
/// without threading an instance pointer through every call, and the
/// Embedded Swift runtime's `posix_memalign`/`free` reach the heap of the
/// instance that runs on the current CPU simply because that is the heap
/// its page tables map. A new instance (or a restarted one) is a fresh copy
/// of `.data` as the loader placed it (Boot/entry.S keeps it in
/// `pristine_data`) and a zeroed `.bss`: nothing more than another instance.
///
/// What is per machine lives outside `.data`/`.bss`: the firmware's
/// description, topology, partition plan and clock calibration travel in the
/// hand-off block; COM1's line lock and the instances' status words sit in
/// the shared region. Per CPU: the per-CPU block, GDT/TSS, stacks and the
/// current thread, all allocated by the instance that runs the CPU, from
/// its own memory.
enum KernelInstance {
  enum Kind {
    case service
    case lwk

    var name: String {
      switch self {
      case .service: "service"
      case .lwk: "LWK"
      }
    }
  }

  /// Which instance this copy of `.data` belongs to. The pristine value is
  /// `.service`; the LWK instance sets it first thing.
  nonisolated(unsafe) static var kind = Kind.service

  /// The LWK partition's memory (its whole map, image included): the LWK
  /// instance's and nothing of the service instance's.
  nonisolated(unsafe) static var lwkMemory: [PhysicalRange] = []

  static var other: Kind { kind == .service ? .lwk : .service }

  /// Whether a physical address is in this instance's partition memory (the
  /// service side also counts firmware and boot memory as its own).
  static func owns(physical: UInt64) -> Bool {
    let inLWK = lwkMemory.contains { $0.contains(physical) }
    return kind == .lwk ? inLWK : !inLWK
  }

  /// Whether `cpu` (a logical CPU number) is run by this instance.
  static func runs(isServiceCPU: Bool) -> Bool {
    isServiceCPU == (kind == .service)
  }
}
