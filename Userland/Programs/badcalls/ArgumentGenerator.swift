/// The fuzzer's argument values, drawn by the kind of each argument the ABI
/// (Kernel/Core/UserABI/SystemCall.swift) gives a call: wholly random words
/// almost never name a real slot or a mapped byte, so the kernel's deeper
/// checks would go untested. Every kind mixes values that should work with
/// values just past a limit and values that are plainly wrong.

/// What an argument of a system call is, as far as drawing values goes.
enum ArgumentKind {
  /// A slot read or used in place (copy's source, map, send): the first
  /// three initial slots (console, address space, thread) may be drawn,
  /// never the program's segments, whose copies could be mapped or
  /// windowed and written.
  case slot
  /// A slot only looked at (inspect, threadInfo): any initial slot.
  case inspectedSlot
  /// A slot whose capability the call takes away or changes for good
  /// (delete, revoke, move's source, unmap): never the initial slots this
  /// program needs to keep running.
  case ownedSlot
  /// An empty slot the call fills.
  case destinationSlot
  /// An address the kernel reads.
  case pointer
  /// An address the kernel writes to: never an alias of this program's
  /// own memory in the mapping area.
  case writtenPointer
  /// A page-aligned address to map at or unmap.
  case mapAddress
  /// A byte or page count whose upper bound is `limit`.
  case length(UInt64)
  case rights
  /// A memory endpoint's rights: 1 read, 2 write, 3 both.
  case windowRights
  case pid
  case cpu
  case node
  case priority
  /// A ring geometry's log2 (slot count, slot size).
  case log2
  case credits
  /// A label, a message word, an argument with no rule.
  case word
  /// A dtuPublish / dtuConnect name.
  case name
  /// A capability ID from dtuExport.
  case capabilityID
  /// A byte offset into a memory object or window.
  case offset
  /// A channel of a receive endpoint.
  case channel
}

/// The kinds of a call's arguments; empty for the calls without any.
func argumentKinds(_ number: SystemCallNumber) -> [ArgumentKind] {
  switch number {
  case .exit, .threadExit, .yield, .processInfo: []
  case .consoleWrite: [.pointer, .length(SystemCallLimits.consoleWrite)]
  case .consoleRead: [.writtenPointer, .length(SystemCallLimits.consoleWrite)]
  case .setThreadPointer: [.pointer]
  case .capabilityCopy: [.slot, .destinationSlot, .rights]
  case .capabilityMint: [.slot, .destinationSlot, .rights, .word]
  case .capabilityMove: [.ownedSlot, .destinationSlot]
  case .capabilityDelete, .capabilityRevoke: [.ownedSlot]
  case .capabilityInspect, .threadInfo: [.inspectedSlot]
  case .dtuActivate, .dtuWait, .dtuRevokeSenders: [.slot]
  case .memoryCreate: [.destinationSlot, .length(SystemCallLimits.memoryPages)]
  case .memoryMap: [.slot, .mapAddress, .rights]
  case .memoryUnmap: [.ownedSlot, .mapAddress]
  case .endpointCreate: [.destinationSlot]
  case .threadCreate: [.destinationSlot, .pointer, .pointer, .word, .cpu, .priority]
  case .send, .call: [.slot, .word, .word, .word, .word, .slot]
  case .receive: [.slot, .destinationSlot]
  case .reply: [.word, .word, .word, .word]
  case .replyReceive: [.slot, .word, .word, .word, .word, .destinationSlot]
  case .spawn:
    [
      .pointer, .length(SystemCallLimits.nameLength), .pointer,
      .length(SystemCallLimits.argumentLength), .slot, .cpu,
    ]
  case .wait: [.pid]
  case .threadPriority: [.slot, .priority]
  case .dtuReceiveCreate: [.node, .log2, .log2, .destinationSlot]
  case .dtuSendMint: [.slot, .word, .credits, .destinationSlot, .slot]
  case .dtuWake: [.slot, .channel]
  case .cpuNode: [.cpu]
  case .dtuMemoryCreate: [.slot, .offset, .length(4096), .windowRights, .destinationSlot]
  case .dtuMemoryRead: [.slot, .offset, .writtenPointer, .length(4096)]
  case .dtuMemoryWrite: [.slot, .offset, .pointer, .length(4096)]
  case .dtuPublish: [.slot, .name]
  case .dtuConnect: [.name, .credits, .destinationSlot, .slot]
  case .dtuExport: [.slot, .pid]
  case .dtuImport: [.capabilityID, .credits, .destinationSlot]
  case .dtuRevokeExport: [.capabilityID]
  }
}

/// Draws argument values from a seed: the same seed, the same calls.
struct ArgumentGenerator {
  var random: XorShift
  let targets: FuzzTargets
  let pid: UInt64
  /// IDs dtuExport returned lately (valid, or stale once revoked).
  var exportedIDs: [UInt64] = [0, 0, 0, 0]
  var exportCount = 0
  /// A slot whose capability this program deleted lately.
  var staleSlot: UInt64 = 0

  init(seed: UInt64, targets: FuzzTargets, pid: UInt64) {
    random = XorShift(seed: seed)
    self.targets = targets
    self.pid = pid
  }

  mutating func next() -> UInt64 { random.next() }

  /// A value below `bound` (bound > 0).
  mutating func below(_ bound: UInt64) -> UInt64 { next() % bound }

  mutating func value(_ kind: ArgumentKind) -> UInt64 {
    switch kind {
    case .slot: slot(initial: 4)
    case .inspectedSlot: slot(initial: targets.initialLimit)
    case .ownedSlot: slot(initial: 1)
    case .destinationSlot: slot(initial: 4)
    case .pointer: pointer(written: false)
    case .writtenPointer: pointer(written: true)
    case .mapAddress: mapAddress()
    case .length(let limit): length(limit)
    case .rights: rights()
    case .windowRights: below(8) == 0 ? next() : below(5)
    case .pid: pick([0, 1, pid, pid &+ 1, pid &- 1, below(64), 1 << 32, .max])
    case .cpu: pick([0, 1, 2, 3, below(8), SystemCallCPU.same, 255, 256, 1 << 40])
    case .node: pick([0, 1, 2, 3, SystemCallCPU.same, 4, 99, 1 << 40])
    case .priority: pick([0, 1, 2, 3, 4, 255, .max, next()])
    case .log2: pick([0, 1, 2, 4, 6, 10, below(24), 31, 63, 64, next()])
    case .credits: pick([0, 1, 2, 3, 4, 8, 64, 1 << 20, .max, next()])
    case .word: pick([0, 1, 0xFFFF_FFFF, .max, next(), below(256)])
    case .name: pick([0, 1, 2, below(16), 0x7E57_0000 &+ pid, .max, next()])
    case .capabilityID:
      below(2) == 0 ? exportedIDs[Int(below(4))] : pick([0, 1, .max, next(), 1 << 48])
    case .offset: pick([0, 1, 8, 4095, 4096, 4097, 8192, 1 << 32, .max, .max - 4095, below(8192)])
    case .channel: pick([0, 1, 2, below(64), 1 << 20, 1 << 32, .max])
    }
  }

  mutating func pick(_ values: [UInt64]) -> UInt64 { values[Int(below(UInt64(values.count)))] }

  /// Mostly the slots where this program keeps objects (which may be
  /// empty, or stale after a delete), else the initial ones, the null slot,
  /// empty slots, and numbers around and far beyond the space's limit.
  /// Initial slots are drawn from 1 ..< `initial` (none when it is 1).
  mutating func slot(initial: UInt64) -> UInt64 {
    let limit = InitialSlot.limit
    switch below(16) {
    case 0..<9: return targets.firstSlot + below(targets.slotCount)
    case 9:
      guard initial > 1 else { return targets.firstSlot + below(targets.slotCount) }
      return 1 + below(initial - 1)
    case 10: return 0
    case 11: return InitialSlot.given
    case 12: return pick([limit - 1, limit, limit + 1])
    case 13: return pick([1 << 32, 1 << 63, .max, next()])
    case 14: return 1000 + below(3000)
    default: return staleSlot == 0 ? targets.firstSlot : staleSlot
    }
  }

  /// This program's scratch buffer (inside, at its ends, straddling into
  /// the unmapped page after it), its code (mapped, not writable), the
  /// edges of user space, kernel and non-canonical addresses.
  mutating func pointer(written: Bool) -> UInt64 {
    let buffer = FuzzTargets.bufferAddress
    let end = buffer + FuzzTargets.bufferBytes
    switch below(20) {
    case 0, 1, 2: return buffer + below(FuzzTargets.bufferBytes)
    case 3: return buffer
    case 4: return end - 1
    case 5: return end - 1 - below(16)
    case 6: return end
    case 7: return buffer + 4096 * (1 + below(FuzzTargets.bufferBytes / 4096 - 1)) - below(2)
    case 8: return targets.codeAddress + below(64)
    case 9: return pick([UserSpace.lowest, UserSpace.lowest - 1])
    case 10:
      return pick([UserSpace.highest, UserSpace.highest - below(4096), UserSpace.highest + 1])
    case 11: return pick([0x4010_0000, 0x1000, 0])
    case 12: return 0xFFFF_8000_0000_0000 + below(1 << 30)
    case 13: return 0xFFFF_FFFF_8000_0000 + below(1 << 20)
    case 14: return pick([0x8000_0000_0000_0000, 0x0000_8000_0000_0000, 0x0000_7FFF_FFFF_F000])
    case 15: return UInt64.max - below(16)
    case 16: return written ? buffer : mapAddress()
    case 17: return next()
    default: return UserSpace.lowest + below(UserSpace.highest - UserSpace.lowest)
    }
  }

  /// Page-aligned addresses in an area kept for mappings, with some that
  /// are unaligned, taken, at the top of user space or outside it.
  mutating func mapAddress() -> UInt64 {
    switch below(8) {
    case 0..<5: return FuzzTargets.mapArea + 4096 * below(64)
    case 5: return FuzzTargets.mapArea + below(4096)
    case 6: return pick([FuzzTargets.bufferAddress, targets.codeAddress & ~0xFFF])
    default:
      return pick([
        (UserSpace.highest + 1) - 4096, (UserSpace.highest + 1) - 4096 * 8, UserSpace.highest + 1,
        UserSpace.lowest - 4096, 0xFFFF_8000_0000_0000, 0x8000_0000_0000_0000, 0,
      ])
    }
  }

  /// 0, 1, and around `limit`, a page, and huge values.
  mutating func length(_ limit: UInt64) -> UInt64 {
    pick([
      0, 1, 2, 8, limit - 1, limit, limit + 1, 4095, 4096, 4097, 1 << 32, .max, .max - below(4096),
      below(limit + 2),
    ])
  }

  /// Every mask of the four rights, `same`, undefined bits.
  mutating func rights() -> UInt64 {
    switch below(4) {
    case 0, 1: below(16)
    case 2: pick([SystemCallRights.same, 1 << 4, 1 << 63])
    default: next()
    }
  }

  mutating func remember(exportedID: UInt64) {
    exportedIDs[exportCount % 4] = exportedID
    exportCount += 1
  }
}
