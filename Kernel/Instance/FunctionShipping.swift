import X86

/// mOS function shipping (seed 003, Fig. 4/5) between the two kernel
/// instances. An LWK program's system call that the triage table
/// (Core/Shipping/SystemCallTriage.swift) routes to the service partition
/// becomes a shipped request: route (server, queue), context (LWK instance,
/// process, thread, the reply queue of the LWK CPU it runs on, a tag) and
/// payload (number, arguments, the user bytes copied in). It goes into one
/// multi-producer shipping queue; the LWK rings the service's doorbell only
/// when the queue was empty before its insert, and later requests piggy-back
/// on that IPI. The service drains the whole queue per doorbell on its boot
/// CPU (never on an LWK CPU), refuses requests whose context names a process
/// the LWK instance does not own, and answers into the LWK CPU's own reply
/// queue, ringing that CPU's doorbell when the queue was empty. The calling
/// thread keeps its LWK CPU while it waits (run to completion), sleeping in
/// `hlt` until the reply's doorbell.
enum FunctionShipping {
  static let requestSlot = ShippedRequest.fixedBytes + Int(SystemCallLimits.consoleWrite)
  static let requestCapacity = 32
  static let replySlot = ShippedReply.fixedBytes + 1024
  static let replyCapacity = 2
  /// The only server so far: the service partition's system-call server.
  static let route = ShippingRoute(server: 0, queue: 0)
  static let lwkInstanceID: UInt16 = 1
  /// How long a shipped call waits for its answer before it fails.
  static let timeoutMicroseconds: UInt64 = 5_000_000

  nonisolated(unsafe) static var requests: ShippingQueue? = nil
  /// The service CPU that serves shipped calls.
  nonisolated(unsafe) static var serverAPIC: UInt32 = 0

  // MARK: Set-up

  /// Service side, before the LWK starts: formats the request queue and
  /// every LWK CPU's reply queue.
  static func format(lwkCPUs: [Processor]) -> Bool {
    guard let base = SharedRegion.pointer(SharedRegion.shippingQueueOffset) else { return false }
    do {
      requests = try ShippingQueue.initialize(
        at: base, bytes: SharedRegion.shippingQueueBytes, slotSize: requestSlot,
        capacity: requestCapacity)
      for cpu in lwkCPUs {
        guard let reply = SharedRegion.shippingReplyQueue(cpu: cpu.index) else { return false }
        _ = try ShippingQueue.initialize(
          at: reply, bytes: SharedRegion.shippingReplyBytes, slotSize: replySlot,
          capacity: replyCapacity)
      }
      return true
    } catch {
      print("boot: shipping queues: \(error.description)")
      return false
    }
  }

  /// LWK side: attaches to the request queue, trusting nothing in it.
  static func attach(serviceBootAPIC: UInt32) -> String? {
    guard let base = SharedRegion.pointer(SharedRegion.shippingQueueOffset) else {
      return "no room for the shipping queue"
    }
    do {
      requests = try ShippingQueue.attach(at: base, bytes: SharedRegion.shippingQueueBytes)
    } catch {
      return error.description
    }
    serverAPIC = serviceBootAPIC
    return nil
  }

  static func replyQueue(cpu: Int) -> ShippingQueue? {
    guard let base = SharedRegion.shippingReplyQueue(cpu: cpu) else { return nil }
    return try? ShippingQueue.attach(at: base, bytes: SharedRegion.shippingReplyBytes)
  }

  // MARK: The LWK side

  /// Counts of what the LWK's system calls did (the `triage` command).
  nonisolated(unsafe) static var counters = TriageCounters()
  static let countersLock = IRQSpinLock()
  nonisolated(unsafe) static var nextTag: UInt64 = 1

  /// Ships `number` with `arguments` and `data` (already copied in from the
  /// user) and waits for the answer: the result word, and the reply's data
  /// handed to `received` while it is still in this CPU's buffer.
  static func ship(
    _ number: SystemCallNumber, arguments: [UInt64], data: ByteView,
    received: (ByteView) -> Void = { _ in }
  ) -> Int64 {
    let cpu = Processor.currentIndex
    guard let requests, let replies = replyQueue(cpu: cpu), let scheduler = Scheduler.here,
      let process = scheduler.current.process
    else { return SystemCallError.shippingFailed.rawValue }
    let tag = nextTag
    nextTag &+= 1
    let request = ShippedRequest(
      route: route,
      context: ShippingContext(
        instance: lwkInstanceID, process: UInt32(truncatingIfNeeded: process.pid),
        thread: UInt32(truncatingIfNeeded: scheduler.current.tid),
        replyQueue: UInt16(truncatingIfNeeded: cpu), tag: tag),
      number: number.rawValue, arguments: ShippedArguments(arguments) ?? ShippedArguments(),
      data: data)
    let sent = requests.enqueue(byteCount: request.encodedSize) { slot in
      _ = request.encode(into: slot)
    }
    guard case .enqueued(let raiseIPI) = sent else {
      return SystemCallError.shippingFailed.rawValue
    }
    let interrupts = countersLock.lock()
    counters.recordMessage(sentInterrupt: raiseIPI)
    countersLock.unlock(interrupts)
    if raiseIPI {
      LocalAPIC.send(
        to: serverAPIC, command: UInt32(InterruptVector.doorbell) | LocalAPIC.deliveryFixed)
    }
    return awaitReply(tag: tag, on: replies, received: received)
  }

  /// Sleeps on this CPU until the reply with `tag` is in its reply queue
  /// (bounded; a kill request ends the wait, and a late reply is dropped
  /// by the next call on this CPU, whose tag differs).
  static func awaitReply(tag: UInt64, on replies: ShippingQueue, received: (ByteView) -> Void)
    -> Int64
  {
    var buffer = [UInt8](repeating: 0, count: replySlot)
    let deadline = x86_rdtsc() + Clock.cycles(microseconds: timeoutMicroseconds)
    let interruptsWereOn = x86_read_rflags() & (1 << 9) != 0
    defer { if interruptsWereOn { x86_sti() } else { x86_cli() } }
    while true {
      x86_cli()
      let taken = buffer.withUnsafeMutableBytes { replies.dequeue(into: $0) }
      switch taken {
      case .message(let length):
        _ = replies.markConsumed()
        let result: Int64? = buffer.withUnsafeBytes { bytes in
          let view = ByteView(base: bytes.baseAddress, count: length)
          guard let reply = try? ShippedReply.decode(view), reply.context.tag == tag else {
            return nil
          }
          received(reply.data)
          return Int64(bitPattern: reply.result)
        }
        if let result { return result }
        continue  // a late reply to a cancelled call
      case .malformed:
        _ = replies.markConsumed()
        continue
      default: break
      }
      if Scheduler.here?.current.killRequested == true || x86_rdtsc() > deadline {
        return SystemCallError.shippingFailed.rawValue
      }
      x86_sti_hlt()  // the reply's doorbell (or any IPI) wakes this CPU
    }
  }

  // MARK: The service side

  /// The LWK processes the service knows of (told by `lwk run`): a shipped
  /// request naming any other process is refused.
  nonisolated(unsafe) static var lwkProcesses: [Int] = []
  nonisolated(unsafe) static var served: UInt64 = 0
  nonisolated(unsafe) static var refused: UInt64 = 0

  /// The doorbell on the service's boot CPU: drain every request.
  static func serveDoorbell() {
    guard let requests else { return }
    var buffer = [UInt8](repeating: 0, count: requestSlot)
    let report = buffer.withUnsafeMutableBytes { bytes in
      requests.drain(into: bytes, spinLimit: 100_000, pause: { x86_pause() }) { view in
        serve(view)
      }
    }
    if report.malformed > 0 { print("shipping: \(report.malformed) malformed requests dropped") }
    if report.stop == .stalled { print("shipping: the LWK left a request half written") }
  }

  static func serve(_ view: ByteView) {
    let request: ShippedRequest
    do {
      request = try ShippedRequest.decode(view)
    } catch {
      refused &+= 1
      print("shipping: refusing a request: \(error.description)")
      return
    }
    // The seed's consistency check: the context must name a process that
    // the sending instance owns.
    guard request.context.instance == lwkInstanceID,
      lwkProcesses.contains(Int(request.context.process))
    else {
      refused &+= 1
      answer(request, result: UInt64(bitPattern: SystemCallError.shippingFailed.rawValue))
      return
    }
    served &+= 1
    switch SystemCallNumber(rawValue: request.number) {
    case .consoleWrite:
      ConsoleLock.acquire()
      for i in 0..<request.data.count { Console.put(request.data.u8(i)!) }
      if request.data.count > 0, request.data.u8(request.data.count - 1) == 10 {
        ConsoleLock.release()
      }
      answer(request, result: UInt64(request.data.count))
    default:
      answer(request, result: UInt64(bitPattern: SystemCallError.unknownSystemCall.rawValue))
    }
  }

  static func answer(_ request: ShippedRequest, result: UInt64) {
    let cpu = Int(request.context.replyQueue)
    guard cpu < processors.count, !processors[cpu].isService, let replies = replyQueue(cpu: cpu)
    else { return }
    let reply = ShippedReply(answering: request, result: result)
    let sent = replies.enqueue(byteCount: reply.encodedSize) { _ = reply.encode(into: $0) }
    if sent.raiseIPI {
      LocalAPIC.send(
        to: processors[cpu].apicID,
        command: UInt32(InterruptVector.doorbell) | LocalAPIC.deliveryFixed)
    }
  }
}
