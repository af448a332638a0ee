/// A synchronous IPC endpoint of this kernel: the object behind endpoint
/// capabilities, owning the plain memory of its queues (Core's
/// IPCEndpointQueues; the moves are in Kernel/Core/IPC/IPCRendezvous.swift).
/// Threads and the slot cache point at the queues, not at this object, so
/// the IPC paths count no references to it.
final class Endpoint {
  let queues: IPCEndpointPointer

  init() {
    queues = .allocate(capacity: 1)
    queues.initialize(to: IPCEndpointQueues())
  }

  /// Only after `IPC.abort(self, through: nil)`: nothing waits on it then,
  /// and every cached lookup of it is stale (its capabilities are gone).
  deinit { queues.deallocate() }

  /// Nothing waits on it: aborting has nothing to do.
  var isIdle: Bool { queues.pointee.isIdle }
}

extension CapabilitySlotCacheEntry {
  /// The endpoint queues an IPC lookup filled this entry with (IPC.resolve
  /// fills the cache with endpoints only, and a found entry always has one).
  @inline(__always)
  var endpointQueues: IPCEndpointPointer {
    object.unsafelyUnwrapped.assumingMemoryBound(to: IPCEndpointQueues.self)
  }
}
