import X86

/// Send capabilities that cross kernel instances, and their revocation
/// across both: the kernel around Core's `EndpointCapabilityDirectory`
/// (SemperOS's distributed derivation tree; the protocol and its argument
/// are in Core's EndpointCapabilityDirectory.swift and
/// EndpointRevocation.swift). The instances share no kernel state: they
/// exchange `EndpointCapabilityBundle`s, the service over the LWK control
/// queue (`capabilityBundle`), the LWK over its function-shipping endpoint
/// (`capabilitiesNumber`).
///
/// - `dtuExport` of a send endpoint makes a directory record for it (a root
///   for one minted or connected here; the imported record for an imported
///   one) and returns the ID of a new child of it: the delegable copy, for
///   one process of the other instance (or any, with pid 0). An ID is a
///   name, not a secret: the pid is what keeps a process that guesses it
///   from importing.
/// - `dtuImport(id)` in the other instance asks the ID's kernel for a
///   child, naming the importing process. That kernel checks it is the
///   export's recipient, registers the child before it grants, and binds the
///   importer's channel when the ring is its own; when the ring is the
///   importer's own (a copy coming back), the importer binds it itself. The
///   grant says which, in its extra words.
/// - Destroying an exported or imported send endpoint (delete, revoke,
///   `dtuRevokeSenders`, its process ending) revokes its record; the
///   directory then revokes every copy derived from it, on both instances,
///   and each kernel deactivates its copies (capabilities removed, pages to
///   the sink, TLBs shot down) before it acknowledges. The ring's kernel
///   revokes an importer's channel when that acknowledgement arrives, so
///   nothing the importer sends after its deactivation is accepted.
///
/// Everything but `pump` runs under KernelLock. Messages to the other
/// instance wait in `outgoing` until an exchange carries them: the thread
/// that caused them pumps after it drops the lock, and every exchange
/// carries what is queued either way, so no kernel waits for the other
/// under its lock. Imports do not take a reply endpoint yet. The Promela
/// model Tests/Models/revoke.pml follows this wiring with the directory.
enum EndpointDelegation {
  /// Where the ring of a record's capability is, seen from this instance.
  enum Place {
    case here(ReceiveEndpoint)
    /// In the other instance, at this physical address.
    case there(UInt64)
  }

  /// The endpoint object a record is activated on.
  enum Holder {
    case local(SendEndpoint)
    case remote(RemoteSendEndpoint)

    var object: ObjectID? {
      switch self {
      case .local(let send): send.object
      case .remote(let remote): remote.object
      }
    }

    var kernelObject: KernelObject {
      switch self {
      case .local(let send): .sendEndpoint(send)
      case .remote(let remote): .remoteSendEndpoint(remote)
      }
    }
  }

  /// An import waiting for its grant, and then its outcome (0 or an error).
  struct Import {
    let child: EndpointCapabilityID
    let pid: UInt64
    let destination: CapabilityAddress
    let credits: Int
    var outcome: Int64? = nil
  }

  /// Extra words of a grant: extra0 the ring's physical address, extra1
  /// the channel bound for the importer with `bound`, or `yours` when the
  /// ring is the importer's and it binds the channel itself.
  static let bound: UInt64 = 1 << 63
  static let yours: UInt64 = 1 << 62

  static let capacity = 256
  nonisolated(unsafe) static var directory: EndpointCapabilityDirectory? = nil
  nonisolated(unsafe) static var outgoing: [EndpointCapabilityEnvelope] = []
  nonisolated(unsafe) static var places: [(id: EndpointCapabilityID, place: Place)] = []
  /// The process of the other instance each export is for (0: any).
  nonisolated(unsafe) static var recipients: [(id: EndpointCapabilityID, pid: UInt64)] = []
  /// Import requests refused because they came from another process.
  nonisolated(unsafe) static var wrongImporters: UInt64 = 0
  nonisolated(unsafe) static var activated: [(id: EndpointCapabilityID, holder: Holder)] = []
  /// Channels of this instance's rings bound for the other's importers.
  nonisolated(unsafe) static var bindings: [(child: EndpointCapabilityID, send: SendEndpoint)] =
    []
  nonisolated(unsafe) static var imports: [Import] = []
  /// Grants' extra words, from their arrival until the installation.
  nonisolated(unsafe) static var grants:
    [(child: EndpointCapabilityID, ring: UInt64, word: UInt64)] =
      []
  /// The last revocations local revokes waited for, with their unread counts.
  nonisolated(unsafe) static var completions: [(id: EndpointCapabilityID, unread: UInt64)] = []
  static let completionsKept = 32
  nonisolated(unsafe) static var effects: [EndpointCapabilityEffect] = []
  nonisolated(unsafe) static var gone: [(id: EndpointCapabilityID, unread: UInt64)] = []
  nonisolated(unsafe) static var settling = false
  /// The last exchange failed (its failure was reported; the next is not,
  /// until one succeeds).
  nonisolated(unsafe) static var stalled = false
  /// Exchanges made, and bundles from the other instance refused as malformed.
  nonisolated(unsafe) static var exchanges: UInt64 = 0
  nonisolated(unsafe) static var malformed: UInt64 = 0

  /// The instance's number in capability IDs: 0 the service, 1 the LWK.
  static var kernel: UInt16 { KernelInstance.kind == .service ? 0 : 1 }
  static var other: UInt16 { 1 - kernel }

  static func start() {
    directory = EndpointCapabilityDirectory(kernel: kernel, capacity: capacity)
    // Its full size from the start: a list that grew with use would show
    // as kernel-heap growth in `mem since` for the first few hundred revokes.
    completions.reserveCapacity(completionsKept + 1)
  }

  /// For `dtu stats`: the directory's records and what crossed.
  static var summary: String? {
    guard let directory else { return nil }
    let counters = directory.counters
    return
      "capability directory k\(kernel): \(directory.count) of \(directory.capacity) records, \(counters.delegationsGranted) delegations granted, \(counters.delegationsRefused + Int(wrongImporters)) refused (\(wrongImporters) to the wrong process), \(counters.revocationsStarted) revocations (\(counters.localJoins + counters.remoteJoins) joined), \(exchanges) exchanges, \(counters.staleMessages) stale and \(counters.rejectedMessages + Int(malformed)) rejected messages"
  }

  /// The directory's messages go to `outgoing`, its effects to `effects`.
  struct Outbox: EndpointCapabilityOutbox {
    mutating func send(_ message: EndpointCapabilityMessage) {
      EndpointDelegation.outgoing.append(EndpointCapabilityEnvelope(message))
    }
    mutating func perform(_ effect: EndpointCapabilityEffect) {
      EndpointDelegation.effects.append(effect)
    }
  }

  /// Runs `body` on the directory, then whatever it asked for.
  @discardableResult
  static func withDirectory<R>(
    _ body: (inout EndpointCapabilityDirectory, inout Outbox) -> R
  ) -> R? {
    guard directory != nil else { return nil }
    var outbox = Outbox()
    let result = body(&directory!, &outbox)
    settle()
    return result
  }

  // MARK: system calls (under KernelLock)

  /// dtuExport: a new delegable child of the send endpoint's record.
  static func export(_ object: KernelObject, owner: UInt64, recipient: UInt64) -> Result<
    EndpointCapabilityID, SystemCallError
  > {
    var source: EndpointCapabilityID
    switch object {
    case .sendEndpoint(let send):
      guard !send.isReplyChannel, !send.target.destroyed else { return .failure(.endpointRevoked) }
      if let record = send.record {
        source = record
      } else {
        let capability = EndpointCapability(endpoint: send.target.id, label: send.label)
        guard
          let root = withDirectory({ directory, _ in
            try? directory.createRoot(capability, owner: owner)
          }) ?? nil
        else { return .failure(.kernelTableFull) }
        _ = withDirectory { directory, _ in try? directory.activate(root, endpoint: send.id) }
        send.record = root
        places.append((root, .here(send.target)))
        activated.append((root, .local(send)))
        source = root
      }
    case .remoteSendEndpoint(let remote):
      // Connected by name: its label is the connection's, not a capability's.
      guard let record = remote.record else { return .failure(.invalidObject) }
      source = record
    default: return .failure(.invalidObject)
    }
    guard let place = places.first(where: { $0.id == source })?.place,
      let copy = withDirectory({ directory, _ in try? directory.copy(source, owner: owner) }) ?? nil
    else { return .failure(.kernelTableFull) }
    places.append((copy, place))
    recipients.append((copy, recipient))
    return .success(copy)
  }

  /// dtuImport's first half: the request is queued; `pump` carries it.
  static func requestImport(
    _ parent: EndpointCapabilityID, credits: Int, destination: CapabilityAddress, pid: UInt64
  ) -> Result<EndpointCapabilityID, SystemCallError> {
    // Without an LWK instance there is no kernel to hold `parent`.
    guard parent.kernel == other, KernelInstance.kind == .lwk || SharedRegion.lwkState == .up
    else { return .failure(.noSuchCapability) }
    let requested = withDirectory { directory, outbox in
      try? directory.requestDelegation(of: parent, owner: pid, outbox: &outbox)
    }
    guard let child = requested ?? nil else { return .failure(.kernelTableFull) }
    // The credits travel with the request, for the kernel that binds, and
    // the importer's pid, for the check against the export's recipient.
    if let index = outgoing.lastIndex(where: { $0.message.child == child }) {
      outgoing[index].extra0 = UInt64(credits)
      outgoing[index].extra1 = pid
    }
    imports.append(Import(child: child, pid: pid, destination: destination, credits: credits))
    return .success(child)
  }

  /// dtuImport's outcome once the grant or refusal was delivered (nil:
  /// not yet); the entry goes once read.
  static func importOutcome(_ child: EndpointCapabilityID) -> Int64? {
    guard let index = imports.firstIndex(where: { $0.child == child }),
      let outcome = imports[index].outcome
    else { return nil }
    imports.remove(at: index)
    return outcome
  }

  /// The importer stopped waiting: a late grant is taken back at once.
  static func abandonImport(_ child: EndpointCapabilityID) {
    imports.removeAll { $0.child == child }
    withDirectory { directory, _ in try? directory.cancelDelegation(child) }
  }

  /// dtuRevokeExport's first half: started or joined (true), or why not.
  static func revoke(_ id: EndpointCapabilityID, by owner: UInt64) -> Result<
    Bool, SystemCallError
  > {
    guard let record = directory?.record(id), id.kernel == kernel, record.owner == owner,
      record.state == .live || record.state == .revoking
    else { return .failure(.noSuchCapability) }
    completions.removeAll { $0.id == id }
    let revocation: EndpointRevocation? =
      withDirectory { directory, outbox in try? directory.revoke(id, outbox: &outbox) } ?? nil
    return .success(revocation == .joined)
  }

  static func completion(_ id: EndpointCapabilityID) -> UInt64? {
    completions.first(where: { $0.id == id })?.unread
  }

  // MARK: what the directory asks for

  /// Runs the effects and reports the destroyed endpoints, once, however
  /// deep the destruction that one effect causes nests (`settling`).
  static func settle() {
    guard !settling else { return }
    settling = true
    defer { settling = false }
    while true {
      if !gone.isEmpty {
        let (id, unread) = gone.removeFirst()
        reportGone(id, unread: unread)
      } else if !effects.isEmpty {
        perform(effects.removeFirst())
      } else {
        return
      }
    }
  }

  static func perform(_ effect: EndpointCapabilityEffect) {
    switch effect {
    case .deactivate(let id, _, _):
      // Every capability to the endpoint goes; the last one destroys it,
      // and that reports the record deactivated (`endpointGone`).
      guard let holder = activated.first(where: { $0.id == id })?.holder else { return }
      if let object = holder.object {
        ProcessCapabilities.system.removeAll(of: object, into: &KernelObjects.scratch)
        _ = KernelObjects.applyScratch()
      }
    case .installed(let child, _, let capability): install(child, capability)
    case .delegationRefused(let child, _, let reason):
      let error: SystemCallError =
        switch reason {
        case .noSuchCapability: .noSuchCapability
        case .revoking: .endpointRevoked
        case .noRoom: .noFreeChannel
        }
      finishImport(child, error.rawValue)
    case .revocationCompleted(let id, _, let unread):
      completions.append((id, unread))
      if completions.count > completionsKept { completions.removeFirst() }
      forgetFreedRecords()
    }
  }

  /// An exported or imported send endpoint was destroyed: its record is
  /// revoked (unless that is what destroyed it) and reported deactivated.
  static func endpointGone(_ id: EndpointCapabilityID, unread: UInt64) {
    gone.append((id, unread))
    settle()
  }

  private static func reportGone(_ id: EndpointCapabilityID, unread: UInt64) {
    activated.removeAll { $0.id == id }
    guard let record = directory?.record(id) else { return }
    withDirectory { directory, outbox in
      if record.state == .live { _ = try? directory.revoke(id, outbox: &outbox) }
      try? directory.deactivated(id, unread: unread, outbox: &outbox)
    }
    forgetFreedRecords()
  }

  /// Records that completed take their place and recipient with them.
  private static func forgetFreedRecords() {
    places.removeAll { directory?.record($0.id) == nil }
    recipients.removeAll { directory?.record($0.id) == nil }
  }

  private static func finishImport(_ child: EndpointCapabilityID, _ outcome: Int64) {
    if let index = imports.firstIndex(where: { $0.child == child }) {
      imports[index].outcome = outcome
    }
  }

  /// A grant arrived for `child`: its send endpoint, on the channel the
  /// ring's kernel bound or on one bound here, and its capability in the
  /// importer's slot. If any of it fails, the copy is revoked again.
  private static func install(_ child: EndpointCapabilityID, _ capability: EndpointCapability) {
    let grant = grants.first { $0.child == child }
    grants.removeAll { $0.child == child }
    guard let waiting = imports.first(where: { $0.child == child && $0.outcome == nil }),
      let grant
    else {
      _ = withDirectory { directory, outbox in try? directory.revoke(child, outbox: &outbox) }
      return
    }
    var holder: Holder? = nil
    var error = SystemCallError.invalidObject
    if grant.word & bound != 0 {
      if let remote = RemoteSendEndpoint(
        ring: grant.ring, channel: Int(grant.word & 0xFFF), owner: waiting.pid)
      {
        holder = .remote(remote)
        places.append((child, .there(grant.ring)))
      }
    } else if grant.word & yours != 0,
      let target = DTU.allReceiveEndpoints().first(where: {
        $0.physical == grant.ring && !$0.destroyed
      })
    {
      switch DTU.mintSend(
        to: target, label: capability.label, credits: waiting.credits, owner: waiting.pid)
      {
      case .success(let send):
        holder = .local(send)
        places.append((child, .here(target)))
      case .failure(let failure): error = failure
      }
    }
    guard let holder else {
      finishImport(child, error.rawValue)
      _ = withDirectory { directory, outbox in try? directory.revoke(child, outbox: &outbox) }
      return
    }
    _ = withDirectory { directory, _ in
      try? directory.activate(child, endpoint: capability.endpoint)
    }
    activated.append((child, holder))
    // Linked first, so that taking it apart (below, or later) revokes the
    // record rather than releasing the channel the connect way.
    switch holder {
    case .local(let send): send.record = child
    case .remote(let remote): remote.record = child
    }
    do throws(CapabilityError) {
      finishImport(
        child,
        try DTUCalls.install(
          holder.kernelObject, type: .sendEndpoint, bytes: 64, at: waiting.destination
        ) {
          switch holder {
          case .local(let send): DTU.destroy(send)
          case .remote(let remote): DTU.destroy(remote)
          }
        })
    } catch {
      finishImport(child, SystemCallError(error).rawValue)
    }
  }

  // MARK: messages from the other instance (under KernelLock)

  static func deliver(_ envelope: EndpointCapabilityEnvelope) {
    var message = envelope.message
    switch message {
    case .delegateRequest(let parent, let child):
      grant(parent, child, credits: envelope.extra0, requester: envelope.extra1)
      return
    case .delegateGranted(_, let child, _):
      grants.append((child, envelope.extra0, envelope.extra1))
    case .revokeAck(let parent, let child, let unread):
      message = .revokeAck(parent: parent, child: child, unread: unread &+ unbind(child))
    case .delegateCancel(_, let child): _ = unbind(child)
    default: break
    }
    withDirectory { directory, outbox in
      _ = directory.receive(message, from: other, outbox: &outbox)
    }
    // A grant the directory did not take (not pending) installs nothing.
    if case .delegateGranted(_, let child, _) = message { grants.removeAll { $0.child == child } }
  }

  /// A delegate request: on a ring of this instance the importer's channel
  /// is bound first (so a grant always names a channel that exists); the
  /// directory then grants or refuses, and a refusal unbinds it again.
  private static func grant(
    _ parent: EndpointCapabilityID, _ child: EndpointCapabilityID, credits: UInt64,
    requester: UInt64
  ) {
    if let recipient = recipients.first(where: { $0.id == parent })?.pid, recipient != 0,
      recipient != requester
    {
      // Refused as if it did not exist: the ID is no secret.
      wrongImporters &+= 1
      outgoing.append(
        EndpointCapabilityEnvelope(
          .delegateRefused(parent: parent, child: child, reason: .noSuchCapability)))
      return
    }
    let place = places.first(where: { $0.id == parent })?.place
    var channel: SendEndpoint? = nil
    if case .here(let target)? = place, let record = directory?.record(parent),
      record.state == .live
    {
      switch DTU.mintSend(
        to: target, label: record.capability.label, credits: Int(min(credits, 1 << 20)),
        owner: 0)
      {
      case .success(let send): channel = send
      case .failure:
        outgoing.append(
          EndpointCapabilityEnvelope(
            .delegateRefused(parent: parent, child: child, reason: .noRoom))
        )
        return
      }
    }
    let before = outgoing.count
    withDirectory { directory, outbox in
      _ = directory.receive(
        .delegateRequest(parent: parent, child: child), from: other, outbox: &outbox)
    }
    let granted = outgoing.indices.dropFirst(before).first { index in
      if case .delegateGranted(_, child, _) = outgoing[index].message { return true }
      return false
    }
    guard let granted else {
      if let channel { DTU.destroy(channel) }
      return
    }
    if let channel {
      channel.target.remoteSenders.append(channel)
      bindings.append((child, channel))
      outgoing[granted].extra0 = channel.target.physical
      outgoing[granted].extra1 = UInt64(channel.channel) | bound
    } else if case .there(let ring)? = place {
      outgoing[granted].extra0 = ring
      outgoing[granted].extra1 = yours
    }
  }

  /// The channel bound here for the other instance's copy `child` goes
  /// (its kernel deactivated it): how many of its messages stay unread.
  private static func unbind(_ child: EndpointCapabilityID) -> UInt64 {
    guard let index = bindings.firstIndex(where: { $0.child == child }) else { return 0 }
    let send = bindings.remove(at: index).send
    let target = send.target
    // Taken back by dtuRevokeSenders already.
    guard let sender = target.remoteSenders.firstIndex(where: { $0 === send }) else { return 0 }
    target.remoteSenders.remove(at: sender)
    DTU.destroy(send)
    DTU.freeRingIfUnused(target)
    return send.unreadAtRevoke
  }

  // MARK: the exchange

  /// What is queued for the other instance, as much as one bundle holds:
  /// the bundle and its encoding.
  static func takeBundle() -> (bundle: EndpointCapabilityBundle, bytes: [UInt8]) {
    let count = min(outgoing.count, EndpointCapabilityBundle.maximum)
    let bundle = EndpointCapabilityBundle(
      Array(outgoing.prefix(count)), more: outgoing.count > count)
    outgoing.removeFirst(count)
    var bytes = [UInt8](repeating: 0, count: bundle.byteCount)
    _ = bytes.withUnsafeMutableBytes { bundle.encode(into: $0) }
    return (bundle, bytes)
  }

  /// Delivers a bundle from the other instance; whether it has more.
  static func deliverBundle(_ view: ByteView) -> Bool {
    do throws(EndpointCapabilityBundleError) {
      let bundle = try EndpointCapabilityBundle.decode(view)
      for envelope in bundle.entries { deliver(envelope) }
      return bundle.more
    } catch {
      malformed &+= 1
      print("dtu: refusing a capability bundle from the other instance: \(error.description)")
      return false
    }
  }

  /// Serving the other instance's exchange: its bundle in, ours out.
  static func serve(_ view: ByteView) -> [UInt8] {
    KernelLock.held {
      exchanges &+= 1
      _ = deliverBundle(view)
      return takeBundle().bytes
    }
  }

  /// The other instance failed and is to be started afresh (under
  /// KernelLock): nothing queued for it, or waiting for its grants, will
  /// ever be answered. Records of its capabilities in the directory stay
  /// (a revoke of their parent waits for it in vain, bounded); local
  /// endpoints derived from them went with `DTU.forgetOtherInstance`.
  static func forgetOtherInstance() {
    outgoing.removeAll()
    grants.removeAll()
    for index in imports.indices where imports[index].outcome == nil {
      imports[index].outcome = SystemCallError.noSuchCapability.rawValue
    }
    stalled = false
  }

  /// After work under the lock that may have queued messages.
  static func pumpIfQueued() {
    if KernelLock.held({ !outgoing.isEmpty }) { pump() }
  }

  /// Exchanges bundles with the other instance until neither side has
  /// anything queued (not under KernelLock). With `poll`, at least once:
  /// the other side may hold answers to what an earlier call caused.
  static func pump(poll: Bool = false) {
    var more = poll
    for _ in 0..<64 {
      let taken = KernelLock.held {
        outgoing.isEmpty && !more ? nil : takeBundle()
      }
      guard let taken else { return }
      var answer: [UInt8] = []
      guard exchange(taken.bytes, answer: &answer) else {
        // Kept for the next exchange: the protocol needs every message.
        KernelLock.held { outgoing.insert(contentsOf: taken.bundle.entries, at: 0) }
        if !stalled {
          print("dtu: the other instance did not take a capability bundle; it stays queued")
        }
        stalled = true
        return
      }
      stalled = false
      more = KernelLock.held {
        exchanges &+= 1
        return answer.withUnsafeBytes { deliverBundle(ByteView($0)) }
      }
    }
  }

  private static func exchange(_ bundle: [UInt8], answer: inout [UInt8]) -> Bool {
    var received: [UInt8] = []
    let copy = { (view: ByteView) in
      received = Array(UnsafeRawBufferPointer(start: view.base, count: view.count))
    }
    let sent: Bool
    if KernelInstance.kind == .service {
      let called = bundle.withUnsafeBytes { buffer in
        LWKControl.call(.capabilityBundle, (0, 0, 0, 0), payload: ByteView(buffer), received: copy)
      }
      if case .success(let reply) = called, reply.status == .ok {
        sent = true
      } else {
        sent = false
      }
    } else {
      let result = bundle.withUnsafeBytes { buffer in
        FunctionShipping.ship(
          .dtuImport, arguments: ShippedArguments(), data: ByteView(buffer),
          number: FunctionShipping.capabilitiesNumber,
          process: UInt64(ProcessRunner.current?.pid ?? 0), received: copy)
      }
      sent = result == 0
    }
    answer = received
    return sent
  }

  /// Waits (bounded, 2 s) until `done` holds, pumping what is queued
  /// meanwhile: the other instance's part may arrive through any exchange.
  /// An empty exchange, to fetch what the other side holds, goes at most
  /// once a millisecond: a waiter that joined another's revoke must not
  /// flood the other kernel with polls while that one's exchanges run.
  static func await(_ done: () -> Bool) -> Bool {
    let deadline = x86_rdtsc() + Clock.cycles(microseconds: 2_000_000)
    let interval = Clock.cycles(microseconds: 1000)
    var nextPoll = x86_rdtsc()
    while true {
      if KernelLock.held(done) { return true }
      let now = x86_rdtsc()
      if now > deadline { return false }
      if KernelInstance.kind == .service && SharedRegion.lwkState == .failed { return false }
      pump(poll: now >= nextPoll)
      if now >= nextPoll { nextPoll = now + interval }
      if KernelLock.held(done) { return true }
      Scheduler.yield()
    }
  }
}
