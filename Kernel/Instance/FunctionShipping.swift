import Synchronization
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
  static let replyData = 1024
  static let replySlot = ShippedReply.fixedBytes + replyData
  static let replyCapacity = 2
  /// The only server so far: the service partition's system-call server.
  static let route = ShippingRoute(server: 0, queue: 0)
  /// Not a system call: "forget the request with tag arguments[0]", sent
  /// when the caller is killed while its call is in flight.
  static let cancelNumber: UInt64 = 0xC0FF_EE00
  /// Not a system call: "process arguments[0] is a child of the sender's
  /// process", sent by spawn before the child starts.
  static let adoptNumber: UInt64 = 0xC0FF_EE01
  /// Not system calls, and not answered: "wake the receiver of the ring at
  /// arguments[0]" and "release channel arguments[1] of the ring at
  /// arguments[0]", from the LWK's DTU (`OtherInstance`).
  static let wakeNumber: UInt64 = 0xC0FF_EE02
  static let releaseNumber: UInt64 = 0xC0FF_EE03

  /// The second half of the staging area: module images shipped to spawn.
  static var spawnStagingArea: UnsafeMutableRawPointer? {
    SharedRegion.pointer(SharedRegion.stagingOffset + UInt64(spawnStagingBytes))
  }
  static var spawnStagingBytes: Int { SharedRegion.stagingBytes / 2 }
  /// Held by the LWK thread whose spawn uses the staging area.
  static let spawnStaging = Atomic<Bool>(false)
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
      attachReplyQueues()
      requestBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: requestSlot, alignment: 64)
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
    attachReplyQueues()
    TriageCounts.setUp(cpus: processors.count)
    return nil
  }

  /// Every CPU's reply queue, attached once (nil for the service's CPUs).
  nonisolated(unsafe) static var replyQueues: [ShippingQueue?] = []
  /// Where messages are copied out of a queue: one reply buffer per CPU
  /// (LWK), one request buffer (service); allocated once, so the shipping
  /// path allocates nothing.
  nonisolated(unsafe) static var replyBuffers: UnsafeMutableRawPointer? = nil
  nonisolated(unsafe) static var requestBuffer: UnsafeMutableRawBufferPointer? = nil

  static func replyQueue(cpu: Int) -> ShippingQueue? {
    cpu >= 0 && cpu < replyQueues.count ? replyQueues[cpu] : nil
  }

  static func replyBuffer(cpu: Int) -> UnsafeMutableRawBufferPointer? {
    guard let replyBuffers, cpu >= 0, cpu < replyQueues.count else { return nil }
    return UnsafeMutableRawBufferPointer(start: replyBuffers + cpu * replySlot, count: replySlot)
  }

  /// Attaches to the reply queues of the LWK's CPUs (both instances do:
  /// the service produces into them, the LWK consumes).
  static func attachReplyQueues() {
    replyQueues = processors.map { cpu in
      guard !cpu.isService, let base = SharedRegion.shippingReplyQueue(cpu: cpu.index) else {
        return nil
      }
      return try? ShippingQueue.attach(at: base, bytes: SharedRegion.shippingReplyBytes)
    }
    replyBuffers = UnsafeMutableRawPointer.allocate(
      byteCount: processors.count * replySlot, alignment: 64)
  }

  /// One argument word.
  static func arguments(_ word: UInt64) -> ShippedArguments {
    var arguments = ShippedArguments()
    _ = arguments.append(word)
    return arguments
  }

  // MARK: The LWK side

  nonisolated(unsafe) static var nextTag: UInt64 = 1

  /// Ships `number` with `arguments` and `data` (already copied in from the
  /// user) and waits for the answer: the result word, and the reply's data
  /// handed to `received` while it is still in this CPU's buffer.
  static func ship(
    _ call: SystemCallNumber, arguments: ShippedArguments, data: ByteView,
    number: UInt64? = nil, received: (ByteView) -> Void = { _ in }
  ) -> Int64 {
    let cpu = Processor.currentIndex
    guard let replies = replyQueue(cpu: cpu), let scheduler = Scheduler.here else {
      return SystemCallError.shippingFailed.rawValue
    }
    // Tags only need to differ between the calls of one CPU: its reply
    // queue is where they are matched, and it runs one call at a time.
    let tag = nextTag
    nextTag &+= 1
    guard let context = context(tag: tag) else { return SystemCallError.shippingFailed.rawValue }
    let request = ShippedRequest(
      route: route, context: context, number: number ?? call.rawValue, arguments: arguments,
      data: data)
    guard case .enqueued(let raiseIPI) = post(request) else {
      return SystemCallError.shippingFailed.rawValue
    }
    scheduler.current.shippedMessages &+= 1
    TriageCounts.countMessage(doorbell: raiseIPI, cpu: cpu)
    return awaitReply(tag: tag, on: replies, received: received)
  }

  /// Sleeps on this CPU until the reply with `tag` is in its reply queue
  /// (bounded; a kill request ends the wait, and a late reply is dropped
  /// by the next call on this CPU, whose tag differs).
  static func awaitReply(tag: UInt64, on replies: ShippingQueue, received: (ByteView) -> Void)
    -> Int64
  {
    guard let buffer = replyBuffer(cpu: Processor.currentIndex) else {
      return SystemCallError.shippingFailed.rawValue
    }
    let deadline = x86_rdtsc() + Clock.cycles(microseconds: timeoutMicroseconds)
    let interruptsWereOn = x86_read_rflags() & (1 << 9) != 0
    defer { if interruptsWereOn { x86_sti() } else { x86_cli() } }
    while true {
      x86_cli()
      switch replies.dequeue(into: buffer) {
      case .message(let length):
        _ = replies.markConsumed()
        let view = ByteView(base: UnsafeRawPointer(buffer.baseAddress), count: length)
        if let reply = try? ShippedReply.decode(view), reply.context.tag == tag {
          received(reply.data)
          return Int64(bitPattern: reply.result)
        }
        continue  // a late reply to a cancelled call
      case .malformed:
        _ = replies.markConsumed()
        continue
      default: break
      }
      if Scheduler.here?.current.killRequested == true || x86_rdtsc() > deadline {
        cancel(tag: tag)
        return SystemCallError.shippingFailed.rawValue
      }
      // The control thread (higher priority) may not wait behind a long
      // shipped call, such as a console read, on the CPU they share.
      if let scheduler = Scheduler.here,
        scheduler.highestReadyPriority > scheduler.current.priority
      {
        scheduler.reschedule()
        continue
      }
      x86_sti_hlt()  // the reply's doorbell (or any IPI) wakes this CPU
    }
  }

  /// Tells the service to drop the call `tag` of the current thread (no
  /// answer is awaited; a late reply is dropped by its tag).
  static func cancel(tag: UInt64) {
    guard let context = context(tag: tag) else { return }
    _ = post(
      ShippedRequest(
        route: route, context: context, number: cancelNumber, arguments: arguments(tag)))
  }

  /// Who ships: this instance, the current thread and its process, and this
  /// CPU's reply queue.
  static func context(tag: UInt64) -> ShippingContext? {
    guard let thread = Scheduler.here?.current, let process = thread.process else { return nil }
    return ShippingContext(
      instance: lwkInstanceID, process: UInt32(truncatingIfNeeded: process.pid),
      thread: UInt32(truncatingIfNeeded: thread.tid),
      replyQueue: UInt16(truncatingIfNeeded: Processor.currentIndex), tag: tag)
  }

  /// Puts a request in the shipping queue and rings the service's doorbell
  /// when the queue had nothing pending before (the piggy-back rule).
  static func post(_ request: ShippedRequest) -> ShippingEnqueueResult {
    guard let requests else { return .full }
    let sent = requests.enqueue(byteCount: request.encodedSize) { _ = request.encode(into: $0) }
    if sent.raiseIPI {
      LocalAPIC.send(
        to: serverAPIC, command: UInt32(InterruptVector.doorbell) | LocalAPIC.deliveryFixed)
    }
    return sent
  }

  // MARK: The service side

  /// A console read from an LWK program, waiting for input.
  struct PendingRead {
    var route: ShippingRoute
    var context: ShippingContext
    var length: Int
  }

  /// Reads waiting for input, oldest first; served from the serial
  /// interrupt (both run with interrupts off on the service's boot CPU).
  nonisolated(unsafe) static var pendingReads: [PendingRead] = []

  /// The LWK processes the service knows of (told by `lwk run`): a shipped
  /// request naming any other process is refused.
  /// The shipping server reads it from the doorbell interrupt on the CPU
  /// whose shell changes it: change it only through `knownProcess`, which
  /// keeps interrupts off meanwhile.
  nonisolated(unsafe) static var lwkProcesses: [Int] = []

  /// Adds (or removes) an LWK process the service knows of.
  static func knownProcess(_ pid: Int, _ known: Bool) {
    let interruptsWereOn = x86_read_rflags() & (1 << 9) != 0
    x86_cli()
    if known { lwkProcesses.append(pid) } else { lwkProcesses.removeAll { $0 == pid } }
    if interruptsWereOn { x86_sti() }
  }
  nonisolated(unsafe) static var served: UInt64 = 0
  nonisolated(unsafe) static var refused: UInt64 = 0

  /// The doorbell on the service's boot CPU: drain every request.
  static func serveDoorbell() {
    guard let requests, let buffer = requestBuffer else { return }
    let report = requests.drain(
      into: buffer, spinLimit: 100_000, pause: { x86_pause() }, { view in serve(view) })
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
    if request.context.instance == lwkInstanceID && request.number == releaseNumber {
      served &+= 1
      OtherInstance.serveRelease(request)
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
    if request.number == adoptNumber {
      knownProcess(Int(truncatingIfNeeded: request.arguments[0]), true)
      answer(request, result: 0)
      return
    }
    if request.number == wakeNumber {
      OtherInstance.serveWake(request)
      return
    }
    if request.number == cancelNumber {
      let before = pendingReads.count
      pendingReads.removeAll {
        $0.context.tag == request.arguments[0] && $0.context.process == request.context.process
      }
      if pendingReads.count < before { cancelledReads &+= 1 }
      return
    }
    switch SystemCallNumber(rawValue: request.number) {
    case .consoleWrite:
      ConsoleLock.writeFromInterrupt(request.data)
      answer(request, result: UInt64(request.data.count))
    case .spawn: answer(request, result: UInt64(bitPattern: stage(request.data)))
    case .dtuConnect:
      let (result, ring, channel) = OtherInstance.serveConnect(request)
      [ring, channel].withUnsafeBytes { answer(request, result: result, data: ByteView($0)) }
    case .consoleRead:
      let length = Int(min(request.arguments[0], UInt64(replyData)))
      guard length > 0 else {
        answer(request, result: UInt64(bitPattern: SystemCallError.badLength.rawValue))
        return
      }
      pendingReads.append(
        PendingRead(route: request.route, context: request.context, length: length))
      inputArrived()
    default:
      answer(request, result: UInt64(bitPattern: SystemCallError.unknownSystemCall.rawValue))
    }
  }

  nonisolated(unsafe) static var cancelledReads: UInt64 = 0

  /// spawn's shipped part: the module named by `name`, copied into the
  /// spawn staging area; its length, or why not.
  static func stage(_ name: ByteView) -> Int64 {
    var bytes: [UInt8] = []
    for i in 0..<name.count { bytes.append(name.u8(i)!) }
    let text = String(decoding: bytes, as: UTF8.self)
    guard let module = ProgramLoader.module(named: text) else {
      return SystemCallError.noSuchModule.rawValue
    }
    guard Int(module.size) <= spawnStagingBytes, let staging = spawnStagingArea,
      let image = PhysicalMemory.pointer(UInt64(module.start))
    else { return SystemCallError.badModule.rawValue }
    staging.copyMemory(from: image, byteCount: Int(module.size))
    return Int64(module.size)
  }

  /// Set while the shell waits for an LWK program (`lwk run` without `&`):
  /// only then does console input go to LWK programs, as it goes to a
  /// service program that `run` waits for; otherwise it stays the shell's.
  nonisolated(unsafe) static var foreground = false

  /// Serves the oldest waiting read with the input there is (the serial
  /// interrupt calls this; so does a new read).
  static func inputArrived() {
    guard foreground, let read = pendingReads.first, !Serial.ring.isEmpty else { return }
    pendingReads.removeFirst()
    var bytes: [UInt8] = []
    while bytes.count < read.length, let byte = Serial.ring.pop() { bytes.append(byte) }
    bytes.withUnsafeBytes { buffer in
      send(
        ShippedReply(
          route: read.route, context: read.context, result: UInt64(bytes.count),
          data: ByteView(buffer)))
    }
  }

  static func answer(
    _ request: ShippedRequest, result: UInt64, data: ByteView = ByteView(base: nil, count: 0)
  ) {
    send(ShippedReply(answering: request, result: result, data: data))
  }

  /// Into the reply queue of the LWK CPU the context names; its doorbell
  /// when the queue was empty.
  static func send(_ reply: ShippedReply) {
    let cpu = Int(reply.context.replyQueue)
    guard cpu < processors.count, !processors[cpu].isService, let replies = replyQueue(cpu: cpu)
    else { return }
    let sent = replies.enqueue(byteCount: reply.encodedSize) { _ = reply.encode(into: $0) }
    if sent.raiseIPI {
      LocalAPIC.send(
        to: processors[cpu].apicID,
        command: UInt32(InterruptVector.doorbell) | LocalAPIC.deliveryFixed)
    }
  }
}
