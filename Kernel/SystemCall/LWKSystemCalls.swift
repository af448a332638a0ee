import Synchronization
import X86

/// System-call triage on the LWK instance: every call is counted, local
/// calls go on to the ordinary dispatcher, shipped ones (the triage table in
/// Core/Shipping/SystemCallTriage.swift) are copied in and shipped to the
/// service partition (Kernel/Instance/FunctionShipping.swift).
enum LWKSystemCalls {
  /// True when the call's route is `shipped` and it was handled here (RAX
  /// set); a local call is only counted. Inlined into the dispatcher: a
  /// local call pays a table load and one increment.
  @inline(__always)
  static func triage(_ frame: UnsafeMutablePointer<InterruptFrame>, on scheduler: CPUScheduler)
    -> Bool
  {
    let raw = frame.pointee.rax
    switch TriageCounts.route(raw) {
    case .local:
      TriageCounts.count(raw, .local, cpu: scheduler.cpu)
      return false
    case .shipped:
      ship(frame, raw, scheduler)
      return true
    case nil: return false
    }
  }

  /// A shipped-route call: it counts as shipped when it sent a message, as
  /// local when its arguments were refused before anything left.
  @inline(never)
  static func ship(
    _ frame: UnsafeMutablePointer<InterruptFrame>, _ raw: UInt64, _ scheduler: CPUScheduler
  ) {
    guard let number = SystemCallNumber(rawValue: raw) else { return }
    let thread = scheduler.current
    let before = thread.shippedMessages
    frame.pointee.rax = UInt64(bitPattern: shipped(number, frame))
    TriageCounts.count(
      raw, thread.shippedMessages == before ? .local : .shipped, cpu: scheduler.cpu)
  }

  static func shipped(_ number: SystemCallNumber, _ f: UnsafeMutablePointer<InterruptFrame>)
    -> Int64
  {
    switch number {
    case .consoleWrite:
      let length = f.pointee.rsi
      guard length <= SystemCallLimits.consoleWrite else {
        return SystemCallError.badLength.rawValue
      }
      let allowed = SystemCalls.consoleAllows(.write)
      guard allowed == 0 else { return allowed }
      // A request carries at most `requestData` bytes: longer writes go in
      // pieces, each a shipped call.
      var written: Int64 = 0
      var address = f.pointee.rdi
      var left = length
      repeat {
        let piece = min(left, UInt64(FunctionShipping.requestData))
        let result = shipWrite(address: address, length: piece)
        guard result >= 0 else { return written > 0 ? written : result }
        written += result
        address += piece
        left -= piece
      } while left > 0
      return written
    case .consoleRead:
      // Everything about the caller's memory is checked here: the service
      // cannot see it. A read returns at most what one reply carries.
      let (address, length) = (f.pointee.rdi, f.pointee.rsi)
      guard length > 0, length <= SystemCallLimits.consoleWrite else {
        return SystemCallError.badLength.rawValue
      }
      let allowed = SystemCalls.consoleAllows(.read)
      guard allowed == 0 else { return allowed }
      if let error = SystemCalls.checkWritable(address: address, length: length) {
        return error.rawValue
      }
      let asked = min(length, UInt64(FunctionShipping.replyData))
      var bytes: [UInt8] = []
      let result = FunctionShipping.ship(
        number, arguments: FunctionShipping.arguments(asked), data: ByteView(base: nil, count: 0)
      ) { data in
        for i in 0..<min(data.count, Int(asked)) { bytes.append(data.u8(i)!) }
      }
      guard result >= 0 else { return result }
      if let error = SystemCalls.copyOut(bytes, to: address) { return error.rawValue }
      return Int64(bytes.count)
    case .spawn: return spawn(f)
    default: return SystemCallError.unknownSystemCall.rawValue
    }
  }

  /// One piece of a console write, shipped from the user's page when it
  /// lies in one, else gathered first.
  static func shipWrite(address: UInt64, length: UInt64) -> Int64 {
    let arguments = FunctionShipping.arguments(length)
    switch SystemCalls.userView(address: address, length: length) {
    case .failure(let error): return error.rawValue
    case .success(let view?):
      return FunctionShipping.ship(.consoleWrite, arguments: arguments, data: view)
    case .success(nil): break  // across pages: gather it first
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(Int(length))
    if let error = SystemCalls.copyIn(address: address, length: length, into: { bytes.append($0) })
    {
      return error.rawValue
    }
    return bytes.withUnsafeBytes { buffer in
      FunctionShipping.ship(.consoleWrite, arguments: arguments, data: ByteView(buffer))
    }
  }

  /// spawn on the LWK: the module lives with the service, which stages its
  /// image in the shared region (the shipped part); the LWK validates, loads
  /// and starts the child itself, once the service knows the child's pid.
  static func spawn(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    let request: ProcessCalls.SpawnRequest
    switch ProcessCalls.spawnRequest(f) {
    case .success(let checked): request = checked
    case .failure(let error): return error.rawValue
    }
    let (me, cpu) = (request.caller, request.cpu)
    guard ProcessRunner.isServiceCPU(cpu) else { return SystemCallError.badCPU.rawValue }
    // One spawn at a time uses the staging area; the others wait their turn.
    while !FunctionShipping.spawnStaging.compareExchange(
      expected: false, desired: true, ordering: .acquiring
    ).exchanged {
      if me.killRequested { return SystemCallError.shippingFailed.rawValue }
      Scheduler.yield()
    }
    defer { FunctionShipping.spawnStaging.store(false, ordering: .releasing) }
    let staged = Array(request.name.utf8).withUnsafeBytes {
      FunctionShipping.ship(.spawn, arguments: ShippedArguments(), data: ByteView($0))
    }
    guard staged >= 0, let staging = FunctionShipping.spawnStagingArea else {
      return staged < 0 ? staged : SystemCallError.badModule.rawValue
    }
    let image = ByteView(base: UnsafeRawPointer(staging), count: Int(staged))
    let started = KernelLock.held {
      ProcessRunner.start(
        request.name, argument: request.argument, cpu: cpu, parent: request.parent,
        give: request.give, image: image, startNow: false)
    }
    switch started {
    case .success(let child):
      let adopted = FunctionShipping.ship(
        .spawn, arguments: FunctionShipping.arguments(UInt64(child.pid)),
        data: ByteView(base: nil, count: 0),
        number: FunctionShipping.adoptNumber)
      if adopted < 0 {
        // The service would refuse the child's calls: do not start it.
        KernelLock.held { ProcessRunner.abandon(child) }
        return adopted
      }
      if let thread = child.threads.first { Scheduler.start(thread) }
      return Int64(child.pid)
    case .failure(let error): return error.code.rawValue
    }
  }
}
