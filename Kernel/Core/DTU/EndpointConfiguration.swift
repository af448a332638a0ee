// What one endpoint of a software DTU can be configured as: receive, send or
// memory, M3's three endpoint kinds (REFERENCES.md, the TCU registers), with
// plain fields instead of packed register bits. Only a kernel writes a
// configuration, from a capability, and every field is checked here before it
// reaches the endpoint table: sizes are powers of two within the limits
// below, nothing is empty, no range wraps around or leaves the physical
// address space. A configuration that passes `validate()` is one the ring
// code and the kernel's mapping code can use without checking again.
//
// Receive: a ring of 2^slotCountLog2 slots of 2^slotSizeLog2 bytes at a
// page-aligned physical address in the receiver's node, split evenly into
// `channels` per-sender channels (each sender writes only its own channel,
// DESIGN.md "Emulated DTU endpoints"). `channelsInUse` is which of them a
// send endpoint holds; the table hands them out (EndpointTable.attachChannel).
//
// Send: the target receive endpoint, the channel of it this sender owns, the
// label the receiver will see (set by whoever minted the capability, never
// by the sender), credits = messages in flight at most (at most the
// channel's slots, so a sender never finds its channel full: M3's rule that
// credits handed out must not exceed the slots), the largest message.
//
// Memory: a byte-granular window [base, base + size) of physical memory in
// `node` with read and/or write rights (MemoryEndpointAccess checks accesses).

/// Limits every configuration is checked against.
public enum EndpointLimits {
  /// Slots are 64 bytes (one cache line, Barrelfish's message) to 4 KiB.
  public static let slotSizeLog2: ClosedRange<UInt8> = 6...12
  /// 1 to 1024 slots per receive ring.
  public static let slotCountLog2: ClosedRange<UInt8> = 0...10
  /// A ring is split into at most 32 channels (M3's 32-bit slot masks).
  public static let maxChannels: UInt8 = 32
  /// Rings are mapped into the receiver (and their channels into senders):
  /// they start on a page.
  public static let pageSize: UInt64 = 4096
  /// x86-64's largest physical address width (52 bits): no range may end
  /// beyond it.
  public static let physicalAddressLimit: UInt64 = 1 << 52
  public static var maxSlotSize: UInt32 { 1 << UInt32(slotSizeLog2.upperBound) }
  public static var minSlotSize: UInt32 { 1 << UInt32(slotSizeLog2.lowerBound) }
  public static var maxSlots: UInt32 { 1 << UInt32(slotCountLog2.upperBound) }
}

/// The rights of a memory endpoint (M3's bits: read 1, write 2).
public struct MemoryEndpointRights: OptionSet, Equatable, Hashable, Sendable {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  public static let read = MemoryEndpointRights(rawValue: 1)
  public static let write = MemoryEndpointRights(rawValue: 2)
  public static let readWrite: MemoryEndpointRights = [.read, .write]

  /// "rw", "r-", "-w" (and "--" for none).
  public var description: String {
    (contains(.read) ? "r" : "-") + (contains(.write) ? "w" : "-")
  }
}

public struct ReceiveEndpointConfiguration: Equatable, Hashable, Sendable {
  /// Physical address of the ring, page-aligned.
  public var ringAddress: UInt64
  public var slotCountLog2: UInt8
  public var slotSizeLog2: UInt8
  /// How many channels the ring is split into: a power of two, 1...32, at
  /// most the number of slots.
  public var channels: UInt8
  /// Bit n set: channel n belongs to a send endpoint. Only the table
  /// changes it; a configuration handed to `configure` must have it 0.
  public var channelsInUse: UInt32
  public var owner: UInt64

  public init(
    ringAddress: UInt64, slotCountLog2: UInt8, slotSizeLog2: UInt8, channels: UInt8,
    owner: UInt64, channelsInUse: UInt32 = 0
  ) {
    self.ringAddress = ringAddress
    self.slotCountLog2 = slotCountLog2
    self.slotSizeLog2 = slotSizeLog2
    self.channels = channels
    self.channelsInUse = channelsInUse
    self.owner = owner
  }

  public var slotCount: UInt32 { 1 << UInt32(slotCountLog2 & 31) }
  public var slotSize: UInt32 { 1 << UInt32(slotSizeLog2 & 31) }
  /// Slots of each channel: the credits a sender on it may hold.
  public var slotsPerChannel: UInt32 { channels == 0 ? 0 : slotCount / UInt32(channels) }
  public var ringBytes: UInt64 { UInt64(slotCount) * UInt64(slotSize) }
  /// Slots reserved by the channels in use.
  public var slotsInUse: UInt32 { UInt32(channelsInUse.nonzeroBitCount) * slotsPerChannel }

  /// Checks every field: the ring's geometry, its channels, then its place
  /// in memory; the first problem is thrown.
  public func validate() throws(EndpointConfigurationError) {
    guard EndpointLimits.slotCountLog2.contains(slotCountLog2) else {
      throw .slotCountOutOfRange(log2: slotCountLog2)
    }
    guard EndpointLimits.slotSizeLog2.contains(slotSizeLog2) else {
      throw .slotSizeOutOfRange(log2: slotSizeLog2)
    }
    guard channels >= 1, channels <= EndpointLimits.maxChannels else {
      throw .channelsOutOfRange(channels)
    }
    guard channels & (channels - 1) == 0 else { throw .channelsNotPowerOfTwo(channels) }
    guard UInt32(channels) <= slotCount else {
      throw .moreChannelsThanSlots(channels: channels, slots: slotCount)
    }
    guard channelsInUse == 0 else { throw .channelsAlreadyInUse(channelsInUse) }
    guard ringAddress % EndpointLimits.pageSize == 0 else { throw .ringMisaligned(ringAddress) }
    try EndpointConfigurationError.checkRange(base: ringAddress, size: ringBytes)
  }
}

public struct SendEndpointConfiguration: Equatable, Hashable, Sendable {
  /// The receive endpoint messages go to.
  public var target: EndpointAddress
  /// This sender's channel of the target, 0..<32 (and below the target's
  /// channel count, checked when the target is in the same table).
  public var channel: UInt8
  /// What the receiver sees as the sender; chosen by the capability's minter.
  public var label: UInt64
  /// Messages in flight at most: 1...1024 (and at most the target channel's
  /// slots, checked when the target is in the same table).
  public var credits: UInt32
  /// The largest message in bytes, header included: a power of two of a
  /// slot size's range (and at most the target's slot size).
  public var maxMessageSize: UInt32
  public var owner: UInt64

  public init(
    target: EndpointAddress, channel: UInt8, label: UInt64, credits: UInt32,
    maxMessageSize: UInt32, owner: UInt64
  ) {
    self.target = target
    self.channel = channel
    self.label = label
    self.credits = credits
    self.maxMessageSize = maxMessageSize
    self.owner = owner
  }

  /// The checks that need no other endpoint: channel, credits, message size.
  public func validate() throws(EndpointConfigurationError) {
    guard channel < EndpointLimits.maxChannels else { throw .channelOutOfRange(channel) }
    guard credits >= 1, credits <= EndpointLimits.maxSlots else {
      throw .creditsOutOfRange(credits)
    }
    guard maxMessageSize != 0, maxMessageSize & (maxMessageSize - 1) == 0 else {
      throw .messageSizeNotPowerOfTwo(maxMessageSize)
    }
    guard maxMessageSize >= EndpointLimits.minSlotSize,
      maxMessageSize <= EndpointLimits.maxSlotSize
    else { throw .messageSizeOutOfRange(maxMessageSize) }
  }

  /// The checks against the target, when the target is known (same table).
  public func validate(against target: ReceiveEndpointConfiguration)
    throws(EndpointConfigurationError)
  {
    guard channel < target.channels else {
      throw .targetChannelOutOfRange(channel: channel, channels: target.channels)
    }
    guard credits <= target.slotsPerChannel else {
      throw .creditsExceedChannel(credits: credits, slots: target.slotsPerChannel)
    }
    guard maxMessageSize <= target.slotSize else {
      throw .messageLargerThanSlot(size: maxMessageSize, slotSize: target.slotSize)
    }
  }
}

public struct MemoryEndpointConfiguration: Equatable, Hashable, Sendable {
  /// The NUMA node whose memory the window is in.
  public var node: UInt16
  /// Physical address of the window's first byte; any byte.
  public var base: UInt64
  /// Bytes in the window; any nonzero count.
  public var size: UInt64
  public var rights: MemoryEndpointRights
  public var owner: UInt64

  public init(
    node: UInt16, base: UInt64, size: UInt64, rights: MemoryEndpointRights, owner: UInt64
  ) {
    self.node = node
    self.base = base
    self.size = size
    self.rights = rights
    self.owner = owner
  }

  public func validate() throws(EndpointConfigurationError) {
    guard size != 0 else { throw .emptyWindow }
    try EndpointConfigurationError.checkRange(base: base, size: size)
    let undefined = rights.rawValue & ~MemoryEndpointRights.readWrite.rawValue
    guard undefined == 0 else { throw .undefinedRights(undefined) }
    guard !rights.isEmpty else { throw .noRights }
  }
}

/// One endpoint's configuration.
public enum EndpointConfiguration: Equatable, Hashable, Sendable {
  case receive(ReceiveEndpointConfiguration)
  case send(SendEndpointConfiguration)
  case memory(MemoryEndpointConfiguration)

  public var kind: EndpointKind {
    switch self {
    case .receive: .receive
    case .send: .send
    case .memory: .memory
    }
  }

  public var owner: UInt64 {
    switch self {
    case .receive(let receive): receive.owner
    case .send(let send): send.owner
    case .memory(let memory): memory.owner
    }
  }

  /// The checks that need no other endpoint.
  public func validate() throws(EndpointConfigurationError) {
    switch self {
    case .receive(let receive): try receive.validate()
    case .send(let send): try send.validate()
    case .memory(let memory): try memory.validate()
    }
  }
}

public enum EndpointKind: UInt8, Equatable, Hashable, Sendable, CaseIterable {
  case receive = 1
  case send = 2
  case memory = 3

  public var description: String {
    switch self {
    case .receive: "receive"
    case .send: "send"
    case .memory: "memory"
    }
  }
}
