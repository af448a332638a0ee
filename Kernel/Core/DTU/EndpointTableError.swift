// Why an operation on a software DTU's endpoint table was refused. The
// endpoint numbers and owners come from system calls and from the other
// kernel instance, so each misuse has its own case, and a refused operation
// leaves the table unchanged.

public enum EndpointTableError: Error, Equatable, Hashable, Sendable {
  /// The endpoint belongs to another board's or node's DTU.
  case foreignEndpoint(EndpointAddress)
  /// The endpoint number is at or beyond the table's capacity.
  case noSuchEndpoint(EndpointAddress)
  /// Every endpoint is allocated.
  case tableFull
  /// The endpoint is free (never allocated, or freed).
  case notAllocated(EndpointAddress)
  /// Configure of an endpoint that has a configuration: invalidate first,
  /// so a sender never sees its endpoint change under it.
  case alreadyConfigured(EndpointAddress)
  case notConfigured(EndpointAddress)
  /// Free of an endpoint that still has a configuration.
  case stillConfigured(EndpointAddress)
  /// The caller is not the owner the endpoint was configured for.
  case wrongOwner(EndpointAddress, owner: UInt64, configuredFor: UInt64)
  case alreadyActive(EndpointAddress)
  case notActive(EndpointAddress)
  /// Invalidation of a send endpoint whose messages are still in flight,
  /// not forced (M3: the credits are not all back).
  case messagesInFlight(EndpointAddress, count: UInt32)
  /// A channel operation on an endpoint that is not a receive endpoint.
  case notReceive(EndpointAddress)
  /// Every channel of the receive endpoint is in use.
  case noFreeChannel(EndpointAddress)
  /// Detach of a channel that is not in use (or beyond the ring's channels).
  case channelNotInUse(EndpointAddress, channel: UInt8)
  /// The configuration itself is wrong.
  case invalidConfiguration(EndpointConfigurationError)

  public var description: String {
    switch self {
    case .foreignEndpoint(let id): "endpoint " + id.description + " is not in this DTU"
    case .noSuchEndpoint(let id): "no endpoint " + id.description
    case .tableFull: "no free endpoint"
    case .notAllocated(let id): "endpoint " + id.description + " is free"
    case .alreadyConfigured(let id): "endpoint " + id.description + " is configured"
    case .notConfigured(let id): "endpoint " + id.description + " is not configured"
    case .stillConfigured(let id):
      "endpoint " + id.description + " is still configured (invalidate it first)"
    case .wrongOwner(let id, let owner, let configuredFor):
      "endpoint " + id.description + " belongs to " + hex(configuredFor) + ", not "
        + hex(owner)
    case .alreadyActive(let id): "endpoint " + id.description + " is active"
    case .notActive(let id): "endpoint " + id.description + " is not active"
    case .messagesInFlight(let id, let count):
      "endpoint " + id.description + " has " + String(count) + " messages in flight"
    case .notReceive(let id): "endpoint " + id.description + " is not a receive endpoint"
    case .noFreeChannel(let id): "endpoint " + id.description + " has no free channel"
    case .channelNotInUse(let id, let channel):
      "channel " + String(channel) + " of endpoint " + id.description + " is not in use"
    case .invalidConfiguration(let error): error.description
    }
  }
}
