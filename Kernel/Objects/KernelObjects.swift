/// What the kernel keeps for each object the capability system knows, by
/// the object's index, and what it does when capabilities go: unmap what was
/// mapped through a removed memory capability, abort IPC blocked through a
/// removed endpoint capability, and destroy objects whose last capability
/// went. All of it under KernelLock.
enum KernelObject {
  case none
  case memory(MemoryObject)
  case endpoint(Endpoint)
  case thread(Thread)
  /// A process's address space: destroying it ends the process.
  case addressSpace(Process)
  /// Console access: nothing to keep beyond the capability.
  case console
  case receiveEndpoint(ReceiveEndpoint)
  case sendEndpoint(SendEndpoint)
  case memoryEndpoint(MemoryEndpoint)
  /// A send endpoint to a ring of the other kernel instance.
  case remoteSendEndpoint(RemoteSendEndpoint)
}

enum KernelObjects {
  nonisolated(unsafe) static var table: [KernelObject] = []
  /// Reused by delete and revoke so that they allocate nothing once it has
  /// grown (under KernelLock, like everything here).
  nonisolated(unsafe) static var scratch = CapabilityRemoval()

  /// Acts on `scratch` and empties it; returns (removed, destroyed).
  static func applyScratch() -> (removed: Int, destroyed: Int) {
    apply(scratch)
    let counts = (scratch.removed.count, scratch.destroyed.count)
    scratch.removed.removeAll(keepingCapacity: true)
    scratch.destroyed.removeAll(keepingCapacity: true)
    return counts
  }

  static func set(_ object: ObjectID, _ value: KernelObject) {
    let index = Int(object.index)
    while table.count <= index { table.append(.none) }
    table[index] = value
  }

  static func object(_ id: ObjectID) -> KernelObject {
    let index = Int(id.index)
    return index < table.count ? table[index] : .none
  }

  /// The endpoint `id` names, if it is one.
  static func endpoint(_ id: ObjectID) -> Endpoint? {
    let index = Int(id.index)
    guard index < table.count, case .endpoint(let endpoint) = table[index] else { return nil }
    return endpoint
  }

  /// Acts on what a delete, revoke or space destruction removed, before the
  /// system call that caused it returns.
  static func apply(_ removal: CapabilityRemoval) {
    for removed in removal.removed {
      // Only memory and DTU endpoints (mappings) and IPC endpoints
      // (blocked IPC) have something to undo; the others are not even
      // looked up.
      switch removed.capability.type {
      case .memory, .endpoint, .receiveEndpoint, .sendEndpoint, .memoryEndpoint: break
      default: continue
      }
      switch object(removed.capability.object) {
      case .memory(let memory): memory.unmapAll(through: removed.id)
      case .endpoint(let endpoint): IPC.abort(endpoint, through: removed.id)
      case .receiveEndpoint(let endpoint): DTU.unmap(endpoint, through: removed.id)
      case .sendEndpoint(let endpoint):
        DTU.unmap(&endpoint.mappings, through: removed.id, sink: true)
      case .memoryEndpoint(let endpoint): DTU.unmap(&endpoint.mappings, through: removed.id)
      case .remoteSendEndpoint(let endpoint):
        DTU.unmap(&endpoint.mappings, through: removed.id, sink: true)
      default: break
      }
    }
    for destroyed in removal.destroyed {
      switch object(destroyed.object) {
      case .memory(let memory): memory.release()
      case .endpoint(let endpoint): IPC.abort(endpoint, through: nil)
      case .thread(let thread): ProcessRunner.terminate(thread)
      case .addressSpace(let process): ProcessRunner.terminate(process)
      case .receiveEndpoint(let endpoint): DTU.destroy(endpoint)
      case .sendEndpoint(let endpoint): DTU.destroy(endpoint)
      case .memoryEndpoint(let endpoint): DTU.destroy(endpoint)
      case .remoteSendEndpoint(let endpoint): DTU.destroy(endpoint)
      case .console, .none: break
      }
      set(destroyed.object, .none)
    }
  }

  /// An address space is going away: no memory object or DTU endpoint may
  /// unmap from it later.
  static func forget(_ space: AddressSpace) {
    for entry in table {
      switch entry {
      case .memory(let memory): memory.forget(space)
      case .receiveEndpoint(let endpoint):
        endpoint.mappings.removeAll { $0.space === space }
        if let waiter = endpoint.waiter, waiter.process?.space === space { endpoint.waiter = nil }
      case .sendEndpoint(let endpoint): endpoint.mappings.removeAll { $0.space === space }
      case .memoryEndpoint(let endpoint): endpoint.mappings.removeAll { $0.space === space }
      case .remoteSendEndpoint(let endpoint): endpoint.mappings.removeAll { $0.space === space }
      default: break
      }
    }
  }
}
