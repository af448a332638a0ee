import Synchronization
import X86

/// mOS function shipping (seed 003, Fig. 4/5) between the two kernel
/// instances, over DTU endpoints: the same rings, channels and wake rule as
/// programs use (one mechanism, not two). An LWK program's system call that
/// the triage table (Core/Shipping/SystemCallTriage.swift) routes to the
/// service partition becomes a shipped request: route (server, queue),
/// context (LWK instance, process, thread, the LWK CPU it runs on, a tag)
/// and payload (number, arguments, the user bytes copied in).
///
/// The service's kernel owns the shipping ring (a `KernelRing` in its half
/// of its boot CPU's node's ring region) and binds one channel per LWK CPU,
/// labelled with that CPU, so each LWK CPU sends into slots of its own and
/// the server learns from the config page, not from the message, which CPU
/// sent. The LWK rings the service's doorbell only when the server said it
/// sleeps; while it drains, later requests ride on the doorbell already
/// taken (the mOS piggy-back rule as the DTU's wake rule). The server
/// drains on its boot CPU (never on an LWK CPU), refuses requests whose
/// context names a process the LWK does not own or a CPU other than the
/// channel's, and answers into the reply ring of the LWK CPU (a kernel ring
/// the LWK made on that CPU's node), ringing that CPU's doorbell only when
/// it sleeps. The calling thread keeps its LWK CPU while it waits (run to
/// completion), sleeping in `hlt` until the reply's doorbell.
enum FunctionShipping {
  /// Request slots of 1 KiB (a page of four per LWK CPU): console writes
  /// go in pieces of `requestData` bytes.
  static let requestSlotLog2 = 10
  static let requestData =
    (1 << requestSlotLog2) - MessageHeader.size - ShippedRequest.fixedBytes
  /// Reply slots of 1 KiB, four: a console read returns at most
  /// `replyData` bytes.
  static let replySlotLog2 = 10
  static let replyData = (1 << replySlotLog2) - MessageHeader.size - ShippedReply.fixedBytes
  /// The label of the service's channel into an LWK CPU's reply ring.
  static let serviceLabel: UInt64 = 0
  /// The only server so far: the service partition's system-call server.
  static let route = ShippingRoute(server: 0, queue: 0)
  /// Not a system call: "forget the request with tag arguments[0]", sent
  /// when the caller is killed while its call is in flight.
  static let cancelNumber: UInt64 = 0xC0FF_EE00
  /// Not a system call: "process arguments[0] is a child of the sender's
  /// process", sent by spawn before the child starts.
  static let adoptNumber: UInt64 = 0xC0FF_EE01
  /// Not system calls: "wake the receiver of the ring at arguments[0]" (not
  /// answered) and "release channel arguments[1] of the ring at
  /// arguments[0]" (answered with the unread count when shipped, not when
  /// posted with tag 0), from the LWK's DTU (`OtherInstance`).
  static let wakeNumber: UInt64 = 0xC0FF_EE02
  static let releaseNumber: UInt64 = 0xC0FF_EE03
  /// "Take back the service sender on channel arguments[1] of the LWK ring
  /// at arguments[0]" (dtuRevokeSenders on the LWK), answered when done.
  static let deactivateNumber: UInt64 = 0xC0FF_EE04
  /// "An EndpointCapabilityBundle is in the data" (the LWK's half of
  /// `EndpointDelegation`'s exchange), answered with the service's bundle.
  static let capabilitiesNumber: UInt64 = 0xC0FF_EE05

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

  /// The service CPU that serves shipped calls.
  nonisolated(unsafe) static var serverAPIC: UInt32 = 0

  // MARK: Set-up

  /// Service side: the server's receiver of the shipping ring. Receivers
  /// are kept behind pointers and used in place: a receiver is a few KiB
  /// (its private copy of every channel's record), and an array element
  /// or optional global is copied out and back on every mutating call.
  nonisolated(unsafe) static var server: UnsafeMutablePointer<ChannelReceiver>? = nil
  /// Service side: its channel into each LWK CPU's reply ring, attached at
  /// the first answer (the LWK makes the rings when it starts).
  nonisolated(unsafe) static var replySenders: [KernelRing.Channel?] = []
  /// LWK side: each CPU's channel into the shipping ring, and its reply
  /// ring's receiver (each used only on its own CPU).
  nonisolated(unsafe) static var requestSenders: [KernelRing.Channel?] = []
  nonisolated(unsafe) static var replyReceivers: [UnsafeMutablePointer<ChannelReceiver>?] = []
  /// The label of LWK CPU `cpu`'s channel into the shipping ring.
  static func channelLabel(cpu: Int) -> UInt64 { UInt64(lwkInstanceID) << 32 | UInt64(cpu) }

  /// Service side, before the LWK starts: the shipping ring on the boot
  /// CPU's node, a channel for each LWK CPU (the partition plan keeps at
  /// most 32, one per channel), its address in the shared region.
  static func format(lwkCPUs shipping: [Processor]) -> Bool {
    forgetLWK()
    replySenders = Array(repeating: nil, count: processors.count)
    guard shipping.count <= ReceiveEndpointLayout.maximumChannels else {
      print("boot: \(shipping.count) LWK CPUs, but the shipping ring has at most 32 channels")
      return false
    }
    // A page of slots per channel, and a power of two of channels.
    var channelsLog2 = 0
    while 1 << channelsLog2 < shipping.count { channelsLog2 += 1 }
    let perPageLog2 = 12 - requestSlotLog2
    guard let word = SharedRegion.shippingRingWord,
      let ring = KernelRing.create(
        node: processors[Processor.currentIndex].node, slotCountLog2: channelsLog2 + perPageLog2,
        slotSizeLog2: requestSlotLog2)
    else {
      print("boot: no room for the shipping ring in the ring region of this CPU's node")
      return false
    }
    for (channel, cpu) in shipping.enumerated() {
      guard ring.bind(channel, label: channelLabel(cpu: cpu.index)) else { return false }
    }
    guard let receiver = ring.receiver() else { return false }
    server = place(receiver)
    shippingRing = ring
    // Asleep until the first request: that one rings the doorbell.
    guard server?.pointee.prepareToSleep() == true else { return false }
    x86_store_release(word, ring.physical)
    return true
  }

  /// Service side: the shipping ring, for `forgetLWK`.
  nonisolated(unsafe) static var shippingRing: KernelRing? = nil

  /// Service side: a failed LWK instance is to be started afresh (its CPUs
  /// stopped): what its requests left here goes, and the shipping ring with
  /// the old instance's unread requests in it; `format` makes a new one.
  static func forgetLWK() {
    let interruptsWereOn = x86_read_rflags() & (1 << 9) != 0
    x86_cli()
    defer { if interruptsWereOn { x86_sti() } }
    pendingReads.removeAll()
    lwkProcesses.removeAll()
    if let old = server {
      server = nil
      old.deinitialize(count: 1)
      old.deallocate()
    }
    if let ring = shippingRing {
      shippingRing = nil
      ring.free()
    }
  }

  /// LWK side: attaches each of its CPUs to its channel of the shipping
  /// ring (checked against the ring's config page) and makes each CPU's
  /// reply ring on that CPU's node, publishing its address for the service.
  static func attach(serviceBootAPIC: UInt32) -> String? {
    guard let word = SharedRegion.shippingRingWord else { return "no shared region" }
    let ring = x86_load_acquire(word)
    requestSenders = Array(repeating: nil, count: processors.count)
    replyReceivers = Array(repeating: nil, count: processors.count)
    for cpu in processors where !cpu.isService {
      guard let sender = KernelRing.sender(ring: ring, label: channelLabel(cpu: cpu.index)) else {
        return "the shipping ring at \(hex(ring)) has no channel for CPU \(cpu.index)"
      }
      guard
        let reply = KernelRing.create(
          node: cpu.node, slotCountLog2: 12 - replySlotLog2, slotSizeLog2: replySlotLog2),
        reply.bind(0, label: serviceLabel), let receiver = reply.receiver(),
        let published = SharedRegion.replyRingWord(cpu: cpu.index)
      else { return "no room for CPU \(cpu.index)'s reply ring on node \(cpu.node)" }
      requestSenders[cpu.index] = sender
      replyReceivers[cpu.index] = place(receiver)
      // Awake: a reply that comes before the first wait rings no doorbell.
      x86_store_release(published, reply.physical)
    }
    serverAPIC = serviceBootAPIC
    TriageCounts.setUp(cpus: processors.count)
    return nil
  }

  /// A receiver moved to the heap, for good.
  static func place(_ receiver: ChannelReceiver) -> UnsafeMutablePointer<ChannelReceiver> {
    let pointer = UnsafeMutablePointer<ChannelReceiver>.allocate(capacity: 1)
    pointer.initialize(to: receiver)
    return pointer
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
  /// handed to `received` while it is still in its slot.
  static func ship(
    _ call: SystemCallNumber, arguments: ShippedArguments, data: ByteView,
    number: UInt64? = nil, process: UInt64? = nil, received: (ByteView) -> Void = { _ in }
  ) -> Int64 {
    let cpu = Processor.currentIndex
    guard cpu < replyReceivers.count, let replies = replyReceivers[cpu],
      let scheduler = Scheduler.here
    else { return SystemCallError.shippingFailed.rawValue }
    // Tags only need to differ between the calls of one CPU: its reply
    // ring is where they are matched, and it runs one call at a time.
    let tag = nextTag
    nextTag &+= 1
    guard let context = context(tag: tag, process: process) else {
      return SystemCallError.shippingFailed.rawValue
    }
    let request = ShippedRequest(
      route: route, context: context, number: number ?? call.rawValue, arguments: arguments,
      data: data)
    guard case .sent(let doorbell) = post(request) else {
      return SystemCallError.shippingFailed.rawValue
    }
    scheduler.current.shippedMessages &+= 1
    TriageCounts.countMessage(doorbell: doorbell, cpu: cpu)
    return awaitReply(tag: tag, on: replies, received: received)
  }

  /// Sleeps on this CPU until the reply with `tag` is in its reply ring
  /// (bounded; a kill request ends the wait, and a late reply is dropped
  /// by the next call on this CPU, whose tag differs).
  static func awaitReply(
    tag: UInt64, on replies: UnsafeMutablePointer<ChannelReceiver>, received: (ByteView) -> Void
  ) -> Int64 {
    let deadline = x86_rdtsc() + Clock.cycles(microseconds: timeoutMicroseconds)
    let interruptsWereOn = x86_read_rflags() & (1 << 9) != 0
    defer { if interruptsWereOn { x86_sti() } else { x86_cli() } }
    while true {
      x86_cli()
      var result: Int64? = nil
      while result == nil,
        replies.pointee.receive({ (message: ReceivedMessage) -> Bool in
          // Anything else is a late reply to a cancelled call, or garbage.
          guard let reply = try? ShippedReply.decode(ByteView(message.payloadBytes)),
            reply.context.tag == tag
          else { return true }
          received(reply.data)
          result = Int64(bitPattern: reply.result)
          return true
        }) == true
      {}
      if let result { return result }
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
      // Say it sleeps (a reply now rings the doorbell), look once more,
      // then halt with interrupts enabled in the same instruction pair.
      if replies.pointee.prepareToSleep() {
        x86_sti_hlt()
        replies.pointee.clearSleeping()
      }
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

  /// Who ships: this instance, the current thread and its process (or
  /// `named`: a kernel thread, which has none, ships for a process), and
  /// this CPU (where the reply goes).
  static func context(tag: UInt64, process named: UInt64? = nil) -> ShippingContext? {
    guard let thread = Scheduler.here?.current,
      let pid = named ?? thread.process.map({ UInt64($0.pid) })
    else { return nil }
    return ShippingContext(
      instance: lwkInstanceID, process: UInt32(truncatingIfNeeded: pid),
      thread: UInt32(truncatingIfNeeded: thread.tid),
      replyQueue: UInt16(truncatingIfNeeded: Processor.currentIndex), tag: tag)
  }

  enum Posted {
    /// In the ring; `doorbell`: the server slept and was woken.
    case sent(doorbell: Bool)
    /// The channel's slots are all taken (the server is not draining), or
    /// the request does not fit a slot.
    case refused
  }

  /// Sends a request on this CPU's channel, encoded straight into the
  /// slot, and rings the service's doorbell when the server said it sleeps.
  /// Interrupts off meanwhile: the channel is this CPU's, and an interrupt
  /// handler must not find it half written.
  static func post(_ request: ShippedRequest) -> Posted {
    let cpu = Processor.currentIndex
    guard cpu < requestSenders.count, requestSenders[cpu] != nil else { return .refused }
    let interruptsWereOn = x86_read_rflags() & (1 << 9) != 0
    x86_cli()
    defer { if interruptsWereOn { x86_sti() } }
    let result = requestSenders[cpu]!.send(
      kind: .message, replyLabel: request.context.tag, length: request.encodedSize
    ) { _ = request.encode(into: $0) }
    guard case .sent(let wake) = result else { return .refused }
    if wake {
      LocalAPIC.send(
        to: serverAPIC, command: UInt32(InterruptVector.doorbell) | LocalAPIC.deliveryFixed)
    }
    return .sent(doorbell: wake)
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
  /// Requests taken, and doorbells that found some (`triage`): requests
  /// beyond the doorbells rode on a drain already running.
  nonisolated(unsafe) static var received: UInt64 = 0
  nonisolated(unsafe) static var doorbells: UInt64 = 0

  /// The doorbell on the service's boot CPU (interrupts off): drain every
  /// channel until the server may sleep again.
  static func serveDoorbell() {
    guard let server else { return }
    let before = received
    repeat {
      while server.pointee.receive({ (message: ReceivedMessage) -> Bool in
        received &+= 1
        serve(ByteView(message.payloadBytes), channelLabel: message.label)
        return true
      }) == true {}
    } while !server.pointee.prepareToSleep()
    if received != before { doorbells &+= 1 }
  }

  /// One request from the channel labelled `channelLabel` (the config
  /// page's word: which LWK CPU sent it).
  static func serve(_ view: ByteView, channelLabel label: UInt64) {
    let request: ShippedRequest
    do {
      request = try ShippedRequest.decode(view)
    } catch {
      refused &+= 1
      print("shipping: refusing a request: \(error.description)")
      return
    }
    // The reply goes to the CPU whose channel it came on, whatever the
    // request says.
    guard label == channelLabel(cpu: Int(request.context.replyQueue)) else {
      refused &+= 1
      print(
        "shipping: refusing a request from channel \(hex(label)) that names CPU \(request.context.replyQueue)"
      )
      return
    }
    if request.context.instance == lwkInstanceID && request.number == deactivateNumber {
      served &+= 1
      OtherInstance.serveDeactivate(ring: request.arguments[0], channel: request.arguments[1])
      answer(request, result: 0)
      return
    }
    if request.context.instance == lwkInstanceID && request.number == capabilitiesNumber {
      served &+= 1
      let bundle = EndpointDelegation.serve(request.data)
      bundle.withUnsafeBytes { answer(request, result: 0, data: ByteView($0)) }
      return
    }
    if request.context.instance == lwkInstanceID && request.number == releaseNumber {
      served &+= 1
      let unread = OtherInstance.serveRelease(request)
      // Tag 0: posted, nobody waits for the answer.
      if request.context.tag != 0 {
        answer(
          request, result: unread ?? UInt64(bitPattern: SystemCallError.noSuchName.rawValue))
      }
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
      // Tags are unique per CPU only: the CPU the cancel came from must
      // match too, or a process's cancel on one CPU could drop its read
      // on another (found by Tests/Models/shipping-queue.pml).
      pendingReads.removeAll {
        $0.context.tag == request.arguments[0] && $0.context.process == request.context.process
          && $0.context.replyQueue == request.context.replyQueue
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

  /// Into the reply ring of the LWK CPU the context names, encoded straight
  /// into the slot; that CPU's doorbell when it said it sleeps.
  static func send(_ reply: ShippedReply) {
    let cpu = Int(reply.context.replyQueue)
    guard cpu < processors.count, cpu < replySenders.count, !processors[cpu].isService else {
      return
    }
    if replySenders[cpu] == nil, let word = SharedRegion.replyRingWord(cpu: cpu) {
      replySenders[cpu] = KernelRing.sender(ring: x86_load_acquire(word), label: serviceLabel)
    }
    guard replySenders[cpu] != nil else {
      print("shipping: LWK CPU \(cpu) has no reply ring; a reply is lost")
      return
    }
    let result = replySenders[cpu]!.send(
      kind: .reply, replyLabel: reply.context.tag, length: reply.encodedSize
    ) { _ = reply.encode(into: $0) }
    switch result {
    case .sent(let wake):
      if wake {
        LocalAPIC.send(
          to: processors[cpu].apicID,
          command: UInt32(InterruptVector.doorbell) | LocalAPIC.deliveryFixed)
      }
    default: print("shipping: LWK CPU \(cpu)'s reply ring is full; a reply is lost")
    }
  }
}
