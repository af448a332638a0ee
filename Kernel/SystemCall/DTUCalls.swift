import X86

/// The DTU system calls (ABI in Kernel/Core/UserABI/SystemCall.swift): the
/// kernel's part of the emulated endpoints. Sending, fetching and acking
/// are not here: programs do those in their own memory (Core's
/// ChannelSender and ChannelReceiver) once an endpoint is activated.
enum DTUCalls {
  /// dtuReceiveCreate(node, slotCountLog2, slotSizeLog2, slot).
  static func createReceive(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    let cpu = Processor.currentIndex
    let node =
      f.pointee.rdi == SystemCallCPU.same
      ? (cpu < processors.count ? processors[cpu].node : 0) : Int(truncatingIfNeeded: f.pointee.rdi)
    let (countLog2, sizeLog2) = (f.pointee.rsi, f.pointee.rdx)
    guard countLog2 < 32, sizeLog2 < 32 else { return SystemCallError.badGeometry.rawValue }
    return CapabilityCalls.withSpace { space throws(CapabilityError) in
      let destination = CapabilityAddress(space: space, slot: f.pointee.r10)
      if let slotError = CapabilityCalls.probeEmpty(destination) { return slotError.rawValue }
      let owner = UInt64(ProcessRunner.current?.pid ?? 0)
      let endpoint: ReceiveEndpoint
      switch DTU.createReceive(
        node: node, slotCountLog2: Int(countLog2), slotSizeLog2: Int(sizeLog2), owner: owner)
      {
      case .success(let created): endpoint = created
      case .failure(let error): return error.rawValue
      }
      return try install(
        .receiveEndpoint(endpoint), type: .receiveEndpoint, bytes: UInt64(endpoint.pages) * 4096,
        at: destination
      ) { DTU.destroy(endpoint) }
    }
  }

  /// dtuSendMint(receive, label, credits, slot, reply).
  static func mintSend(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    CapabilityCalls.withSpace { space throws(CapabilityError) in
      guard
        case .receiveEndpoint(let target) = try receiveEndpoint(f.pointee.rdi, in: space, .write)
      else { return SystemCallError.invalidObject.rawValue }
      let replyTo = try replyEndpoint(f.pointee.r8, in: space)
      let destination = CapabilityAddress(space: space, slot: f.pointee.r10)
      if let slotError = CapabilityCalls.probeEmpty(destination) { return slotError.rawValue }
      let credits = f.pointee.rdx
      guard credits <= 1 << 20 else { return SystemCallError.badGeometry.rawValue }
      let owner = UInt64(ProcessRunner.current?.pid ?? 0)
      let endpoint: SendEndpoint
      switch DTU.mintSend(
        to: target, label: f.pointee.rsi, credits: Int(credits), owner: owner, replyTo: replyTo)
      {
      case .success(let minted): endpoint = minted
      case .failure(let error): return error.rawValue
      }
      return try install(
        .sendEndpoint(endpoint), type: .sendEndpoint, bytes: 64, at: destination
      ) { DTU.destroy(endpoint) }
    }
  }

  /// dtuActivate(endpoint): RAX = where the ring is mapped; for a send
  /// endpoint RDI = its channel and RSI = its slots' offset from RAX.
  static func activate(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    let slot = f.pointee.rdi
    return CapabilityCalls.withSpace { space throws(CapabilityError) in
      guard let addressSpace = ProcessRunner.current?.space else {
        return SystemCallError.invalidObject.rawValue
      }
      let address = CapabilityAddress(space: space, slot: slot)
      let info = try ProcessCapabilities.system.inspect(address)
      switch info.capability.type {
      case .receiveEndpoint:
        let (id, capability) = try ProcessCapabilities.lookup(
          address, type: .receiveEndpoint, requiring: .read)
        guard case .receiveEndpoint(let endpoint) = KernelObjects.object(capability.object) else {
          return SystemCallError.invalidObject.rawValue
        }
        switch DTU.activate(endpoint, in: addressSpace, through: id) {
        case .success(let base):
          f.pointee.rdi = 0
          f.pointee.rsi = UInt64(ReceiveEndpointLayout.slotsOffset)
          return Int64(bitPattern: base)
        case .failure(let error): return error.rawValue
        }
      case .sendEndpoint:
        let (id, capability) = try ProcessCapabilities.lookup(
          address, type: .sendEndpoint, requiring: .write)
        if case .remoteSendEndpoint(let remote) = KernelObjects.object(capability.object) {
          switch DTU.activate(remote, in: addressSpace, through: id) {
          case .success(let base):
            f.pointee.rdi = UInt64(remote.channel)
            f.pointee.rsi = UInt64(remote.run.byteOffset)
            return Int64(bitPattern: base)
          case .failure(let error): return error.rawValue
          }
        }
        guard case .sendEndpoint(let endpoint) = KernelObjects.object(capability.object) else {
          return SystemCallError.invalidObject.rawValue
        }
        switch DTU.activate(endpoint, in: addressSpace, through: id) {
        case .success(let (base, run)):
          f.pointee.rdi = UInt64(endpoint.channel)
          f.pointee.rsi = UInt64(run.byteOffset)
          return Int64(bitPattern: base)
        case .failure(let error): return error.rawValue
        }
      case .memoryEndpoint:
        let (id, capability) = try ProcessCapabilities.lookup(address, type: .memoryEndpoint)
        guard case .memoryEndpoint(let endpoint) = KernelObjects.object(capability.object) else {
          return SystemCallError.invalidObject.rawValue
        }
        switch DTU.activate(endpoint, in: addressSpace, through: id) {
        case .success(let base):
          f.pointee.rdi = 0
          f.pointee.rsi = 0
          return Int64(bitPattern: base)
        case .failure(let error): return error.rawValue
        }
      default:
        return SystemCallError.wrongType.rawValue
      }
    }
  }

  /// dtuMemoryCreate(memory, offset, length, rights, slot).
  static func createMemory(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    let rights = MemoryEndpointRights(rawValue: UInt8(truncatingIfNeeded: f.pointee.r10))
    guard f.pointee.r10 != 0, f.pointee.r10 & ~3 == 0 else {
      return SystemCallError.undefinedRights.rawValue
    }
    return CapabilityCalls.withSpace { space throws(CapabilityError) in
      var needed: Rights = []
      if rights.contains(.read) { needed.insert(.read) }
      if rights.contains(.write) { needed.insert(.write) }
      let (_, capability) = try ProcessCapabilities.lookup(
        CapabilityAddress(space: space, slot: f.pointee.rdi), type: .memory, requiring: needed)
      guard case .memory(let memory) = KernelObjects.object(capability.object) else {
        return SystemCallError.invalidObject.rawValue
      }
      let destination = CapabilityAddress(space: space, slot: f.pointee.r8)
      if let slotError = CapabilityCalls.probeEmpty(destination) { return slotError.rawValue }
      let owner = UInt64(ProcessRunner.current?.pid ?? 0)
      let endpoint: MemoryEndpoint
      switch DTU.createMemory(
        memory, offset: f.pointee.rsi, length: f.pointee.rdx, rights: rights, owner: owner)
      {
      case .success(let created): endpoint = created
      case .failure(let error): return error.rawValue
      }
      return try install(
        .memoryEndpoint(endpoint), type: .memoryEndpoint, bytes: 64, at: destination
      ) { DTU.destroy(endpoint) }
    }
  }

  /// dtuMemoryRead / dtuMemoryWrite(endpoint, offset, address, length):
  /// the command path, for windows that are not page-exact (and any other).
  static func copyMemory(_ f: UnsafeMutablePointer<InterruptFrame>, write: Bool) -> Int64 {
    CapabilityCalls.withSpace { space throws(CapabilityError) in
      let (_, capability) = try ProcessCapabilities.lookup(
        CapabilityAddress(space: space, slot: f.pointee.rdi), type: .memoryEndpoint)
      guard case .memoryEndpoint(let endpoint) = KernelObjects.object(capability.object) else {
        return SystemCallError.invalidObject.rawValue
      }
      return DTU.copy(
        endpoint, offset: f.pointee.rsi, address: f.pointee.rdx, length: f.pointee.r10,
        write: write)
    }
  }

  /// dtuWake(send), or dtuWake(receive, channel) after a reply.
  static func wake(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    var remoteRing: UInt64 = 0
    let result = CapabilityCalls.withSpace { space throws(CapabilityError) in
      let capability: Capability
      do throws(CapabilityError) {
        (_, capability) = try ProcessCapabilities.lookup(
          CapabilityAddress(space: space, slot: f.pointee.rdi), type: .sendEndpoint,
          requiring: .write)
      } catch .wrongType(_, found: .receiveEndpoint) {
        // After a reply: the slot is the receive endpoint, RSI the channel.
        guard case .receiveEndpoint(let endpoint) = try receiveEndpoint(f.pointee.rdi, in: space)
        else { return SystemCallError.invalidObject.rawValue }
        let channel = Int(truncatingIfNeeded: min(f.pointee.rsi, 1 << 20))
        switch DTU.wakeReplyReceiver(endpoint, channel: channel) {
        case .success(let ring):
          remoteRing = ring ?? 0
          return 0
        case .failure(let error): return error.rawValue
        }
      }
      if case .remoteSendEndpoint(let remote) = KernelObjects.object(capability.object) {
        remoteRing = remote.ring
        return 0
      }
      guard case .sendEndpoint(let endpoint) = KernelObjects.object(capability.object) else {
        return SystemCallError.invalidObject.rawValue
      }
      guard !endpoint.target.destroyed else { return SystemCallError.endpointRevoked.rawValue }
      DTU.wake(endpoint.target)
      return 0
    }
    // The receiver is the other instance's: its kernel wakes it (asked
    // outside our lock).
    if remoteRing != 0, !OtherInstance.wake(ring: remoteRing) {
      return SystemCallError.endpointRevoked.rawValue
    }
    return result
  }

  /// dtuPublish(receive, name).
  static func publish(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    CapabilityCalls.withSpace { space throws(CapabilityError) in
      guard
        case .receiveEndpoint(let endpoint) = try receiveEndpoint(f.pointee.rdi, in: space, .write)
      else { return SystemCallError.invalidObject.rawValue }
      return DTU.publish(endpoint, name: f.pointee.rsi)?.rawValue ?? 0
    }
  }

  /// dtuConnect(name, credits, slot, reply): to a local published
  /// endpoint, or to one the other instance published, through a request
  /// its kernel serves (`OtherInstance`); replies only to a local one.
  static func connect(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    let (name, credits, slot, replySlot) = (
      f.pointee.rdi, f.pointee.rsi, f.pointee.rdx, f.pointee.r10
    )
    let pid = UInt64(ProcessRunner.current?.pid ?? 0)
    let instance: UInt64 = KernelInstance.kind == .service ? 0 : 1
    let label = DTU.connectLabel(instance: instance, pid: pid)
    guard credits <= 1 << 20 else { return SystemCallError.badGeometry.rawValue }
    let local = KernelLock.held { DTU.lookUp(name: name) }
    if local != nil {
      return CapabilityCalls.withSpace { space throws(CapabilityError) in
        guard let target = DTU.lookUp(name: name) else {
          return SystemCallError.noSuchName.rawValue
        }
        let replyTo = try replyEndpoint(replySlot, in: space)
        let destination = CapabilityAddress(space: space, slot: slot)
        if let slotError = CapabilityCalls.probeEmpty(destination) { return slotError.rawValue }
        let endpoint: SendEndpoint
        switch DTU.mintSend(
          to: target, label: label, credits: Int(credits), owner: pid, replyTo: replyTo)
        {
        case .success(let minted): endpoint = minted
        case .failure(let error): return error.rawValue
        }
        return try install(
          .sendEndpoint(endpoint), type: .sendEndpoint, bytes: 64, at: destination
        ) { DTU.destroy(endpoint) }
      }
    }
    // The other instance's: a reply channel here first (for its kernel to
    // map into the receiver), then its kernel binds the channel and names
    // the ring.
    var reply: SendEndpoint? = nil
    if replySlot != 0 {
      let bound = CapabilityCalls.withSpace { space throws(CapabilityError) in
        guard let endpoint = try replyEndpoint(replySlot, in: space) else {
          return SystemCallError.invalidObject.rawValue
        }
        switch DTU.bindReplyChannel(endpoint, label: label, credits: Int(credits), owner: pid) {
        case .success(let channel):
          reply = channel
          return 0
        case .failure(let error): return error.rawValue
        }
      }
      guard bound == 0 else { return bound }
    }
    let (ring, channel): (UInt64, Int)
    switch OtherInstance.connect(
      name: name, credits: credits, label: label,
      reply: reply.map { (ring: $0.target.physical, channel: $0.channel) })
    {
    case .success(let bound): (ring, channel) = bound
    case .failure(let error):
      if let reply { KernelLock.held { DTU.destroy(reply) } }
      return error.rawValue
    }
    let installed = CapabilityCalls.withSpace { space throws(CapabilityError) in
      guard let endpoint = RemoteSendEndpoint(ring: ring, channel: channel, owner: pid) else {
        return SystemCallError.invalidObject.rawValue
      }
      endpoint.reply = reply
      // Refused: the release below gives the channel back.
      return try install(
        .remoteSendEndpoint(endpoint), type: .sendEndpoint, bytes: 64,
        at: CapabilityAddress(space: space, slot: slot)
      ) {}
    }
    if installed != 0 {
      // Nothing here maps it; its kernel takes the channel back (and, after
      // its answer, the reply channel goes).
      OtherInstance.finish([
        OtherInstance.Release(ring: ring, channel: channel, owner: pid, reply: reply)
      ])
    }
    return installed
  }

  /// dtuRevokeSenders(receive): the first phase under the lock (this
  /// instance's senders gone, the other's channels revoked), then the other
  /// kernel deactivates each of its senders and answers, then the channels
  /// go. A call that finds one running for the same endpoint joins it: it
  /// returns when that one has, with the same count and RDI = 1.
  static func revokeSenders(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    var target: ReceiveEndpoint? = nil
    var joined = false
    var local = 0
    var remote: [SendEndpoint] = []
    let looked = CapabilityCalls.withSpace { space throws(CapabilityError) in
      guard
        case .receiveEndpoint(let endpoint) = try receiveEndpoint(f.pointee.rdi, in: space, .write)
      else { return SystemCallError.invalidObject.rawValue }
      target = endpoint
      if endpoint.revokingSenders {
        joined = true
        return 0
      }
      endpoint.revokingSenders = true
      (local, remote) = DTU.revokeSenders(of: endpoint)
      return 0
    }
    guard looked == 0, let endpoint = target else { return looked }
    if joined {
      while KernelLock.held({ endpoint.revokingSenders }) { Scheduler.yield() }
      f.pointee.rdi = 1
      return Int64(KernelLock.held { endpoint.sendersRevoked })
    }
    // Not under the lock: the other kernel's answer may need this one.
    var deactivated: [SendEndpoint] = []
    for send in remote
    where OtherInstance.deactivate(ring: endpoint.physical, channel: send.channel) {
      deactivated.append(send)
    }
    let count = local + deactivated.count
    KernelLock.held {
      for send in deactivated { DTU.finishRevoking(send, of: endpoint) }
      endpoint.sendersRevoked = count
      endpoint.revokingSenders = false
    }
    // Imported copies the other kernel took back acknowledge through it.
    EndpointDelegation.pump(poll: !remote.isEmpty)
    f.pointee.rdi = 0
    return Int64(count)
  }

  /// dtuExport(send, pid): RAX = the ID of a delegable child of the send
  /// endpoint's directory record, for process `pid` of the other instance
  /// (0: any); needs `grant`, since it hands the right on.
  static func export(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    let owner = UInt64(ProcessRunner.current?.pid ?? 0)
    return CapabilityCalls.withSpace { space throws(CapabilityError) in
      let (_, capability) = try ProcessCapabilities.lookup(
        CapabilityAddress(space: space, slot: f.pointee.rdi), type: .sendEndpoint,
        requiring: .grant)
      switch EndpointDelegation.export(
        KernelObjects.object(capability.object), owner: owner, recipient: f.pointee.rsi)
      {
      case .success(let id): return Int64(bitPattern: id.rawValue)
      case .failure(let error): return error.rawValue
      }
    }
  }

  /// dtuImport(id, credits, slot): the request under the lock, then the
  /// exchange with the other instance without it, then the outcome the
  /// grant or refusal left. An import that got no answer in time is
  /// abandoned: a grant that still comes is revoked at once.
  static func importCapability(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    guard let parent = EndpointCapabilityID(rawValue: f.pointee.rdi) else {
      return SystemCallError.noSuchCapability.rawValue
    }
    let credits = f.pointee.rsi
    guard credits <= 1 << 20 else { return SystemCallError.badGeometry.rawValue }
    let pid = UInt64(ProcessRunner.current?.pid ?? 0)
    var child: EndpointCapabilityID? = nil
    let requested = CapabilityCalls.withSpace { space throws(CapabilityError) in
      let destination = CapabilityAddress(space: space, slot: f.pointee.rdx)
      if let slotError = CapabilityCalls.probeEmpty(destination) { return slotError.rawValue }
      switch EndpointDelegation.requestImport(
        parent, credits: Int(credits), destination: destination, pid: pid)
      {
      case .success(let pending):
        child = pending
        return 0
      case .failure(let error): return error.rawValue
      }
    }
    guard requested == 0, let child else { return requested }
    _ = EndpointDelegation.await {
      EndpointDelegation.imports.first { $0.child == child }?.outcome != nil
    }
    return KernelLock.held {
      if let outcome = EndpointDelegation.importOutcome(child) { return outcome }
      EndpointDelegation.abandonImport(child)
      return SystemCallError.shippingFailed.rawValue
    }
  }

  /// dtuRevokeExport(id): RAX = unread messages, RDI = 1 when it joined.
  static func revokeExport(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    guard let id = EndpointCapabilityID(rawValue: f.pointee.rdi) else {
      return SystemCallError.noSuchCapability.rawValue
    }
    let owner = UInt64(ProcessRunner.current?.pid ?? 0)
    var joined = false
    let started = CapabilityCalls.withSpace { _ throws(CapabilityError) in
      switch EndpointDelegation.revoke(id, by: owner) {
      case .success(let didJoin):
        joined = didJoin
        return 0
      case .failure(let error): return error.rawValue
      }
    }
    guard started == 0 else { return started }
    guard EndpointDelegation.await({ EndpointDelegation.completion(id) != nil }) else {
      return SystemCallError.shippingFailed.rawValue
    }
    f.pointee.rdi = joined ? 1 : 0
    return Int64(bitPattern: KernelLock.held { EndpointDelegation.completion(id) ?? 0 })
  }

  /// dtuWait(receive): blocks while the receiver's flag says it sleeps and
  /// nothing is pending; the test and the block are one step under
  /// KernelLock, which dtuWake also takes, so a wake cannot slip between.
  static func wait(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    guard let me = Scheduler.here?.current else { return SystemCallError.invalidObject.rawValue }
    let interrupts = KernelLock.acquire()
    let found = lookUpReceive(f.pointee.rdi)
    guard case .success(let endpoint) = found else {
      KernelLock.release(interrupts)
      if case .failure(let error) = found { return error.rawValue }
      return SystemCallError.invalidObject.rawValue
    }
    if endpoint.lostSendersToFailure && !endpoint.hasSenders {
      KernelLock.release(interrupts)
      return SystemCallError.otherInstanceFailed.rawValue
    }
    guard endpoint.control.mayBlock, endpoint.waiter == nil else {
      endpoint.control.clearSleeping()
      KernelLock.release(interrupts)
      return 0
    }
    endpoint.waiter = me
    endpoint.sleeps &+= 1
    DTU.sleeps &+= 1
    me.state = .blocked
    // A destroyed endpoint's waiter is woken with ipcAborted in RAX.
    me.userFrame.pointee.rax = 0
    KernelLock.release(false)
    Scheduler.blockMarked()
    if interrupts { x86_sti() }
    KernelLock.held {
      if endpoint.waiter === me { endpoint.waiter = nil }  // woken by a kill
      if !endpoint.destroyed { endpoint.control.clearSleeping() }
    }
    return Int64(bitPattern: me.userFrame.pointee.rax)
  }

  /// Gives a new endpoint object its capability in `destination`; when the
  /// capability system refuses (quota, slot), `undo` takes the object apart.
  /// Also installs imported send endpoints (`EndpointDelegation`).
  static func install(
    _ object: KernelObject, type: ObjectType, bytes: UInt64, at destination: CapabilityAddress,
    undo: () -> Void
  ) throws(CapabilityError) -> Int64 {
    do throws(CapabilityError) {
      let created = try ProcessCapabilities.system.createObject(type, bytes: bytes, at: destination)
      KernelObjects.set(created.object, object)
      // Send endpoints remember it: their ring's owner may take back every
      // capability to them (dtuRevokeSenders).
      switch object {
      case .sendEndpoint(let send): send.object = created.object
      case .remoteSendEndpoint(let remote): remote.object = created.object
      default: break
      }
    } catch {
      undo()
      throw error
    }
    return 0
  }

  private static func lookUpReceive(_ slot: UInt64) -> Result<ReceiveEndpoint, SystemCallError> {
    guard let space = ProcessRunner.current?.capabilitySpace else {
      return .failure(.invalidObject)
    }
    do throws(CapabilityError) {
      guard case .receiveEndpoint(let endpoint) = try receiveEndpoint(slot, in: space) else {
        return .failure(.invalidObject)
      }
      return .success(endpoint)
    } catch {
      return .failure(SystemCallError(error))
    }
  }

  /// The object behind the receive endpoint capability in `slot`, checked
  /// for `rights`.
  private static func receiveEndpoint(
    _ slot: UInt64, in space: SpaceID, _ rights: Rights = .read
  ) throws(CapabilityError) -> KernelObject {
    let (_, capability) = try ProcessCapabilities.lookup(
      CapabilityAddress(space: space, slot: slot), type: .receiveEndpoint, requiring: rights)
    return KernelObjects.object(capability.object)
  }

  /// The reply endpoint a mint or connect names in `slot` (0: none): one
  /// of the caller's receive endpoints, which it may read.
  private static func replyEndpoint(_ slot: UInt64, in space: SpaceID)
    throws(CapabilityError) -> ReceiveEndpoint?
  {
    guard slot != 0 else { return nil }
    guard case .receiveEndpoint(let endpoint) = try receiveEndpoint(slot, in: space) else {
      return nil
    }
    return endpoint
  }

  /// cpuNode(cpu): RAX = its node, RDI = 1 when this instance runs it.
  static func cpuNode(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    let cpu = f.pointee.rdi
    guard cpu < UInt64(processors.count) else { return SystemCallError.badCPU.rawValue }
    f.pointee.rdi = ProcessRunner.isServiceCPU(Int(cpu)) ? 1 : 0
    return Int64(processors[Int(cpu)].node)
  }
}
