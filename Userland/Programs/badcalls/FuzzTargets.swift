/// The objects the fuzzer aims its calls at, and their giving back: a
/// scratch buffer with an unmapped page after it, and a range of slots
/// holding capabilities of every type (IPC and DTU endpoints, memory, a
/// memory window, threads, copies of the console, address space and
/// thread). The random calls delete, move and revoke them; `replenish`
/// puts back the ones gone, so valid slots stay in the mix. At the end
/// everything goes: `no-leaks.scenario` checks the kernel got it all back.
struct FuzzTargets {
  /// Where the scratch buffer is mapped; the page after it stays unmapped.
  static let bufferAddress: UInt64 = 0x0000_3000_0000_0000
  static let bufferBytes: UInt64 = 4 * 4096
  /// Addresses the random calls map at (none of this program's memory).
  static let mapArea: UInt64 = 0x0000_2000_0000_0000
  /// The buffer's memory capability: outside every slot the calls draw.
  static let bufferSlot: UInt64 = 90

  /// The random calls' slots: firstSlot ..< firstSlot + slotCount.
  let firstSlot: UInt64 = 100
  let slotCount: UInt64 = 48
  /// Initial slots are 1 ..< initialLimit (the program's segments and
  /// stack end there).
  let initialLimit: UInt64
  /// Mapped code (readable, not writable).
  let codeAddress: UInt64

  /// The slots `replenish` keeps filled, and what goes in each.
  enum Anchor: UInt64, CaseIterable {
    case endpoint = 100
    case readOnlyEndpoint = 101
    case memory = 102
    case memoryWindow = 103
    case receiveEndpoint = 104
    case sendEndpoint = 105
    case console = 106
    case addressSpace = 107
    case thread = 108
  }
  /// A thread that has ended, and one blocked in receive on `waitEndpoint`
  /// (deleting that endpoint capability, by the random calls or at the
  /// end, lets it finish).
  static let endedThread: UInt64 = 109
  static let blockedThread: UInt64 = 110
  static let waitEndpoint: UInt64 = 111

  init(codeAddress: UInt64) {
    self.codeAddress = codeAddress
    var slot = InitialSlot.firstSegment
    while case .success = Capabilities.inspect(slot) { slot += 1 }
    initialLimit = slot
  }

  /// Maps the buffer, fills the anchors and starts the two threads;
  /// false when the buffer cannot be had.
  func setUp() -> Bool {
    guard Capabilities.createMemory(Self.bufferSlot, pages: Self.bufferBytes / 4096) == 0,
      Capabilities.map(
        Self.bufferSlot, at: Self.bufferAddress,
        rights: SystemCallRights.read | SystemCallRights.write) == 0
    else { return false }
    Self.fillBuffer()
    replenish()
    _ = Threads.start(slot: Self.endedThread, stackBytes: 8192, endsAtOnce)
    if Capabilities.createEndpoint(Self.waitEndpoint) == 0 {
      _ = Threads.start(
        slot: Self.blockedThread, stackBytes: 8192, argument: Self.waitEndpoint, waitsForever)
    }
    return true
  }

  /// Newlines: what a console write from the buffer prints cannot join
  /// another line, and no module has such a name for a spawn to find.
  static func fillBuffer() {
    UnsafeMutableRawPointer(bitPattern: UInt(bufferAddress))!.initializeMemory(
      as: UInt8.self, repeating: 10, count: Int(bufferBytes))
  }

  /// Puts an object back in each anchor slot that has lost its own.
  func replenish() {
    for anchor in Anchor.allCases {
      let slot = anchor.rawValue
      guard case .failure(.emptySlot) = Capabilities.inspect(slot) else { continue }
      switch anchor {
      case .endpoint: _ = Capabilities.createEndpoint(slot)
      case .readOnlyEndpoint:
        _ = Capabilities.copy(Anchor.endpoint.rawValue, to: slot, rights: SystemCallRights.read)
      case .memory: _ = Capabilities.createMemory(slot, pages: 1)
      case .memoryWindow:
        _ = Endpoints.createMemory(
          Anchor.memory.rawValue, offset: 0, length: 4096, rights: 3, into: slot)
      case .receiveEndpoint: _ = Endpoints.createReceive(slot, slotsLog2: 2, slotSizeLog2: 6)
      case .sendEndpoint:
        _ = Endpoints.mintSend(
          Anchor.receiveEndpoint.rawValue, label: 0xF022, credits: 1, into: slot)
      case .console: _ = Capabilities.copy(InitialSlot.console, to: slot)
      case .addressSpace: _ = Capabilities.copy(InitialSlot.addressSpace, to: slot)
      case .thread: _ = Capabilities.copy(InitialSlot.thread, to: slot)
      }
    }
  }

  /// Revokes and deletes every capability the random calls could reach
  /// (children before parents: revoke first), in every slot they could
  /// have filled (destinations are also drawn far beyond `firstSlot`),
  /// then the buffer.
  func giveBack() {
    var slots: [UInt64] = [InitialSlot.given]
    for slot in firstSlot..<InitialSlot.limit { slots.append(slot) }
    for slot in slots {
      Capabilities.revoke(slot)
      Capabilities.delete(slot)
    }
    Capabilities.delete(Self.bufferSlot)
  }
}

let endsAtOnce: @convention(c) (UInt64) -> Void = { _ in }

let waitsForever: @convention(c) (UInt64) -> Void = { slot in
  _ = IPC.receive(slot)
}
