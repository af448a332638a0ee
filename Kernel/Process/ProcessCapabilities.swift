/// The capability side of processes: one capability system for the service
/// kernel, and for each process a capability space holding what it was given
/// at start (InitialSlot): the console, its address space, its thread, what
/// its parent gave it, and one memory capability per segment and for the
/// stack. Destroying the process destroys its space, and with it every
/// object only it held.
///
/// Kernel memory is accounted by quotas (M3/Fiasco style, see KernelQuota):
/// a process's space pays for its slots, the objects it creates (records,
/// thread stacks, the frames of memory objects) and its children's quotas.
/// init gets `rootQuota` from the kernel; its children (the programs started
/// from the shell) get `childQuota` each from init's, so init's quota bounds
/// what all of them together can make the kernel allocate. Without init, a
/// shell-started program gets `childQuota` from the kernel. A spawned child
/// gets `spawnedQuota` from its parent's.
enum ProcessCapabilities {
  /// Reached through a pointer: a plain global struct would be copied
  /// (all its array buffers retained and released) on every lookup.
  static let storage: UnsafeMutablePointer<CapabilitySystem> = {
    let pointer = UnsafeMutablePointer<CapabilitySystem>.allocate(capacity: 1)
    pointer.initialize(
      to: CapabilitySystem(
        maxSpaces: 256, maxObjects: 1 << 16, maxCapabilities: 1 << 18,
        maxSlotsPerSpace: InitialSlot.limit))
    return pointer
  }()

  /// Where the system's removal count lives: the assembly IPC fast path
  /// compares slot cache entries with it (CapabilitySlotCache).
  static var removalsAddress: UnsafePointer<UInt64> {
    UnsafeRawPointer(storage).advanced(by: CapabilitySystem.removalsOffset)
      .assumingMemoryBound(to: UInt64.self)
  }

  static var system: CapabilitySystem {
    unsafeAddress { UnsafePointer(storage) }
    unsafeMutableAddress { storage }
  }

  /// The typed lookup in front of every kernel operation on a capability
  /// (CapabilitySystem.identifiedCapability), made in place: through a
  /// mutating access the compiler borrows the system instead of copying it.
  static func lookup(
    _ address: CapabilityAddress, type: ObjectType, requiring rights: Rights = []
  ) throws(CapabilityError) -> (id: CapabilityID, capability: Capability) {
    try storage.pointee.lookInPlace(address, type: type, requiring: rights)
  }
  static let rootQuota: UInt64 = 64 << 20
  static let childQuota: UInt64 = 4 << 20
  /// What a spawned process's quota costs its parent.
  static let spawnedQuota: UInt64 = 1 << 20
  /// Kernel bytes a thread object costs: its kernel stack.
  static var threadBytes: UInt64 { UInt64(ProcessRunner.kernelStackPages) * 4096 }

  /// Creates the space and the initial capabilities. `owner` pays for the
  /// space and lends its console capability; `give` names a capability of
  /// the owner's to copy into `InitialSlot.given`. Under KernelLock.
  static func populate(_ process: Process, segments: [SegmentMemory], owner: Process?, give: UInt64)
    -> CapabilityError?
  {
    do throws(CapabilityError) {
      let ownerSpace = owner?.capabilitySpace
      let quota: UInt64
      if let owner {
        quota = owner === ProcessRunner.initProcess ? childQuota : spawnedQuota
      } else {
        quota = process.name == "init" ? rootQuota : childQuota
      }
      let space = try system.createSpace(
        slotLimit: InitialSlot.limit, quota: quota, parent: ownerSpace)
      process.capabilitySpace = space
      process.slotCache = CapabilitySlotCache.allocate()
      func at(_ slot: UInt64) -> CapabilityAddress { CapabilityAddress(space: space, slot: slot) }

      if let ownerSpace {
        // The console is lent, not created: revoking the owner's console
        // capability silences its children too.
        _ = try? system.copy(
          CapabilityAddress(space: ownerSpace, slot: InitialSlot.console),
          to: at(InitialSlot.console))
        if give != 0 {
          try system.copy(
            CapabilityAddress(space: ownerSpace, slot: give), to: at(InitialSlot.given))
        }
      } else {
        let console = try system.createObject(
          .console, bytes: 0, at: at(InitialSlot.console), rights: [.read, .write, .grant])
        KernelObjects.set(console.object, .console)
      }
      let addressSpace = try system.createObject(
        .addressSpace, bytes: 4096, at: at(InitialSlot.addressSpace))
      KernelObjects.set(addressSpace.object, .addressSpace(process))
      let thread = try system.createObject(.thread, bytes: threadBytes, at: at(InitialSlot.thread))
      process.initialThreadObject = thread.object
      var slot = InitialSlot.firstSegment
      for segment in segments {
        // The frames are user memory the process owns, not kernel memory:
        // only the object's record is charged.
        let created = try system.createObject(
          .memory, bytes: 0, at: at(slot), rights: segment.rights.union(.grant))
        let memory = MemoryObject(frames: segment.frames, ownsFrames: false)
        memory.mappings.append(
          MemoryObject.Mapping(
            capability: created.capability, space: process.space, address: segment.base))
        KernelObjects.set(created.object, .memory(memory))
        slot += 1
      }
      return nil
    } catch {
      return error
    }
  }

  /// The first thread exists now: its object can name it.
  static func bindThread(_ thread: Thread, of process: Process) {
    if let object = process.initialThreadObject { KernelObjects.set(object, .thread(thread)) }
  }

  /// The process is being destroyed: its capabilities go, and with them
  /// every object only it held. Under KernelLock.
  static func release(_ process: Process) {
    guard let space = process.capabilitySpace else { return }
    // Its page tables go with it: nothing needs unmapping from them.
    KernelObjects.forget(process.space)
    if let removal = try? system.destroySpace(space) { KernelObjects.apply(removal) }
    process.capabilitySpace = nil
  }

  /// `caps PID`: one line per occupied slot.
  static func lines(for process: Process) -> [String] {
    KernelLock.held {
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
}

extension CapabilitySystem {
  fileprivate mutating func lookInPlace(
    _ address: CapabilityAddress, type: ObjectType, requiring rights: Rights
  ) throws(CapabilityError) -> (id: CapabilityID, capability: Capability) {
    try identifiedCapability(at: address, type: type, requiring: rights)
  }
}
