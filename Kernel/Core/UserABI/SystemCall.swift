// The system-call ABI, shared by the kernel and the user library (both
// compile this file).
//
// Registers. A program executes `syscall` with the number in RAX and up to
// six arguments in RDI, RSI, RDX, R10, R8, R9. The result comes back in RAX:
// zero or a positive value on success, a negative SystemCallError on failure.
// Calls that return more than one value (inspect, the IPC receive side) put
// the rest in RDI, RSI, RDX, R10, R8, R9, as the call's comment says. RCX and
// R11 are clobbered by the instruction; every other register is preserved.
//
// Capabilities are named by slot numbers in the caller's capability space;
// slot 0 is never a capability ("none"). Every invalid argument has its own
// error code and no argument value can crash the kernel.
//
// Kernel memory. Each process has a quota of kernel bytes (ProcessQuota):
// capability-table slots, object records, thread stacks, and the frames of
// memory objects it creates are charged to it, and given back when they go.
// A child process's quota is charged to its parent. Running out is
// `quotaExhausted`, never a kernel panic.
//
// IPC. An endpoint carries synchronous messages of four words. `send` and
// `call` block until a receiver takes the message; `call` then waits for the
// reply, which the receiver gives with `reply` or `replyReceive`. A message
// may carry one capability: the sender names a slot whose capability has the
// grant right, the receiver names an empty slot to put the copy in (when that
// slot is 0 or occupied, the message arrives without it and the receiver sees
// slot 0). The receiver learns the label the sender's endpoint capability
// was minted with. Revoking or deleting an endpoint capability aborts the
// IPC blocked through it with `ipcAborted`; so does the death of the partner.

public enum SystemCallNumber: UInt64, CaseIterable {
  /// exit(status): ends the calling process (every thread); never returns.
  case exit = 0
  /// consoleWrite(address, length): writes bytes to the serial console;
  /// returns the count. At most `SystemCallLimits.consoleWrite` bytes.
  case consoleWrite = 1
  /// yield(): gives up the CPU to threads of the same or higher priority.
  case yield = 2
  /// setThreadPointer(address): sets the FS base (thread-local storage).
  case setThreadPointer = 3
  /// processInfo(): returns the process id.
  case processInfo = 4

  /// copy(source, destination, rights): a child capability with `rights`
  /// (`SystemCallRights.same`: the source's). Returns 0.
  case capabilityCopy = 5
  /// mint(source, destination, rights, label): a copy carrying `label`.
  case capabilityMint = 6
  /// move(source, destination).
  case capabilityMove = 7
  /// delete(slot): returns the number of objects destroyed.
  case capabilityDelete = 8
  /// revoke(slot): removes everything derived from it; returns how many
  /// capabilities went.
  case capabilityRevoke = 9
  /// inspect(slot): RAX = object type (ObjectType raw value), RDI = rights,
  /// RSI = label, RDX = 1 when labelled, R10 = the slot it was derived from
  /// in this space (0: an original, or derived from another space's).
  case capabilityInspect = 10

  /// memoryCreate(destination, pages): a memory object of zeroed frames,
  /// charged to the quota. At most `SystemCallLimits.memoryPages` pages.
  case memoryCreate = 11
  /// memoryMap(slot, address, rights): maps the whole object at a
  /// page-aligned address of the caller's address space with `rights`
  /// (read, write, execute; a subset of the capability's; never write and
  /// execute together). Undone when that capability is deleted or revoked.
  case memoryMap = 12
  /// memoryUnmap(slot, address): undoes one mapping made through `slot`.
  case memoryUnmap = 13
  /// endpointCreate(destination): a new IPC endpoint.
  case endpointCreate = 14

  /// threadCreate(destination, entry, stackTop, argument, cpu, priority):
  /// a thread in the caller's process, started at `entry(argument)` on
  /// service CPU `cpu` (`SystemCallCPU.same`: the caller's) with priority
  /// 0...`SystemCallLimits.userPriority`. Returns the thread id.
  case threadCreate = 15
  /// threadExit(): ends the calling thread; the process ends with its last
  /// thread (status 0).
  case threadExit = 16

  /// send(endpoint, w0, w1, w2, w3, transferSlot): needs `write` on the
  /// endpoint. Blocks until received.
  case send = 17
  /// receive(endpoint, receiveSlot): needs `read`. RAX = 0, RDI..R10 = the
  /// words, R8 = the slot the transferred capability landed in (0: none),
  /// R9 = the label of the sender's endpoint capability.
  case receive = 18
  /// call(endpoint, w0, w1, w2, w3, transferSlot): send, then wait for the
  /// reply: RAX = 0, RDI..R10 = the reply's words.
  case call = 19
  /// reply(w0, w1, w2, w3): answers the last call this thread received.
  case reply = 20
  /// replyReceive(endpoint, w0, w1, w2, w3, receiveSlot): reply, then
  /// receive; results as receive.
  case replyReceive = 21

  /// spawn(nameAddress, nameLength, argumentAddress, argumentLength,
  /// giveSlot, cpu): starts the module `name` as a child process on `cpu`
  /// (`SystemCallCPU.same`: the caller's). The child's capability space gets
  /// the initial capabilities (InitialSlot) plus, when `giveSlot` is not 0, a
  /// copy of that capability (which needs grant) in `InitialSlot.given`.
  /// Returns the child's process id.
  case spawn = 22
  /// wait(pid): waits for a child to end; returns its exit status (>= 0),
  /// or `childFaulted` when it was killed by a fault or `kill`.
  case wait = 23
  /// threadPriority(thread, priority): sets the priority (0...userPriority)
  /// of the thread the capability names; needs `write` on it.
  case threadPriority = 24
  /// consoleRead(address, length): waits for console input and copies up
  /// to `length` bytes of it (at least one); returns the count. Needs the
  /// console capability (slot 1) with `read`. Input goes to whoever waits
  /// for it: the shell, or a program it runs in the foreground.
  case consoleRead = 25
  /// threadInfo(thread): needs `read` on the thread capability. RAX = the
  /// thread id, RDI = its state (ThreadStateCode), RSI = its CPU, RDX =
  /// its priority, R10 = 1 while it waits in IPC.
  case threadInfo = 26
  /// dtuReceiveCreate(node, slotCountLog2, slotSizeLog2, slot): a DTU
  /// receive endpoint, its ring of 2^slotCountLog2 slots of 2^slotSizeLog2
  /// bytes in `node`'s ring region (`SystemCallCPU.same` as the node: the
  /// caller's CPU's node), its capability in the empty `slot`.
  case dtuReceiveCreate = 27
  /// dtuSendMint(receive, label, credits, slot, reply): a send endpoint to
  /// the receive endpoint (needs `write` on it): a channel of `credits`
  /// slots (a power of two) whose messages the receiver sees with `label`;
  /// its capability in the empty `slot`. With `reply` (a receive endpoint
  /// of the caller's, needs `read`; 0 for none) the receiver can answer
  /// each message there on the fast path: a channel of it is bound for the
  /// replies, and mapped into the receiver (`ChannelReplier`).
  case dtuSendMint = 28
  /// dtuActivate(endpoint): maps a receive endpoint (needs `read`) or send
  /// endpoint (needs `write`) into the caller for the user-level fast path;
  /// RAX = where its ring is mapped, RDI = the channel (send) or 0.
  case dtuActivate = 29
  /// dtuWake(send) or dtuWake(receive, channel): the receiver of this
  /// send endpoint, or of the reply endpoint of this channel of the
  /// receive endpoint, said it sleeps: wake it (the program calls this only
  /// when a send or a reply told it to).
  case dtuWake = 30
  /// dtuWait(receive): blocks until the receive endpoint has a message
  /// (returns at once when it has one) or a sender wakes it.
  case dtuWait = 31
  /// cpuNode(cpu): RAX = the NUMA node of `cpu`, RDI = 1 when it is a CPU
  /// of the caller's kernel instance; `badCPU` when there is no such CPU.
  case cpuNode = 32
  /// dtuMemoryCreate(memory, offset, length, rights, slot): a memory
  /// endpoint: a window of `length` bytes at `offset` into the memory
  /// object (needs its `read`, and `write` for a writable window); rights
  /// 1 read, 2 write, 3 both. Its capability goes in the empty `slot`.
  case dtuMemoryCreate = 33
  /// dtuMemoryRead(endpoint, offset, address, length): copies window bytes
  /// to the caller's memory after the bounds and rights check (the command
  /// path: any window; dtuActivate maps only page-exact ones).
  case dtuMemoryRead = 34
  /// dtuMemoryWrite(endpoint, offset, address, length): the other way.
  case dtuMemoryWrite = 35
  /// dtuPublish(receive, name): makes the receive endpoint (needs `write`)
  /// reachable by `dtuConnect` under the number `name` (not 0), from this
  /// kernel instance and the other.
  case dtuPublish = 36
  /// dtuConnect(name, credits, slot, reply): a send endpoint to the
  /// receive endpoint published as `name`, in this instance or in the
  /// other; its receiver sees the label instance << 32 | the connecting
  /// process's pid. `reply` as for dtuSendMint (the reply endpoint is the
  /// caller's, in this instance, also when the receiver is in the other).
  case dtuConnect = 37
  /// dtuRevokeSenders(receive): takes back every send endpoint bound to the
  /// receive endpoint (needs `write`), with every capability to it wherever
  /// it was copied, in this instance and in the other: two-phase there
  /// (this kernel revokes the channel, the other deactivates its side and
  /// answers). Returns when all are gone: RAX = how many, RDI = 1 when it
  /// joined a revocation of the same endpoint already running.
  case dtuRevokeSenders = 38
  /// dtuExport(send, pid): makes the send endpoint in `send` (one minted
  /// or connected here, or one imported) delegable to process `pid` of the
  /// other kernel instance (0: any of its processes): RAX = a 64-bit
  /// capability ID (kernel << 48 | generation << 16 | record) naming a new
  /// child of it, for `dtuImport` there. It dies with the send endpoint, or
  /// with `dtuRevokeExport`.
  case dtuExport = 39
  /// dtuImport(id, credits, slot): asks the other kernel instance, which
  /// holds capability `id`, for a copy (its kernel-to-kernel delegation);
  /// installs it in `slot` as a send endpoint with `credits` and the label
  /// the capability carries. Revoking `id` or an ancestor, on either
  /// instance, takes it back.
  case dtuImport = 40
  /// dtuRevokeExport(id): revokes the exported capability `id` (the
  /// caller's) and everything imported from it, on both instances, in the
  /// two-phase protocol. Returns when all of them are deactivated: RAX =
  /// the messages they left unread, RDI = 1 when it joined a revocation of
  /// it that was already running.
  case dtuRevokeExport = 41

  public var name: String {
    switch self {
    case .exit: "exit"
    case .consoleWrite: "consoleWrite"
    case .yield: "yield"
    case .setThreadPointer: "setThreadPointer"
    case .processInfo: "processInfo"
    case .capabilityCopy: "capabilityCopy"
    case .capabilityMint: "capabilityMint"
    case .capabilityMove: "capabilityMove"
    case .capabilityDelete: "capabilityDelete"
    case .capabilityRevoke: "capabilityRevoke"
    case .capabilityInspect: "capabilityInspect"
    case .memoryCreate: "memoryCreate"
    case .memoryMap: "memoryMap"
    case .memoryUnmap: "memoryUnmap"
    case .endpointCreate: "endpointCreate"
    case .threadCreate: "threadCreate"
    case .threadExit: "threadExit"
    case .send: "send"
    case .receive: "receive"
    case .call: "call"
    case .reply: "reply"
    case .replyReceive: "replyReceive"
    case .spawn: "spawn"
    case .wait: "wait"
    case .threadPriority: "threadPriority"
    case .consoleRead: "consoleRead"
    case .threadInfo: "threadInfo"
    case .dtuReceiveCreate: "dtuReceiveCreate"
    case .dtuSendMint: "dtuSendMint"
    case .dtuActivate: "dtuActivate"
    case .dtuWake: "dtuWake"
    case .dtuWait: "dtuWait"
    case .cpuNode: "cpuNode"
    case .dtuMemoryCreate: "dtuMemoryCreate"
    case .dtuMemoryRead: "dtuMemoryRead"
    case .dtuMemoryWrite: "dtuMemoryWrite"
    case .dtuPublish: "dtuPublish"
    case .dtuConnect: "dtuConnect"
    case .dtuRevokeSenders: "dtuRevokeSenders"
    case .dtuExport: "dtuExport"
    case .dtuImport: "dtuImport"
    case .dtuRevokeExport: "dtuRevokeExport"
    }
  }
}

public enum SystemCallError: Int64, CaseIterable, Error {
  case unknownSystemCall = -1
  /// A pointer argument is not mapped for the user, or not writable where written.
  case badAddress = -2
  /// A length or count argument is out of range.
  case badLength = -3
  /// An address argument is outside user space (non-canonical, kernel half).
  case notUserAddress = -4
  /// A slot number at or beyond the capability space's limit.
  case invalidSlot = -5
  /// Slot 0, which never holds a capability.
  case nullSlot = -6
  /// The slot holds no capability.
  case emptySlot = -7
  /// The destination slot already holds a capability.
  case slotOccupied = -8
  /// A move of a slot onto itself.
  case sameSlot = -9
  /// The capability lacks a right the call needs.
  case missingRights = -10
  /// A copy or mint asked for rights the source does not have.
  case rightsEscalation = -11
  /// Rights bits that name no right.
  case undefinedRights = -12
  /// A mint of a capability that already has a label.
  case alreadyLabelled = -13
  /// The capability names another kind of object than the call needs.
  case wrongType = -14
  /// The process's kernel-memory quota cannot cover the call.
  case quotaExhausted = -15
  /// No free slot left in a capability space.
  case spaceFull = -16
  /// A kernel table (spaces, objects, capabilities) is full.
  case kernelTableFull = -17
  /// The service partition has no frames left.
  case outOfMemory = -18
  /// An address that must be page aligned is not.
  case badAlignment = -19
  /// A mapping would overlap an existing one, or leave user space.
  case alreadyMapped = -20
  /// No mapping made through this capability at this address.
  case notMapped = -21
  /// Not a running service CPU.
  case badCPU = -22
  /// A priority above `SystemCallLimits.userPriority`.
  case badPriority = -23
  /// reply without a call waiting for it.
  case noReplyPending = -24
  /// The IPC was aborted: endpoint capability revoked, endpoint destroyed,
  /// or the partner died.
  case ipcAborted = -25
  /// No boot module by that name.
  case noSuchModule = -26
  /// The module is not a valid program (or could not be loaded).
  case badModule = -27
  /// wait for a process that is not a live child of the caller.
  case noSuchChild = -28
  /// The child waited for was killed by a fault or `kill`.
  case childFaulted = -29
  /// A capability space or object type the kernel does not know.
  case invalidObject = -30
  /// A mapping asked to be writable and executable at once (W^X).
  case writeAndExecute = -31
  /// An LWK program's call that is shipped to the service partition got no
  /// answer: the service refused it, did not answer in time, or the caller
  /// is being killed.
  case shippingFailed = -32
  /// A DTU ring geometry (slot count, slot size) or credit count outside
  /// what a receive endpoint allows.
  case badGeometry = -33
  /// No DTU on that NUMA node (it has no ring region).
  case noSuchNode = -34
  /// Every channel of the receive endpoint is bound to a send endpoint.
  case noFreeChannel = -35
  /// The endpoint's receive side is gone: the send endpoint reaches nothing.
  case endpointRevoked = -36
  /// An access, or a window, that does not fit inside its memory endpoint
  /// (or memory object).
  case outOfWindow = -37
  /// No receive endpoint is published under that name (or it is taken).
  case noSuchName = -38
  /// The capability ID names no capability (never made, or revoked), or
  /// one that is not the caller's to revoke.
  case noSuchCapability = -39
  /// The other kernel instance failed: what crossed to it is gone (a
  /// receive endpoint whose only senders were there has none left).
  case otherInstanceFailed = -40

  public var name: String {
    switch self {
    case .unknownSystemCall: "unknown system call"
    case .badAddress: "bad address"
    case .badLength: "bad length"
    case .notUserAddress: "not a user address"
    case .invalidSlot: "invalid slot"
    case .nullSlot: "null slot"
    case .emptySlot: "empty slot"
    case .slotOccupied: "slot occupied"
    case .sameSlot: "same slot"
    case .missingRights: "missing rights"
    case .rightsEscalation: "rights escalation"
    case .undefinedRights: "undefined rights"
    case .alreadyLabelled: "already labelled"
    case .wrongType: "wrong type"
    case .quotaExhausted: "quota exhausted"
    case .spaceFull: "space full"
    case .kernelTableFull: "kernel table full"
    case .outOfMemory: "out of memory"
    case .badAlignment: "bad alignment"
    case .alreadyMapped: "already mapped"
    case .notMapped: "not mapped"
    case .badCPU: "bad CPU"
    case .badPriority: "bad priority"
    case .noReplyPending: "no reply pending"
    case .ipcAborted: "IPC aborted"
    case .noSuchModule: "no such module"
    case .badModule: "bad module"
    case .noSuchChild: "no such child"
    case .childFaulted: "child faulted"
    case .invalidObject: "invalid object"
    case .shippingFailed: "shipping failed"
    case .badGeometry: "bad ring geometry or credits"
    case .noSuchNode: "no DTU on that node"
    case .noFreeChannel: "no free channel"
    case .endpointRevoked: "endpoint revoked"
    case .outOfWindow: "outside the window"
    case .noSuchName: "no endpoint published under that name"
    case .noSuchCapability: "no such capability"
    case .otherInstanceFailed: "the other kernel instance failed"
    case .writeAndExecute: "write and execute"
    }
  }
}

public enum SystemCallLimits {
  public static let consoleWrite: UInt64 = 4096
  /// The most pages one memoryCreate may ask for (4 MiB).
  public static let memoryPages: UInt64 = 1024
  /// The highest priority a user thread may have (the shell runs above it).
  public static let userPriority: UInt64 = 2
  /// Module names and spawn arguments.
  public static let nameLength: UInt64 = 64
  public static let argumentLength: UInt64 = 255
}

/// threadInfo's state codes.
public enum ThreadStateCode: UInt64 {
  case ready = 0
  case running = 1
  case blocked = 2
  case dead = 3
}

/// `rights` arguments: the generic bits (as Rights in Capability.swift).
public enum SystemCallRights {
  public static let read: UInt64 = 1 << 0
  public static let write: UInt64 = 1 << 1
  public static let execute: UInt64 = 1 << 2
  public static let grant: UInt64 = 1 << 3
  /// copy and mint: keep the source's rights.
  public static let same: UInt64 = .max
}

public enum SystemCallCPU {
  /// threadCreate and spawn: the caller's CPU.
  public static let same: UInt64 = .max
}

/// The capabilities every process starts with, by slot. Memory
/// capabilities for its segments follow from `firstSegment` up, one per
/// segment in program-header order, then one for the stack.
public enum InitialSlot {
  public static let console: UInt64 = 1
  public static let addressSpace: UInt64 = 2
  public static let thread: UInt64 = 3
  /// What the parent gave at spawn (empty otherwise).
  public static let given: UInt64 = 4
  public static let firstSegment: UInt64 = 5
  /// Slots a process may use: 1 ..< limit.
  public static let limit: UInt64 = 4096
}

/// Where user programs live: PML4 slots 1 to 127 (the kernel keeps slot 0
/// for its image and slots 128 and up for the direct map).
public enum UserSpace {
  public static let lowest: UInt64 = 0x0000_0080_0000_0000
  public static let highest: UInt64 = 0x0000_3FFF_FFFF_FFFF
  /// The top of the first thread's stack.
  public static let stackTop: UInt64 = 0x0000_3FFF_FFFF_0000

  public static func contains(_ address: UInt64, length: UInt64) -> Bool {
    guard address >= lowest, address <= highest else { return false }
    let (end, overflow) = address.addingReportingOverflow(length)
    return !overflow && end <= highest + 1
  }
}
