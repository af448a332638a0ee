import UserSystem

/// The random system calls: every call of the ABI but exit and threadExit,
/// plus unknown numbers, with arguments drawn by ArgumentGenerator. A call
/// that would block for good (IPC or dtuWait on an endpoint this program
/// could receive or send on, with no partner) gets a slot that cannot
/// block instead, and a thread created with the calls' random entry and
/// stack is always refused (one argument is made invalid): the fuzzer must
/// finish, and must not kill itself on purpose. Counts every result.
struct SystemCallFuzzer {
  var generator: ArgumentGenerator
  let targets: FuzzTargets
  var calls = 0
  var ok = 0
  /// By error code: errors[-code].
  var errors = [Int](repeating: 0, count: SystemCallError.allCases.count + 1)
  /// Results that are neither a success nor an error of the ABI.
  var other = 0
  /// Calls given a non-blocking slot instead of the one drawn.
  var redirected = 0
  /// Each call from this one on is printed before it is made (to find the
  /// call a kernel stopped at, and make it a fixed check).
  var traceFrom = Int.max

  init(seed: UInt64, targets: FuzzTargets) {
    self.targets = targets
    generator = ArgumentGenerator(
      seed: seed, targets: targets, pid: UInt64(bitPattern: System.pid))
  }

  /// The calls drawn from: every number but the two that end the caller.
  static let numbers: [SystemCallNumber] = SystemCallNumber.allCases.filter {
    $0 != .exit && $0 != .threadExit
  }

  mutating func run(count: Int) {
    for i in 0..<count {
      if i % 256 == 0 { targets.replenish() }
      one()
    }
  }

  mutating func one() {
    var raw: UInt64
    var arguments: [UInt64] = [0, 0, 0, 0, 0, 0]
    if generator.below(32) == 0 {
      raw = generator.pick([42, 43, 64, 100 + generator.below(1000), 1 << 32, .max])
    } else {
      let number = Self.numbers[Int(generator.below(UInt64(Self.numbers.count)))]
      raw = number.rawValue
      for (i, kind) in argumentKinds(number).enumerated() { arguments[i] = generator.value(kind) }
      keepFinite(number, &arguments)
    }
    if calls >= traceFrom {
      print(
        "badcalls: call \(calls): \(raw)(\(hex(arguments[0])), \(hex(arguments[1])), \(hex(arguments[2])), \(hex(arguments[3])), \(hex(arguments[4])), \(hex(arguments[5])))"
      )
    }
    var out: System.Results = (0, 0, 0, 0, 0, 0)
    let result = withUnsafeMutableBytes(of: &out) { buffer in
      user_syscall_out(
        raw, arguments[0], arguments[1], arguments[2], arguments[3], arguments[4], arguments[5],
        buffer.baseAddress!.assumingMemoryBound(to: UInt64.self))
    }
    calls += 1
    if result >= 0 {
      ok += 1
      learn(raw, arguments, result)
    } else if SystemCallError(rawValue: result) != nil {
      errors[Int(-result)] += 1
    } else {
      other += 1
      print("badcalls: call \(raw) gave \(result), outside the ABI")
    }
  }

  /// What a successful call teaches the generator: IDs to import and
  /// revoke, slots that are now stale.
  mutating func learn(_ raw: UInt64, _ arguments: [UInt64], _ result: Int64) {
    switch SystemCallNumber(rawValue: raw) {
    case .dtuExport: generator.remember(exportedID: UInt64(bitPattern: result))
    case .dtuMemoryRead: FuzzTargets.fillBuffer()
    case .capabilityDelete, .capabilityMove: generator.staleSlot = arguments[0]
    default: break
    }
  }

  /// Makes the calls that would never return (or would start a thread at
  /// a random address) fail or return instead.
  mutating func keepFinite(_ number: SystemCallNumber, _ arguments: inout [UInt64]) {
    switch number {
    case .send, .call:
      avoidBlocking(&arguments[0], type: endpointType, right: SystemCallRights.write)
    case .receive, .replyReceive:
      avoidBlocking(&arguments[0], type: endpointType, right: SystemCallRights.read)
    case .dtuWait:
      avoidBlocking(&arguments[0], type: receiveEndpointType, right: SystemCallRights.read)
    case .threadCreate:
      switch generator.below(4) {
      case 0: arguments[0] = InitialSlot.console  // occupied
      case 1: arguments[1] = generator.pick([0x4010_0000, 0x8000_0000_0000_0000, 0])
      case 2: arguments[4] = generator.pick([256, 1 << 40])
      default: arguments[5] = generator.pick([3, .max])
      }
    case .consoleRead:
      // A read into good memory waits for typed input (the foreground
      // program has the console's read right): aim it where it cannot land.
      if arguments[1] > 0, arguments[1] <= SystemCallLimits.consoleWrite {
        // (Code is read-only; nothing is ever mapped after the buffer.)
        arguments[0] = generator.pick([
          targets.codeAddress, FuzzTargets.bufferAddress + FuzzTargets.bufferBytes,
          0x4010_0000, 0x8000_0000_0000_0000,
        ])
      }
    case .consoleWrite:
      // What gets printed is at most one byte, a newline from the buffer:
      // the console is the scenarios' witness, and the lines of programs
      // running beside this one must stay whole. Pointers elsewhere keep
      // only lengths that fail, or print nothing.
      let (address, length) = (arguments[0], arguments[1])
      guard length <= SystemCallLimits.consoleWrite else { break }
      let end = FuzzTargets.bufferAddress + FuzzTargets.bufferBytes
      let inBuffer = address >= FuzzTargets.bufferAddress && address < end
      // Into the never-mapped page after the buffer: badAddress.
      let reachesPastBuffer =
        address >= FuzzTargets.bufferAddress && address < end + 4096
        && address &+ length > end
      if reachesPastBuffer || !UserSpace.contains(address, length: max(length, 1)) { break }
      arguments[1] = inBuffer ? min(length, 1) : 0
    default: break
    }
  }

  /// When `slot` holds a capability to an object of `type` with `right`,
  /// the call would wait for a partner that never comes: aim it at a slot
  /// of another kind.
  mutating func avoidBlocking(_ slot: inout UInt64, type: Int64, right: UInt64) {
    guard case .success(let info) = Capabilities.inspect(slot),
      info.type == type, info.rights & right != 0
    else { return }
    // (Never another valid slot: copies may have landed in any.)
    slot = generator.pick([0, InitialSlot.console, InitialSlot.limit, .max])
    redirected += 1
  }

  /// ObjectType's raw values (Kernel/Core/Capabilities/Capability.swift).
  let endpointType: Int64 = 4
  let receiveEndpointType: Int64 = 6

  func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

  /// How many different error codes came back.
  var distinctErrors: Int { errors.filter { $0 > 0 }.count }

  func report(seed: UInt64) {
    print(
      "badcalls: \(calls) random calls (seed \(seed)): \(ok) ok, \(distinctErrors) distinct errors, \(redirected) kept from blocking, \(other) other"
    )
    for error in SystemCallError.allCases where errors[Int(-error.rawValue)] > 0 {
      print("badcalls:   \(errors[Int(-error.rawValue)]) \(error.name)")
    }
  }
}
