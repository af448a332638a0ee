import Synchronization
import X86

/// A function to run on another CPU: a C function pointer and one argument,
/// so that nothing needs to be allocated or reference-counted across CPUs.
typealias RemoteFunction = @convention(c) (UInt64) -> UInt64

/// One request slot per CPU. A caller owns it while `busy`; it publishes the
/// request by bumping `requested` and sends the remote-call IPI; the target's
/// handler runs the function and publishes `completed`. A caller that gave
/// up waiting leaves the slot busy and `abandoned`: the next caller takes
/// it over once the late answer is in, not before (it must not meet a new
/// request), so one slow answer does not disable the CPU's mailbox for good.
final class RemoteCallMailbox {
  let busy = Atomic<Bool>(false)
  let abandoned = Atomic<Bool>(false)
  let requested = Atomic<UInt64>(0)
  let completed = Atomic<UInt64>(0)
  nonisolated(unsafe) var function: RemoteFunction? = nil
  nonisolated(unsafe) var argument: UInt64 = 0
  nonisolated(unsafe) var result: UInt64 = 0
}

enum RemoteCallError: Error {
  case noSuchCPU(Int)
  case notRunning(Int, String)
  case timedOut(Int)
  case busy(Int)
  case otherInstance(Int)

  var description: String {
    switch self {
    case .noSuchCPU(let cpu): "CPU \(cpu) does not exist"
    case .notRunning(let cpu, let state): "CPU \(cpu) is \(state)"
    case .timedOut(let cpu): "CPU \(cpu) did not answer in time"
    case .busy(let cpu): "CPU \(cpu)'s mailbox stayed busy"
    case .otherInstance(let cpu):
      "CPU \(cpu) is run by the \(KernelInstance.other.name) kernel instance (lwk ping reaches it)"
    }
  }
}

enum RemoteCall {
  /// How long a caller waits for an answer before giving up.
  static let timeoutMicroseconds: UInt64 = 200_000

  /// Sends the fixed-vector IPI to one CPU of this instance: the CPU must
  /// exist, be run by this instance and be online.
  static func sendIPI(to cpu: Int, vector: UInt8) -> Result<Void, RemoteCallError> {
    guard cpu >= 0, cpu < processors.count else { return .failure(.noSuchCPU(cpu)) }
    let target = processors[cpu]
    guard target.isLocal else { return .failure(.otherInstance(cpu)) }
    guard target.state == .online else {
      return .failure(.notRunning(cpu, target.state.description))
    }
    LocalAPIC.send(to: target.apicID, command: UInt32(vector) | LocalAPIC.deliveryFixed)
    return .success(())
  }

  /// Runs `function(argument)` on `cpu` and waits for its result.
  static func run(on cpu: Int, _ function: RemoteFunction, _ argument: UInt64) -> Result<
    UInt64, RemoteCallError
  > {
    guard cpu >= 0, cpu < processors.count else { return .failure(.noSuchCPU(cpu)) }
    guard processors[cpu].isLocal else { return .failure(.otherInstance(cpu)) }
    if cpu == Processor.currentIndex { return .success(function(argument)) }
    let box = processors[cpu].mailbox
    let deadline = x86_rdtsc() + Clock.cycles(microseconds: timeoutMicroseconds)
    while !box.busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    {
      if box.completed.load(ordering: .acquiring) == box.requested.load(ordering: .acquiring),
        box.abandoned.compareExchange(expected: true, desired: false, ordering: .acquiring)
          .exchanged
      {
        break  // the late answer came: the slot is this caller's now
      }
      if x86_rdtsc() > deadline { return .failure(.busy(cpu)) }
      x86_pause()
    }
    box.function = function
    box.argument = argument
    let sequence = box.requested.load(ordering: .relaxed) &+ 1
    box.requested.store(sequence, ordering: .releasing)
    if case .failure(let error) = sendIPI(to: cpu, vector: InterruptVector.remoteCall) {
      box.busy.store(false, ordering: .releasing)
      return .failure(error)
    }
    while box.completed.load(ordering: .acquiring) != sequence {
      if x86_rdtsc() > deadline {
        // The slot stays busy: a late answer must not meet a new request.
        box.abandoned.store(true, ordering: .releasing)
        return .failure(.timedOut(cpu))
      }
      x86_pause()
    }
    let result = box.result
    box.busy.store(false, ordering: .releasing)
    return .success(result)
  }

  /// The remote-call IPI handler on the target CPU.
  static func handleInterrupt() {
    let box = processors[Processor.currentIndex].mailbox
    let sequence = box.requested.load(ordering: .acquiring)
    guard sequence != box.completed.load(ordering: .relaxed), let function = box.function else {
      return
    }
    box.result = function(box.argument)
    box.completed.store(sequence, ordering: .releasing)
  }
}

/// TLB shootdown on top of remote calls: every other running CPU of this
/// instance drops its translation of a page (the other instance's page
/// tables never map this instance's memory).
enum TLBShootdown {
  static func invalidate(_ virtual: UInt64) -> Int {
    x86_invlpg(virtual)
    var failures = 0
    let me = Processor.currentIndex
    for cpu in processors where cpu.isLocal && cpu.state == .online && cpu.index != me {
      if case .failure = RemoteCall.run(on: cpu.index, invalidatePage, virtual) { failures += 1 }
    }
    return failures
  }
}

extension TLBShootdown {
  /// A range: page by page when short, else the whole (non-global) TLB.
  static func invalidate(_ address: UInt64, pages: UInt64) -> Int {
    if pages == 1 { return invalidate(address) }
    let whole = pages > 32
    let function = whole ? flushAll : invalidateRange
    let argument = whole ? 0 : address | pages
    _ = function(argument)
    var failures = 0
    let me = Processor.currentIndex
    for cpu in processors where cpu.isLocal && cpu.state == .online && cpu.index != me {
      if case .failure = RemoteCall.run(on: cpu.index, function, argument) { failures += 1 }
    }
    return failures
  }
}

/// Argument: a page address with the page count (at most 32) in its low bits.
let invalidateRange: RemoteFunction = { argument in
  let base = argument & ~0xFFF
  for page in 0..<(argument & 0xFFF) { x86_invlpg(base + page * 4096) }
  return 0
}

let flushAll: RemoteFunction = { _ in
  x86_write_cr3(x86_read_cr3())
  return 0
}

let invalidatePage: RemoteFunction = { address in
  x86_invlpg(address)
  return 0
}
