import X86

/// What the LWK instance does for each control request (LWKControl.swift).
/// Output the user asked for (`lwk mem`, a poke's fault) the instance
/// prints itself: COM1 is per machine, and the service shell waits for the
/// reply before it prints its prompt.
enum LWKRequests {
  static func handle(_ request: ControlMessage) -> ControlMessage {
    switch request.kind {
    case .ping:
      return .reply(
        .ok, tag: request.tag, (request.words.0 &+ 1, UInt64(Processor.currentIndex), 0, 0))
    case .memory:
      printMemory()
      return .reply(.ok, tag: request.tag)
    case .poke:
      return poke(request)
    case nil:
      print("lwk: unknown control request \(request.code); refused")
      return .reply(.refused, tag: request.tag)
    }
  }

  /// `lwk mem`: the instance's own map, allocator and heap.
  static func printMemory() {
    guard let block = LWKInstance.handoff else { return }
    print("lwk: memory map from the hand-off block (\(block.lwkMap.count) entries):")
    for entry in block.lwkMap {
      let kind = entry.type == HandoffBlock.MapEntry.usable ? "usable" : "LWK instance image"
      print(
        "lwk:   \(hex(entry.base))-\(hex(entry.base + entry.length - 1))  \(formatSize(entry.length).padded(to: 10))  node \(entry.node)  \(kind)"
      )
    }
    if let frames = memory.frames { print("lwk: frame allocator: " + frames.description) }
    let heap = kernelHeap.statistics
    print(
      "lwk: kernel heap: \(heap.arenas) arenas, \(formatSize(UInt64(heap.totalPages) * 4096)), \(formatSize(UInt64(heap.bytesInUse))) in use by \(heap.allocations) allocations"
    )
  }

  /// `lwk poke`: touch a physical address through this instance's direct
  /// map. Service-partition memory is not mapped here, so that faults; the
  /// fault is reported and the instance carries on.
  static func poke(_ request: ControlMessage) -> ControlMessage {
    let physical = request.words.0
    let write = request.words.1 == 1
    let (virtual, overflow) = PhysicalMemory.directMapBase.addingReportingOverflow(physical)
    guard !overflow, physical < (1 << 52) else {
      print("lwk: poke: \(hex(physical)) is not a physical address; refused")
      return .reply(.refused, tag: request.tag)
    }
    let outcome: Result<UInt64, Probe.Fault> =
      write ? Probe.write(virtual, request.words.2).map { request.words.2 } : Probe.read(virtual)
    switch outcome {
    case .success(let value):
      return .reply(.ok, tag: request.tag, (value, 0, 0, 0))
    case .failure(let fault):
      print(
        "lwk: CPU \(Processor.currentIndex): \(exceptionName(fault.vector)) \(write ? "writing" : "reading") \(hex(fault.address)) (physical \(hex(physical))): not mapped by the LWK instance; the instance carries on"
      )
      return .reply(.faulted, tag: request.tag, (fault.vector, fault.address, fault.errorCode, 0))
    }
  }
}
