// The two-phase revoke of endpoint capabilities across kernel instances
// (DESIGN.md "Capabilities": it completes only when the other kernel
// acknowledged), after SemperOS (REFERENCES.md): remove the capability and
// its local descendants first, send one revoke request per remote child,
// and complete when every answer is in; a revoke that finds a revocation of
// the same capability running subscribes to it instead of repeating it.
// The Promela model Tests/Models/revoke.pml follows this protocol and
// must change with it.
//
// The protocol, per record of a revoked subtree:
//
// 1. Start (a local revoke, or a revoke request from the remote parent's
//    kernel, of a live record r): r and every live record below it become
//    revoking at once, so none of them can be used, copied or delegated any
//    more. Each one activated on a send endpoint gets a `deactivate` effect;
//    each remote child below gets one revoke request (it becomes "remote
//    child, revoking"). A record below r that is already revoking belongs
//    to a revocation of its own and is left to it (r waits for it).
// 2. The kernel unmaps, shoots down and invalidates each endpoint and then
//    reports `deactivated(id, unread:)`. The other kernel answers each
//    revoke request, after doing all of this for its own subtree, with an
//    acknowledgement carrying its unread count.
// 3. A revoking record completes when it is deactivated and has no children
//    left: the count of outstanding answers is exactly its number of
//    children plus its pending deactivation, so no separate counter can
//    drift from the tree. Completing removes the record and: gives its
//    unread count to its parent (when the parent's revocation marked it),
//    or sends the acknowledgement to the remote parent's kernel, and tells
//    the local revokers (`revocationCompleted`). Completion climbs the tree
//    as the last child of each record goes.
//
// Concurrent revokes. A local revoke of a revoking record joins: it gets
// the same completion. A revoke request for a revoking record (its own
// local revoke ran first) joins too: the completion acknowledges to the
// parent's kernel anyway, because a record with a remote parent always
// acknowledges when it goes. A revoke that reaches a record already
// revoking for its own reasons waits for it as for any child. So every
// record is marked, deactivated and asked for exactly once, whatever the
// number of revokes running over it.
//
// Unread counts. Each deactivated endpoint's count is reported exactly
// once, by the revocation that marked it: it climbs to the parent while the
// parent's revocation marked the record (origin "ancestor"), crosses to the
// parent's kernel in the acknowledgement when that kernel's request started
// it (origin "remote"), and is reported by `revocationCompleted` where a
// local revoke started it (origin "local"). A revocation that joins another
// reports nothing twice. With each ring between two kernels delivering in
// order (they are FIFO rings), the sum of the `revocationCompleted` counts
// equals the sum of the `deactivated` counts.
//
// Correctness argument (what the property tests check, in
// EndpointRevocationTests, with two and three kernels and every
// interleaving a random scheduler picks):
//
// I1 (closure). Below a revoking record everything is revoking: marking
//    covers the whole local subtree, and nothing new is added below a
//    record that is not live (copy, activation and delegate requests all
//    need a live parent). `consistencyViolation` checks it.
// I2 (registration). A record with a remote parent holds authority (is live
//    or revoking) only after a grant, and the parent's kernel registered the
//    child before sending the grant. It drops the registration only on (a)
//    the acknowledgement, sent when the record has completed: it and its
//    whole subtree are gone and deactivated; or (b) a cancel, sent only by
//    a kernel that has no record of that ID, and IDs are never reused
//    (generations), so it never will. Hence while any copy exists, its
//    parent's kernel knows it, all the way up to the original.
// I3 (order at the owner). A delegate request is handled by the parent's
//    kernel in one step, either before the parent is marked revoking (then
//    the child is registered and the revoke reaches it by I2) or after
//    (then it is refused: by I1 this also covers a revoking ancestor on the
//    same kernel; an ancestor on another kernel is revoking here only once
//    its revoke request arrived, and until then the delegation is just one
//    more registered child that the request will find). This is the answer
//    to Barrelfish TN-013's three-core case: kernel B giving its copy to C
//    while A revokes cannot leave C a copy, because C obtains it from B and
//    B orders that against A's revoke request; the transfer and the revoke
//    are ordered at B, the one kernel that holds the parent of the copy.
//
// Safety: when a revocation of r completes, r has no children, so (by
// induction on the height of the cross-kernel tree, using I2 for remote
// children) every record derived from r on every kernel has completed:
// gone and deactivated, which the kernel reported only after the endpoint
// was invalidated, so no send through any of them is accepted. Requests
// for copies that were still on their way find their parent gone or
// revoking and are refused (I3), so no copy appears later either.
// Liveness: every revoke request is answered, once the messages are
// delivered and the kernel reports its deactivations: a request for a live
// record starts its revocation, which completes when its subtree does (by
// induction on the height, the tree being finite and acyclic: each child
// ID is made fresh by its own kernel); one for a revoking record is
// answered when that completes; one for an unknown or pending record is
// answered at once (a pending record is dropped: by I2 it was granted and
// then revoked, which only reordered messages can show). Joins add no
// waiting beyond the subtree, so there is no cycle of waits and no
// deadlock; and revocation allocates nothing, so it cannot fail for room.
// Flow control between a pair of kernels (SemperOS reserves ring slots so
// revokes never wait behind ordinary traffic) is the kernel's outbox's job.

extension EndpointCapabilityDirectory {
  /// Revokes a live capability and everything derived from it on every
  /// kernel, or joins the revocation of it that is running. Completion is
  /// the `revocationCompleted` effect (emitted during this call when
  /// nothing had to be waited for).
  public mutating func revoke<Outbox: EndpointCapabilityOutbox>(
    _ capability: EndpointCapabilityID, outbox: inout Outbox
  ) throws(EndpointCapabilityError) -> EndpointRevocation {
    let node = try localNode(capability)
    switch nodes[Int(node)].state {
    case .pending: throw .pending(capability)
    case .revoking:
      nodes[Int(node)].localWaiters = true
      counters.localJoins += 1
      return .joined
    default:
      startRevocation(node, origin: .local, outbox: &outbox)
      return .started
    }
  }

  /// The kernel has unmapped and invalidated the endpoint of `capability`
  /// (after a `deactivate` effect); `unread` messages were still in it.
  public mutating func deactivated<Outbox: EndpointCapabilityOutbox>(
    _ capability: EndpointCapabilityID, unread: UInt64, outbox: inout Outbox
  ) throws(EndpointCapabilityError) {
    let node = try localNode(capability)
    guard nodes[Int(node)].state == .revoking, nodes[Int(node)].deactivating else {
      throw .notDeactivating(capability)
    }
    nodes[Int(node)].deactivating = false
    nodes[Int(node)].unread = Self.add(nodes[Int(node)].unread, unread)
    settleUpward(from: node, outbox: &outbox)
  }

  /// What the revocation of `capability` still waits for: its children
  /// (remote children waiting for their acknowledgement, local ones for
  /// their own answers) and its own deactivation. nil unless it is
  /// revoking; it completes when this reaches 0.
  public func outstandingAnswers(_ capability: EndpointCapabilityID) -> Int? {
    guard let node = try? localNode(capability), nodes[Int(node)].state == .revoking else {
      return nil
    }
    var count = nodes[Int(node)].deactivating ? 1 : 0
    var child = nodes[Int(node)].firstChild
    while child != Self.none {
      count += 1
      child = nodes[Int(child)].nextSibling
    }
    return count
  }

  /// At the child's kernel.
  mutating func revokeRequest<Outbox: EndpointCapabilityOutbox>(
    parent: EndpointCapabilityID, child: EndpointCapabilityID, outbox: inout Outbox
  ) -> EndpointCapabilityReceipt {
    guard let node = try? localNode(child) else {
      // Completed (its acknowledgement went before this one), cancelled,
      // or never installed: nothing of it is left here.
      outbox.send(.revokeAck(parent: parent, child: child, unread: 0))
      return .stale
    }
    guard nodes[Int(node)].remoteParent == parent else { return .rejected(.parentMismatch) }
    switch nodes[Int(node)].state {
    case .pending:
      // The grant is still on its way (only reordered delivery shows this):
      // the copy will never be installed.
      let owner = nodes[Int(node)].owner
      release(node)
      outbox.perform(.delegationRefused(child, owner: owner, reason: .revoking))
      outbox.send(.revokeAck(parent: parent, child: child, unread: 0))
    case .revoking:
      counters.remoteJoins += 1
    default:
      startRevocation(node, origin: .remote, outbox: &outbox)
    }
    return .handled
  }

  /// At the parent's kernel.
  mutating func revokeAck<Outbox: EndpointCapabilityOutbox>(
    parent: EndpointCapabilityID, child: EndpointCapabilityID, unread: UInt64,
    outbox: inout Outbox
  ) -> EndpointCapabilityReceipt {
    guard let node = try? localNode(parent), let proxy = remoteChild(child, under: node) else {
      return .stale
    }
    unlink(proxy)
    release(proxy)
    // A parent that is live was not asked: its child went on its own, and
    // the count (0 then) is reported there.
    if nodes[Int(node)].state == .revoking {
      nodes[Int(node)].unread = Self.add(nodes[Int(node)].unread, unread)
    }
    settleUpward(from: node, outbox: &outbox)
    return .handled
  }

  // MARK: the walk

  /// Marks the live record `root` and its subtree revoking (pre-order,
  /// without recursion), then completes whatever needs no answer.
  mutating func startRevocation<Outbox: EndpointCapabilityOutbox>(
    _ root: UInt16, origin: Origin, outbox: inout Outbox
  ) {
    counters.revocationsStarted += 1
    var node = root
    while true {
      var descend = false
      switch nodes[Int(node)].state {
      case .live:
        nodes[Int(node)].state = .revoking
        nodes[Int(node)].origin = node == root ? origin : .ancestor
        nodes[Int(node)].localWaiters = node == root && origin == .local
        nodes[Int(node)].unread = 0
        if let endpoint = nodes[Int(node)].activeEndpoint {
          nodes[Int(node)].deactivating = true
          outbox.perform(
            .deactivate(id(of: node), endpoint: endpoint, owner: nodes[Int(node)].owner))
        }
        descend = true
      case .remoteChild:
        nodes[Int(node)].state = .remoteChildRevoking
        counters.revokeRequestsSent += 1
        outbox.send(.revokeRequest(parent: id(of: nodes[Int(node)].parent), child: id(of: node)))
      default:
        // Revoking for a revocation of its own (or a remote child already
        // asked): that one answers for the subtree.
        break
      }
      if descend && nodes[Int(node)].firstChild != Self.none {
        node = nodes[Int(node)].firstChild
        continue
      }
      while node != root && nodes[Int(node)].nextSibling == Self.none {
        node = nodes[Int(node)].parent
      }
      if node == root { break }
      node = nodes[Int(node)].nextSibling
    }
    settle(subtree: root, outbox: &outbox)
  }

  /// Completes every record of the subtree that can complete, children
  /// before parents (post-order; the next record is found before the
  /// current one goes).
  mutating func settle<Outbox: EndpointCapabilityOutbox>(
    subtree root: UInt16, outbox: inout Outbox
  ) {
    var node = deepestFirst(root)
    while true {
      let isRoot = node == root
      var next = Self.none
      if !isRoot {
        let sibling = nodes[Int(node)].nextSibling
        next = sibling != Self.none ? deepestFirst(sibling) : nodes[Int(node)].parent
      }
      if canComplete(node) { complete(node, outbox: &outbox) }
      if isRoot { break }
      node = next
    }
  }

  /// Completes `node` and then each ancestor whose last answer that was.
  mutating func settleUpward<Outbox: EndpointCapabilityOutbox>(
    from node: UInt16, outbox: inout Outbox
  ) {
    var node = node
    while node != Self.none && canComplete(node) {
      let parent = nodes[Int(node)].parent
      complete(node, outbox: &outbox)
      node = parent
    }
  }

  func deepestFirst(_ node: UInt16) -> UInt16 {
    var node = node
    while nodes[Int(node)].firstChild != Self.none { node = nodes[Int(node)].firstChild }
    return node
  }

  func canComplete(_ node: UInt16) -> Bool {
    nodes[Int(node)].state == .revoking && !nodes[Int(node)].deactivating
      && nodes[Int(node)].firstChild == Self.none
  }

  /// Removes a revoking record that is deactivated and childless, and
  /// reports it where its origin says.
  mutating func complete<Outbox: EndpointCapabilityOutbox>(
    _ node: UInt16, outbox: inout Outbox
  ) {
    let entry = nodes[Int(node)]
    let capability = id(of: node)
    let parent = entry.parent
    unlink(node)
    release(node)
    if entry.origin == .ancestor && parent != Self.none {
      nodes[Int(parent)].unread = Self.add(nodes[Int(parent)].unread, entry.unread)
    }
    if let remoteParent = entry.remoteParent {
      outbox.send(
        .revokeAck(
          parent: remoteParent, child: capability,
          unread: entry.origin == .remote ? entry.unread : 0))
    }
    if entry.localWaiters {
      outbox.perform(
        .revocationCompleted(
          capability, owner: entry.owner, unread: entry.origin == .local ? entry.unread : 0))
    }
  }

  static func add(_ a: UInt64, _ b: UInt64) -> UInt64 {
    let (sum, overflow) = a.addingReportingOverflow(b)
    return overflow ? .max : sum
  }
}
