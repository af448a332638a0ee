import X86

/// spawn and wait: programs starting programs. A child's capability space
/// is a child of its parent's (its quota is charged there), its console is
/// lent by the parent, and it may be given one capability at start.
enum ProcessCalls {
  /// What a spawn call asks for, checked and copied in.
  struct SpawnRequest {
    var parent: Process
    var caller: Thread
    var name: String
    var argument: String
    var cpu: Int
    var give: UInt64
  }

  /// The arguments of spawn (on either instance), or the error they earn.
  static func spawnRequest(_ f: UnsafeMutablePointer<InterruptFrame>) -> Result<
    SpawnRequest, SystemCallError
  > {
    guard let me = Scheduler.here?.current, let parent = me.process else {
      return .failure(.invalidObject)
    }
    guard f.pointee.rsi > 0, f.pointee.rsi <= SystemCallLimits.nameLength,
      f.pointee.r10 <= SystemCallLimits.argumentLength
    else { return .failure(.badLength) }
    var name: [UInt8] = []
    var argument: [UInt8] = []
    if let error = SystemCalls.copyIn(
      address: f.pointee.rdi, length: f.pointee.rsi, into: { name.append($0) })
      ?? SystemCalls.copyIn(
        address: f.pointee.rdx, length: f.pointee.r10, into: { argument.append($0) })
    {
      return .failure(error)
    }
    let cpu =
      f.pointee.r9 == SystemCallCPU.same
      ? me.cpu : Int(truncatingIfNeeded: min(f.pointee.r9, 1 << 20))
    return .success(
      SpawnRequest(
        parent: parent, caller: me, name: String(decoding: name, as: UTF8.self),
        argument: String(decoding: argument, as: UTF8.self), cpu: cpu, give: f.pointee.r8))
  }

  static func spawn(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    let request: SpawnRequest
    switch spawnRequest(f) {
    case .success(let checked): request = checked
    case .failure(let error): return error.rawValue
    }
    let started = KernelLock.held {
      ProcessRunner.start(
        request.name, argument: request.argument, cpu: request.cpu, parent: request.parent,
        give: request.give)
    }
    switch started {
    case .success(let child): return Int64(child.pid)
    case .failure(let error): return error.code.rawValue
    }
  }

  static func wait(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    guard let me = Scheduler.here?.current, let parent = me.process else {
      return SystemCallError.invalidObject.rawValue
    }
    let child = KernelLock.held {
      ProcessRunner.live.first { UInt64($0.pid) == f.pointee.rdi && $0.parentPID == parent.pid }
    }
    guard let child else { return SystemCallError.noSuchChild.rawValue }
    ProcessRunner.waitFor(child)
    guard child.exitStatus != nil else { return SystemCallError.ipcAborted.rawValue }
    // Waited for once: it can go now, and its quota back to this process.
    // Its last thread may still be switching away on its CPU (at most until
    // that CPU's next tick).
    child.parentPID = nil
    var rounds = 0
    while !ProcessRunner.isFinished(child) && rounds < 100_000 {
      Scheduler.yield()
      rounds += 1
    }
    ProcessRunner.reap()
    return child.exitCode ?? SystemCallError.childFaulted.rawValue
  }
}
