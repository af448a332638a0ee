import X86

/// Entry from syscall_entry (Boot/usermode.S) with the user's registers in
/// the frame. Arguments: RDI, RSI, RDX, R10, R8, R9; the result goes to RAX.
@_cdecl("syscall_dispatch")
func systemCallDispatch(_ raw: UnsafeMutableRawPointer) {
  let frame = raw.assumingMemoryBound(to: InterruptFrame.self)
  let f = frame.pointee
  ProcessRunner.exitIfRequested()
  var result: Int64 = 0
  switch SystemCallNumber(rawValue: f.rax) {
  case .exit:
    ProcessRunner.endProcess(
      status: "exited with status \(Int64(bitPattern: f.rdi))", code: Int64(bitPattern: f.rdi))
  case .consoleWrite: result = SystemCalls.consoleWrite(address: f.rdi, length: f.rsi)
  case .yield:
    x86_cli()
    Scheduler.here?.reschedule()
    x86_sti()
  case .setThreadPointer: result = SystemCalls.setThreadPointer(f.rdi)
  case .processInfo: result = Int64(ProcessRunner.current?.pid ?? 0)
  case .capabilityCopy: result = CapabilityCalls.copy(f)
  case .capabilityMint: result = CapabilityCalls.mint(f)
  case .capabilityMove: result = CapabilityCalls.move(f)
  case .capabilityDelete: result = CapabilityCalls.delete(f)
  case .capabilityRevoke: result = CapabilityCalls.revoke(f)
  case .capabilityInspect: result = CapabilityCalls.inspect(frame)
  case .memoryCreate: result = CapabilityCalls.createMemory(f)
  case .memoryMap: result = MappingCalls.map(f)
  case .memoryUnmap: result = MappingCalls.unmap(f)
  case .endpointCreate: result = CapabilityCalls.createEndpoint(f)
  case .threadCreate: result = ThreadCalls.create(f)
  case .threadExit: ProcessRunner.exitThread()
  case .spawn: result = ProcessCalls.spawn(f)
  case .wait: result = ProcessCalls.wait(f)
  // IPC writes its results into the frames itself (also the partner's).
  case .send: IPC.send(frame, call: false)
  case .call: IPC.send(frame, call: true)
  case .receive: IPC.receive(frame)
  case .reply: IPC.reply(frame)
  case .replyReceive: IPC.replyReceive(frame)
  case nil: result = SystemCallError.unknownSystemCall.rawValue
  }
  switch SystemCallNumber(rawValue: f.rax) {
  case .send, .call, .receive, .reply, .replyReceive: break
  default: frame.pointee.rax = UInt64(bitPattern: result)
  }
  // The way back to user mode is a preemption point: a thread that woke (the
  // shell, on input) or a used-up slice takes effect here, not only on ticks
  // that happen to land in user code.
  x86_cli()
  Scheduler.preemptIfNeeded(fromUser: true, requested: false)
  ProcessRunner.exitIfRequested()
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

  /// Needs a console capability with `write` in InitialSlot.console.
  static func consoleWrite(address: UInt64, length: UInt64) -> Int64 {
    guard length <= SystemCallLimits.consoleWrite else { return SystemCallError.badLength.rawValue }
    let allowed = CapabilityCalls.withSpace { space throws(CapabilityError) in
      _ = try ProcessCapabilities.system.capability(
        at: CapabilityAddress(space: space, slot: InitialSlot.console), type: .console,
        requiring: .write)
      return 0
    }
    guard allowed == 0 else { return allowed }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(Int(length))
    if let error = copyIn(address: address, length: length, into: { bytes.append($0) }) {
      return error.rawValue
    }
    ConsoleLock.acquire()
    for byte in bytes { Console.put(byte) }
    if bytes.last == 10 { ConsoleLock.release() }
    return Int64(length)
  }

  static func setThreadPointer(_ address: UInt64) -> Int64 {
    guard address == 0 || UserSpace.contains(address, length: 1) else {
      return SystemCallError.notUserAddress.rawValue
    }
    x86_write_fs_base(address)
    Scheduler.here?.current.threadPointer = address
    return 0
  }
}
