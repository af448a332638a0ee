import X86

/// This instance's software DTUs, one per NUMA node: each node's endpoint
/// table (Core's `EndpointTable`, what `eps` lists), and the operations the
/// DTU system calls run on endpoint objects: place a ring, bind a channel,
/// map an endpoint for the fast path, wake and block, and tear it all down
/// when capabilities go. Everything here runs under KernelLock.
enum DTU {
  /// Board number of this machine (the multi-board fabric will number more).
  static let board: UInt16 = 0

  nonisolated(unsafe) static var tables: [EndpointTable] = []
  /// Since boot: wake calls that woke a sleeper, dtuWait calls that slept,
  /// messages found unread at revocation.
  nonisolated(unsafe) static var wakes: UInt64 = 0
  nonisolated(unsafe) static var sleeps: UInt64 = 0
  nonisolated(unsafe) static var unreadAtRevoke: UInt64 = 0

  /// One table per node that has a ring region.
  static func start() {
    tables = NodeRings.regions.map { EndpointTable(board: board, node: UInt16($0.node)) }
    if !NodeRings.regions.isEmpty { sinkFrame = NodeRings.regions[0].pages.allocate(pages: 1) }
    EndpointDelegation.start()
  }

  static func tableIndex(node: Int) -> Int? {
    tables.firstIndex { Int($0.node) == node }
  }

  // MARK: creating

  /// A receive endpoint on `node`: 2^k slots of 2^m bytes in this
  /// instance's half of the node's ring region, split into equal channels
  /// (at most 32, each at least a page).
  static func createReceive(node: Int, slotCountLog2: Int, slotSizeLog2: Int, owner: UInt64)
    -> Result<ReceiveEndpoint, SystemCallError>
  {
    guard let region = NodeRings.region(ofNode: node), let table = tableIndex(node: node) else {
      return .failure(.noSuchNode)
    }
    let (physical, pages, control): (UInt64, Int, ReceiveEndpointControl)
    switch NodeRings.newRing(node: node, slotCountLog2: slotCountLog2, slotSizeLog2: slotSizeLog2) {
    case .success(let ring): (physical, pages, control) = ring
    case .failure(let error): return .failure(error)
    }
    let id: EndpointAddress
    do throws(EndpointTableError) {
      id = try tables[table].allocate()
      try tables[table].configure(
        id,
        .receive(
          ReceiveEndpointConfiguration(
            ringAddress: physical, slotCountLog2: UInt8(slotCountLog2),
            slotSizeLog2: UInt8(slotSizeLog2), channels: UInt8(control.layout.channelCount),
            owner: owner)))
    } catch {
      NodeRings.regions[region].pages.free(physical, pages: pages)
      return .failure(.outOfMemory)
    }
    return .success(
      ReceiveEndpoint(node: node, id: id, physical: physical, pages: pages, control: control))
  }

  /// The label of a channel bound by `dtuConnect`: the connecting
  /// program's instance (0 service, 1 LWK) and pid.
  static func connectLabel(instance: UInt64, pid: UInt64) -> UInt64 { instance << 32 | pid }

  /// A send endpoint to `target`: its next free channel, bound with
  /// `label`; `credits` slots of the channel (a power of two, at least a
  /// page of slots, at most the channel). With `replyTo`, a channel of that
  /// endpoint is bound for the receiver's replies (as many credits as fit,
  /// up to `credits`) and mapped into the receiver's reply windows before
  /// the request channel's record names it.
  static func mintSend(
    to target: ReceiveEndpoint, label: UInt64, credits: Int, owner: UInt64,
    replyTo replyEndpoint: ReceiveEndpoint? = nil, remoteReply: RemoteSendEndpoint? = nil
  ) -> Result<SendEndpoint, SystemCallError> {
    let layout = target.layout
    let perChannel = layout.slotCount / layout.channelCount
    guard credits > 0, credits & (credits - 1) == 0, credits >= layout.slotsPerPage,
      credits <= perChannel
    else { return .failure(.badGeometry) }
    guard !target.destroyed, let table = tableIndex(node: target.node) else {
      return .failure(.endpointRevoked)
    }
    var reply: SendEndpoint? = nil
    if let replyEndpoint {
      switch bindReplyChannel(replyEndpoint, label: label, credits: credits, owner: owner) {
      case .success(let bound): reply = bound
      case .failure(let error): return .failure(error)
      }
    }
    let channel: Int
    let id: EndpointAddress
    do throws(EndpointTableError) {
      channel = Int(try tables[table].attachChannel(to: target.id))
      id = try tables[table].allocate()
      try tables[table].configure(
        id,
        .send(
          SendEndpointConfiguration(
            target: target.id, channel: UInt8(channel), label: label, credits: UInt32(credits),
            maxMessageSize: UInt32(layout.slotSize), owner: owner)))
    } catch {
      if let reply { destroy(reply) }
      return .failure(.noFreeChannel)  // or the node's table is full
    }
    let send = SendEndpoint(
      target: target, channel: channel, label: label, credits: credits, id: id)
    func undo(_ error: SystemCallError) -> Result<SendEndpoint, SystemCallError> {
      if let reply { destroy(reply) }
      _ = try? tables[table].detachChannel(UInt8(channel), from: target.id)
      _ = try? tables[table].free(id)
      return .failure(error)
    }
    send.reply = reply
    send.remoteReply = remoteReply
    if reply != nil || remoteReply != nil {
      for activation in target.mappings {
        guard mapReplyWindow(of: send, into: activation, channel: channel) else {
          if let remoteReply { unmap(&remoteReply.mappings, through: nil) }
          return undo(.outOfMemory)
        }
      }
    }
    do throws(ReceiveEndpointError) {
      try target.control.setChannel(
        channel, label: label, firstSlot: target.firstSlot(of: channel), slotCount: credits,
        replyChannel: reply?.channel ?? remoteReply?.channel)
    } catch {
      if let remoteReply { unmap(&remoteReply.mappings, through: nil) }
      return undo(.noFreeChannel)  // the channel is still draining
    }
    target.channels[channel] = send
    return .success(send)
  }

  /// A channel of `endpoint` for the replies to a send endpoint with
  /// `label` and `credits`: as many credits as fit, up to `credits`.
  static func bindReplyChannel(
    _ endpoint: ReceiveEndpoint, label: UInt64, credits: Int, owner: UInt64
  ) -> Result<SendEndpoint, SystemCallError> {
    let layout = endpoint.layout
    let fits = min(max(credits, layout.slotsPerPage), layout.slotCount / layout.channelCount)
    return mintSend(to: endpoint, label: label, credits: fits, owner: owner).map {
      $0.isReplyChannel = true
      return $0
    }
  }

  // MARK: mapping

  /// The next free 2 MiB window of `space` for an activation.
  static func window(in space: AddressSpace) -> UInt64? {
    for index in 0..<EndpointWindows.count {
      let address = EndpointWindows.base + index * EndpointWindows.stride
      if space.translate(address) == nil && space.translate(address + 0x1000) == nil {
        return address
      }
    }
    return nil
  }

  /// Maps `pages` pages from `physical` at `address` with `flags`; false
  /// (and nothing left mapped) when the page tables cannot grow.
  static func map(
    _ space: AddressSpace, _ address: UInt64, _ physical: UInt64, pages: Int, _ flags: PageFlags
  ) -> Bool {
    for page in 0..<pages {
      let offset = UInt64(page) * 4096
      if case .failure = space.map(
        address + offset, to: physical + offset, size: .small, flags: flags)
      {
        space.unmapRange(address, pages: UInt64(page))
        return false
      }
    }
    return true
  }

  /// A receive endpoint for its receiver: config page read-only, status
  /// page writable (its consumed counts and sleeping flag), every slot
  /// read-only. Returns where.
  static func activate(
    _ endpoint: ReceiveEndpoint, in space: AddressSpace, through capability: CapabilityID
  ) -> Result<UInt64, SystemCallError> {
    guard let address = window(in: space) else { return .failure(.outOfMemory) }
    let readOnly: PageFlags = [.present, .user, .noExecute]
    let writable: PageFlags = [.present, .user, .writable, .noExecute]
    let slotPages = endpoint.layout.ringBytes / 4096
    guard map(space, address, endpoint.physical, pages: 1, readOnly),
      map(space, address + 0x1000, endpoint.physical + 0x1000, pages: 1, writable),
      map(space, address + 0x2000, endpoint.physical + 0x2000, pages: slotPages, readOnly)
    else {
      space.unmapRange(address, pages: UInt64(2 + slotPages))
      return .failure(.outOfMemory)
    }
    let activation = DTUMapping(
      capability: capability, space: space, address: address, pages: 2 + slotPages)
    endpoint.mappings.append(activation)
    for channel in endpoint.channels.indices {
      if let send = endpoint.channels[channel], send.reply != nil || send.remoteReply != nil,
        !mapReplyWindow(of: send, into: activation, channel: channel)
      {
        unmap(endpoint, through: capability)
        return .failure(.outOfMemory)
      }
    }
    activateInTable(endpoint.node, endpoint.id)
    return .success(address)
  }

  /// Maps the reply channel of `send` (channel `channel`) into the
  /// receiver activated as `activation`: one of this instance's rings, or
  /// of the other's.
  private static func mapReplyWindow(
    of send: SendEndpoint, into activation: DTUMapping, channel: Int
  ) -> Bool {
    if let reply = send.reply, let run = reply.run {
      guard
        mapReplyWindow(
          ring: reply.target.physical, run: run, into: activation, channel: channel,
          recording: &reply.mappings)
      else { return false }
      activateInTable(reply.target.node, reply.id)
      return true
    }
    if let remote = send.remoteReply {
      return mapReplyWindow(
        ring: remote.ring, run: remote.run, into: activation, channel: channel,
        recording: &remote.mappings)
    }
    return false
  }

  /// Maps `run` of the ring at `ring` into the receiver activated as
  /// `activation`, at the reply window of request channel `channel`: the
  /// reply ring's config and status pages read-only, the channel's run
  /// writable, and every other page of the window's first
  /// `EndpointWindows.replyMappedBytes` to the sink, so nothing a replier
  /// does inside them can fault (`ChannelReplier`). False when the page
  /// tables cannot grow (nothing of the window is left mapped then).
  private static func mapReplyWindow(
    ring: UInt64, run: ChannelRun, into activation: DTUMapping, channel: Int,
    recording mappings: inout [DTUMapping]
  ) -> Bool {
    guard
      let window = EndpointWindows.replyWindow(
        receiveWindow: activation.address, channel: channel),
      let sink = sinkFrame
    else { return false }
    let space = activation.space
    let pages = EndpointWindows.replyMappedBytes / 4096
    // What an earlier binding of this channel left there (the sink).
    space.unmapRange(window, pages: UInt64(pages))
    let runPages = run.byteOffset..<(run.byteOffset + run.byteCount)
    for page in 0..<pages {
      let offset = page * 4096
      var flags: PageFlags = [.present, .user, .noExecute]
      var frame = sink
      if offset < ReceiveEndpointLayout.slotsOffset {
        frame = ring + UInt64(offset)
      } else {
        flags.insert(.writable)
        if runPages.contains(offset) { frame = ring + UInt64(offset) }
      }
      if case .failure = space.map(
        window + UInt64(offset), to: frame, size: .small, flags: flags)
      {
        space.unmapRange(window, pages: UInt64(page))
        return false
      }
    }
    mappings.append(
      DTUMapping(capability: activation.capability, space: space, address: window, pages: pages))
    return true
  }

  /// Unmaps a receive endpoint's activations through capability `id` (nil:
  /// all), with the reply windows that belong to them.
  static func unmap(_ endpoint: ReceiveEndpoint, through id: CapabilityID?) {
    unmap(&endpoint.mappings, through: id)
    for send in endpoint.channels {
      if let reply = send?.reply { unmap(&reply.mappings, through: id) }
      if let remote = send?.remoteReply { unmap(&remote.mappings, through: id) }
    }
  }

  /// A send endpoint for its sender: the config and status pages
  /// read-only, its own channel's slots writable, nothing of any other
  /// channel. Returns where the ring is (its slots at the run's offset).
  static func activate(
    _ endpoint: SendEndpoint, in space: AddressSpace, through capability: CapabilityID
  ) -> Result<(address: UInt64, run: ChannelRun), SystemCallError> {
    guard let run = endpoint.run else { return .failure(.endpointRevoked) }
    guard
      let address = mapSenderWindow(
        ring: endpoint.target.physical, run: run, in: space, through: capability,
        into: &endpoint.mappings)
    else { return .failure(.outOfMemory) }
    activateInTable(endpoint.target.node, endpoint.id)
    return .success((address, run))
  }

  /// A sender's view of the ring at `ring`: the config and status pages
  /// read-only, its channel's run writable, both recorded in `mappings`.
  /// nil when the address space has no room.
  private static func mapSenderWindow(
    ring: UInt64, run: ChannelRun, in space: AddressSpace, through capability: CapabilityID,
    into mappings: inout [DTUMapping]
  ) -> UInt64? {
    guard let address = window(in: space) else { return nil }
    let readOnly: PageFlags = [.present, .user, .noExecute]
    let writable: PageFlags = [.present, .user, .writable, .noExecute]
    let runAddress = address + UInt64(run.byteOffset)
    guard map(space, address, ring, pages: 2, readOnly),
      map(space, runAddress, ring + UInt64(run.byteOffset), pages: run.pageCount, writable)
    else {
      space.unmapRange(address, pages: 2)
      return nil
    }
    mappings.append(DTUMapping(capability: capability, space: space, address: address, pages: 2))
    mappings.append(
      DTUMapping(capability: capability, space: space, address: runAddress, pages: run.pageCount))
    return address
  }

  private static func activateInTable(_ node: Int, _ id: EndpointAddress) {
    guard let table = tableIndex(node: node), let entry = try? tables[table].lookup(id),
      !entry.active, let owner = entry.configuration?.owner
    else { return }
    _ = try? tables[table].activate(id, for: owner)
  }

  /// Unmaps what capability `id` mapped (nil: everything), everywhere;
  /// unmapRange shoots the TLB entries down on every CPU. With `sink`, the
  /// pages are mapped again, writable, to one scratch frame that nobody
  /// reads: a sender whose endpoint is revoked while it sends neither
  /// faults nor reaches the receiver, and its library, reading the config
  /// page from the sink, sees the channel inactive.
  static func unmap(_ mappings: inout [DTUMapping], through id: CapabilityID?, sink: Bool = false) {
    var kept: [DTUMapping] = []
    for mapping in mappings {
      if id == nil || mapping.capability == id {
        mapping.space.unmapRange(mapping.address, pages: UInt64(mapping.pages))
        if sink, let frame = sinkFrame {
          for page in 0..<UInt64(mapping.pages) {
            _ = mapping.space.map(
              mapping.address + page * 4096, to: frame, size: .small,
              flags: [.present, .user, .writable, .noExecute])
          }
        }
      } else {
        kept.append(mapping)
      }
    }
    mappings = kept
  }

  /// The page revoked senders' pages are mapped to: the first page of
  /// this instance's half of the first ring region, taken at start and
  /// never given back (its contents mean nothing).
  nonisolated(unsafe) static var sinkFrame: UInt64? = nil

  // MARK: waking and blocking

  /// dtuWake for a reply: wakes the receiver of the reply endpoint of
  /// `endpoint`'s channel `channel`, here, or (the ring it returns) in the
  /// other instance, whose kernel is asked outside the lock.
  static func wakeReplyReceiver(_ endpoint: ReceiveEndpoint, channel: Int) -> Result<
    UInt64?, SystemCallError
  > {
    guard channel >= 0, channel < endpoint.channels.count, let send = endpoint.channels[channel]
    else { return .failure(.endpointRevoked) }
    if let remote = send.remoteReply { return .success(remote.ring) }
    guard let reply = send.reply, !reply.target.destroyed else {
      return .failure(.endpointRevoked)
    }
    wake(reply.target)
    return .success(nil)
  }

  /// dtuWake: the receiver said it sleeps; only the first waker finds the
  /// flag set and makes it runnable.
  static func wake(_ endpoint: ReceiveEndpoint) {
    guard endpoint.control.wake() else { return }
    wakes &+= 1
    endpoint.wakes &+= 1
    if let waiter = endpoint.waiter {
      endpoint.waiter = nil
      Scheduler.wake(waiter)
    }
  }

  // MARK: tearing down

  /// A send endpoint's last capability went: unmapped everywhere first, so
  /// nothing more can be published; then its channel is revoked (what is
  /// unread stays readable up to the accepted limit) and its table entry
  /// freed; then its reply channel goes the same way. The request channel
  /// is revoked before the reply windows change, which `ChannelReplier`
  /// relies on. A reply channel (no capability names it) goes here too.
  static func destroy(_ endpoint: SendEndpoint) {
    unmap(&endpoint.mappings, through: nil, sink: true)
    let target = endpoint.target
    var unread: UInt64 = 0
    if target.channels[endpoint.channel] === endpoint { target.channels[endpoint.channel] = nil }
    if !target.destroyed {
      unread = (try? target.control.revokeChannel(endpoint.channel)) ?? 0
      // Drained already (the usual case): the channel can be bound again.
      // Otherwise it stays taken, its messages readable up to the limit.
      if (try? target.control.retireChannel(endpoint.channel)) != nil,
        let table = tableIndex(node: target.node)
      {
        _ = try? tables[table].detachChannel(UInt8(endpoint.channel), from: target.id)
      }
    }
    endpoint.unreadAtRevoke = unread
    unreadAtRevoke &+= unread
    if let table = tableIndex(node: target.node) {
      _ = try? tables[table].invalidate(
        endpoint.id, messages: UInt32(min(unread, 0xFFFF)), force: true)
      _ = try? tables[table].free(endpoint.id)
    }
    if let reply = endpoint.reply {
      endpoint.reply = nil
      destroy(reply)
    }
    if let remote = endpoint.remoteReply {
      // The other kernel revokes that channel once this release answers.
      endpoint.remoteReply = nil
      unmap(&remote.mappings, through: nil, sink: true)
    }
    freeRingIfUnused(target)
    if let record = endpoint.record { EndpointDelegation.endpointGone(record, unread: unread) }
  }

  /// A receive endpoint's last capability went: every sender's channel is
  /// revoked with it, the ring unmapped, and its pages given back (no one
  /// can reach them any more: each send endpoint keeps its target alive
  /// only as an object, and is revoked here). A sender's pages go to the
  /// sink, so one that sends meanwhile neither faults nor arrives; its
  /// reply channel goes with the windows it had here. A channel bound for
  /// another receiver's replies is only revoked: that receiver keeps its
  /// mapping, and the ring its pages, until the send endpoint it answers
  /// goes.
  static func destroy(_ endpoint: ReceiveEndpoint) {
    unmap(endpoint, through: nil)
    for channel in endpoint.channels.indices {
      guard let send = endpoint.channels[channel] else { continue }
      if send.isReplyChannel {
        _ = try? endpoint.control.revokeChannel(channel)
        continue
      }
      unmap(&send.mappings, through: nil, sink: true)
      if let reply = send.reply {
        send.reply = nil
        destroy(reply)
      }
      if let remote = send.remoteReply { unmap(&remote.mappings, through: nil, sink: true) }
    }
    if let waiter = endpoint.waiter {
      endpoint.waiter = nil
      waiter.userFrame.pointee.rax = UInt64(bitPattern: SystemCallError.ipcAborted.rawValue)
      Scheduler.wake(waiter)
    }
    if let table = tableIndex(node: endpoint.node) {
      _ = try? tables[table].invalidate(endpoint.id, messages: 0, force: true)
      _ = try? tables[table].free(endpoint.id)
    }
    endpoint.destroyed = true
    published.removeAll { $0 === endpoint }
    // Senders of the other instance still map the ring: their channels are
    // revoked (they see "inactive"), and the pages wait for their release.
    for send in endpoint.remoteSenders {
      _ = try? endpoint.control.revokeChannel(send.channel)
    }
    if !endpoint.remoteSenders.isEmpty || endpoint.replyBindings > 0 { lingering.append(endpoint) }
    freeRingIfUnused(endpoint)
  }

  /// Gives a destroyed endpoint's ring back once no sender of the other
  /// instance and no replier maps it any more.
  static func freeRingIfUnused(_ endpoint: ReceiveEndpoint) {
    guard endpoint.destroyed, !endpoint.ringFreed, endpoint.remoteSenders.isEmpty,
      endpoint.replyBindings == 0
    else { return }
    endpoint.ringFreed = true
    lingering.removeAll { $0 === endpoint }
    if let region = NodeRings.region(ofNode: endpoint.node) {
      NodeRings.regions[region].pages.free(endpoint.physical, pages: endpoint.pages)
    }
  }

  // MARK: taking back a receive endpoint's senders (dtuRevokeSenders)

  /// The first phase, under KernelLock: every capability to this
  /// instance's senders goes, wherever it was copied (so they are destroyed:
  /// unmapped to the sink, channels revoked); each sender of the other
  /// instance has its channel revoked here (nothing it publishes from now
  /// on is accepted) and its reply windows sent to the sink, and is handed
  /// back for its kernel to deactivate. How many of this instance's.
  static func revokeSenders(of endpoint: ReceiveEndpoint) -> (local: Int, remote: [SendEndpoint]) {
    var local = 0
    for case let send? in endpoint.channels
    where !send.isReplyChannel && !endpoint.remoteSenders.contains(where: { $0 === send }) {
      guard let object = send.object else { continue }
      ProcessCapabilities.system.removeAll(of: object, into: &KernelObjects.scratch)
      local += 1
    }
    _ = KernelObjects.applyScratch()
    for send in endpoint.remoteSenders {
      unreadAtRevoke &+= (try? endpoint.control.revokeChannel(send.channel)) ?? 0
      if let remote = send.remoteReply { unmap(&remote.mappings, through: nil, sink: true) }
    }
    return (local, endpoint.remoteSenders)
  }

  /// The last phase, under KernelLock: the other kernel has deactivated
  /// `send`, so its channel can go (unless its release came first).
  static func finishRevoking(_ send: SendEndpoint, of endpoint: ReceiveEndpoint) {
    guard let index = endpoint.remoteSenders.firstIndex(where: { $0 === send }) else { return }
    endpoint.remoteSenders.remove(at: index)
    destroy(send)
    freeRingIfUnused(endpoint)
  }

  /// The other instance failed (the watchdog, as soon as it can take
  /// KernelLock; again at `lwk restart`, with its CPUs stopped): everything
  /// that crossed to it goes here, with no message to it. Our send endpoints
  /// into its rings are taken back as if their rings' owners had revoked
  /// them (every capability, mappings to the sink: a program's next send
  /// finds its capability gone); its senders' channels on our rings are
  /// revoked and given back (what they published stays readable). Without
  /// this, a new instance's rings, which reuse the old one's pages, would
  /// be reachable through stale mappings. Returns how many of each went.
  static func forgetOtherInstance() -> (ours: Int, theirs: Int) {
    var ours: [RemoteSendEndpoint] = []
    for case .remoteSendEndpoint(let remote) in KernelObjects.table where !remote.revokedByRing {
      ours.append(remote)
    }
    for remote in ours {
      remote.revokedByRing = true
      // An imported one's record dies with the instance that granted it.
      remote.record = nil
      if let object = remote.object {
        ProcessCapabilities.system.removeAll(of: object, into: &KernelObjects.scratch)
        _ = KernelObjects.applyScratch()
      } else {
        destroy(remote)
      }
    }
    var theirs = 0
    for endpoint in allReceiveEndpoints() where !endpoint.remoteSenders.isEmpty {
      for send in endpoint.remoteSenders {
        if let remote = send.remoteReply { unmap(&remote.mappings, through: nil, sink: true) }
        finishRevoking(send, of: endpoint)
        theirs += 1
      }
      guard !endpoint.destroyed else { continue }
      endpoint.lostSendersToFailure = true
      // A waiter with no sender left learns it now (dtuWait's result).
      if let waiter = endpoint.waiter, !endpoint.hasSenders {
        endpoint.waiter = nil
        waiter.userFrame.pointee.rax = UInt64(
          bitPattern: SystemCallError.otherInstanceFailed.rawValue)
        Scheduler.wake(waiter)
      }
    }
    return (ours.count, theirs)
  }

  /// The other kernel's ring owner takes back its sender on `channel` of
  /// the ring at `ring`: every capability to it here goes, wherever it was
  /// copied, and with the last one its mappings (to the sink) and its reply
  /// channel; nothing is released back.
  static func deactivateForOtherInstance(ring: UInt64, channel: Int) {
    var found: [RemoteSendEndpoint] = []
    for case .remoteSendEndpoint(let remote) in KernelObjects.table
    where remote.ring == ring && remote.channel == channel && !remote.revokedByRing {
      found.append(remote)
    }
    for remote in found {
      remote.revokedByRing = true
      guard let object = remote.object else { continue }
      ProcessCapabilities.system.removeAll(of: object, into: &KernelObjects.scratch)
      _ = KernelObjects.applyScratch()
    }
  }

  // MARK: memory endpoints

  /// Bytes one command-path call copies at most.
  static let commandLimit: UInt64 = 64 << 10

  /// A window of `length` bytes at `offset` into `memory`, with `rights`;
  /// recorded in the table of the node its first byte is on.
  static func createMemory(
    _ memory: MemoryObject, offset: UInt64, length: UInt64, rights: MemoryEndpointRights,
    owner: UInt64
  ) -> Result<MemoryEndpoint, SystemCallError> {
    let (end, overflow) = offset.addingReportingOverflow(length)
    guard length > 0, !overflow, end <= memory.bytes else { return .failure(.outOfWindow) }
    let first = memory.frames[Int(offset / 4096)] + offset % 4096
    let node = Frames.node(of: first) ?? nodeOfServiceMemory(first)
    guard let table = tableIndex(node: node) ?? (tables.isEmpty ? nil : 0) else {
      return .failure(.noSuchNode)
    }
    let configuration = MemoryEndpointConfiguration(
      node: UInt16(node), base: first, size: length, rights: rights, owner: owner)
    let id: EndpointAddress
    do throws(EndpointTableError) {
      id = try tables[table].allocate()
      try tables[table].configure(id, .memory(configuration))
    } catch {
      return .failure(.kernelTableFull)
    }
    let endpoint = MemoryEndpoint(
      memory: memory, node: node, id: id, configuration: configuration, offset: offset)
    memory.windows.append(endpoint)
    return .success(endpoint)
  }

  /// The NUMA node of a service frame (the service has one allocator; the
  /// topology says where the frame lies).
  static func nodeOfServiceMemory(_ physical: UInt64) -> Int {
    if let topology = platform?.topology {
      for node in topology.nodes where node.memory.contains(where: { $0.contains(physical) }) {
        return node.id
      }
    }
    return 0
  }

  /// Maps a page-exact window (its rights as page rights, never
  /// executable); a window that is not page-exact is refused
  /// (`badAlignment`): its bytes go through the command path.
  static func activate(
    _ endpoint: MemoryEndpoint, in space: AddressSpace, through capability: CapabilityID
  ) -> Result<UInt64, SystemCallError> {
    guard !endpoint.memory.released else { return .failure(.endpointRevoked) }
    guard endpoint.isPageExact else { return .failure(.badAlignment) }
    let pages = Int(endpoint.configuration.size / 4096)
    guard UInt64(pages) * 4096 + 0x2000 <= EndpointWindows.stride, let address = window(in: space)
    else {
      return .failure(.outOfMemory)
    }
    var flags: PageFlags = [.present, .user, .noExecute]
    if endpoint.configuration.rights.contains(.write) { flags.insert(.writable) }
    let first = Int(endpoint.offset / 4096)
    for page in 0..<pages {
      let virtual = address + UInt64(page) * 4096
      if case .failure = space.map(
        virtual, to: endpoint.memory.frames[first + page], size: .small, flags: flags)
      {
        space.unmapRange(address, pages: UInt64(page))
        return .failure(.outOfMemory)
      }
    }
    endpoint.mappings.append(
      DTUMapping(capability: capability, space: space, address: address, pages: pages))
    activateInTable(endpoint.node, endpoint.id)
    return .success(address)
  }

  /// The command path: copies `length` bytes between the window at
  /// `offset` and the caller's memory at `address`, after the bounds and
  /// rights check; nothing is copied when either fails.
  static func copy(
    _ endpoint: MemoryEndpoint, offset: UInt64, address: UInt64, length: UInt64, write: Bool
  ) -> Int64 {
    guard !endpoint.memory.released else { return SystemCallError.endpointRevoked.rawValue }
    switch endpoint.configuration.check(offset: offset, length: length, write: write) {
    case .failure(.readOnly), .failure(.writeOnly): return SystemCallError.missingRights.rawValue
    case .failure: return SystemCallError.outOfWindow.rawValue
    case .success: break
    }
    guard length <= commandLimit else { return SystemCallError.badLength.rawValue }
    func pointer(_ index: UInt64) -> UnsafeMutableRawPointer? {
      let position = endpoint.offset + offset + index
      return PhysicalMemory.pointer(endpoint.memory.frames[Int(position / 4096)] + position % 4096)
    }
    if write {
      if let error = SystemCalls.checkReadable(address: address, length: length) {
        return error.rawValue
      }
      var index: UInt64 = 0
      let error = SystemCalls.copyIn(address: address, length: length) { byte in
        pointer(index)?.storeBytes(of: byte, as: UInt8.self)
        index += 1
      }
      return error.map { $0.rawValue } ?? Int64(length)
    }
    if let error = SystemCalls.checkWritable(address: address, length: length) {
      return error.rawValue
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(Int(length))
    for index in 0..<length { bytes.append(pointer(index)?.load(as: UInt8.self) ?? 0) }
    return SystemCalls.copyOut(bytes, to: address).map { $0.rawValue } ?? Int64(length)
  }

  static func destroy(_ endpoint: MemoryEndpoint) {
    unmap(&endpoint.mappings, through: nil)
    endpoint.memory.windows.removeAll { $0 === endpoint }
    if let table = tableIndex(node: endpoint.node) {
      _ = try? tables[table].invalidate(endpoint.id, messages: 0, force: true)
      _ = try? tables[table].free(endpoint.id)
    }
  }

  // MARK: across kernel instances

  /// Receive endpoints reachable by name (`dtuPublish`).
  nonisolated(unsafe) static var published: [ReceiveEndpoint] = []

  static func publish(_ endpoint: ReceiveEndpoint, name: UInt64) -> SystemCallError? {
    guard name != 0, !endpoint.destroyed else { return .noSuchName }
    guard !published.contains(where: { $0.name == name }) else { return .slotOccupied }
    endpoint.name = name
    published.append(endpoint)
    return nil
  }

  static func lookUp(name: UInt64) -> ReceiveEndpoint? {
    published.first { $0.name == name && !$0.destroyed }
  }

  /// The LWK side of a service program's connect: a channel of the
  /// endpoint published as `name`, held for the remote sender until it is
  /// released. Returns the ring and channel, or why not.
  /// With `reply` (a ring and channel of the other instance, bound there
  /// for this receiver's replies, checked against that ring's config page)
  /// the receiver answers into it through its reply windows.
  static func connectFromOtherInstance(
    name: UInt64, credits: Int, label: UInt64, reply: (ring: UInt64, channel: Int)? = nil
  ) -> Result<(UInt64, Int), SystemCallError> {
    guard let target = lookUp(name: name) else { return .failure(.noSuchName) }
    var remoteReply: RemoteSendEndpoint? = nil
    if let reply {
      guard let checked = RemoteSendEndpoint(ring: reply.ring, channel: reply.channel, owner: 0)
      else { return .failure(.invalidObject) }
      remoteReply = checked
    }
    switch mintSend(
      to: target, label: label, credits: credits, owner: 0, remoteReply: remoteReply)
    {
    case .success(let send):
      target.remoteSenders.append(send)
      return .success((target.physical, send.channel))
    case .failure(let error): return .failure(error)
    }
  }

  /// The second phase of a cross-instance revoke, on the ring's kernel:
  /// the remote sender is already unmapped everywhere; revoke its channel
  /// (what it published stays readable) and say how much is unread.
  /// With `label`, only a channel bound for that sender is released.
  static func releaseFromOtherInstance(ring: UInt64, channel: Int, label: UInt64? = nil)
    -> UInt64?
  {
    for endpoint in allReceiveEndpoints() where endpoint.physical == ring {
      guard
        let index = endpoint.remoteSenders.firstIndex(where: {
          $0.channel == channel && (label == nil || $0.label == label)
        })
      else { continue }
      let send = endpoint.remoteSenders.remove(at: index)
      destroy(send)
      freeRingIfUnused(endpoint)
      return send.unreadAtRevoke
    }
    return nil
  }

  /// A wake from a sender of the other instance, for the ring at `ring`.
  static func wakeFromOtherInstance(ring: UInt64) {
    for endpoint in allReceiveEndpoints() where endpoint.physical == ring && !endpoint.destroyed {
      wake(endpoint)
    }
  }

  /// Every receive endpoint this instance has, destroyed ones whose ring
  /// still waits for remote senders included.
  static func allReceiveEndpoints() -> [ReceiveEndpoint] {
    var found: [ReceiveEndpoint] = []
    for case .receiveEndpoint(let endpoint) in KernelObjects.table { found.append(endpoint) }
    for endpoint in lingering where !found.contains(where: { $0 === endpoint }) {
      found.append(endpoint)
    }
    return found
  }

  /// Destroyed receive endpoints whose rings still have remote senders.
  nonisolated(unsafe) static var lingering: [ReceiveEndpoint] = []

  /// Maps a remote send endpoint for its sender: the config and status
  /// pages read-only, its channel's slots writable.
  static func activate(
    _ endpoint: RemoteSendEndpoint, in space: AddressSpace, through capability: CapabilityID
  ) -> Result<UInt64, SystemCallError> {
    guard
      let address = mapSenderWindow(
        ring: endpoint.ring, run: endpoint.run, in: space, through: capability,
        into: &endpoint.mappings)
    else { return .failure(.outOfMemory) }
    return .success(address)
  }

  /// A remote send endpoint's last capability went: first phase here
  /// (every mapping to the sink, shot down on every CPU), then the ring's
  /// kernel revokes the channel (`OtherInstance.release`), and after its
  /// answer the reply channel goes here. When the ring's owner took it back,
  /// its kernel did all of that already, before it asked. An imported one
  /// sends no release: its record is revoked, and the ring's kernel revokes
  /// the channel when that revocation is acknowledged (`EndpointDelegation`).
  static func destroy(_ endpoint: RemoteSendEndpoint) {
    unmap(&endpoint.mappings, through: nil, sink: true)
    if let record = endpoint.record {
      // Imported: its revocation's acknowledgement takes the channel back.
      EndpointDelegation.endpointGone(record, unread: 0)
      return
    }
    if endpoint.revokedByRing {
      if let reply = endpoint.reply {
        endpoint.reply = nil
        destroy(reply)
      }
      return
    }
    OtherInstance.release(
      ring: endpoint.ring, channel: endpoint.channel, owner: endpoint.owner,
      reply: endpoint.reply)
    endpoint.reply = nil
  }
}
