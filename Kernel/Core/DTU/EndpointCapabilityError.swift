// Why a local operation on endpoint capabilities was refused. The IDs come
// from capability slots that user programs name, so each misuse has its own
// case, and a refused operation changes nothing and sends nothing.
// (Messages from other kernels never throw: see EndpointCapabilityReceipt.)

public enum EndpointCapabilityError: Error, Equatable, Hashable, Sendable {
  /// No record of this kernel has the ID (never existed, revoked, refused,
  /// or held by another kernel).
  case noSuchCapability(EndpointCapabilityID)
  /// The record still waits for the answer to its delegate request.
  case pending(EndpointCapabilityID)
  /// The capability is being revoked.
  case revoking(EndpointCapabilityID)
  /// cancelDelegation of a record that is not waiting for an answer.
  case notPending(EndpointCapabilityID)
  /// A delegation across kernels of a capability this kernel holds (a local
  /// derivation is a copy).
  case heldHere(EndpointCapabilityID)
  /// Every record of the directory is in use.
  case directoryFull
  /// The capability is activated on an endpoint already.
  case alreadyActive(EndpointCapabilityID)
  /// `deactivated` for a capability whose deactivation nobody asked for.
  case notDeactivating(EndpointCapabilityID)

  public var description: String {
    switch self {
    case .noSuchCapability(let id): "no endpoint capability " + id.description
    case .pending(let id): id.description + " waits for its delegation"
    case .revoking(let id): id.description + " is being revoked"
    case .notPending(let id): id.description + " is not waiting for a delegation"
    case .heldHere(let id): id.description + " is held by this kernel (copy it instead)"
    case .directoryFull: "no free endpoint capability record"
    case .alreadyActive(let id): id.description + " is active already"
    case .notDeactivating(let id): id.description + " is not being deactivated"
    }
  }
}
