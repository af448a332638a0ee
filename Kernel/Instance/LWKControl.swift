import Synchronization
import X86

/// The service instance's line to the LWK instance for the `lwk` commands
/// and the DTU requests that cross instances (connect, wake, release):
/// a control queue (service -> LWK) and a reply queue (LWK -> service) in
/// the shared region, both Core shipping queues. The service rings the LWK's
/// doorbell only when the control queue was empty before its request (the
/// mOS piggy-back rule); it polls for the reply, so the LWK never interrupts
/// it (Barrelfish's doorbell skip). The LWK serves requests in a kernel
/// thread on its boot CPU, which blocks while there is nothing to do, so
/// LWK programs may share that CPU.
enum LWKControl {
  /// A control message and, for `capabilityBundle`, a capability bundle after it.
  static let slotSize = 512
  static let capacity = 64
  /// How long the service waits for an answer. Loading a program on the
  /// LWK took over 2 s of wall time when QEMU's eight vCPUs shared two busy
  /// host cores, so the bound is generous: it only has to end the wait on
  /// an instance that is gone.
  static let timeoutMicroseconds: UInt64 = 10_000_000

  nonisolated(unsafe) static var requests: ShippingQueue? = nil
  nonisolated(unsafe) static var replies: ShippingQueue? = nil
  nonisolated(unsafe) static var nextTag: UInt64 = 1
  /// One call at a time: callers on several service CPUs (the shell, a
  /// sender's wake, a release at reaping) share one reply queue, and a
  /// caller that took another's reply off it would drop it as late. The
  /// LWK serves requests one by one anyway, so little is lost by waiting.
  /// Spun on with the caller's interrupts as they were: a call never blocks
  /// and kernel code is not preempted, so the holder is always on another
  /// CPU, making progress.
  private static let calling = Atomic<Bool>(false)
  /// The LWK CPU that serves the control queue.
  nonisolated(unsafe) static var server: Processor? = nil
  static var serverIndex: Int { server?.index ?? -1 }
  /// LWK side: the kernel thread that serves it (the LWK boot CPU's first
  /// context), blocked while the queue is empty.
  nonisolated(unsafe) static var serverThread: Thread? = nil

  enum Failure: Error {
    case noInstance(String)
    case full
    case timedOut
    case malformedReply(String)
    /// It failed (`LWKWatchdog`) before or while we waited.
    case failed

    var description: String {
      switch self {
      case .noInstance(let why): "there is no LWK instance: " + why
      case .full: "the LWK control queue is full"
      case .timedOut: "the LWK instance did not answer within 10 s"
      case .failed: "the LWK instance has failed (" + LWKWatchdog.detected.description + ")"
      case .malformedReply(let why): "malformed reply from the LWK instance: " + why
      }
    }
  }

  static func region(_ offset: UInt64) -> UnsafeMutableRawPointer? {
    SharedRegion.pointer(offset)
  }

  /// Service side, before the LWK starts: formats both queues.
  static func formatQueues() -> Bool {
    guard let control = region(SharedRegion.controlQueueOffset),
      let reply = region(SharedRegion.replyQueueOffset)
    else { return false }
    do {
      requests = try ShippingQueue.initialize(
        at: control, bytes: SharedRegion.queueBytes, slotSize: slotSize, capacity: capacity)
      replies = try ShippingQueue.initialize(
        at: reply, bytes: SharedRegion.queueBytes, slotSize: slotSize, capacity: capacity)
      return true
    } catch {
      print("boot: LWK control queues: \(error.description)")
      return false
    }
  }

  /// LWK side: attaches to the queues the service formatted, trusting
  /// nothing in them. Returns why not, on failure.
  static func attachQueues() -> String? {
    guard let control = region(SharedRegion.controlQueueOffset),
      let reply = region(SharedRegion.replyQueueOffset)
    else { return "the shared region has no room for the control queues" }
    do {
      requests = try ShippingQueue.attach(at: control, bytes: SharedRegion.queueBytes)
      replies = try ShippingQueue.attach(at: reply, bytes: SharedRegion.queueBytes)
      return nil
    } catch {
      return error.description
    }
  }

  /// Service side: sends one request and waits, bounded, for its reply.
  /// Replies to earlier requests that timed out are skipped by their tag.
  /// `payload` travels after the request's control message, and `received`
  /// is given what travels after the reply's.
  static func call(
    _ kind: ControlMessage.Kind, _ words: (UInt64, UInt64, UInt64, UInt64),
    payload: ByteView = ByteView(base: nil, count: 0), received: (ByteView) -> Void = { _ in }
  ) -> Result<ControlMessage, Failure> {
    guard payload.count <= slotSize - ControlMessage.byteCount else { return .failure(.full) }
    if SharedRegion.lwkState == .failed {
      LWKWatchdog.noticeDeclaredFailure()
      return .failure(.failed)
    }
    guard SharedRegion.lwkState == .up, let requests, let replies, let server else {
      return .failure(
        .noInstance(LWKLoader.absence ?? "its state is \(SharedRegion.lwkState.description)"))
    }
    while !calling.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
      x86_pause()
    }
    defer { calling.store(false, ordering: .releasing) }
    let tag = nextTag
    nextTag &+= 1
    var bytes = [UInt8](repeating: 0, count: slotSize)
    let sent = bytes.withUnsafeMutableBytes { buffer in
      _ = ControlMessage.request(kind, tag: tag, words).encode(into: buffer)
      if let source = payload.base, payload.count > 0 {
        (buffer.baseAddress! + ControlMessage.byteCount).copyMemory(
          from: source, byteCount: payload.count)
      }
      return requests.enqueue(
        UnsafeRawBufferPointer(rebasing: buffer[0..<ControlMessage.byteCount + payload.count]))
    }
    switch sent {
    case .enqueued(let raiseIPI):
      if raiseIPI {
        LocalAPIC.send(
          to: server.apicID, command: UInt32(InterruptVector.doorbell) | LocalAPIC.deliveryFixed)
      }
    default: return .failure(.full)
    }
    let deadline = x86_rdtsc() + Clock.cycles(microseconds: timeoutMicroseconds)
    while x86_rdtsc() < deadline {
      var answer: Result<ControlMessage, ControlMessageError>? = nil
      var rest = 0
      var corrupt = false
      bytes.withUnsafeMutableBytes { buffer in
        switch replies.dequeue(into: buffer) {
        case .message(let length):
          _ = replies.markConsumed()
          let (message, after) = split(UnsafeRawBufferPointer(buffer), length: length)
          answer = ControlMessage.decode(message)
          rest = after.count
        case .malformed:
          _ = replies.markConsumed()
          corrupt = true
        default: break
        }
      }
      // A slot only corrupted memory could hold: the instance that
      // writes the queue is not to be trusted any more.
      if corrupt {
        let interrupts = x86_read_rflags() & (1 << 9) != 0
        x86_cli()
        LWKWatchdog.declare(.corruptRing)
        if interrupts { x86_sti() }
        return .failure(.failed)
      }
      if SharedRegion.lwkState == .failed {
        LWKWatchdog.noticeDeclaredFailure()
        return .failure(.failed)
      }
      switch answer {
      case .success(let reply) where reply.tag == tag:
        bytes.withUnsafeBytes { buffer in
          received(ByteView(base: buffer.baseAddress! + ControlMessage.byteCount, count: rest))
        }
        return .success(reply)
      case .success: continue  // a late answer to a request that timed out
      case .failure(let error): return .failure(.malformedReply(error.description))
      case nil: x86_pause()
      }
    }
    return .failure(.timedOut)
  }

  /// A queue message: its control message, and what follows it (a
  /// message shorter than a control message is left whole, to fail decoding).
  static func split(_ buffer: UnsafeRawBufferPointer, length: Int) -> (ByteView, ByteView) {
    let base = UnsafeRawPointer(buffer.baseAddress)
    guard length > ControlMessage.byteCount, let base else {
      return (ByteView(base: base, count: length), ByteView(base: nil, count: 0))
    }
    return (
      ByteView(base: base, count: ControlMessage.byteCount),
      ByteView(base: base + ControlMessage.byteCount, count: length - ControlMessage.byteCount)
    )
  }

  /// LWK side, in the serving thread: drain the control queue per
  /// doorbell, block when it is empty. Never returns.
  static func serve() -> Never {
    serverThread = Scheduler.here?.current
    var buffer = [UInt8](repeating: 0, count: slotSize)
    while true {
      x86_cli()
      guard let requests, requests.pending > 0 else {
        // Checked with interrupts off: a doorbell after the check is taken
        // once this thread is blocked, and wakes it.
        Scheduler.block()
        continue
      }
      x86_sti()
      let report = buffer.withUnsafeMutableBytes { bytes in
        requests.drain(into: bytes, spinLimit: 100_000, pause: { x86_pause() }) { view in
          answer(view)
        }
      }
      if report.malformed > 0 {
        print("lwk: \(report.malformed) malformed control requests dropped")
      }
    }
  }

  /// Serves one request on the LWK and queues the reply.
  static func answer(_ view: ByteView) {
    let reply: ControlMessage
    var payload: [UInt8] = []
    let message =
      view.count > ControlMessage.byteCount
      ? ByteView(base: view.base, count: ControlMessage.byteCount) : view
    switch ControlMessage.decode(message) {
    case .failure(let error):
      print("lwk: refusing a control request: \(error.description)")
      return  // no trustworthy tag to answer
    case .success(let request):
      if let kind = SharedRegion.controlWord(1) { x86_store_release(kind, UInt64(request.code)) }
      if request.kind == .capabilityBundle, let base = view.base {
        // A capability bundle follows the control message.
        let bundle = ByteView(
          base: base + message.count, count: view.count - message.count)
        payload = EndpointDelegation.serve(bundle)
        reply = .reply(.ok, tag: request.tag)
      } else {
        reply = LWKRequests.handle(request)
      }
      if let kind = SharedRegion.controlWord(1) { x86_store_release(kind, 0) }
      if let served = SharedRegion.controlWord(0) {
        x86_store_release(served, x86_load_relaxed(served) &+ 1)
      }
    }
    var bytes = [UInt8](repeating: 0, count: ControlMessage.byteCount)
    _ = bytes.withUnsafeMutableBytes { reply.encode(into: $0) }
    bytes += payload.prefix(slotSize - ControlMessage.byteCount)
    let crash = reply.code == ControlMessage.Status.ok.rawValue ? crashRequested(message) : 0
    if crash == 3 {
      // The "reply" is a slot no healthy instance writes.
      LWKWatchdog.failing(.corruptRing)
      _ = replies?.enqueueCorruptSlot()
      return
    }
    bytes.withUnsafeBytes { buffer in
      // The service polls for replies: no doorbell, whatever the queue says.
      if replies?.enqueue(buffer) == .full {
        print("lwk: reply queue full; a reply to tag \(reply.tag) is lost")
      }
    }
    switch crash {
    case 1: Panic.halt(because: "lwk crash panic: a panic asked for from the service's shell")
    case 2:
      // Interrupts off, forever: no heartbeat, no doorbell, nothing.
      LWKWatchdog.failing(.hang)
      x86_cli()
      while true { x86_pause() }
    case 4:
      LWKWatchdog.failing(.hang)
      LWKScribble.run()
    default: break
    }
  }

  /// The `lwk crash` mode of a valid crash request (0: not one).
  static func crashRequested(_ message: ByteView) -> UInt64 {
    guard case .success(let request) = ControlMessage.decode(message), request.kind == .crash
    else { return 0 }
    return request.words.0
  }
}

extension LWKControl {
  /// The doorbell vector, on either instance: the service serves shipped
  /// calls; on the LWK the control thread wakes (a doorbell on a CPU where a
  /// thread waits for a shipped call's reply only needs to end its `hlt`).
  static func doorbell() {
    if KernelInstance.kind == .service {
      FunctionShipping.serveDoorbell()
    } else if let thread = serverThread, thread.cpu == Processor.currentIndex {
      LWKWatchdog.beat()
      Scheduler.wake(thread)
    }
  }
}
