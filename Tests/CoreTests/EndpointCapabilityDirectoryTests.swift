import Testing

@testable import TesseraCore

/// Records what a directory sends and asks for.
struct RecordingOutbox: EndpointCapabilityOutbox {
  var messages: [EndpointCapabilityMessage] = []
  var effects: [EndpointCapabilityEffect] = []
  mutating func send(_ message: EndpointCapabilityMessage) { messages.append(message) }
  mutating func perform(_ effect: EndpointCapabilityEffect) { effects.append(effect) }

  /// Everything recorded so far, cleared.
  mutating func take() -> ([EndpointCapabilityMessage], [EndpointCapabilityEffect]) {
    defer {
      messages = []
      effects = []
    }
    return (messages, effects)
  }
}

/// One kernel's endpoint capabilities and the cross-kernel delegation
/// (Kernel/Core/DTU/EndpointCapabilityDirectory.swift): local operations and
/// their refusals, delegate request / grant / refusal / cancel, and every
/// message that does not fit what the kernel knows.
struct EndpointCapabilityDirectoryTests {
  typealias ID = EndpointCapabilityID
  let capability = EndpointCapability(endpoint: EndpointAddress(node: 0, endpoint: 1), label: 0x42)
  let sendEndpoint = EndpointAddress(node: 1, endpoint: 4)

  func error<T>(_ body: @autoclosure () throws(EndpointCapabilityError) -> T)
    -> EndpointCapabilityError?
  {
    do {
      _ = try body()
      return nil
    } catch { return error }
  }

  @Test func localCopiesAndTheirRefusals() throws {
    var a = EndpointCapabilityDirectory(kernel: 0, capacity: 3)
    var out = RecordingOutbox()
    let root = try a.createRoot(capability, owner: 1)
    #expect(root.kernel == 0 && a.isLive(root))
    let copy = try a.copy(root, owner: 2)
    #expect(
      a.record(copy)
        == .init(
          id: copy, state: .live, capability: capability, owner: 2, parent: root,
          activeEndpoint: nil))
    try a.activate(copy, endpoint: sendEndpoint)
    #expect(error(try a.activate(copy, endpoint: sendEndpoint)) == .alreadyActive(copy))
    #expect(a.record(copy)?.activeEndpoint == sendEndpoint)
    _ = try a.copy(copy, owner: 3)
    #expect(error(try a.copy(root, owner: 4)) == .directoryFull)
    #expect(error(try a.requestDelegation(of: root, owner: 4, outbox: &out)) == .heldHere(root))
    #expect(error(try a.cancelDelegation(root)) == .notPending(root))
    #expect(error(try a.deactivated(root, unread: 0, outbox: &out)) == .notDeactivating(root))
    let stranger = ID(kernel: 1, index: 0, generation: 1)
    #expect(error(try a.copy(stranger, owner: 1)) == .noSuchCapability(stranger))
    let stale = ID(kernel: 0, index: 0, generation: 2)
    #expect(error(try a.copy(stale, owner: 1)) == .noSuchCapability(stale))
    let beyond = ID(kernel: 0, index: 3, generation: 1)
    #expect(error(try a.revoke(beyond, outbox: &out)) == .noSuchCapability(beyond))
    #expect(a.count == 3 && a.consistencyViolation() == nil)
    #expect(out.messages.isEmpty && out.effects.isEmpty)
  }

  @Test func delegationAcrossKernels() throws {
    var a = EndpointCapabilityDirectory(kernel: 0, capacity: 4)
    var b = EndpointCapabilityDirectory(kernel: 1, capacity: 4)
    var out = RecordingOutbox()
    let root = try a.createRoot(capability, owner: 1)
    let pending = try b.requestDelegation(of: root, owner: 7, outbox: &out)
    #expect(b.record(pending)?.state == .pending && !b.isLive(pending))
    #expect(error(try b.copy(pending, owner: 1)) == .pending(pending))
    #expect(error(try b.revoke(pending, outbox: &out)) == .pending(pending))
    let (requests, _) = out.take()
    #expect(requests == [.delegateRequest(parent: root, child: pending)])
    // The owner registers the child, then grants.
    #expect(a.receive(requests[0], from: 1, outbox: &out) == .handled)
    #expect(a.count == 2)
    var registered: [EndpointCapabilityDirectory.Record] = []
    a.forEachRecord { registered.append($0) }
    #expect(registered.map(\.state) == [.live, .remoteChild])
    #expect(registered[1].id == pending && registered[1].parent == root)
    let (grants, _) = out.take()
    #expect(grants == [.delegateGranted(parent: root, child: pending, capability: capability)])
    #expect(b.receive(grants[0], from: 0, outbox: &out) == .handled)
    #expect(out.effects == [.installed(pending, owner: 7, capability: capability)])
    #expect(b.record(pending)?.state == .live && b.record(pending)?.parent == root)
    // A duplicate grant for the installed copy is not answered with a
    // cancel (that would drop the registration of a copy that exists).
    _ = out.take()
    #expect(b.receive(grants[0], from: 0, outbox: &out) == .rejected(.notPending))
    #expect(out.messages.isEmpty)
    // And a second request for the same child is refused as a duplicate.
    #expect(a.receive(requests[0], from: 1, outbox: &out) == .rejected(.duplicateChild))
    #expect(a.counters.delegationsGranted == 1)
    #expect(a.consistencyViolation() == nil && b.consistencyViolation() == nil)
  }

  @Test func refusalsReachTheRequester() throws {
    var a = EndpointCapabilityDirectory(kernel: 0, capacity: 2)
    var b = EndpointCapabilityDirectory(kernel: 1, capacity: 4)
    var out = RecordingOutbox()
    let root = try a.createRoot(capability, owner: 1)
    // Unknown parent.
    let gone = ID(kernel: 0, index: 1, generation: 5)
    let first = try b.requestDelegation(of: gone, owner: 7, outbox: &out)
    #expect(a.receive(out.take().0[0], from: 1, outbox: &out) == .stale)
    let refusal = out.take().0[0]
    #expect(refusal == .delegateRefused(parent: gone, child: first, reason: .noSuchCapability))
    #expect(b.receive(refusal, from: 0, outbox: &out) == .handled)
    #expect(out.take().1 == [.delegationRefused(first, owner: 7, reason: .noSuchCapability)])
    #expect(b.record(first) == nil && b.count == 0)
    // A refusal for a record that is gone is stale.
    #expect(b.receive(refusal, from: 0, outbox: &out) == .stale)
    // No room for the child's record (capacity 2: the root and one child).
    let second = try b.requestDelegation(of: root, owner: 7, outbox: &out)
    let third = try b.requestDelegation(of: root, owner: 8, outbox: &out)
    let (requests, _) = out.take()
    #expect(a.receive(requests[0], from: 1, outbox: &out) == .handled)
    #expect(a.receive(requests[1], from: 1, outbox: &out) == .handled)
    let (answers, _) = out.take()
    #expect(answers[1] == .delegateRefused(parent: root, child: third, reason: .noRoom))
    _ = b.receive(answers[0], from: 0, outbox: &out)
    _ = b.receive(answers[1], from: 0, outbox: &out)
    #expect(b.isLive(second) && b.record(third) == nil)
    #expect(a.counters.delegationsRefused == 2)
  }

  @Test func aRequesterThatGaveUpCancels() throws {
    var a = EndpointCapabilityDirectory(kernel: 0, capacity: 4)
    var b = EndpointCapabilityDirectory(kernel: 1, capacity: 4)
    var out = RecordingOutbox()
    let root = try a.createRoot(capability, owner: 1)
    let pending = try b.requestDelegation(of: root, owner: 7, outbox: &out)
    try b.cancelDelegation(pending)
    #expect(b.count == 0)
    _ = a.receive(out.take().0[0], from: 1, outbox: &out)
    #expect(a.count == 2)
    // The grant finds nothing to install: the owner is told to drop it.
    let grant = out.take().0[0]
    #expect(b.receive(grant, from: 0, outbox: &out) == .stale)
    let cancel = out.take().0[0]
    #expect(cancel == .delegateCancel(parent: root, child: pending))
    #expect(a.receive(cancel, from: 1, outbox: &out) == .handled)
    #expect(a.count == 1 && a.consistencyViolation() == nil)
    #expect(a.receive(cancel, from: 1, outbox: &out) == .stale)
    // A revoke of the root now needs no answer from kernel 1.
    #expect(try a.revoke(root, outbox: &out) == .started)
    #expect(out.messages.isEmpty)
    #expect(out.effects == [.revocationCompleted(root, owner: 1, unread: 0)])
  }

  @Test func messagesThatDoNotFitAreRejected() throws {
    var a = EndpointCapabilityDirectory(kernel: 0, capacity: 4)
    var out = RecordingOutbox()
    let root = try a.createRoot(capability, owner: 1)
    let child = ID(kernel: 1, index: 0, generation: 1)
    let request = EndpointCapabilityMessage.delegateRequest(parent: root, child: child)
    // Arrived on the ring from kernel 2, but claims to come from kernel 1.
    #expect(a.receive(request, from: 2, outbox: &out) == .rejected(.wrongSender))
    // Meant for kernel 3.
    let elsewhere = EndpointCapabilityMessage.delegateRequest(
      parent: ID(kernel: 3, index: 0, generation: 1), child: child)
    #expect(a.receive(elsewhere, from: 1, outbox: &out) == .rejected(.wrongReceiver))
    // A grant for a record that is live here, and one under another parent.
    var b = EndpointCapabilityDirectory(kernel: 1, capacity: 4)
    let pending = try b.requestDelegation(of: root, owner: 2, outbox: &out)
    let otherParent = ID(kernel: 0, index: 2, generation: 1)
    #expect(
      b.receive(
        .delegateGranted(parent: otherParent, child: pending, capability: capability), from: 0,
        outbox: &out) == .rejected(.parentMismatch))
    #expect(
      b.receive(
        .delegateRefused(parent: otherParent, child: pending, reason: .noRoom), from: 0,
        outbox: &out) == .rejected(.parentMismatch))
    #expect(
      b.receive(.revokeRequest(parent: otherParent, child: pending), from: 0, outbox: &out)
        == .rejected(.parentMismatch))
    let local = try b.createRoot(capability, owner: 3)
    #expect(
      b.receive(
        .delegateRefused(parent: root, child: local, reason: .noRoom), from: 0, outbox: &out)
        == .rejected(.notPending))
    // Bytes that are no message.
    let junk = [UInt8](repeating: 0, count: 48)
    let receipt = junk.withUnsafeBytes { b.receive(bytes: ByteView($0), from: 0, outbox: &out) }
    #expect(receipt == .malformed(EndpointCapabilityMessageError(.magic, .badMagic(0))))
    #expect(b.record(pending)?.state == .pending)
    #expect(a.counters.rejectedMessages == 2 && b.counters.rejectedMessages == 5)
    _ = out.take()
    // Well-formed bytes are handled like the message.
    var bytes = [UInt8](repeating: 0, count: 64)
    _ = bytes.withUnsafeMutableBytes { request.encode(into: $0) }
    let handled = bytes.withUnsafeBytes { a.receive(bytes: ByteView($0), from: 1, outbox: &out) }
    #expect(handled == .handled)
    #expect(out.messages == [.delegateGranted(parent: root, child: child, capability: capability)])
  }

  @Test func generationsMakeOldIDsStale() throws {
    var a = EndpointCapabilityDirectory(kernel: 0, capacity: 1)
    var out = RecordingOutbox()
    let first = try a.createRoot(capability, owner: 1)
    _ = try a.revoke(first, outbox: &out)
    let second = try a.createRoot(capability, owner: 1)
    #expect(first.index == second.index && first.generation != second.generation)
    #expect(a.record(first) == nil && a.isLive(second))
    #expect(EndpointCapabilityID(rawValue: 0) == nil)
    #expect(EndpointCapabilityID(rawValue: second.rawValue) == second)
    #expect(second.description == "k0:0.2")
  }

  @Test func everyErrorHasADescription() {
    let id = ID(kernel: 0, index: 1, generation: 1)
    let errors: [EndpointCapabilityError] = [
      .noSuchCapability(id), .pending(id), .revoking(id), .notPending(id), .heldHere(id),
      .directoryFull, .alreadyActive(id), .notDeactivating(id),
    ]
    #expect(Set(errors.map(\.description)).count == errors.count)
  }
}
