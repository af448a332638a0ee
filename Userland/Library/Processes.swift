import UserSystem

/// Threads and child processes.
enum Threads {
  /// Starts `body(argument)` on a new thread of this process, with a stack
  /// from the heap, on `cpu` at `priority`; its capability goes in `slot`.
  /// Returns the thread id or an error code. The thread ends when `body`
  /// returns. `body` must not allocate (the heap is not shared safely).
  static func start(
    slot: UInt64, cpu: UInt64 = SystemCallCPU.same, priority: UInt64 = 1,
    stackBytes: Int = 64 * 1024, argument: UInt64 = 0,
    _ body: @convention(c) (UInt64) -> Void
  ) -> Int64 {
    let stack = UnsafeMutableRawPointer.allocate(byteCount: stackBytes, alignment: 16)
    let top = (UInt64(UInt(bitPattern: stack)) + UInt64(stackBytes)) & ~15
    let start = UnsafeMutablePointer<UInt64>(bitPattern: UInt(top - 16))!
    start[0] = UInt64(UInt(bitPattern: unsafeBitCast(body, to: UnsafeRawPointer.self)))
    start[1] = argument
    return System.raw(
      SystemCallNumber.threadCreate.rawValue,
      [slot, user_thread_start(), top - 16, 0, cpu, priority])
  }
}

extension Threads {
  /// A CPU of this kernel instance other than the calling thread's.
  static func otherCPU() -> UInt64? {
    guard case .success(let info) = info(InitialSlot.thread) else { return nil }
    for cpu in 0..<UInt64(256) {
      let (node, ours) = Endpoints.node(ofCPU: cpu)
      if node < 0 { break }
      if ours && cpu != info.cpu { return cpu }
    }
    return nil
  }

  /// Starts `body` on another CPU of this instance (for two calls that
  /// must really run at once); false when there is none or it failed.
  static func startElsewhere(slot: UInt64, _ body: @convention(c) (UInt64) -> Void) -> Bool {
    guard let cpu = otherCPU() else { return false }
    return start(slot: slot, cpu: cpu, priority: 1, body) > 0
  }

  struct Info {
    var tid: Int64
    var state: ThreadStateCode?
    var cpu: UInt64
    var priority: UInt64
    var inIPC: Bool
  }

  /// What the kernel says of the thread in `slot`, or the error code.
  static func info(_ slot: UInt64) -> Result<Info, SystemCallError> {
    let (tid, out) = System.callWithResults(.threadInfo, slot)
    guard tid > 0 else { return .failure(SystemCallError(rawValue: tid) ?? .invalidObject) }
    return .success(
      Info(
        tid: tid, state: ThreadStateCode(rawValue: out.0), cpu: out.1, priority: out.2,
        inIPC: out.3 != 0))
  }

  /// Sets the priority of the thread in `slot` (0...2).
  @discardableResult
  static func setPriority(_ slot: UInt64, _ priority: UInt64) -> Int64 {
    System.call(.threadPriority, slot, priority)
  }
}

enum Children {
  /// Starts module `name` as a child on `cpu`, handing it the capability in
  /// `give` (0: none) in its InitialSlot.given. Returns its pid or an error.
  static func spawn(
    _ name: StaticString, argument: StaticString = "", give: UInt64 = 0,
    cpu: UInt64 = SystemCallCPU.same
  ) -> Int64 {
    System.raw(
      SystemCallNumber.spawn.rawValue,
      [
        UInt64(UInt(bitPattern: name.utf8Start)), UInt64(name.utf8CodeUnitCount),
        UInt64(UInt(bitPattern: argument.utf8Start)), UInt64(argument.utf8CodeUnitCount), give, cpu,
      ])
  }

  /// The child's exit status, or childFaulted / an error code.
  static func wait(_ pid: Int64) -> Int64 { System.call(.wait, UInt64(bitPattern: pid)) }
}
