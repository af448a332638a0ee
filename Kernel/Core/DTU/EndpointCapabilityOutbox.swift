// What EndpointCapabilityDirectory asks of the kernel around it, as values:
// messages for other kernel instances and effects on this one (deactivate
// an endpoint, tell a waiting thread). The directory never touches rings,
// page tables or threads; it hands each message and effect to an outbox the
// caller passes in, in the order they arise. The kernel's outbox writes
// messages into the rings to the other instances and queues effects for its
// own code; the tests' outbox records them, so a test can deliver messages
// and run effects in any order it likes.
//
// An outbox must not call back into the directory while the directory is
// calling it (the directory is in the middle of a change): the kernel
// queues, and reports finished work (`deactivated`) afterwards.

public protocol EndpointCapabilityOutbox {
  /// A message for the kernel instance `message.receiver`.
  mutating func send(_ message: EndpointCapabilityMessage)
  /// Work for this kernel instance.
  mutating func perform(_ effect: EndpointCapabilityEffect)
}

public enum EndpointCapabilityEffect: Equatable, Hashable, Sendable {
  /// `capability`, being revoked, was activated on the send endpoint
  /// `endpoint` of this kernel's DTU for `owner`: unmap it, shoot down the
  /// TLBs that may hold it, invalidate it (forced), and then report the
  /// messages it had in flight with
  /// `EndpointCapabilityDirectory.deactivated(_:unread:outbox:)`. The revoke
  /// waits for that report: nothing is acknowledged before the endpoint is
  /// dead.
  case deactivate(EndpointCapabilityID, endpoint: EndpointAddress, owner: UInt64)
  /// A delegation this kernel asked for was granted: `capability` is now
  /// installed for `owner` (who may activate it).
  case installed(EndpointCapabilityID, owner: UInt64, capability: EndpointCapability)
  /// A delegation this kernel asked for was refused (or its parent was
  /// revoked before the answer came); the pending record is gone.
  case delegationRefused(EndpointCapabilityID, owner: UInt64, reason: DelegationRefusal)
  /// The revocation of `capability` that a local revoke started or joined
  /// is complete: it and everything derived from it, on every kernel, are
  /// gone and deactivated. `unread` is what this revocation collected and
  /// no other revocation reports (see EndpointRevocation).
  case revocationCompleted(EndpointCapabilityID, owner: UInt64, unread: UInt64)
}

/// What a local revoke did.
public enum EndpointRevocation: Equatable, Hashable, Sendable {
  /// A new revocation of the capability began (it may already have
  /// completed: its `revocationCompleted` effect says so).
  case started
  /// A revocation of the capability was already running; this one
  /// subscribed to it and completes with it (one `revocationCompleted`).
  case joined
}

/// What became of a message from another kernel.
public enum EndpointCapabilityReceipt: Equatable, Hashable, Sendable {
  /// Acted upon (an answer may have been sent).
  case handled
  /// About a capability or child that is gone: nothing to do, answered
  /// where the protocol wants an answer.
  case stale
  /// Inconsistent with what this kernel knows: dropped without an answer.
  case rejected(EndpointCapabilityRejection)
  /// Not a message at all.
  case malformed(EndpointCapabilityMessageError)
}

public enum EndpointCapabilityRejection: Equatable, Hashable, Sendable {
  /// The message is for another kernel instance.
  case wrongReceiver
  /// It did not come from the kernel it names as sender (or from ourselves).
  case wrongSender
  /// The child named exists here, but under another parent.
  case parentMismatch
  /// A delegate request for a child already registered.
  case duplicateChild
  /// A grant or refusal for a record that is not waiting for one.
  case notPending
}
