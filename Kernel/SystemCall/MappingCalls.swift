/// memoryMap and memoryUnmap: mappings into the caller's own address space,
/// made through a memory capability and remembered with it (MemoryObject).
enum MappingCalls {
  static func map(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    let slot = f.pointee.rdi
    let address = f.pointee.rsi
    let asked = f.pointee.rdx
    let known = SystemCallRights.read | SystemCallRights.write | SystemCallRights.execute
    guard asked & ~known == 0 else { return SystemCallError.undefinedRights.rawValue }
    var rights = Rights(rawValue: asked)
    rights.insert(.read)
    guard !rights.contains(.write) || !rights.contains(.execute) else {
      return SystemCallError.writeAndExecute.rawValue
    }
    guard let process = ProcessRunner.current else { return SystemCallError.invalidObject.rawValue }
    return CapabilityCalls.withSpace { space throws(CapabilityError) in
      let (id, capability) = try ProcessCapabilities.lookup(
        CapabilityAddress(space: space, slot: slot), type: .memory, requiring: rights)
      guard case .memory(let memory) = KernelObjects.object(capability.object) else {
        return SystemCallError.invalidObject.rawValue
      }
      var flags: PageFlags = [.present, .user]
      if rights.contains(.write) { flags.insert(.writable) }
      if !rights.contains(.execute) { flags.insert(.noExecute) }
      if let error = memory.map(into: process.space, at: address, flags: flags, through: id) {
        return error.rawValue
      }
      return 0
    }
  }

  static func unmap(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    let slot = f.pointee.rdi
    let address = f.pointee.rsi
    return CapabilityCalls.withSpace { space throws(CapabilityError) in
      let (id, capability) = try ProcessCapabilities.lookup(
        CapabilityAddress(space: space, slot: slot), type: .memory)
      guard case .memory(let memory) = KernelObjects.object(capability.object) else {
        return SystemCallError.invalidObject.rawValue
      }
      return memory.unmap(through: id, at: address)?.rawValue ?? 0
    }
  }
}
