import UserSystem

/// DTU endpoints from a program: the system calls that create, mint and
/// activate them, and the user-level fast path over an activated one (Core's
/// ChannelSender and ChannelReceiver, compiled into every program): send,
/// fetch, ack and the sleep protocol touch only mapped memory; only a wake
/// (when the receiver said it sleeps) and a block enter the kernel.
enum Endpoints {
  /// A receive endpoint on `node` (`SystemCallCPU.same`: this CPU's node)
  /// with 2^slotsLog2 slots of 2^slotSizeLog2 bytes, in `slot`.
  static func createReceive(
    _ slot: UInt64, node: UInt64 = SystemCallCPU.same, slotsLog2: UInt64, slotSizeLog2: UInt64
  ) -> Int64 {
    System.raw(SystemCallNumber.dtuReceiveCreate.rawValue, [node, slotsLog2, slotSizeLog2, slot])
  }

  /// A send endpoint to the receive endpoint in `receive`, in `slot`; its
  /// receiver answers into the receive endpoint in `replyTo` (0: none).
  static func mintSend(
    _ receive: UInt64, label: UInt64, credits: UInt64, into slot: UInt64, replyTo: UInt64 = 0
  ) -> Int64 {
    System.raw(SystemCallNumber.dtuSendMint.rawValue, [receive, label, credits, slot, replyTo])
  }

  /// What activating an endpoint gives: its ring's config page, where its
  /// slots (a sender: its own channel's) begin, how many bytes of slots
  /// from there, and the channel.
  struct Activation {
    let config: UnsafeMutableRawPointer
    let slots: UnsafeMutableRawPointer
    let slotBytes: Int
    let channel: Int
  }

  /// Maps the endpoint in `slot` and reads its ring's geometry.
  static func activate(_ slot: UInt64) -> Result<Activation, SystemCallError> {
    let (result, out) = System.callWithResults(.dtuActivate, slot)
    guard result > 0, let base = UnsafeMutableRawPointer(bitPattern: UInt(result)) else {
      return .failure(SystemCallError(rawValue: result) ?? .invalidObject)
    }
    guard let layout = try? ReceiveEndpointLayout.read(config: base) else {
      return .failure(.invalidObject)
    }
    let offset = Int(out.1)
    return .success(
      Activation(
        config: base, slots: base + offset,
        slotBytes: layout.ringBytes - (offset - ReceiveEndpointLayout.slotsOffset),
        channel: Int(out.0)))
  }

  /// Maps the receive endpoint in `slot` and attaches a receiver to it.
  static func receiver(_ slot: UInt64) -> Result<ChannelReceiver, SystemCallError> {
    activate(slot).flatMap { ring in
      guard
        let receiver = try? ChannelReceiver(
          config: ring.config, status: ring.config + ReceiveEndpointLayout.statusOffset,
          slots: ring.slots, slotBytes: ring.slotBytes)
      else { return .failure(.invalidObject) }
      return .success(receiver)
    }
  }

  /// Maps the receive endpoint in `slot` and attaches a receiver to it and
  /// a replier for the senders that named a reply endpoint.
  static func receiverAndReplier(_ slot: UInt64) -> Result<
    (ChannelReceiver, ChannelReplier), SystemCallError
  > {
    activate(slot).flatMap { ring in
      guard
        let receiver = try? ChannelReceiver(
          config: ring.config, status: ring.config + ReceiveEndpointLayout.statusOffset,
          slots: ring.slots, slotBytes: ring.slotBytes),
        let replier = ChannelReplier(receiveWindow: ring.config)
      else { return .failure(.invalidObject) }
      return .success((receiver, replier))
    }
  }

  /// Maps the send endpoint in `slot` and attaches a sender to its channel.
  static func sender(_ slot: UInt64) -> Result<ChannelSender, SystemCallError> {
    activate(slot).flatMap { ring in
      guard
        let sender = try? ChannelSender(
          config: ring.config, status: ring.config + ReceiveEndpointLayout.statusOffset,
          slots: ring.slots, slotBytes: ring.slotBytes, channel: ring.channel)
      else { return .failure(.invalidObject) }
      return .success(sender)
    }
  }

  /// The receiver of the send endpoint in `slot` said it sleeps: wake it.
  @discardableResult
  static func wake(_ slot: UInt64) -> Int64 { System.call(.dtuWake, slot) }

  /// A reply to a message of channel `channel` of the receive endpoint in
  /// `slot` found its sender asleep on its reply endpoint: wake it.
  @discardableResult
  static func wakeReplyReceiver(_ slot: UInt64, channel: Int) -> Int64 {
    System.call(.dtuWake, slot, UInt64(channel))
  }

  /// Blocks until the receive endpoint in `slot` has a message (after
  /// `prepareToSleep` said so).
  @discardableResult
  static func wait(_ slot: UInt64) -> Int64 { System.call(.dtuWait, slot) }

  /// A memory endpoint in `slot`: `length` bytes at `offset` of the memory
  /// object in `memory`; rights 1 read, 2 write, 3 both.
  static func createMemory(
    _ memory: UInt64, offset: UInt64, length: UInt64, rights: UInt64, into slot: UInt64
  ) -> Int64 {
    System.raw(
      SystemCallNumber.dtuMemoryCreate.rawValue, [memory, offset, length, rights, slot])
  }

  /// Maps a page-exact memory endpoint; where, or the error.
  static func map(_ slot: UInt64) -> Int64 { System.call(.dtuActivate, slot) }

  /// The command path: `length` bytes at `offset` of the window to or from
  /// `buffer`; the byte count, or the error.
  static func read(
    _ slot: UInt64, offset: UInt64, into buffer: UnsafeMutableRawPointer, length: Int
  )
    -> Int64
  {
    System.raw(
      SystemCallNumber.dtuMemoryRead.rawValue,
      [slot, offset, UInt64(UInt(bitPattern: buffer)), UInt64(length)])
  }

  static func write(_ slot: UInt64, offset: UInt64, from buffer: UnsafeRawPointer, length: Int)
    -> Int64
  {
    System.raw(
      SystemCallNumber.dtuMemoryWrite.rawValue,
      [slot, offset, UInt64(UInt(bitPattern: buffer)), UInt64(length)])
  }

  /// Makes the receive endpoint in `receive` reachable as `name`.
  static func publish(_ receive: UInt64, name: UInt64) -> Int64 {
    System.call(.dtuPublish, receive, name)
  }

  /// A send endpoint in `slot` to the endpoint published as `name` (here,
  /// or in the other kernel instance).
  static func connect(name: UInt64, credits: UInt64, into slot: UInt64, replyTo: UInt64 = 0)
    -> Int64
  {
    System.raw(SystemCallNumber.dtuConnect.rawValue, [name, credits, slot, replyTo])
  }

  /// Takes back every send endpoint bound to the receive endpoint in
  /// `slot`, here and in the other instance: how many (or an error), and
  /// whether this call joined one already running.
  static func revokeSenders(_ slot: UInt64) -> (Int64, joined: Bool) {
    let (result, out) = System.callWithResults(.dtuRevokeSenders, slot)
    return (result, out.0 == 1)
  }

  /// A copy of the send endpoint in `slot` that process `pid` of the other
  /// kernel instance (0: any) can import: its capability ID, or an error.
  static func export(_ slot: UInt64, for pid: UInt64) -> Int64 {
    System.call(.dtuExport, slot, pid)
  }

  /// Imports capability `id` (held by the other instance) into `slot` as a
  /// send endpoint with `credits`: 0, or why not.
  static func importCapability(_ id: UInt64, credits: UInt64, into slot: UInt64) -> Int64 {
    System.call(.dtuImport, id, credits, slot)
  }

  /// Revokes this program's export `id` and everything imported from it,
  /// on both instances: the messages they left unread (or an error), and
  /// whether this call joined a revocation already running.
  static func revokeExport(_ id: UInt64) -> (Int64, joined: Bool) {
    let (result, out) = System.callWithResults(.dtuRevokeExport, id)
    return (result, out.0 == 1)
  }

  /// The NUMA node of `cpu`, and whether this kernel instance runs it.
  static func node(ofCPU cpu: UInt64) -> (node: Int64, ours: Bool) {
    let (result, out) = System.callWithResults(.cpuNode, cpu)
    return (result, out.0 == 1)
  }
}
