/// The kernel objects behind DTU endpoint capabilities (DESIGN.md,
/// "Emulated DTU endpoints"). A receive endpoint owns a ring in its node's
/// ring region, formatted and configured through Core's
/// `ReceiveEndpointControl`; a send endpoint is one channel of it, bound
/// with the label and credits its minter chose. Programs use them without
/// the kernel once they are mapped (`activate`): the kernel only places,
/// binds, maps, wakes, blocks and revokes. The node's software DTU
/// (`DTU.tables`) records each endpoint for `eps`. All under KernelLock.
final class ReceiveEndpoint {
  let node: Int
  let id: EndpointAddress
  /// The ring's first page (config page; status and slots follow at the
  /// layout's offsets) and how many pages it spans.
  let physical: UInt64
  let pages: Int
  let control: ReceiveEndpointControl
  /// The channels bound to send endpoints (nil: free).
  var channels: [SendEndpoint?]
  /// The thread blocked in dtuWait on it.
  unowned(unsafe) var waiter: Thread? = nil
  var mappings: [DTUMapping] = []
  /// Wake calls that found the receiver asleep, and block calls that slept.
  var wakes: UInt64 = 0
  var sleeps: UInt64 = 0
  /// Its last capability went and its ring was given back: send endpoints
  /// that still name it reach nothing.
  var destroyed = false
  /// Its ring's pages went back to the node's ring region.
  var ringFreed = false
  /// Channels bound for senders of the other kernel instance: the ring's
  /// pages stay until each is released, even after the endpoint is gone.
  var remoteSenders: [SendEndpoint] = []
  /// Channels bound for another ring's receiver to reply on: the ring's
  /// pages stay until each goes with its send endpoint, because that
  /// receiver maps them and must never fault for this ring's owner.
  var replyBindings: Int {
    channels.reduce(0) { $0 + ($1?.isReplyChannel == true ? 1 : 0) }
  }
  /// It had senders of the other instance when that instance failed:
  /// waiting on it with no sender left is an error, not a hang.
  var lostSendersToFailure = false
  /// Whether a channel is bound for a sender (of either instance).
  var hasSenders: Bool { channels.contains { $0 != nil && $0?.isReplyChannel != true } }
  /// The name `dtuPublish` gave it (0: none).
  var name: UInt64 = 0
  /// A dtuRevokeSenders is running (another one joins it), and how many
  /// senders the last one took back.
  var revokingSenders = false
  var sendersRevoked = 0

  init(
    node: Int, id: EndpointAddress, physical: UInt64, pages: Int, control: ReceiveEndpointControl
  ) {
    self.node = node
    self.id = id
    self.physical = physical
    self.pages = pages
    self.control = control
    channels = Array(repeating: nil, count: control.layout.channelCount)
  }

  var layout: ReceiveEndpointLayout { control.layout }

  /// Channel `channel`'s slots start here: the ring is split into equal
  /// channels, one per send endpoint (the table's `attachChannel` picks it).
  func firstSlot(of channel: Int) -> Int { channel * (layout.slotCount / layout.channelCount) }
}

/// One channel of a receive endpoint, as a send capability names it, or
/// (`isReplyChannel`) the channel a receiver replies on, which no
/// capability names: it lives and dies with the send endpoint whose reply
/// endpoint it is, and its mappings are reply windows in that endpoint's
/// receiver (in this instance; or in the other, which maps it itself).
final class SendEndpoint {
  let target: ReceiveEndpoint
  let channel: Int
  let label: UInt64
  let credits: Int
  let id: EndpointAddress
  var mappings: [DTUMapping] = []
  /// The channel of its reply endpoint bound for its receiver's replies:
  /// in this instance, or (`remoteReply`) in a ring of the other, for a
  /// sender of the other instance that named a reply endpoint there.
  var reply: SendEndpoint? = nil
  var remoteReply: RemoteSendEndpoint? = nil
  /// A channel bound for a receiver's replies (see above).
  var isReplyChannel = false
  /// The kernel object its capabilities name (nil for a channel bound for
  /// the other instance or for replies: no capability here names it).
  var object: ObjectID? = nil
  /// Its record in the capability directory (`EndpointDelegation`): set
  /// when it was exported or imported; its destruction revokes the record.
  var record: EndpointCapabilityID? = nil
  /// Messages still unread when it was revoked (for `dtu stats`).
  var unreadAtRevoke: UInt64 = 0

  init(target: ReceiveEndpoint, channel: Int, label: UInt64, credits: Int, id: EndpointAddress) {
    self.target = target
    self.channel = channel
    self.label = label
    self.credits = credits
    self.id = id
  }

  /// The channel's run of slots.
  var run: ChannelRun? {
    guard !target.destroyed, let record = try? target.control.record(channel) else { return nil }
    return try? target.layout.run(
      channel: channel, firstSlot: record.firstSlot, slotCount: record.slotCount)
  }
}

/// Where an endpoint is mapped: through which capability, into which
/// address space, at which address, how many pages from there.
struct DTUMapping {
  let capability: CapabilityID
  let space: AddressSpace
  let address: UInt64
  let pages: Int
}

/// A byte-granular window into a memory object, with read and/or write
/// rights: the DTU's memory endpoint. A page-exact window may be mapped
/// (the MMU enforces the rights); any window can be read and written
/// through the kernel's command path (`dtuMemoryRead`/`dtuMemoryWrite`),
/// which checks the bounds first (Core's MemoryEndpointConfiguration).
final class MemoryEndpoint {
  let memory: MemoryObject
  let node: Int
  let id: EndpointAddress
  let configuration: MemoryEndpointConfiguration
  /// The window's first byte, as an offset into the memory object.
  let offset: UInt64
  var mappings: [DTUMapping] = []

  init(
    memory: MemoryObject, node: Int, id: EndpointAddress,
    configuration: MemoryEndpointConfiguration, offset: UInt64
  ) {
    self.memory = memory
    self.node = node
    self.id = id
    self.configuration = configuration
    self.offset = offset
  }

  /// Whole pages at both ends: the window can be mapped as it is.
  var isPageExact: Bool { offset & 0xFFF == 0 && configuration.size & 0xFFF == 0 }
}

/// A send endpoint to a ring of the other kernel instance (a channel bound
/// by `dtuConnect`, or for an imported capability, either way). The other
/// kernel owns the ring and bound the channel; this one only knows where
/// the ring is and which channel, reads the layout and the channel's run
/// from the ring's own config page (both instances map every ring region),
/// maps it, forwards wakes, and on revocation deactivates it here before it
/// asks the owner to revoke the channel.
final class RemoteSendEndpoint {
  let ring: UInt64
  let channel: Int
  let run: ChannelRun
  /// The process that connected (the release names it).
  let owner: UInt64
  var mappings: [DTUMapping] = []
  /// The channel of this instance's reply endpoint bound for the remote
  /// receiver's replies: revoked once the other kernel has released the
  /// send channel (and with it its mappings of this one).
  var reply: SendEndpoint? = nil
  /// The kernel object its capabilities name.
  var object: ObjectID? = nil
  /// Its record in the capability directory, for one imported from the
  /// other instance: the ring's kernel revokes the channel when the
  /// record's revocation is acknowledged, so no release is sent.
  var record: EndpointCapabilityID? = nil
  /// The ring's owner revoked it (dtuRevokeSenders): its kernel revoked the
  /// channel and unmapped the reply windows, so nothing is released back.
  var revokedByRing = false

  /// nil when the ring and channel are not a live channel of a ring inside
  /// a ring region (the other kernel's word is checked, not trusted).
  init?(ring: UInt64, channel: Int, owner: UInt64) {
    guard ring & 0xFFF == 0,
      let region = NodeRings.regions.first(where: { $0.range.contains(ring) }),
      let base = PhysicalMemory.pointer(ring),
      let control = try? ReceiveEndpointControl.attach(
        config: base, status: base + ReceiveEndpointLayout.statusOffset,
        slots: base + ReceiveEndpointLayout.slotsOffset),
      ring + UInt64(control.layout.totalBytes) <= region.range.end,
      let record = try? control.record(channel), record.state == .active,
      let run = try? control.layout.run(
        channel: channel, firstSlot: record.firstSlot, slotCount: record.slotCount)
    else { return nil }
    self.ring = ring
    self.channel = channel
    self.run = run
    self.owner = owner
  }
}
