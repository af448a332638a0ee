// One kernel instance's records of endpoint capabilities, and the
// cross-kernel derivation tree they form (SemperOS's distributed derivation
// tree, REFERENCES.md). An endpoint capability has a home: the kernel whose
// DTU holds its receive endpoint, where its original is created. Copies are
// derived locally or delegated to another kernel; either way the copy is a
// child of what it was derived from, so revoking a capability reaches every
// copy made from it, on every kernel. The Promela model
// Tests/Models/revoke.pml follows this state machine (with
// EndpointRevocation.swift) and must change with it.
//
// Records, in one preallocated array, linked by index (parent, first child,
// siblings) as in DerivationTree:
//
// - a local capability: pending (asked for by a delegate request, no answer
//   yet: no authority), live, or revoking (unusable; kept until its revoke
//   completes). A capability obtained from another kernel remembers its
//   remote parent's ID and is a root of this kernel's part of the tree.
// - a remote child: the ID of a capability another kernel holds, derived
//   from the local record it hangs under. It is always a leaf here; the
//   other kernel keeps its subtree.
//
// Delegation across kernels (SemperOS's obtain, made the only way a copy
// crosses kernels, so that one kernel orders it against revokes):
//
//   requester R                          parent's kernel P
//   pending record c      --request-->   parent live: register c under it,
//                                          then reply granted
//                                        parent revoking (it or an
//                                          ancestor): reply refused
//   c becomes live       <--granted--
//   c already gone (the  --cancel-->     drop c
//     requester gave up)
//
// The child is registered before the grant leaves, so from the moment a
// copy can exist the parent's kernel knows it, and a revoke there reaches
// it. A requester that will not install the copy (its pending record was
// cancelled, e.g. the process died) answers the grant with a cancel. A copy
// given to a third party is a delegation from the copy's holder, ordered at
// that holder against the revoke of the copy (Barrelfish TN-013's
// three-core case; EndpointRevocation has the argument).
//
// Revocation is in EndpointRevocation.swift. Messages arrive through
// `receive`; every message from another kernel is checked against what
// this kernel knows and never traps or throws (EndpointCapabilityReceipt
// says what became of it). Capacity is fixed at init; nothing allocates
// after it. Revocation needs no free record, so it cannot fail for room.

public struct EndpointCapabilityDirectory {
  static let none: UInt16 = .max

  enum State: Equatable {
    case free
    case pending
    case live
    case revoking
    /// A child held by another kernel.
    case remoteChild
    /// A remote child whose revoke request was sent, not yet answered.
    case remoteChildRevoking
  }

  /// Who started a record's revocation: decides where its unread count is
  /// reported (EndpointRevocation).
  enum Origin: Equatable {
    case none
    /// A local revoke of this very record.
    case local
    /// A revoke request from the remote parent's kernel.
    case remote
    /// The revocation of a local ancestor.
    case ancestor
  }

  struct Node {
    var state = State.free
    /// Bumped when the record is freed; never 0.
    var generation: UInt32 = 1
    /// A remote child's ID (local records compute theirs).
    var remoteID: EndpointCapabilityID? = nil
    var capability = EndpointCapability(endpoint: EndpointAddress(node: 0, endpoint: 0), label: 0)
    var owner: UInt64 = 0
    /// Set for a capability obtained from another kernel.
    var remoteParent: EndpointCapabilityID? = nil
    var parent = EndpointCapabilityDirectory.none
    var firstChild = EndpointCapabilityDirectory.none
    /// Also the free list's link.
    var nextSibling = EndpointCapabilityDirectory.none
    var previousSibling = EndpointCapabilityDirectory.none
    /// The send endpoint of this kernel's DTU the capability is activated on.
    var activeEndpoint: EndpointAddress? = nil
    /// Revoking: the kernel has not reported the endpoint dead yet.
    var deactivating = false
    /// Revoking: unread messages collected so far.
    var unread: UInt64 = 0
    var origin = Origin.none
    /// Revoking: a local revoke started or joined this revocation.
    var localWaiters = false
  }

  /// What happened to the messages and revocations of this kernel, for the
  /// shell and the tests.
  public struct Counters: Equatable, Sendable {
    public var revocationsStarted = 0
    /// Local revokes that found the capability's revocation running.
    public var localJoins = 0
    /// Revoke requests that found the capability's revocation running.
    public var remoteJoins = 0
    public var revokeRequestsSent = 0
    public var delegationsGranted = 0
    public var delegationsRefused = 0
    public var staleMessages = 0
    public var rejectedMessages = 0
  }

  /// The kernel instance this directory belongs to.
  public let kernel: UInt16
  var nodes: [Node]
  var freeHead: UInt16
  /// Records in use (local capabilities and remote children).
  public private(set) var count = 0
  public internal(set) var counters = Counters()

  /// A directory of `capacity` records (clamped to 1...65535) for kernel
  /// instance `kernel`.
  public init(kernel: UInt16, capacity: Int) {
    self.kernel = kernel
    let size = min(max(capacity, 1), Int(EndpointCapabilityDirectory.none))
    nodes = Array(repeating: Node(), count: size)
    for index in 0..<size - 1 { nodes[index].nextSibling = UInt16(index + 1) }
    freeHead = 0
  }

  public var capacity: Int { nodes.count }

  // MARK: local operations

  /// The original capability of a receive endpoint of this kernel's DTU.
  public mutating func createRoot(_ capability: EndpointCapability, owner: UInt64)
    throws(EndpointCapabilityError) -> EndpointCapabilityID
  {
    let node = try allocate()
    nodes[Int(node)].state = .live
    nodes[Int(node)].capability = capability
    nodes[Int(node)].owner = owner
    return id(of: node)
  }

  /// A local copy of a live capability for `owner`, its child.
  public mutating func copy(_ source: EndpointCapabilityID, owner: UInt64)
    throws(EndpointCapabilityError) -> EndpointCapabilityID
  {
    let parent = try liveNode(source)
    let node = try allocate()
    nodes[Int(node)].state = .live
    nodes[Int(node)].capability = nodes[Int(parent)].capability
    nodes[Int(node)].owner = owner
    link(node, under: parent)
    return id(of: node)
  }

  /// Asks the kernel holding `parent` for a copy of it, for `owner`; returns
  /// the pending record's ID. The answer arrives through `receive` as an
  /// `installed` or `delegationRefused` effect.
  public mutating func requestDelegation<Outbox: EndpointCapabilityOutbox>(
    of parent: EndpointCapabilityID, owner: UInt64, outbox: inout Outbox
  ) throws(EndpointCapabilityError) -> EndpointCapabilityID {
    guard parent.kernel != kernel else { throw .heldHere(parent) }
    let node = try allocate()
    nodes[Int(node)].state = .pending
    nodes[Int(node)].owner = owner
    nodes[Int(node)].remoteParent = parent
    let child = id(of: node)
    outbox.send(.delegateRequest(parent: parent, child: child))
    return child
  }

  /// Gives up a pending delegation (its requester is gone). No message: a
  /// grant that still comes is answered with a cancel, a refusal is stale.
  public mutating func cancelDelegation(_ pending: EndpointCapabilityID)
    throws(EndpointCapabilityError)
  {
    let node = try localNode(pending)
    guard nodes[Int(node)].state == .pending else { throw .notPending(pending) }
    release(node)
  }

  /// Records that the kernel configured and activated the send endpoint
  /// `endpoint` from the capability; its revocation will deactivate it.
  public mutating func activate(_ capability: EndpointCapabilityID, endpoint: EndpointAddress)
    throws(EndpointCapabilityError)
  {
    let node = try liveNode(capability)
    guard nodes[Int(node)].activeEndpoint == nil else { throw .alreadyActive(capability) }
    nodes[Int(node)].activeEndpoint = endpoint
  }

  // MARK: reading

  /// A record as the kernel and the tests see it.
  public struct Record: Equatable, Hashable, Sendable {
    public enum State: Equatable, Hashable, Sendable {
      case pending, live, revoking, remoteChild, remoteChildRevoking
    }
    public var id: EndpointCapabilityID
    public var state: State
    public var capability: EndpointCapability
    public var owner: UInt64
    /// The local or remote parent; nil for an original.
    public var parent: EndpointCapabilityID?
    public var activeEndpoint: EndpointAddress?
  }

  /// The local capability `id` (not a remote child), nil when it does not
  /// exist here.
  public func record(_ id: EndpointCapabilityID) -> Record? {
    guard let node = try? localNode(id) else { return nil }
    return record(at: node)
  }

  /// Whether `id` is a live capability here: the only state in which it
  /// may be used, copied, delegated or activated.
  public func isLive(_ id: EndpointCapabilityID) -> Bool {
    guard let node = try? localNode(id) else { return false }
    return nodes[Int(node)].state == .live
  }

  /// Every record in use, local capabilities and remote children, by index.
  public func forEachRecord(_ body: (Record) -> Void) {
    for index in nodes.indices where nodes[index].state != .free {
      body(record(at: UInt16(index)))
    }
  }

  func record(at node: UInt16) -> Record {
    let entry = nodes[Int(node)]
    let state: Record.State
    switch entry.state {
    case .pending: state = .pending
    case .live: state = .live
    case .revoking: state = .revoking
    case .remoteChild: state = .remoteChild
    // Free records are never listed.
    case .remoteChildRevoking, .free: state = .remoteChildRevoking
    }
    let parent = entry.parent == Self.none ? entry.remoteParent : id(of: entry.parent)
    return Record(
      id: id(of: node), state: state, capability: entry.capability, owner: entry.owner,
      parent: parent, activeEndpoint: entry.activeEndpoint)
  }

  // MARK: messages from other kernels

  /// Decodes and handles a message that arrived on the ring from kernel
  /// `sender`.
  public mutating func receive<Outbox: EndpointCapabilityOutbox>(
    bytes: ByteView, from sender: UInt16, outbox: inout Outbox
  ) -> EndpointCapabilityReceipt {
    do {
      let message = try EndpointCapabilityMessage.decode(bytes)
      return receive(message, from: sender, outbox: &outbox)
    } catch {
      counters.rejectedMessages += 1
      return .malformed(error)
    }
  }

  /// Handles a message that arrived on the ring from kernel `sender`.
  public mutating func receive<Outbox: EndpointCapabilityOutbox>(
    _ message: EndpointCapabilityMessage, from sender: UInt16, outbox: inout Outbox
  ) -> EndpointCapabilityReceipt {
    let receipt: EndpointCapabilityReceipt
    if message.receiver != kernel {
      receipt = .rejected(.wrongReceiver)
    } else if message.sender != sender || sender == kernel {
      receipt = .rejected(.wrongSender)
    } else {
      switch message {
      case .delegateRequest(let parent, let child):
        receipt = delegateRequest(parent: parent, child: child, outbox: &outbox)
      case .delegateGranted(let parent, let child, let capability):
        receipt = delegateGranted(
          parent: parent, child: child, capability: capability, outbox: &outbox)
      case .delegateRefused(let parent, let child, let reason):
        receipt = delegateRefused(parent: parent, child: child, reason: reason, outbox: &outbox)
      case .delegateCancel(let parent, let child):
        receipt = delegateCancel(parent: parent, child: child, outbox: &outbox)
      case .revokeRequest(let parent, let child):
        receipt = revokeRequest(parent: parent, child: child, outbox: &outbox)
      case .revokeAck(let parent, let child, let unread):
        receipt = revokeAck(parent: parent, child: child, unread: unread, outbox: &outbox)
      }
    }
    switch receipt {
    case .stale: counters.staleMessages += 1
    case .rejected, .malformed: counters.rejectedMessages += 1
    case .handled: break
    }
    return receipt
  }

  /// At the parent's kernel. The order against revokes is here: a parent
  /// that is revoking (itself or through an ancestor: a revoking record's
  /// local subtree is all revoking) refuses; a live one registers the child
  /// before the grant is sent.
  mutating func delegateRequest<Outbox: EndpointCapabilityOutbox>(
    parent: EndpointCapabilityID, child: EndpointCapabilityID, outbox: inout Outbox
  ) -> EndpointCapabilityReceipt {
    func refuse(_ reason: DelegationRefusal) {
      counters.delegationsRefused += 1
      outbox.send(.delegateRefused(parent: parent, child: child, reason: reason))
    }
    guard let node = try? localNode(parent), nodes[Int(node)].state != .pending else {
      refuse(.noSuchCapability)
      return .stale
    }
    guard nodes[Int(node)].state == .live else {
      refuse(.revoking)
      return .handled
    }
    guard remoteChild(child, under: node) == nil else { return .rejected(.duplicateChild) }
    guard let proxy = try? allocate() else {
      refuse(.noRoom)
      return .handled
    }
    nodes[Int(proxy)].state = .remoteChild
    nodes[Int(proxy)].remoteID = child
    nodes[Int(proxy)].capability = nodes[Int(node)].capability
    nodes[Int(proxy)].owner = nodes[Int(node)].owner
    link(proxy, under: node)
    counters.delegationsGranted += 1
    outbox.send(
      .delegateGranted(parent: parent, child: child, capability: nodes[Int(node)].capability))
    return .handled
  }

  /// At the requester. Only a pending record is installed; for a record
  /// that is gone the parent's kernel is told to drop the child. A record
  /// that exists in another state is left alone: answering with a cancel
  /// would drop the registration of a capability that exists.
  mutating func delegateGranted<Outbox: EndpointCapabilityOutbox>(
    parent: EndpointCapabilityID, child: EndpointCapabilityID, capability: EndpointCapability,
    outbox: inout Outbox
  ) -> EndpointCapabilityReceipt {
    guard let node = try? localNode(child) else {
      outbox.send(.delegateCancel(parent: parent, child: child))
      return .stale
    }
    guard nodes[Int(node)].state == .pending else { return .rejected(.notPending) }
    guard nodes[Int(node)].remoteParent == parent else { return .rejected(.parentMismatch) }
    nodes[Int(node)].state = .live
    nodes[Int(node)].capability = capability
    outbox.perform(.installed(child, owner: nodes[Int(node)].owner, capability: capability))
    return .handled
  }

  mutating func delegateRefused<Outbox: EndpointCapabilityOutbox>(
    parent: EndpointCapabilityID, child: EndpointCapabilityID, reason: DelegationRefusal,
    outbox: inout Outbox
  ) -> EndpointCapabilityReceipt {
    guard let node = try? localNode(child) else { return .stale }
    guard nodes[Int(node)].state == .pending else { return .rejected(.notPending) }
    guard nodes[Int(node)].remoteParent == parent else { return .rejected(.parentMismatch) }
    let owner = nodes[Int(node)].owner
    release(node)
    outbox.perform(.delegationRefused(child, owner: owner, reason: reason))
    return .handled
  }

  /// At the parent's kernel: the child was never installed; it is as gone
  /// as an acknowledged revoke leaves it (and answers a revoke request for
  /// it, if one is out).
  mutating func delegateCancel<Outbox: EndpointCapabilityOutbox>(
    parent: EndpointCapabilityID, child: EndpointCapabilityID, outbox: inout Outbox
  ) -> EndpointCapabilityReceipt {
    guard let node = try? localNode(parent), let proxy = remoteChild(child, under: node) else {
      return .stale
    }
    unlink(proxy)
    release(proxy)
    settleUpward(from: node, outbox: &outbox)
    return .handled
  }

  // MARK: storage

  func id(of node: UInt16) -> EndpointCapabilityID {
    if let remote = nodes[Int(node)].remoteID { return remote }
    return EndpointCapabilityID(
      kernel: kernel, index: node, generation: nodes[Int(node)].generation)
  }

  /// The local capability (pending, live or revoking) named by `id`.
  func localNode(_ id: EndpointCapabilityID) throws(EndpointCapabilityError) -> UInt16 {
    let index = Int(id.index)
    guard id.kernel == kernel, index < nodes.count, nodes[index].generation == id.generation
    else { throw .noSuchCapability(id) }
    switch nodes[index].state {
    case .pending, .live, .revoking: return id.index
    case .free, .remoteChild, .remoteChildRevoking: throw .noSuchCapability(id)
    }
  }

  func liveNode(_ id: EndpointCapabilityID) throws(EndpointCapabilityError) -> UInt16 {
    let node = try localNode(id)
    switch nodes[Int(node)].state {
    case .pending: throw .pending(id)
    case .revoking: throw .revoking(id)
    default: return node
    }
  }

  /// The remote child `child` registered under `parent`.
  func remoteChild(_ child: EndpointCapabilityID, under parent: UInt16) -> UInt16? {
    var node = nodes[Int(parent)].firstChild
    while node != Self.none {
      let state = nodes[Int(node)].state
      if (state == .remoteChild || state == .remoteChildRevoking)
        && nodes[Int(node)].remoteID == child
      {
        return node
      }
      node = nodes[Int(node)].nextSibling
    }
    return nil
  }

  mutating func allocate() throws(EndpointCapabilityError) -> UInt16 {
    guard freeHead != Self.none else { throw .directoryFull }
    let node = freeHead
    freeHead = nodes[Int(node)].nextSibling
    nodes[Int(node)] = Node(generation: nodes[Int(node)].generation)
    count += 1
    return node
  }

  /// Frees an unlinked record; its ID goes stale.
  mutating func release(_ node: UInt16) {
    var generation = nodes[Int(node)].generation &+ 1
    if generation == 0 { generation = 1 }
    nodes[Int(node)] = Node(generation: generation)
    nodes[Int(node)].nextSibling = freeHead
    freeHead = node
    count -= 1
  }

  /// Makes `node` the first child of `parent`.
  mutating func link(_ node: UInt16, under parent: UInt16) {
    let first = nodes[Int(parent)].firstChild
    nodes[Int(node)].parent = parent
    nodes[Int(node)].previousSibling = Self.none
    nodes[Int(node)].nextSibling = first
    if first != Self.none { nodes[Int(first)].previousSibling = node }
    nodes[Int(parent)].firstChild = node
  }

  /// Takes `node` out of its parent's children.
  mutating func unlink(_ node: UInt16) {
    let parent = nodes[Int(node)].parent
    let previous = nodes[Int(node)].previousSibling
    let next = nodes[Int(node)].nextSibling
    if previous != Self.none {
      nodes[Int(previous)].nextSibling = next
    } else if parent != Self.none {
      nodes[Int(parent)].firstChild = next
    }
    if next != Self.none { nodes[Int(next)].previousSibling = previous }
    nodes[Int(node)].parent = Self.none
    nodes[Int(node)].previousSibling = Self.none
    nodes[Int(node)].nextSibling = Self.none
  }

  // MARK: consistency

  /// The first broken invariant of the structure, or nil: links agree,
  /// counts agree, pending records and capabilities from other kernels are
  /// roots, remote children are leaves under local capabilities, and below
  /// a revoking record everything is revoking (EndpointRevocation's I1).
  public func consistencyViolation() -> String? {
    var used = 0
    for index in nodes.indices {
      let node = nodes[index]
      if node.state == .free { continue }
      used += 1
      let name = "record " + String(index)
      if node.generation == 0 { return name + " has generation 0" }
      var child = node.firstChild
      var previous = Self.none
      var children = 0
      while child != Self.none {
        children += 1
        if children > nodes.count { return name + " has a cycle among its children" }
        let entry = nodes[Int(child)]
        if entry.parent != UInt16(index) || entry.previousSibling != previous {
          return name + "'s child " + String(child) + " is linked wrongly"
        }
        if entry.state == .free || entry.state == .pending {
          return name + " has a free or pending child"
        }
        if node.state == .revoking && (entry.state == .live || entry.state == .remoteChild) {
          return name + " is revoking, its child " + String(child) + " is not"
        }
        if node.state == .live && entry.state == .remoteChildRevoking {
          return name + " is live, its remote child " + String(child) + " is revoking"
        }
        previous = child
        child = entry.nextSibling
      }
      switch node.state {
      case .free: break
      case .pending:
        if node.remoteParent == nil || node.parent != Self.none || node.firstChild != Self.none {
          return name + " is pending but not a childless root with a remote parent"
        }
      case .live, .revoking:
        if node.remoteParent != nil && node.parent != Self.none {
          return name + " has a local and a remote parent"
        }
        if node.remoteID != nil { return name + " is local but has a remote ID" }
        if node.state == .live && (node.deactivating || node.origin != .none) {
          return name + " is live with revocation state"
        }
        if node.parent != Self.none {
          let parentState = nodes[Int(node.parent)].state
          if parentState != .live && parentState != .revoking {
            return name + "'s parent is not a local capability"
          }
        }
      case .remoteChild, .remoteChildRevoking:
        if node.firstChild != Self.none || node.parent == Self.none || node.remoteID == nil {
          return name + " is a remote child but not a leaf under a local capability"
        }
        if node.remoteID?.kernel == kernel { return name + " is a remote child held here" }
      }
    }
    if used != count { return "count " + String(count) + ", records " + String(used) }
    var free = 0
    var node = freeHead
    while node != Self.none {
      free += 1
      if free > nodes.count || nodes[Int(node)].state != .free { return "the free list is broken" }
      node = nodes[Int(node)].nextSibling
    }
    if free + count != nodes.count { return "free list of " + String(free) }
    return nil
  }
}
