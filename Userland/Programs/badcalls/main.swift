import UserSystem

/// Every system call with invalid arguments (each must return its own error
/// code), IPC aborted by deleting the endpoint capability it blocked
/// through, then random system calls with typed arguments (SystemCallFuzzer);
/// prints how many returned each result. The kernel must survive and this
/// process must still be running.
///
///     badcalls [CALLS [SEED [TRACE-FROM]]]
///
/// (100 000 calls, seed 0x9E3779B97F4A7C15; from call TRACE-FROM on, each
/// call is printed before it is made.)
enum Program {
  nonisolated(unsafe) static var failures = 0

  static func check(_ what: StaticString, _ result: Int64, _ expected: SystemCallError) {
    if result != expected.rawValue {
      print("badcalls: \(what): got \(resultName(result)), expected \(expected.name)")
      failures += 1
    }
  }

  static func main(argument: String) -> Int64 {
    let words = argument.split(separator: " ")
    guard words.count <= 3, let calls = number(words.first, or: 100_000),
      let seed = number(words.count > 1 ? words[1] : nil, or: 0x9E37_79B9_7F4A_7C15),
      let traceFrom = number(words.count > 2 ? words[2] : nil, or: UInt64(Int.max))
    else {
      print("usage: badcalls [CALLS [SEED [TRACE-FROM]]]")
      return 2
    }
    invalidArguments()
    print("badcalls: invalid-argument checks done, \(failures) unexpected results")
    abortedIPC()
    emptyWrite()
    let targets = FuzzTargets(
      codeAddress: UInt64(UInt(bitPattern: unsafeBitCast(codeAddress, to: UnsafeRawPointer.self))))
    guard targets.setUp() else {
      print("badcalls: cannot set up the fuzzer's buffer")
      return 1
    }
    var fuzzer = SystemCallFuzzer(seed: seed, targets: targets)
    fuzzer.traceFrom = Int(traceFrom)
    fuzzer.run(count: Int(calls))
    targets.giveBack()
    _ = Threads.setPriority(InitialSlot.thread, 1)
    // A newline first: the calls may have left this CPU mid-line.
    print("")
    fuzzer.report(seed: seed)
    print("badcalls: survived")
    return failures == 0 && fuzzer.other == 0 ? 0 : 1
  }

  /// A decimal or 0x-hexadecimal argument; `fallback` when there is none.
  static func number(_ word: Substring?, or fallback: UInt64) -> UInt64? {
    guard let word else { return fallback }
    var digits = word
    var radix: UInt64 = 10
    if word.hasPrefix("0x") {
      digits = word.dropFirst(2)
      radix = 16
    }
    guard !digits.isEmpty else { return nil }
    var value: UInt64 = 0
    for byte in digits.utf8 {
      let digit: UInt64
      switch byte {
      case 48...57: digit = UInt64(byte - 48)
      case 97...102 where radix == 16: digit = UInt64(byte - 87)
      default: return nil
      }
      let (product, overflow) = value.multipliedReportingOverflow(by: radix)
      guard !overflow, product <= .max - digit else { return nil }
      value = product + digit
    }
    return value
  }

  static func invalidArguments() {
    let kernelAddress: UInt64 = 0x4010_0000
    let nonCanonical: UInt64 = 0x8000_0000_0000_0000
    let unmapped: UInt64 = 0x0000_2000_0000_0000
    let code: UInt64 = 0x0000_0100_0000_0000
    let same = SystemCallRights.same
    func raw(_ number: SystemCallNumber, _ a: [UInt64]) -> Int64 { System.raw(number.rawValue, a) }

    check("consoleWrite kernel address", raw(.consoleWrite, [kernelAddress, 16]), .notUserAddress)
    check("consoleWrite non-canonical", raw(.consoleWrite, [nonCanonical, 16]), .notUserAddress)
    check("consoleWrite unmapped", raw(.consoleWrite, [unmapped, 16]), .badAddress)
    check("consoleWrite too long", raw(.consoleWrite, [unmapped, 1 << 20]), .badLength)
    check("consoleWrite wrapping", raw(.consoleWrite, [UInt64.max - 4, 16]), .notUserAddress)
    check("consoleRead of nothing", raw(.consoleRead, [unmapped, 0]), .badLength)
    check("consoleRead into kernel memory", raw(.consoleRead, [kernelAddress, 8]), .notUserAddress)
    check("consoleRead into unmapped memory", raw(.consoleRead, [unmapped, 8]), .badAddress)
    check("consoleRead into code", raw(.consoleRead, [code, 8]), .badAddress)
    check("setThreadPointer kernel", raw(.setThreadPointer, [kernelAddress]), .notUserAddress)
    check("setThreadPointer non-canonical", raw(.setThreadPointer, [nonCanonical]), .notUserAddress)
    check("unknown number", System.raw(1000, []), .unknownSystemCall)
    check("huge number", System.raw(UInt64.max, []), .unknownSystemCall)

    // Capabilities. Slot 1 is the console (-w-g), 5 the code segment (r-xg).
    check("copy from beyond the space", raw(.capabilityCopy, [1 << 40, 200, same]), .invalidSlot)
    check("copy from the null slot", raw(.capabilityCopy, [0, 200, same]), .nullSlot)
    check("copy from an empty slot", raw(.capabilityCopy, [300, 200, same]), .emptySlot)
    check("copy onto an occupied slot", raw(.capabilityCopy, [1, 2, same]), .slotOccupied)
    check("copy with more rights", raw(.capabilityCopy, [1, 200, 7]), .rightsEscalation)
    check("copy with undefined rights", raw(.capabilityCopy, [1, 200, 1 << 40]), .undefinedRights)
    if raw(.capabilityMint, [1, 200, same, 7]) != 0 {
      print("badcalls: a valid mint failed")
      failures += 1
    }
    check(
      "mint a labelled capability", raw(.capabilityMint, [200, 201, same, 8]), .alreadyLabelled)
    check("move onto itself", raw(.capabilityMove, [200, 200]), .sameSlot)
    check("delete an empty slot", raw(.capabilityDelete, [300]), .emptySlot)
    check("revoke beyond the space", raw(.capabilityRevoke, [UInt64.max]), .invalidSlot)
    check("inspect an empty slot", raw(.capabilityInspect, [300]), .emptySlot)

    // Objects and mappings.
    check("memory of no pages", raw(.memoryCreate, [210, 0]), .badLength)
    check("memory of too many pages", raw(.memoryCreate, [210, 5000]), .badLength)
    check("memory beyond the quota", raw(.memoryCreate, [210, 1024]), .quotaExhausted)
    check("memory into an occupied slot", raw(.memoryCreate, [1, 1]), .slotOccupied)
    check("map a console", raw(.memoryMap, [1, unmapped, SystemCallRights.read]), .wrongType)
    check(
      "map unaligned", raw(.memoryMap, [5, unmapped + 8, SystemCallRights.read]), .badAlignment)
    check(
      "map at a kernel address", raw(.memoryMap, [5, kernelAddress, SystemCallRights.read]),
      .notUserAddress)
    check("map writable and executable", raw(.memoryMap, [5, unmapped, 7]), .writeAndExecute)
    check("map with undefined rights", raw(.memoryMap, [5, unmapped, 1 << 9]), .undefinedRights)
    check(
      "map code writable", raw(.memoryMap, [5, unmapped, SystemCallRights.write]), .missingRights)
    check("map over the code", raw(.memoryMap, [5, code, SystemCallRights.read]), .alreadyMapped)
    check("unmap what is not mapped", raw(.memoryUnmap, [5, unmapped]), .notMapped)
    check("endpoint into an occupied slot", raw(.endpointCreate, [1]), .slotOccupied)

    // Threads and processes.
    check(
      "thread with a stack at 0", raw(.threadCreate, [220, code, 0, 0, same, 1]), .notUserAddress)
    check(
      "thread with a stack at 4", raw(.threadCreate, [220, code, 4, 0, same, 1]), .notUserAddress)
    check(
      "thread at a kernel address", raw(.threadCreate, [220, kernelAddress, unmapped, 0, same, 1]),
      .notUserAddress)
    check(
      "thread with an unaligned stack", raw(.threadCreate, [220, code, unmapped + 8, 0, same, 1]),
      .badAlignment)
    check("thread on no CPU", raw(.threadCreate, [220, code, unmapped, 0, 999, 1]), .badCPU)
    check(
      "thread above user priority", raw(.threadCreate, [220, code, unmapped, 0, same, 3]),
      .badPriority)
    check(
      "thread into an occupied slot", raw(.threadCreate, [1, code, unmapped, 0, same, 1]),
      .slotOccupied)
    check("priority above user priority", raw(.threadPriority, [3, 3]), .badPriority)
    check("information on a console", raw(.threadInfo, [1]), .wrongType)
    check("information on an empty slot", raw(.threadInfo, [300]), .emptySlot)
    check("priority of a console", raw(.threadPriority, [1, 1]), .wrongType)
    let name: StaticString = "nosuchprogram"
    let nameAddress = UInt64(UInt(bitPattern: name.utf8Start))
    check("spawn a missing module", raw(.spawn, [nameAddress, 13, 0, 0, 0, same]), .noSuchModule)
    check("spawn with an empty name", raw(.spawn, [nameAddress, 0, 0, 0, 0, same]), .badLength)
    check("spawn from a bad address", raw(.spawn, [unmapped, 5, 0, 0, 0, same]), .badAddress)
    check("wait for no child", raw(.wait, [999]), .noSuchChild)

    // IPC.
    check("send on a console", raw(.send, [1, 0, 0, 0, 0, 0]), .wrongType)
    check("receive on an empty slot", raw(.receive, [300, 0]), .emptySlot)
    check("reply with no call", raw(.reply, [0, 0, 0, 0]), .noReplyPending)
    _ = Capabilities.createEndpoint(230)
    _ = Capabilities.copy(230, to: 231, rights: SystemCallRights.read)
    check("send without the write right", raw(.send, [231, 0, 0, 0, 0, 0]), .missingRights)
    _ = Capabilities.copy(1, to: 232, rights: SystemCallRights.write)
    check("transfer without grant", raw(.send, [230, 0, 0, 0, 0, 232]), .missingRights)
    check("transfer from an empty slot", raw(.send, [230, 0, 0, 0, 0, 300]), .emptySlot)
    for slot: UInt64 in [200, 230, 231, 232] { Capabilities.delete(slot) }
  }

  nonisolated(unsafe) static var waiterResult: Int64 = 1

  /// A thread blocks in receive through a copy of an endpoint capability;
  /// deleting that copy must end its wait with ipcAborted (a wait that
  /// never ends leaves the result at 1, which fails the check).
  ///
  /// On the LWK both the receive and the delete are shipped to the service
  /// kernel, and a busy service side may take the delete first: then the
  /// receive rightly finds an empty slot, and the check has not happened
  /// yet. So it is tried again, a few times, until the receive was there
  /// first.
  static func abortedIPC() {
    let attempts = 5
    for attempt in 1...attempts {
      waiterResult = 1
      guard Capabilities.createEndpoint(240) == 0, Capabilities.copy(240, to: 241) == 0,
        Threads.start(slot: 242, argument: 241, abortedWaiter) > 0
      else {
        print("badcalls: cannot set up the IPC abort check")
        failures += 1
        return
      }
      // It runs next on this CPU (same priority) and blocks in receive.
      System.call(.yield)
      Capabilities.delete(241)
      var spins = 0
      while waiterResult == 1 && spins < 1000 {
        _ = System.call(.yield)
        spins += 1
      }
      let result = waiterResult
      Capabilities.delete(240)
      Capabilities.delete(242)
      if result == SystemCallError.emptySlot.rawValue && attempt < attempts { continue }
      check("receive through a deleted capability", result, .ipcAborted)
      print(
        "badcalls: blocked receive ended with \(resultName(result)) when its capability was deleted"
      )
      return
    }
  }
}

extension Program {
  nonisolated(unsafe) static var lineCycles: UInt64 = 0

  /// An empty console write must not keep the console from other CPUs:
  /// the kernel took its lock for it and kept it until a newline (as for
  /// half a line), so another CPU's next line waited the lock's full
  /// second (fuzzer finding; with one CPU there is nothing to check).
  ///
  /// A host swamped by several fuzzers may spoil one try: a shipped call
  /// fails after 5 s when the service side cannot keep up, and a line may
  /// wait long for its CPU. A kernel that keeps the lock spoils every try,
  /// so it takes three failed tries to fail the check.
  static func emptyWrite() {
    let tries = 3
    for attempt in 1...tries {
      lineCycles = 0
      if emptyWriteHeldNothing() { return }
      print("badcalls: empty-write check, try \(attempt) of \(tries) failed")
    }
    failures += 1
  }

  /// One try of `emptyWrite`; false (and why) when it failed.
  static func emptyWriteHeldNothing() -> Bool {
    let result = System.raw(SystemCallNumber.consoleWrite.rawValue, [0x0000_2000_0000_0000, 0])
    if result != 0 {
      print("badcalls: a console write of nothing returned \(resultName(result)), not 0")
      return false
    }
    guard Threads.otherCPU() != nil else { return true }
    guard Threads.startElsewhere(slot: 243, timedLine) else {
      print("badcalls: cannot start the empty-write check's thread")
      return false
    }
    // Waited for by time, not by a count of yields: on the LWK a thread
    // runs to completion, so the line waits until the other CPU's current
    // program (another fuzzer) has ended, seconds on a loaded host.
    let deadline = user_rdtsc() + 80_000_000_000
    while lineCycles == 0 && user_rdtsc() < deadline { System.call(.yield) }
    Capabilities.delete(243)
    // The lock's wait is a second, 2.6e9 cycles on the machine this runs
    // on; a loaded machine (or the LWK's shipped write) takes a few
    // tenths at worst.
    if lineCycles == 0 || lineCycles > 1_500_000_000 {
      print("badcalls: an empty write held the console for \(lineCycles) cycles")
      return false
    }
    return true
  }
}

let timedLine: @convention(c) (UInt64) -> Void = { _ in
  let start = user_rdtsc()
  let line: StaticString = "badcalls: a line from another CPU after an empty write\n"
  System.write(UnsafeRawBufferPointer(start: line.utf8Start, count: line.utf8CodeUnitCount))
  Program.lineCycles = max(user_rdtsc() - start, 1)
}

/// Some mapped code of this program (readable, not writable).
let codeAddress: @convention(c) (UInt64) -> Void = { _ in }

let abortedWaiter: @convention(c) (UInt64) -> Void = { slot in
  Program.waiterResult = IPC.receive(slot).status
}
