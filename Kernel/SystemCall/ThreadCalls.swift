/// threadCreate and threadExit: more threads in the caller's process, each
/// with a thread object (its kernel stack is charged to the quota) and a
/// place on one service CPU's run queue.
enum ThreadCalls {
  static func create(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    let (slot, entry, stackTop, argument) = (
      f.pointee.rdi, f.pointee.rsi, f.pointee.rdx, f.pointee.r10
    )
    guard let me = Scheduler.here?.current, let process = me.process else {
      return SystemCallError.invalidObject.rawValue
    }
    let cpu =
      f.pointee.r8 == SystemCallCPU.same
      ? me.cpu : Int(truncatingIfNeeded: min(f.pointee.r8, 1 << 20))
    guard UserSpace.contains(entry, length: 1), stackTop >= 8,
      UserSpace.contains(stackTop - 8, length: 8)
    else {
      return SystemCallError.notUserAddress.rawValue
    }
    guard stackTop & 15 == 0 else { return SystemCallError.badAlignment.rawValue }
    guard ProcessRunner.isServiceCPU(cpu) else { return SystemCallError.badCPU.rawValue }
    guard f.pointee.r9 <= SystemCallLimits.userPriority else {
      return SystemCallError.badPriority.rawValue
    }
    return CapabilityCalls.withSpace { space throws(CapabilityError) in
      let destination = CapabilityAddress(space: space, slot: slot)
      if let error = CapabilityCalls.probeEmpty(destination) { return error.rawValue }
      guard let stack = KernelStacks.allocate(pages: ProcessRunner.kernelStackPages) else {
        return SystemCallError.outOfMemory.rawValue
      }
      let created: CreatedObject
      do throws(CapabilityError) {
        created = try ProcessCapabilities.system.createObject(
          .thread, bytes: ProcessCapabilities.threadBytes, at: destination)
      } catch {
        KernelStacks.release(top: stack)
        throw error
      }
      let thread = ProcessRunner.addUserThread(
        to: process, priority: Int(f.pointee.r9), cpu: cpu, kernelStack: stack, entry: entry,
        stack: stackTop, rdi: argument, rsi: 0)
      thread.threadPointer = me.threadPointer
      KernelObjects.set(created.object, .thread(thread))
      Scheduler.start(thread)
      return Int64(thread.tid)
    }
  }

  static func setPriority(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    let (slot, priority) = (f.pointee.rdi, f.pointee.rsi)
    guard priority <= SystemCallLimits.userPriority else {
      return SystemCallError.badPriority.rawValue
    }
    return CapabilityCalls.withSpace { space throws(CapabilityError) in
      let (_, capability) = try ProcessCapabilities.lookup(
        CapabilityAddress(space: space, slot: slot), type: .thread, requiring: .write)
      guard case .thread(let thread) = KernelObjects.object(capability.object),
        thread.state != .dead, let scheduler = Scheduler.perCPU[thread.cpu]
      else { return SystemCallError.invalidObject.rawValue }
      scheduler.setPriority(thread, Int(priority))
      return 0
    }
  }

  static func info(_ f: UnsafeMutablePointer<InterruptFrame>) -> Int64 {
    let slot = f.pointee.rdi
    return CapabilityCalls.withSpace { space throws(CapabilityError) in
      let (_, capability) = try ProcessCapabilities.lookup(
        CapabilityAddress(space: space, slot: slot), type: .thread, requiring: .read)
      guard case .thread(let thread) = KernelObjects.object(capability.object) else {
        return SystemCallError.invalidObject.rawValue
      }
      let state: ThreadStateCode =
        switch thread.state {
        case .ready: .ready
        case .running: .running
        case .blocked: .blocked
        case .dead: .dead
        }
      f.pointee.rdi = state.rawValue
      f.pointee.rsi = UInt64(thread.cpu)
      f.pointee.rdx = UInt64(thread.priority)
      f.pointee.r10 = thread.ipc.pointee.state == .none ? 0 : 1
      return Int64(thread.tid)
    }
  }
}
