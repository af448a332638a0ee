/// The capability side of processes: one capability system for the service
/// kernel, and for each process a capability space holding the capabilities
/// to what it was given at start: the console, its address space, its
/// thread, and the memory of each segment and of its stack. Destroying the
/// process destroys its space, and with it every object only it held.
enum ProcessCapabilities {
  nonisolated(unsafe) static var system = CapabilitySystem(
    maxSpaces: 256, maxObjects: 1 << 16, maxCapabilities: 1 << 18, maxSlotsPerSpace: 4096)
  /// Kernel memory (page tables, thread stacks, records) each process may
  /// make the kernel spend on its behalf.
  static let quota: UInt64 = 1 << 20
  static let slots: UInt64 = 256

  /// Creates the space and the initial capabilities; nil (and a reason) when
  /// the kernel's limits or the quota say no.
  static func populate(_ process: Process, segments: [Rights]) -> String? {
    do {
      let space = try system.createSpace(slotLimit: slots, quota: quota)
      process.capabilitySpace = space
      var slot: UInt64 = 1
      func give(_ type: ObjectType, bytes: UInt64, rights: Rights? = nil) throws(CapabilityError) {
        _ = try system.createObject(
          type, bytes: bytes, at: CapabilityAddress(space: space, slot: slot), rights: rights)
        slot += 1
      }
      try give(.console, bytes: 0, rights: [.write])
      try give(.addressSpace, bytes: 4096)
      try give(.thread, bytes: 8 * 4096)
      // The frames behind memory objects are user memory from the service
      // partition, not kernel memory: only the object record is charged.
      for rights in segments { try give(.memory, bytes: 0, rights: rights.union(.grant)) }
      return nil
    } catch {
      return error.description
    }
  }

  static func release(_ process: Process) {
    guard let space = process.capabilitySpace else { return }
    _ = try? system.destroySpace(space)
    process.capabilitySpace = nil
  }

  /// `caps PID`: one line per occupied slot.
  static func lines(for process: Process) -> [String] {
    guard let space = process.capabilitySpace,
      let slots = try? system.occupiedSlots(in: space)
    else { return ["no capability space"] }
    var lines: [String] = []
    for slot in slots {
      if let info = try? system.inspect(CapabilityAddress(space: space, slot: slot)) {
        lines.append(info.description)
      }
    }
    return lines
  }
}
