/// The capability system calls: copy, mint, move, delete, revoke, inspect,
/// and creating memory and endpoint objects. Each runs under KernelLock on
/// the caller's capability space; removals are acted on (unmapping, IPC
/// aborts, object destruction) before the call returns.
enum CapabilityCalls {
  typealias Frame = UnsafeMutablePointer<InterruptFrame>

  /// Runs `body` with the caller's space under the lock; a thrown
  /// CapabilityError becomes its error code. On the LWK, the releases of
  /// the other instance's channels that it causes are shipped after the
  /// lock, and the call returns only when the service has answered them
  /// (`OtherInstance`).
  static func withSpace(_ body: (SpaceID) throws(CapabilityError) -> Int64) -> Int64 {
    let (result, releases) = KernelLock.held {
      OtherInstance.deferringReleases { () -> Int64 in
        guard let space = ProcessRunner.current?.capabilitySpace else {
          return SystemCallError.invalidObject.rawValue
        }
        do throws(CapabilityError) {
          return try body(space)
        } catch {
          return SystemCallError(error).rawValue
        }
      }
    }
    if !releases.isEmpty { OtherInstance.finish(releases) }
    EndpointDelegation.pumpIfQueued()
    return result
  }

  static func rights(_ raw: UInt64) -> Rights? {
    raw == SystemCallRights.same ? nil : Rights(rawValue: raw)
  }

  static func copy(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    withSpace { space throws(CapabilityError) in
      try ProcessCapabilities.system.copy(
        CapabilityAddress(space: space, slot: f.pointee.rdi),
        to: CapabilityAddress(space: space, slot: f.pointee.rsi),
        rights: rights(f.pointee.rdx))
      return 0
    }
  }

  static func mint(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    withSpace { space throws(CapabilityError) in
      try ProcessCapabilities.system.mint(
        CapabilityAddress(space: space, slot: f.pointee.rdi),
        to: CapabilityAddress(space: space, slot: f.pointee.rsi),
        rights: rights(f.pointee.rdx), label: f.pointee.r10)
      return 0
    }
  }

  static func move(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    withSpace { space throws(CapabilityError) in
      try ProcessCapabilities.system.move(
        CapabilityAddress(space: space, slot: f.pointee.rdi),
        to: CapabilityAddress(space: space, slot: f.pointee.rsi))
      return 0
    }
  }

  static func delete(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    withSpace { space throws(CapabilityError) in
      try ProcessCapabilities.system.delete(
        CapabilityAddress(space: space, slot: f.pointee.rdi), into: &KernelObjects.scratch)
      return Int64(KernelObjects.applyScratch().destroyed)
    }
  }

  static func revoke(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    withSpace { space throws(CapabilityError) in
      try ProcessCapabilities.system.revoke(
        CapabilityAddress(space: space, slot: f.pointee.rdi), into: &KernelObjects.scratch)
      return Int64(KernelObjects.applyScratch().removed)
    }
  }

  /// Type in RAX; rights, label, labelled and derived-from slot in RDI, RSI,
  /// RDX, R10.
  static func inspect(_ frame: Frame) -> Int64 {
    let slot = frame.pointee.rdi
    return withSpace { space throws(CapabilityError) in
      let info = try ProcessCapabilities.system.inspect(CapabilityAddress(space: space, slot: slot))
      frame.pointee.rdi = info.capability.rights.rawValue
      frame.pointee.rsi = info.capability.label ?? 0
      frame.pointee.rdx = info.capability.label == nil ? 0 : 1
      frame.pointee.r10 = info.derivedFrom?.space == space ? info.derivedFrom!.slot : 0
      return Int64(info.capability.type.rawValue)
    }
  }

  static func createMemory(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    let pages = f.pointee.rsi
    guard pages > 0, pages <= SystemCallLimits.memoryPages else {
      return SystemCallError.badLength.rawValue
    }
    return withSpace { space throws(CapabilityError) in
      let destination = CapabilityAddress(space: space, slot: f.pointee.rdi)
      // Check the slot and the quota before taking frames.
      let quota = try ProcessCapabilities.system.quota(of: space)
      guard quota.available >= pages * 4096 + CapabilitySystem.objectRecordBytes else {
        throw .quotaExhausted(needed: pages * 4096, available: quota.available)
      }
      if let slotError = probeEmpty(destination) { return slotError.rawValue }
      guard let memory = MemoryObject.allocate(pages: Int(pages)) else {
        return SystemCallError.outOfMemory.rawValue
      }
      do throws(CapabilityError) {
        let created = try ProcessCapabilities.system.createObject(
          .memory, bytes: memory.bytes, at: destination)
        KernelObjects.set(created.object, .memory(memory))
      } catch {
        memory.release()
        throw error
      }
      return 0
    }
  }

  static func createEndpoint(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    withSpace { space throws(CapabilityError) in
      let created = try ProcessCapabilities.system.createObject(
        .endpoint, bytes: 64, at: CapabilityAddress(space: space, slot: f.pointee.rdi))
      KernelObjects.set(created.object, .endpoint(Endpoint()))
      return 0
    }
  }

  /// The error createObject would give for this destination slot, so that
  /// no frames are taken for a call that fails anyway.
  static func probeEmpty(_ destination: CapabilityAddress) -> SystemCallError? {
    do throws(CapabilityError) {
      _ = try ProcessCapabilities.system.inspect(destination)
      return .slotOccupied
    } catch {
      if case .emptySlot = error { return nil }
      return SystemCallError(error)
    }
  }
}
