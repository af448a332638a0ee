import PropertyBased
import Testing

@testable import TesseraCore

/// The cross-kernel two-phase revoke (Kernel/Core/DTU/EndpointRevocation.swift):
/// worked scenarios first (two kernels, joins, Barrelfish's three-core
/// case), then random interleavings of three kernels' operations and
/// messages checked against a model of who derived what from whom, and two
/// deliberately broken kernels that the same checks catch.
struct EndpointRevocationTests {
  typealias ID = EndpointCapabilityID
  typealias Message = EndpointCapabilityMessage
  static let capability = EndpointCapability(
    endpoint: EndpointAddress(node: 0, endpoint: 0), label: 0x1AB)

  /// Directories of kernels 0, 1, 2 and one outbox; `deliver` hands a
  /// message to its receiver.
  struct Kernels {
    var directories = (0..<3).map { EndpointCapabilityDirectory(kernel: UInt16($0), capacity: 16) }
    var out = RecordingOutbox()

    @discardableResult
    mutating func deliver(_ message: Message) -> EndpointCapabilityReceipt {
      directories[Int(message.receiver)].receive(message, from: message.sender, outbox: &out)
    }

    /// What was sent and done since the last call.
    mutating func take() -> ([Message], [EndpointCapabilityEffect]) { out.take() }

    /// Kernel `kernel` asks for a copy of `parent` and the answers travel
    /// at once; the new copy's ID.
    mutating func delegate(_ parent: ID, to kernel: Int, owner: UInt64) throws -> ID {
      let child = try directories[kernel].requestDelegation(of: parent, owner: owner, outbox: &out)
      let (request, _) = take()
      deliver(request[0])
      let (grant, _) = take()
      deliver(grant[0])
      _ = take()
      return child
    }

    func consistent() -> Bool { directories.allSatisfy { $0.consistencyViolation() == nil } }
  }

  @Test func aRevokeCompletesOnlyAfterTheOtherKernelAcknowledged() throws {
    var k = Kernels()
    let root = try k.directories[0].createRoot(Self.capability, owner: 1)
    let copy = try k.delegate(root, to: 1, owner: 2)
    let endpoint = EndpointAddress(node: 1, endpoint: 3)
    try k.directories[1].activate(copy, endpoint: endpoint)

    #expect(try k.directories[0].revoke(root, outbox: &k.out) == .started)
    let (requests, none) = k.take()
    #expect(requests == [.revokeRequest(parent: root, child: copy)] && none.isEmpty)
    #expect(k.directories[0].record(root)?.state == .revoking)
    #expect(k.directories[0].isLive(root) == false)
    #expect(k.directories[0].outstandingAnswers(root) == 1)
    #expect(k.directories[1].outstandingAnswers(copy) == nil)
    // Kernel 1 deactivates first; nothing is acknowledged before that.
    #expect(k.deliver(requests[0]) == .handled)
    let (early, deactivate) = k.take()
    #expect(early.isEmpty)
    #expect(deactivate == [.deactivate(copy, endpoint: endpoint, owner: 2)])
    #expect(k.directories[1].record(copy)?.state == .revoking)
    #expect(k.directories[1].outstandingAnswers(copy) == 1)
    try k.directories[1].deactivated(copy, unread: 3, outbox: &k.out)
    let (ack, _) = k.take()
    #expect(ack == [.revokeAck(parent: root, child: copy, unread: 3)])
    #expect(k.directories[1].count == 0)
    // Only the acknowledgement completes the revoke, with the unread count.
    #expect(k.deliver(ack[0]) == .handled)
    #expect(k.take().1 == [.revocationCompleted(root, owner: 1, unread: 3)])
    #expect(k.directories[0].count == 0 && k.consistent())
    // A second acknowledgement (a duplicate) finds nothing.
    #expect(k.deliver(ack[0]) == .stale)
  }

  @Test func localDescendantsAddUpTheirUnreadMessages() throws {
    var k = Kernels()
    let root = try k.directories[0].createRoot(Self.capability, owner: 1)
    let a = try k.directories[0].copy(root, owner: 2)
    let b = try k.directories[0].copy(a, owner: 3)
    let c = try k.directories[0].copy(root, owner: 4)
    for (index, id) in [a, b, c].enumerated() {
      try k.directories[0].activate(id, endpoint: EndpointAddress(node: 0, endpoint: UInt16(index)))
    }
    #expect(try k.directories[0].revoke(root, outbox: &k.out) == .started)
    let (_, effects) = k.take()
    #expect(effects.count == 3)
    // Every copy is unusable at once, before any endpoint is reported dead.
    for id in [root, a, b, c] { #expect(!k.directories[0].isLive(id)) }
    #expect(throws: EndpointCapabilityError.revoking(a)) {
      try k.directories[0].copy(a, owner: 9)
    }
    // The root waits for its two children, a for b and itself.
    #expect(k.directories[0].outstandingAnswers(root) == 2)
    #expect(k.directories[0].outstandingAnswers(a) == 2)
    try k.directories[0].deactivated(b, unread: 5, outbox: &k.out)
    try k.directories[0].deactivated(c, unread: 7, outbox: &k.out)
    #expect(k.take().1.isEmpty)
    try k.directories[0].deactivated(a, unread: 1, outbox: &k.out)
    #expect(k.take().1 == [.revocationCompleted(root, owner: 1, unread: 13)])
    #expect(k.directories[0].count == 0 && k.consistent())
  }

  @Test func aSecondRevokeJoinsTheFirst() throws {
    var k = Kernels()
    let root = try k.directories[0].createRoot(Self.capability, owner: 1)
    let copy = try k.delegate(root, to: 1, owner: 2)
    let inner = try k.directories[0].copy(root, owner: 3)
    try k.directories[0].activate(inner, endpoint: EndpointAddress(node: 0, endpoint: 2))
    #expect(try k.directories[0].revoke(root, outbox: &k.out) == .started)
    #expect(try k.directories[0].revoke(root, outbox: &k.out) == .joined)
    // A descendant marked by the same revocation joins it as well.
    #expect(try k.directories[0].revoke(inner, outbox: &k.out) == .joined)
    let (requests, deactivate) = k.take()
    #expect(requests == [.revokeRequest(parent: root, child: copy)])
    #expect(
      deactivate == [.deactivate(inner, endpoint: EndpointAddress(node: 0, endpoint: 2), owner: 3)])
    k.deliver(requests[0])
    let (ack, _) = k.take()
    k.deliver(ack[0])
    #expect(k.take().1.isEmpty)
    try k.directories[0].deactivated(inner, unread: 2, outbox: &k.out)
    // One completion for the revocation both revokes of the root wait for,
    // and one for the descendant's waiter (its count is in the root's).
    let (none, done) = k.take()
    #expect(none.isEmpty)
    #expect(
      done == [
        .revocationCompleted(inner, owner: 3, unread: 0),
        .revocationCompleted(root, owner: 1, unread: 2),
      ])
    #expect(k.directories[0].counters.localJoins == 2)
    #expect(k.directories[0].counters.revocationsStarted == 1)
  }

  @Test func aRevokeRequestJoinsTheChildsOwnRevoke() throws {
    var k = Kernels()
    let root = try k.directories[0].createRoot(Self.capability, owner: 1)
    let copy = try k.delegate(root, to: 1, owner: 2)
    let grandchild = try k.delegate(copy, to: 2, owner: 3)
    try k.directories[1].activate(copy, endpoint: EndpointAddress(node: 1, endpoint: 0))
    // Kernel 1 revokes its copy; kernel 0 revokes the root meanwhile.
    #expect(try k.directories[1].revoke(copy, outbox: &k.out) == .started)
    let (toC, deactivate) = k.take()
    #expect(toC == [.revokeRequest(parent: copy, child: grandchild)] && deactivate.count == 1)
    #expect(try k.directories[0].revoke(root, outbox: &k.out) == .started)
    let (toB, _) = k.take()
    #expect(toB == [.revokeRequest(parent: root, child: copy)])
    // The request finds the revocation running and subscribes: nothing new
    // goes to kernel 2.
    #expect(k.deliver(toB[0]) == .handled)
    #expect(k.take().0.isEmpty)
    #expect(k.directories[1].counters.remoteJoins == 1)
    k.deliver(toC[0])
    let (ackFromC, _) = k.take()
    k.deliver(ackFromC[0])
    try k.directories[1].deactivated(copy, unread: 4, outbox: &k.out)
    let (ackFromB, done) = k.take()
    // Kernel 1's own revoke reports the 4 messages; the acknowledgement to
    // kernel 0 carries none of them (reported once).
    #expect(done == [.revocationCompleted(copy, owner: 2, unread: 4)])
    #expect(ackFromB == [.revokeAck(parent: root, child: copy, unread: 0)])
    k.deliver(ackFromB[0])
    #expect(k.take().1 == [.revocationCompleted(root, owner: 1, unread: 0)])
    #expect(k.directories.allSatisfy { $0.count == 0 })
  }

  @Test func aDelegateRequestDuringARevokeIsRefused() throws {
    var k = Kernels()
    let root = try k.directories[0].createRoot(Self.capability, owner: 1)
    let copy = try k.delegate(root, to: 1, owner: 2)
    _ = try k.directories[0].revoke(root, outbox: &k.out)
    let (revokeRequest, _) = k.take()
    let late = try k.directories[2].requestDelegation(of: root, owner: 5, outbox: &k.out)
    let (request, _) = k.take()
    #expect(k.deliver(request[0]) == .handled)
    let (refusal, _) = k.take()
    #expect(refusal == [.delegateRefused(parent: root, child: late, reason: .revoking)])
    k.deliver(refusal[0])
    #expect(k.take().1 == [.delegationRefused(late, owner: 5, reason: .revoking)])
    k.deliver(revokeRequest[0])
    let (ack, _) = k.take()
    k.deliver(ack[0])
    #expect(k.take().1 == [.revocationCompleted(root, owner: 1, unread: 0)])
    #expect(k.directories[1].record(copy) == nil && k.directories[2].count == 0)
  }

  /// Barrelfish TN-013: kernel 1 hands its copy to kernel 2 while kernel 0
  /// revokes the original. Both orders at kernel 1 end with no copy left.
  @Test func theThreeCoreTransferCannotOutliveTheRevoke() throws {
    for transferFirst in [true, false] {
      var k = Kernels()
      let root = try k.directories[0].createRoot(Self.capability, owner: 1)
      let copy = try k.delegate(root, to: 1, owner: 2)
      // Active, so kernel 1's part of the revoke lasts until the kernel
      // reports the endpoint dead.
      try k.directories[1].activate(copy, endpoint: EndpointAddress(node: 1, endpoint: 0))
      let third = try k.directories[2].requestDelegation(of: copy, owner: 3, outbox: &k.out)
      let (transfer, _) = k.take()
      _ = try k.directories[0].revoke(root, outbox: &k.out)
      let (revoke, _) = k.take()
      if transferFirst {
        // Kernel 1 registers kernel 2's copy before it grants; the revoke
        // request that follows reaches it.
        k.deliver(transfer[0])
        let (grant, _) = k.take()
        k.deliver(revoke[0])
        let (toThird, _) = k.take()
        #expect(toThird == [.revokeRequest(parent: copy, child: third)])
        k.deliver(grant[0])
        #expect(k.take().1 == [.installed(third, owner: 3, capability: Self.capability)])
        k.deliver(toThird[0])
        let (ackFromThird, _) = k.take()
        k.deliver(ackFromThird[0])
        // Kernel 1 still waits for its own endpoint.
        #expect(k.take().0.isEmpty && k.directories[1].count == 1)
      } else {
        // The revoke arrives first: the transfer is refused.
        k.deliver(revoke[0])
        k.deliver(transfer[0])
        let (refusal, _) = k.take()
        #expect(refusal == [.delegateRefused(parent: copy, child: third, reason: .revoking)])
        k.deliver(refusal[0])
        #expect(k.take().1 == [.delegationRefused(third, owner: 3, reason: .revoking)])
      }
      try k.directories[1].deactivated(copy, unread: 1, outbox: &k.out)
      let (ack, _) = k.take()
      #expect(ack == [.revokeAck(parent: root, child: copy, unread: 1)])
      k.deliver(ack[0])
      #expect(k.take().1 == [.revocationCompleted(root, owner: 1, unread: 1)])
      #expect(k.directories.allSatisfy { $0.count == 0 }, "transfer first: \(transferFirst)")
    }
  }

  @Test func aRevokeRequestOvertakingItsGrantDropsThePendingCopy() throws {
    var k = Kernels()
    let root = try k.directories[0].createRoot(Self.capability, owner: 1)
    let pending = try k.directories[1].requestDelegation(of: root, owner: 2, outbox: &k.out)
    k.deliver(k.take().0[0])
    let (grant, _) = k.take()
    _ = try k.directories[0].revoke(root, outbox: &k.out)
    let (revoke, _) = k.take()
    // Delivered out of order: the request before the grant.
    #expect(k.deliver(revoke[0]) == .handled)
    let (ack, refused) = k.take()
    #expect(refused == [.delegationRefused(pending, owner: 2, reason: .revoking)])
    #expect(ack == [.revokeAck(parent: root, child: pending, unread: 0)])
    #expect(k.deliver(grant[0]) == .stale)
    let (cancel, _) = k.take()
    #expect(cancel == [.delegateCancel(parent: root, child: pending)])
    k.deliver(ack[0])
    #expect(k.take().1 == [.revocationCompleted(root, owner: 1, unread: 0)])
    #expect(k.deliver(cancel[0]) == .stale)
    #expect(k.directories.allSatisfy { $0.count == 0 })
  }

  // MARK: random interleavings against a model

  @Test(.shrinking(false)) func randomInterleavingsKeepEveryProperty() async {
    var coverage = Cluster.Coverage()
    let steps = Gen.int(in: 0...Int.max).array(of: 40...160)
    await propertyCheck(count: 150, input: Gen.int(in: 0...Int.max), steps) { setup, steps in
      var cluster = Cluster(fault: .none, reorder: false, seed: UInt64(setup))
      #expect(cluster.run(steps.map { UInt64($0) }) == nil)
      coverage.add(cluster.coverage)
    }
    // The random runs did reach the cases that matter.
    #expect(coverage.localJoins > 0 && coverage.remoteJoins > 0)
    #expect(coverage.refusedDuringRevoke > 0 && coverage.thirdPartyCopies > 0)
    #expect(coverage.completions > 0 && coverage.unreadReported > 0)
    #expect(coverage.sendsRefused > 0 && coverage.cancels > 0)
  }

  /// Rings deliver in order; with any order instead, nothing unsafe happens
  /// and everything still completes (only the unread accounting needs the
  /// order, so it is not checked here).
  @Test(.shrinking(false)) func reorderedDeliveryStaysSafeAndLive() async {
    let steps = Gen.int(in: 0...Int.max).array(of: 40...160)
    await propertyCheck(count: 100, input: Gen.int(in: 0...Int.max), steps) { setup, steps in
      var cluster = Cluster(fault: .none, reorder: true, seed: UInt64(setup))
      #expect(cluster.run(steps.map { UInt64($0) }) == nil)
    }
  }

  /// A kernel that reports an endpoint dead before it is invalidated (its
  /// acknowledgement overtakes the deactivation): a send gets through after
  /// the revoke completed.
  @Test func acknowledgingBeforeDeactivatingIsCaught() {
    let found = Cluster.firstViolation(fault: .acknowledgeBeforeDeactivating)
    #expect(found != nil)
    #expect(found?.contains("after") == true, "\(found ?? "")")
  }

  /// A kernel that grants a delegation while the parent is being revoked
  /// (transfer not ordered against revoke): a copy outlives the revoke.
  @Test func grantingDuringARevokeIsCaught() {
    let found = Cluster.firstViolation(fault: .grantDuringRevoke)
    #expect(found != nil)
    let caught = ["survives", "installed after", "live under a revoke"].contains {
      found?.contains($0) == true
    }
    #expect(caught, "\(found ?? "")")
  }
}

/// Decodes the choices of one step from its random word.
private struct Choices {
  var bits: UInt64
  mutating func take(_ count: Int) -> Int {
    guard count > 1 else { return 0 }
    let value = Int(bits % UInt64(count))
    bits /= UInt64(count)
    return value
  }
  mutating func chance(_ percent: Int) -> Bool { take(100) < percent }
  mutating func pick<T>(_ items: [T]) -> T? { items.isEmpty ? nil : items[take(items.count)] }
}

/// Three kernel instances, each with its directory and its DTU's endpoint
/// table, joined by FIFO rings of encoded messages; a random scheduler
/// picks each step: a local operation somewhere, the delivery of one
/// pending message, or a kernel finishing one deactivation. Beside it, the
/// model: who derived what from whom, what was revoked and completed, which
/// endpoint was configured from which capability, and the messages in
/// flight on each endpoint.
///
/// Checked after every step: each directory's structure; no capability
/// (local, remote child or active endpoint) descends from a revocation that
/// completed; no send through such a capability is accepted, no copy of it
/// installed; a delegate request that finds its parent revoking is refused;
/// no capability is asked to revoke or deactivate twice. After the run, all
/// messages and deactivations are drained in random order, and then: every
/// revoke completed; exactly the capabilities not under a revoke are live;
/// each kernel's remote children are exactly the other kernels' copies; and
/// the unread counts reported by completions add up to those collected.
private struct Cluster {
  typealias ID = EndpointCapabilityID

  enum Fault {
    case none
    /// The kernel reports `deactivated` at once and invalidates the
    /// endpoint later.
    case acknowledgeBeforeDeactivating
    /// The kernel answers a delegate request for a revoking parent with a
    /// grant of its own making.
    case grantDuringRevoke
  }

  struct Coverage {
    var localJoins = 0
    var remoteJoins = 0
    var refusedDuringRevoke = 0
    var thirdPartyCopies = 0
    var completions = 0
    var unreadReported: UInt64 = 0
    var sendsRefused = 0
    var cancels = 0

    mutating func add(_ other: Coverage) {
      localJoins += other.localJoins
      remoteJoins += other.remoteJoins
      refusedDuringRevoke += other.refusedDuringRevoke
      thirdPartyCopies += other.thirdPartyCopies
      completions += other.completions
      unreadReported += other.unreadReported
      sendsRefused += other.sendsRefused
      cancels += other.cancels
    }
  }

  struct Kernel {
    var directory: EndpointCapabilityDirectory
    var table: EndpointTable
    /// `deactivate` effects not carried out yet.
    var work: [(capability: ID, endpoint: EndpointAddress)] = []
    /// The broken kernel's invalidations still to do.
    var lateInvalidations: [EndpointAddress] = []
  }

  let fault: Fault
  let reorder: Bool
  var random: UInt64
  var kernels: [Kernel] = []
  /// rings[from][to]: encoded messages in order.
  var rings: [[[[UInt8]]]] = Array(repeating: Array(repeating: [], count: 3), count: 3)
  let receiveEndpoint = EndpointAddress(node: 0, endpoint: 0)

  // The model.
  var parentOf: [ID: ID] = [:]
  var holders: [ID] = []
  var installed: Set<ID> = []
  var revoked: Set<ID> = []
  var completed: Set<ID> = []
  var waiting: Set<ID> = []
  var endpoints: [EndpointAddress: (capability: ID, owner: UInt64)] = [:]
  var inFlight: [EndpointAddress: UInt64] = [:]
  var accepted: UInt64 = 0
  var fetched: UInt64 = 0
  var collectedUnread: UInt64 = 0
  var reportedUnread: UInt64 = 0
  var revokeRequests: [ID: Int] = [:]
  var deactivations: [ID: Int] = [:]
  var nextOwner: UInt64 = 100
  var coverage = Coverage()
  var violation: String?

  init(fault: Fault, reorder: Bool, seed: UInt64) {
    self.fault = fault
    self.reorder = reorder
    random = seed
    for index in 0..<3 {
      var table = EndpointTable(node: UInt16(index), capacity: 24)
      if index == 0 {
        // The receive endpoint every capability here sends to: 1024 slots
        // of 64 bytes in 32 channels of 32.
        let ring = try! table.allocate()
        try! table.configure(
          ring,
          .receive(
            ReceiveEndpointConfiguration(
              ringAddress: 0x100_0000, slotCountLog2: 10, slotSizeLog2: 6, channels: 32, owner: 1)))
      }
      kernels.append(
        Kernel(
          directory: EndpointCapabilityDirectory(kernel: UInt16(index), capacity: 20), table: table)
      )
    }
    newRoot()
  }

  /// Runs the steps, drains, checks; the first violation found, with the
  /// step it was found at.
  mutating func run(_ steps: [UInt64]) -> String? {
    for (index, step) in steps.enumerated() {
      var choose = Choices(bits: step)
      let operation = choose.take(100)
      switch operation {
      case 0..<12: delegate(&choose)
      case 12..<17: copy(&choose)
      case 17..<27: activate(&choose)
      case 27..<40: send(&choose)
      case 40..<45: fetch(&choose)
      case 45..<53: revoke(&choose)
      case 53..<55: cancel(&choose)
      case 55..<57: newRoot()
      case 57..<85: deliver(&choose)
      default: work(&choose)
      }
      checkStep()
      if let violation { return "step \(index) (operation \(operation)): " + violation }
    }
    drain()
    for kernel in kernels {
      coverage.localJoins += kernel.directory.counters.localJoins
      coverage.remoteJoins += kernel.directory.counters.remoteJoins
    }
    if let violation { return "draining: " + violation }
    checkQuiescence()
    if let violation { return "at the end: " + violation }
    return nil
  }

  /// Searches seeds for a run that breaks a property.
  static func firstViolation(fault: Fault) -> String? {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> UInt64 {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return state ^ (state >> 29)
    }
    for _ in 0..<400 {
      var cluster = Cluster(fault: fault, reorder: false, seed: next())
      let steps = (0..<(40 + Int(next() % 120))).map { _ in next() }
      if let found = cluster.run(steps) { return found }
    }
    return nil
  }

  // MARK: operations

  mutating func newRoot() {
    let owner = takeOwner()
    guard
      let root = try? kernels[0].directory.createRoot(
        EndpointCapability(endpoint: receiveEndpoint, label: owner), owner: owner)
    else { return }
    holders.append(root)
    installed.insert(root)
  }

  /// Ids the model knows, held by kernel `kernel` and in `states`.
  func records(at kernel: Int, _ states: [EndpointCapabilityDirectory.Record.State])
    -> [EndpointCapabilityDirectory.Record]
  {
    var found: [EndpointCapabilityDirectory.Record] = []
    kernels[kernel].directory.forEachRecord { if states.contains($0.state) { found.append($0) } }
    return found
  }

  mutating func delegate(_ choose: inout Choices) {
    let kernel = choose.take(3)
    var parent: ID?
    if choose.chance(75) {
      let others = (0..<3).filter { $0 != kernel }.flatMap { records(at: $0, [.live]) }
      parent = choose.pick(others)?.id
    }
    if parent == nil { parent = choose.pick(holders.filter { Int($0.kernel) != kernel }) }
    guard let parent else { return }
    var out = RecordingOutbox()
    guard
      let child = try? kernels[kernel].directory.requestDelegation(
        of: parent, owner: takeOwner(), outbox: &out)
    else { return }
    parentOf[child] = parent
    holders.append(child)
    flush(kernel, &out)
  }

  mutating func copy(_ choose: inout Choices) {
    let kernel = choose.take(3)
    guard let source = choose.pick(records(at: kernel, [.live])),
      let copy = try? kernels[kernel].directory.copy(source.id, owner: takeOwner())
    else { return }
    parentOf[copy] = source.id
    holders.append(copy)
    installed.insert(copy)
  }

  mutating func activate(_ choose: inout Choices) {
    let kernel = choose.take(3)
    guard
      let record = choose.pick(records(at: kernel, [.live]).filter { $0.activeEndpoint == nil }),
      let endpoint = try? kernels[kernel].table.allocate()
    else { return }
    let send = SendEndpointConfiguration(
      target: receiveEndpoint, channel: UInt8(endpoint.endpoint % 32),
      label: record.capability.label, credits: 4, maxMessageSize: 64, owner: record.owner)
    do {
      try kernels[kernel].table.configure(endpoint, .send(send))
      try kernels[kernel].table.activate(endpoint, for: record.owner)
      try kernels[kernel].directory.activate(record.id, endpoint: endpoint)
    } catch {
      violation = "activating " + record.id.description + ": \(error)"
      return
    }
    endpoints[endpoint] = (record.id, record.owner)
    inFlight[endpoint] = 0
  }

  /// A user program sends through an endpoint: the DTU checks only the
  /// table, never the directory.
  mutating func send(_ choose: inout Choices) {
    let all = endpoints.keys.sorted { $0.rawValue < $1.rawValue }
    guard let endpoint = choose.pick(all), let user = endpoints[endpoint] else {
      return
    }
    let table = kernels[Int(endpoint.node)].table
    guard case .send(let config)? = table.usable(endpoint, by: user.owner),
      inFlight[endpoint, default: 0] < UInt64(config.credits)
    else {
      coverage.sendsRefused += 1
      return
    }
    accepted += 1
    inFlight[endpoint, default: 0] += 1
    if let ancestor = completedAncestor(of: user.capability) {
      violation =
        "a send through " + user.capability.description + " was accepted after the revocation of "
        + ancestor.description + " completed"
    }
  }

  mutating func fetch(_ choose: inout Choices) {
    let busy = inFlight.filter { $0.value > 0 }.map(\.key).sorted { $0.rawValue < $1.rawValue }
    guard let endpoint = choose.pick(busy) else { return }
    inFlight[endpoint]! -= 1
    fetched += 1
  }

  mutating func revoke(_ choose: inout Choices) {
    let kernel = choose.take(3)
    var target = choose.pick(records(at: kernel, [.live, .revoking]))?.id
    if choose.chance(30),
      let root = holders.first(where: { parentOf[$0] == nil && !completed.contains($0) })
    {
      target = root
    }
    guard let target else { return }
    var out = RecordingOutbox()
    let holder = Int(target.kernel)
    guard (try? kernels[holder].directory.revoke(target, outbox: &out)) != nil else { return }
    revoked.insert(target)
    waiting.insert(target)
    flush(holder, &out)
  }

  mutating func cancel(_ choose: inout Choices) {
    let kernel = choose.take(3)
    guard let pending = choose.pick(records(at: kernel, [.pending])) else { return }
    do {
      try kernels[kernel].directory.cancelDelegation(pending.id)
      coverage.cancels += 1
    } catch {
      violation = "cancelling " + pending.id.description + ": \(error)"
    }
  }

  /// Delivers one message from a non-empty ring (its oldest, unless the
  /// run reorders).
  mutating func deliver(_ choose: inout Choices) {
    var nonEmpty: [(Int, Int)] = []
    for from in 0..<3 {
      for to in 0..<3 where !rings[from][to].isEmpty { nonEmpty.append((from, to)) }
    }
    guard let (from, to) = choose.pick(nonEmpty) else { return }
    let index = reorder ? choose.take(rings[from][to].count) : 0
    let bytes = rings[from][to].remove(at: index)
    let decoded = bytes.withUnsafeBytes { raw in
      Result { () throws(EndpointCapabilityMessageError) in
        try EndpointCapabilityMessage.decode(ByteView(raw))
      }
    }
    guard case .success(let message) = decoded else {
      violation = "a message did not decode: \(decoded)"
      return
    }
    var parentRevoking = false
    if case .delegateRequest(let parent, let child) = message,
      let record = kernels[to].directory.record(parent), record.state == .revoking
    {
      parentRevoking = true
      if fault == .grantDuringRevoke {
        var out = RecordingOutbox()
        out.send(.delegateGranted(parent: parent, child: child, capability: record.capability))
        flush(to, &out)
        return
      }
    }
    var out = RecordingOutbox()
    let receipt = bytes.withUnsafeBytes {
      kernels[to].directory.receive(bytes: ByteView($0), from: UInt16(from), outbox: &out)
    }
    if case .rejected = receipt { violation = message.description + " was rejected: \(receipt)" }
    if case .malformed = receipt { violation = message.description + " was malformed" }
    if parentRevoking {
      coverage.refusedDuringRevoke += 1
      let refusal = EndpointCapabilityMessage.delegateRefused(
        parent: message.parent, child: message.child, reason: .revoking)
      if out.messages != [refusal] {
        violation =
          message.description + " during the revoke of its parent was answered \(out.messages)"
      }
    }
    flush(to, &out)
  }

  /// A kernel finishes one deactivation (or, broken, one late invalidation).
  mutating func work(_ choose: inout Choices) {
    let busy = (0..<3).filter {
      !kernels[$0].work.isEmpty || !kernels[$0].lateInvalidations.isEmpty
    }
    guard let kernel = choose.pick(busy) else { return }
    if !kernels[kernel].lateInvalidations.isEmpty {
      let endpoint = kernels[kernel].lateInvalidations.removeFirst()
      _ = invalidate(endpoint)
      return
    }
    let (capability, endpoint) = kernels[kernel].work.remove(
      at: choose.take(kernels[kernel].work.count))
    let unread = invalidate(endpoint)
    report(kernel, capability, unread)
  }

  /// Invalidates a send endpoint (forced): its messages in flight are
  /// what is collected as unread.
  mutating func invalidate(_ endpoint: EndpointAddress) -> UInt64 {
    let messages = inFlight[endpoint, default: 0]
    do {
      let gone = try kernels[Int(endpoint.node)].table.invalidate(
        endpoint, messages: UInt32(messages), force: true)
      inFlight[endpoint] = 0
      return UInt64(gone.unread)
    } catch {
      violation = "invalidating " + endpoint.description + ": \(error)"
      return 0
    }
  }

  mutating func report(_ kernel: Int, _ capability: ID, _ unread: UInt64) {
    collectedUnread += unread
    var out = RecordingOutbox()
    do {
      try kernels[kernel].directory.deactivated(capability, unread: unread, outbox: &out)
    } catch {
      violation = "reporting " + capability.description + " deactivated: \(error)"
    }
    flush(kernel, &out)
  }

  /// Puts what kernel `kernel`'s directory sent on the rings and carries
  /// out (or queues) what it asked for.
  mutating func flush(_ kernel: Int, _ out: inout RecordingOutbox) {
    let (messages, effects) = out.take()
    for message in messages {
      guard Int(message.sender) == kernel else {
        violation = "kernel \(kernel) sent " + message.description + " as another kernel"
        return
      }
      if case .revokeRequest(_, let child) = message {
        revokeRequests[child, default: 0] += 1
        if revokeRequests[child]! > 1 {
          violation = "a second revoke request for " + child.description
        }
      }
      var bytes = [UInt8](repeating: 0, count: EndpointCapabilityMessage.byteCount)
      _ = bytes.withUnsafeMutableBytes { message.encode(into: $0) }
      rings[kernel][Int(message.receiver)].append(bytes)
    }
    for effect in effects {
      switch effect {
      case .deactivate(let capability, let endpoint, _):
        deactivations[capability, default: 0] += 1
        if deactivations[capability]! > 1 {
          violation = "a second deactivation of " + capability.description
        }
        if fault == .acknowledgeBeforeDeactivating {
          kernels[kernel].lateInvalidations.append(endpoint)
          report(kernel, capability, inFlight[endpoint, default: 0])
        } else {
          kernels[kernel].work.append((capability, endpoint))
        }
      case .installed(let capability, _, _):
        if let ancestor = completedAncestor(of: capability) {
          violation =
            capability.description + " was installed after the revocation of "
            + ancestor.description + " completed"
        }
        installed.insert(capability)
        if let parent = parentOf[capability], parentOf[parent] != nil {
          coverage.thirdPartyCopies += 1
        }
      case .delegationRefused: break
      case .revocationCompleted(let capability, _, let unread):
        completed.insert(capability)
        waiting.remove(capability)
        reportedUnread += unread
        coverage.completions += 1
        coverage.unreadReported += unread
        checkStep()
      }
    }
  }

  /// Drains the rings and the kernels' work in random order.
  mutating func drain() {
    for _ in 0..<20_000 {
      let messages = rings.joined().contains { !$0.isEmpty }
      let busy = kernels.contains { !$0.work.isEmpty || !$0.lateInvalidations.isEmpty }
      guard messages || busy else { return }
      random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      var choose = Choices(bits: random >> 11)
      if messages && (!busy || choose.chance(60)) { deliver(&choose) } else { work(&choose) }
      checkStep()
      if violation != nil { return }
    }
    violation = "messages or work still pending after 20000 steps"
  }

  // MARK: checks

  mutating func takeOwner() -> UInt64 {
    nextOwner += 1
    return nextOwner
  }

  /// The nearest ancestor of `id` (or `id` itself) whose revocation completed.
  func completedAncestor(of id: ID) -> ID? {
    var current: ID? = id
    while let node = current {
      if completed.contains(node) { return node }
      current = parentOf[node]
    }
    return nil
  }

  func underRevoke(_ id: ID) -> Bool {
    var current: ID? = id
    while let node = current {
      if revoked.contains(node) { return true }
      current = parentOf[node]
    }
    return false
  }

  mutating func checkStep() {
    guard violation == nil else { return }
    for kernel in 0..<3 {
      if let broken = kernels[kernel].directory.consistencyViolation() {
        violation = "kernel \(kernel): " + broken
        return
      }
      var survivor: String?
      kernels[kernel].directory.forEachRecord { record in
        // Pending records hold no authority; a remote child is the
        // parent's note of a copy, gone when the copy's acknowledgement
        // arrives (the copy itself is checked where it is held).
        guard record.state == .live || record.state == .revoking, survivor == nil,
          let ancestor = completedAncestor(of: record.id)
        else { return }
        survivor =
          record.id.description + " (\(record.state)) survives the completed revocation of "
          + ancestor.description
      }
      if let survivor {
        violation = "kernel \(kernel): " + survivor
        return
      }
    }
    for (endpoint, user) in endpoints {
      if kernels[Int(endpoint.node)].table.usable(endpoint, by: user.owner) != nil,
        let ancestor = completedAncestor(of: user.capability)
      {
        violation =
          "endpoint " + endpoint.description + " of " + user.capability.description
          + " is still active after the revocation of " + ancestor.description + " completed"
        return
      }
    }
  }

  mutating func checkQuiescence() {
    if let stuck = waiting.first {
      violation = "the revocation of " + stuck.description + " never completed"
      return
    }
    var proxies: Set<[UInt64]> = []
    var copies: Set<[UInt64]> = []
    for kernel in 0..<3 {
      for record in records(at: kernel, [.pending, .revoking, .remoteChildRevoking]) {
        violation = record.id.description + " is still \(record.state)"
        return
      }
      for record in records(at: kernel, [.remoteChild]) {
        proxies.insert([record.parent!.rawValue, record.id.rawValue])
      }
      for record in records(at: kernel, [.live]) {
        if let parent = record.parent, parent.kernel != record.id.kernel {
          copies.insert([parent.rawValue, record.id.rawValue])
        }
      }
    }
    if proxies != copies {
      violation =
        "remote children \(proxies.count) do not match the copies on other kernels \(copies.count)"
      return
    }
    for id in installed {
      let live = kernels[Int(id.kernel)].directory.isLive(id)
      if live == underRevoke(id) {
        violation =
          id.description + (live ? " is live under a revoke" : " is gone without a revoke")
        return
      }
    }
    for kernel in 0..<3 {
      for record in records(at: kernel, [.live]) where !installed.contains(record.id) {
        violation = record.id.description + " is live but was never installed"
        return
      }
    }
    guard fault == .none else { return }
    var stillInFlight: UInt64 = 0
    for (endpoint, count) in inFlight
    where (try? kernels[Int(endpoint.node)].table.lookup(endpoint).configuration) != nil {
      stillInFlight += count
    }
    if accepted != fetched + collectedUnread + stillInFlight {
      violation =
        "\(accepted) sends accepted, \(fetched) fetched, \(collectedUnread) collected, "
        + "\(stillInFlight) in flight"
      return
    }
    if !reorder && reportedUnread != collectedUnread {
      violation = "completions reported \(reportedUnread) unread, deactivations \(collectedUnread)"
    }
  }
}
