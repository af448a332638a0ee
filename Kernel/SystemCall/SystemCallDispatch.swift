import X86

/// Entry from syscall_entry (Boot/usermode.S) with the user's registers in
/// the frame, for every call the IPC fast path (Boot/ipcfast.S) did not
/// take. Arguments: RDI, RSI, RDX, R10, R8, R9; the result goes to RAX.
@_cdecl("syscall_dispatch")
func systemCallDispatch(_ raw: UnsafeMutableRawPointer) {
  let frame = raw.assumingMemoryBound(to: InterruptFrame.self)
  Scheduler.withHereFromUser { scheduler in dispatch(frame, on: scheduler) }
}

@inline(__always)
private func dispatch(_ frame: UnsafeMutablePointer<InterruptFrame>, on scheduler: CPUScheduler) {
  if KernelInstance.kind == .lwk, LWKSystemCalls.triage(frame, on: scheduler) {
    returnToUser(scheduler)
    return
  }
  switch SystemCallNumber(rawValue: frame.pointee.rax) {
  // IPC writes its results into the frames itself (also the partner's).
  case .call: IPC.send(frame, call: true, on: scheduler)
  case .replyReceive: IPC.replyReceive(frame, on: scheduler)
  case .send: IPC.send(frame, call: false, on: scheduler)
  case .receive: IPC.receive(frame, on: scheduler)
  case .reply: IPC.reply(frame, on: scheduler)
  case .processInfo: frame.pointee.rax = scheduler.running.pointee.processID
  case let number:
    frame.pointee.rax = UInt64(bitPattern: systemCall(number, frame))
  }
  returnToUser(scheduler)
}

/// A thread parked by the IPC fast path was switched to (Boot/usermode.S,
/// syscall_resume): the rest of its way out.
@_cdecl("syscall_resumed")
func systemCallResumed(_ raw: UnsafeMutableRawPointer) {
  Scheduler.withHere { scheduler in
    if scheduler.dying != nil { scheduler.retire() }
    returnToUser(scheduler)
  }
}

/// The way back to user mode is a preemption point: a thread that woke (the
/// shell, on input) or a used-up slice takes effect here, not only on ticks
/// that happen to land in user code; and a thread asked to end ends here.
/// (The thread may have been switched away from and back meanwhile, but
/// always on this CPU: threads do not migrate.)
@inline(__always)
func returnToUser(_ scheduler: CPUScheduler) {
  x86_cli()
  // A process being ended marks each of its threads (ProcessRunner.stop).
  // (No thread reference kept in this frame: a thread may end below.)
  let running = scheduler.running
  if scheduler.needsReschedule || running.pointee.ticksInSlice >= Scheduler.sliceTicks
    || running.pointee.killRequested
  {
    Scheduler.preemptIfNeeded(fromUser: true, requested: false)
    ProcessRunner.exitIfRequested()
  }
}

/// Every call but the IPC fast path; returns RAX.
func systemCall(_ number: SystemCallNumber?, _ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
  switch number {
  case .exit: ProcessRunner.exitProcess(code: Int64(bitPattern: f.pointee.rdi))
  case .consoleWrite: return SystemCalls.consoleWrite(address: f.pointee.rdi, length: f.pointee.rsi)
  case .yield:
    Scheduler.yield()
    return 0
  case .setThreadPointer: return SystemCalls.setThreadPointer(f.pointee.rdi)
  case .capabilityCopy: return CapabilityCalls.copy(f)
  case .capabilityMint: return CapabilityCalls.mint(f)
  case .capabilityMove: return CapabilityCalls.move(f)
  case .capabilityDelete: return CapabilityCalls.delete(f)
  case .capabilityRevoke: return CapabilityCalls.revoke(f)
  case .capabilityInspect: return CapabilityCalls.inspect(f)
  case .memoryCreate: return CapabilityCalls.createMemory(f)
  case .memoryMap: return MappingCalls.map(f)
  case .memoryUnmap: return MappingCalls.unmap(f)
  case .endpointCreate: return CapabilityCalls.createEndpoint(f)
  case .threadCreate: return ThreadCalls.create(f)
  case .threadExit: ProcessRunner.exitThread()
  case .spawn: return ProcessCalls.spawn(f)
  case .wait: return ProcessCalls.wait(f)
  case .threadPriority: return ThreadCalls.setPriority(f)
  case .threadInfo: return ThreadCalls.info(f)
  case .consoleRead: return SystemCalls.consoleRead(address: f.pointee.rdi, length: f.pointee.rsi)
  case .processInfo: return Int64(ProcessRunner.current?.pid ?? 0)
  case .dtuReceiveCreate: return DTUCalls.createReceive(f)
  case .dtuSendMint: return DTUCalls.mintSend(f)
  case .dtuActivate: return DTUCalls.activate(f)
  case .dtuWake: return DTUCalls.wake(f)
  case .dtuWait: return DTUCalls.wait(f)
  case .cpuNode: return DTUCalls.cpuNode(f)
  case .dtuMemoryCreate: return DTUCalls.createMemory(f)
  case .dtuMemoryRead: return DTUCalls.copyMemory(f, write: false)
  case .dtuMemoryWrite: return DTUCalls.copyMemory(f, write: true)
  case .dtuPublish: return DTUCalls.publish(f)
  case .dtuConnect: return DTUCalls.connect(f)
  case .dtuRevokeSenders: return DTUCalls.revokeSenders(f)
  case .dtuExport: return DTUCalls.export(f)
  case .dtuImport: return DTUCalls.importCapability(f)
  case .dtuRevokeExport: return DTUCalls.revokeExport(f)
  case .send, .call, .receive, .reply, .replyReceive:
    return SystemCallError.unknownSystemCall.rawValue
  case nil: return SystemCallError.unknownSystemCall.rawValue
  }
}

enum SystemCalls {
  /// Copies from user memory through the direct map, page by page, after
  /// checking each page is mapped for the user: a bad pointer is an error
  /// code, never a kernel fault (and SMAP has nothing to object to).
  static func copyIn(address: UInt64, length: UInt64, into body: (UInt8) -> Void)
    -> SystemCallError?
  {
    guard length > 0 else { return nil }
    guard UserSpace.contains(address, length: length) else { return .notUserAddress }
    guard let space = ProcessRunner.current?.space else { return .badAddress }
    var offset: UInt64 = 0
    while offset < length {
      let virtual = address + offset
      guard let translation = space.translate(virtual), translation.flags.contains(.user),
        let pointer = PhysicalMemory.pointer(translation.physical)
      else { return .badAddress }
      let inPage = min(length - offset, 4096 - (virtual & 0xFFF))
      for i in 0..<Int(inPage) { body(pointer.load(fromByteOffset: i, as: UInt8.self)) }
      offset += inPage
    }
    return nil
  }

  /// The user bytes [address, address + length) as a view through this
  /// instance's direct map when they lie in one mapped user page (the
  /// usual console line), so they can be copied once, straight to where
  /// they go; nil when they do not (copyIn then), or an error.
  static func userView(address: UInt64, length: UInt64) -> Result<ByteView?, SystemCallError> {
    guard length > 0 else { return .success(ByteView(base: nil, count: 0)) }
    guard UserSpace.contains(address, length: length) else { return .failure(.notUserAddress) }
    guard address & 0xFFF + length <= 4096 else { return .success(nil) }
    guard let translation = ProcessRunner.current?.space.translate(address),
      translation.flags.contains(.user), let pointer = PhysicalMemory.pointer(translation.physical)
    else { return .failure(.badAddress) }
    return .success(ByteView(base: UnsafeRawPointer(pointer), count: Int(length)))
  }

  /// 0, or why the caller's console capability (InitialSlot.console) does
  /// not allow `rights`.
  static func consoleAllows(_ rights: Rights) -> Int64 {
    CapabilityCalls.withSpace { space throws(CapabilityError) in
      _ = try ProcessCapabilities.lookup(
        CapabilityAddress(space: space, slot: InitialSlot.console), type: .console,
        requiring: rights)
      return 0
    }
  }

  /// Needs a console capability with `write` in InitialSlot.console. One
  /// write is one piece of the console: the lock it took is given back at
  /// its end, newline or not. (Kept until a newline, a program that writes nothing,
  /// or half a line, held every other CPU's lines back for the lock's
  /// 1-second wait each, and the LWK's shipped lines deferred, for as long
  /// as it liked; found by badcalls' fuzzer.)
  static func consoleWrite(address: UInt64, length: UInt64) -> Int64 {
    guard length <= SystemCallLimits.consoleWrite else { return SystemCallError.badLength.rawValue }
    let allowed = consoleAllows(.write)
    guard allowed == 0 else { return allowed }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(Int(length))
    if let error = copyIn(address: address, length: length, into: { bytes.append($0) }) {
      return error.rawValue
    }
    guard !bytes.isEmpty else { return 0 }
    // A line this CPU's kernel code is in the middle of (the shell's
    // echo) stays its own.
    let midLine = ConsoleLock.ownedHere
    ConsoleLock.acquire()
    for byte in bytes { Console.put(byte) }
    if !midLine { ConsoleLock.release() }
    return Int64(length)
  }

  /// Needs `read` on the console capability. Checks the buffer first (so a
  /// bad one loses no input), then sleeps until input arrives; a thread
  /// asked to end stops waiting.
  static func consoleRead(address: UInt64, length: UInt64) -> Int64 {
    guard length > 0, length <= SystemCallLimits.consoleWrite else {
      return SystemCallError.badLength.rawValue
    }
    let allowed = consoleAllows(.read)
    guard allowed == 0 else { return allowed }
    if let error = checkWritable(address: address, length: length) { return error.rawValue }
    var bytes: [UInt8] = []
    while bytes.isEmpty {
      guard let me = Scheduler.here?.current, !me.killRequested else { return 0 }
      x86_cli()
      while UInt64(bytes.count) < length, let byte = Serial.ring.pop() { bytes.append(byte) }
      if bytes.isEmpty {
        Serial.waiter = me
        Scheduler.block()
      }
      x86_sti()
    }
    _ = copyOut(bytes, to: address)
    return Int64(bytes.count)
  }

  /// nil when every byte of the range is mapped writable for the user.
  static func checkWritable(address: UInt64, length: UInt64) -> SystemCallError? {
    checkMapped(address: address, length: length, writable: true)
  }

  /// nil when every byte of the range is mapped for the user.
  static func checkReadable(address: UInt64, length: UInt64) -> SystemCallError? {
    checkMapped(address: address, length: length, writable: false)
  }

  private static func checkMapped(address: UInt64, length: UInt64, writable: Bool)
    -> SystemCallError?
  {
    guard UserSpace.contains(address, length: length) else { return .notUserAddress }
    guard let space = ProcessRunner.current?.space else { return .badAddress }
    var page = address & ~0xFFF
    while page < address + length {
      guard let translation = space.translate(page), translation.flags.contains(.user),
        !writable || translation.flags.contains(.writable)
      else { return .badAddress }
      page += 4096
    }
    return nil
  }

  /// Copies into user memory checked by checkWritable, through the direct map.
  static func copyOut(_ bytes: [UInt8], to address: UInt64) -> SystemCallError? {
    guard let space = ProcessRunner.current?.space else { return .badAddress }
    for (i, byte) in bytes.enumerated() {
      let virtual = address + UInt64(i)
      guard let translation = space.translate(virtual),
        let pointer = PhysicalMemory.pointer(translation.physical)
      else { return .badAddress }
      pointer.storeBytes(of: byte, as: UInt8.self)
    }
    return nil
  }

  static func setThreadPointer(_ address: UInt64) -> Int64 {
    guard address == 0 || UserSpace.contains(address, length: 1) else {
      return SystemCallError.notUserAddress.rawValue
    }
    Scheduler.withHere { scheduler in
      x86_write_fs_base(address)
      scheduler.fsBase = address
      scheduler.running.pointee.threadPointer = address
    }
    return 0
  }
}
