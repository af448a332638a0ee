/// A user program: its address space, the frames that back it, and its one
/// thread (more threads come with the scheduler). Destroying it returns every
/// frame and page table to the service partition.
final class Process {
  let pid: Int
  let name: String
  let space: AddressSpace
  /// User frames to give back when the process goes.
  var frames: [UInt64] = []
  var thread: Thread? = nil
  var exitStatus: String? = nil

  init(pid: Int, name: String, space: AddressSpace) {
    self.pid = pid
    self.name = name
    self.space = space
  }

  func destroy() {
    if space.isActive { KernelAddressSpace.activate() }
    for frame in frames { _ = memory.service?.free(frame) }
    frames.removeAll()
    thread = nil
  }
}

/// A thread of a user process and the state to start it with. Until the
/// scheduler arrives a thread runs to completion on the CPU that started it,
/// entering the kernel on that CPU's user-entry stack.
final class Thread {
  let tid: Int
  let process: Process
  var entry: UInt64 = 0
  var userStackTop: UInt64 = 0
  var argument: (address: UInt64, length: UInt64) = (0, 0)
  /// The shell's stack while the thread runs, for `user_return`.
  var savedKernelRSP: UInt64 = 0
  var state = "ready"

  init(tid: Int, process: Process) {
    self.tid = tid
    self.process = process
  }
}
