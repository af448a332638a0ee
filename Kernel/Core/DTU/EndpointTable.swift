// The endpoint table of one software DTU (one per NUMA node): what each of
// its endpoints is configured as, for whom, and whether that owner has it
// active. Only kernels write it; user programs use active endpoints through
// the rings without the kernel (DESIGN.md, "Emulated DTU endpoints").
//
// The table is M3's endpoint registers as kernel bookkeeping: an endpoint is
// free, allocated (reserved, no configuration: M3's invalid endpoint), or
// configured. An endpoint's life:
//
//   allocate -> configure -> activate <-> deactivate -> invalidate -> free
//
// - configure checks every field (EndpointConfiguration.validate) and, for a
//   send endpoint whose target is in this same table, the target's geometry;
//   a configured endpoint is never reconfigured in place: it is invalidated
//   first, so a sender never sees its endpoint change under it.
// - activate/deactivate are for the owner the endpoint was configured for:
//   active means mapped into that owner and usable from user space.
// - invalidate follows M3's rules: a send endpoint with messages in flight is
//   refused unless forced (the kernel forces it when revoking); a receive
//   endpoint reports its unread messages. The counts live in the rings,
//   which the table does not read: the kernel passes them in. The result
//   says whether the endpoint was active, so the kernel knows to unmap it
//   and shoot down the TLBs.
//
// Capacity is fixed at init (64 by default, at most 65536) and the storage
// is allocated then; no operation allocates, except the listing for the
// shell. A refused operation changes nothing.

/// One endpoint as the table knows it.
public struct EndpointEntry: Equatable, Hashable, Sendable {
  public var id: EndpointAddress
  /// nil while allocated but not configured.
  public var configuration: EndpointConfiguration?
  public var active: Bool
}

/// What an invalidation took away.
public struct EndpointInvalidation: Equatable, Hashable, Sendable {
  /// The configuration the endpoint had.
  public var configuration: EndpointConfiguration
  /// It was active: the kernel unmaps it from the owner.
  public var wasActive: Bool
  /// Messages the endpoint still had: unread ones of a receive endpoint,
  /// those in flight of a (forced) send endpoint; 0 for memory.
  public var unread: UInt32
}

public struct EndpointTable {
  public static let defaultCapacity = 64

  private struct Slot {
    var allocated = false
    var configuration: EndpointConfiguration? = nil
    var active = false
  }

  public let board: UInt16
  public let node: UInt16
  private var slots: [Slot]
  public private(set) var allocatedCount = 0

  /// A table for the DTU of `node` on `board`; `capacity` is clamped to
  /// 1...65536.
  public init(board: UInt16 = 0, node: UInt16, capacity: Int = EndpointTable.defaultCapacity) {
    self.board = board
    self.node = node
    slots = Array(repeating: Slot(), count: min(max(capacity, 1), 1 << 16))
  }

  public var capacity: Int { slots.count }

  /// The address of endpoint `index` of this table.
  public func id(_ index: UInt16) -> EndpointAddress {
    EndpointAddress(board: board, node: node, endpoint: index)
  }

  // MARK: life of an endpoint

  /// Reserves the lowest free endpoint.
  public mutating func allocate() throws(EndpointTableError) -> EndpointAddress {
    for index in slots.indices where !slots[index].allocated {
      slots[index] = Slot(allocated: true)
      allocatedCount += 1
      return id(UInt16(index))
    }
    throw .tableFull
  }

  /// Returns an allocated, unconfigured endpoint to the free ones.
  public mutating func free(_ endpoint: EndpointAddress) throws(EndpointTableError) {
    let index = try allocatedIndex(endpoint)
    guard slots[index].configuration == nil else { throw .stillConfigured(endpoint) }
    slots[index] = Slot()
    allocatedCount -= 1
  }

  /// Gives an allocated endpoint its configuration (inactive).
  public mutating func configure(
    _ endpoint: EndpointAddress, _ configuration: EndpointConfiguration
  ) throws(EndpointTableError) {
    let index = try allocatedIndex(endpoint)
    guard slots[index].configuration == nil else { throw .alreadyConfigured(endpoint) }
    do throws(EndpointConfigurationError) {
      try configuration.validate()
      if case .send(let send) = configuration, send.target.board == board,
        send.target.node == node
      {
        guard send.target != endpoint else { throw .targetIsItself }
        guard Int(send.target.endpoint) < slots.count,
          case .receive(let target)? = slots[Int(send.target.endpoint)].configuration
        else { throw .targetNotReceive(send.target) }
        try send.validate(against: target)
      }
    } catch {
      throw .invalidConfiguration(error)
    }
    slots[index].configuration = configuration
  }

  /// Makes a configured endpoint usable by its owner.
  public mutating func activate(_ endpoint: EndpointAddress, for owner: UInt64)
    throws(EndpointTableError)
  {
    let index = try ownedIndex(endpoint, owner)
    guard !slots[index].active else { throw .alreadyActive(endpoint) }
    slots[index].active = true
  }

  /// Takes an active endpoint away from its owner; the configuration stays.
  public mutating func deactivate(_ endpoint: EndpointAddress, for owner: UInt64)
    throws(EndpointTableError)
  {
    let index = try ownedIndex(endpoint, owner)
    guard slots[index].active else { throw .notActive(endpoint) }
    slots[index].active = false
  }

  /// Removes the configuration (and the activation), M3's rules:
  /// `messages` is what the endpoint still has (in flight for a send
  /// endpoint, unread for a receive endpoint; ignored for memory). A send
  /// endpoint with messages in flight is refused unless `force`.
  @discardableResult
  public mutating func invalidate(
    _ endpoint: EndpointAddress, messages: UInt32, force: Bool = false
  ) throws(EndpointTableError) -> EndpointInvalidation {
    let index = try allocatedIndex(endpoint)
    guard let configuration = slots[index].configuration else { throw .notConfigured(endpoint) }
    var unread: UInt32 = 0
    switch configuration {
    case .send:
      guard messages == 0 || force else {
        throw .messagesInFlight(endpoint, count: messages)
      }
      unread = messages
    case .receive: unread = messages
    case .memory: break
    }
    let wasActive = slots[index].active
    slots[index].configuration = nil
    slots[index].active = false
    return EndpointInvalidation(configuration: configuration, wasActive: wasActive, unread: unread)
  }

  // MARK: channels of receive endpoints

  /// Reserves the lowest free channel of a receive endpoint for a sender.
  public mutating func attachChannel(to endpoint: EndpointAddress) throws(EndpointTableError)
    -> UInt8
  {
    let index = try allocatedIndex(endpoint)
    guard case .receive(var receive)? = slots[index].configuration else {
      throw slots[index].configuration == nil ? .notConfigured(endpoint) : .notReceive(endpoint)
    }
    for channel in 0..<receive.channels where receive.channelsInUse & (1 << UInt32(channel)) == 0 {
      receive.channelsInUse |= 1 << UInt32(channel)
      slots[index].configuration = .receive(receive)
      return channel
    }
    throw .noFreeChannel(endpoint)
  }

  /// Gives a channel back.
  public mutating func detachChannel(_ channel: UInt8, from endpoint: EndpointAddress)
    throws(EndpointTableError)
  {
    let index = try allocatedIndex(endpoint)
    guard case .receive(var receive)? = slots[index].configuration else {
      throw slots[index].configuration == nil ? .notConfigured(endpoint) : .notReceive(endpoint)
    }
    guard channel < receive.channels, receive.channelsInUse & (1 << UInt32(channel)) != 0 else {
      throw .channelNotInUse(endpoint, channel: channel)
    }
    receive.channelsInUse &= ~(1 << UInt32(channel))
    slots[index].configuration = .receive(receive)
  }

  // MARK: reading

  /// The endpoint as the table knows it (allocated ones only).
  public func lookup(_ endpoint: EndpointAddress) throws(EndpointTableError) -> EndpointEntry {
    let index = try allocatedIndex(endpoint)
    return EndpointEntry(
      id: endpoint, configuration: slots[index].configuration, active: slots[index].active)
  }

  /// The endpoint's configuration when it is configured and active for
  /// `owner`: what the DTU checks before it lets a message or an access
  /// through. nil otherwise.
  public func usable(_ endpoint: EndpointAddress, by owner: UInt64) -> EndpointConfiguration? {
    guard let index = try? allocatedIndex(endpoint), slots[index].active,
      let configuration = slots[index].configuration, configuration.owner == owner
    else { return nil }
    return configuration
  }

  /// Every allocated endpoint, in endpoint order.
  public func forEachEntry(_ body: (EndpointEntry) -> Void) {
    for index in slots.indices where slots[index].allocated {
      body(
        EndpointEntry(
          id: id(UInt16(index)), configuration: slots[index].configuration,
          active: slots[index].active))
    }
  }

  // MARK: checks

  private func allocatedIndex(_ endpoint: EndpointAddress) throws(EndpointTableError) -> Int {
    guard endpoint.board == board, endpoint.node == node else {
      throw .foreignEndpoint(endpoint)
    }
    let index = Int(endpoint.endpoint)
    guard index < slots.count else { throw .noSuchEndpoint(endpoint) }
    guard slots[index].allocated else { throw .notAllocated(endpoint) }
    return index
  }

  private func ownedIndex(_ endpoint: EndpointAddress, _ owner: UInt64) throws(EndpointTableError)
    -> Int
  {
    let index = try allocatedIndex(endpoint)
    guard let configuration = slots[index].configuration else { throw .notConfigured(endpoint) }
    guard configuration.owner == owner else {
      throw .wrongOwner(endpoint, owner: owner, configuredFor: configuration.owner)
    }
    return index
  }
}
