import Testing

@testable import TesseraCore

/// The endpoint table of a software DTU (Kernel/Core/DTU/EndpointTable.swift):
/// the life of an endpoint, every refusal with its error (and no change),
/// M3's invalidation rules, channels, and the `eps` listing.
struct EndpointTableTests {
  let owner: UInt64 = 0x51

  func ring(channels: UInt8 = 4) -> EndpointConfiguration {
    .receive(
      ReceiveEndpointConfiguration(
        ringAddress: 0x40_0000, slotCountLog2: 4, slotSizeLog2: 7, channels: channels,
        owner: owner))
  }

  func sender(
    to target: EndpointAddress, channel: UInt8 = 1, credits: UInt32 = 4, size: UInt32 = 128
  ) -> EndpointConfiguration {
    .send(
      SendEndpointConfiguration(
        target: target, channel: channel, label: 0xFEED, credits: credits, maxMessageSize: size,
        owner: owner))
  }

  func window(rights: MemoryEndpointRights = .read) -> EndpointConfiguration {
    .memory(
      MemoryEndpointConfiguration(node: 3, base: 0x9000, size: 0x1800, rights: rights, owner: owner)
    )
  }

  func error<T>(_ body: @autoclosure () throws(EndpointTableError) -> T) -> EndpointTableError? {
    do {
      _ = try body()
      return nil
    } catch { return error }
  }

  @Test func lifeOfAnEndpoint() throws {
    var table = EndpointTable(node: 1, capacity: 4)
    #expect(table.capacity == 4 && table.allocatedCount == 0)
    let receive = try table.allocate()
    #expect(receive == EndpointAddress(node: 1, endpoint: 0))
    #expect(
      try table.lookup(receive) == EndpointEntry(id: receive, configuration: nil, active: false))
    try table.configure(receive, ring())
    try table.activate(receive, for: owner)
    #expect(table.usable(receive, by: owner) == ring())
    #expect(table.usable(receive, by: owner + 1) == nil)
    try table.deactivate(receive, for: owner)
    #expect(table.usable(receive, by: owner) == nil)
    try table.activate(receive, for: owner)
    let gone = try table.invalidate(receive, messages: 3)
    #expect(gone == EndpointInvalidation(configuration: ring(), wasActive: true, unread: 3))
    #expect(try table.lookup(receive).configuration == nil)
    try table.free(receive)
    #expect(table.allocatedCount == 0)
    #expect(error(try table.lookup(receive)) == .notAllocated(receive))
    // The lowest free endpoint comes back.
    #expect(try table.allocate() == receive)
  }

  @Test func allocationAndAddressing() throws {
    var table = EndpointTable(board: 2, node: 1, capacity: 2)
    let a = try table.allocate()
    let b = try table.allocate()
    #expect(a == EndpointAddress(board: 2, node: 1, endpoint: 0) && b.endpoint == 1)
    #expect(error(try table.allocate()) == .tableFull)
    let otherNode = EndpointAddress(board: 2, node: 0, endpoint: 0)
    let otherBoard = EndpointAddress(board: 1, node: 1, endpoint: 0)
    let beyond = EndpointAddress(board: 2, node: 1, endpoint: 2)
    #expect(error(try table.lookup(otherNode)) == .foreignEndpoint(otherNode))
    #expect(error(try table.lookup(otherBoard)) == .foreignEndpoint(otherBoard))
    #expect(error(try table.lookup(beyond)) == .noSuchEndpoint(beyond))
    try table.free(b)
    #expect(error(try table.free(b)) == .notAllocated(b))
    #expect(error(try table.configure(b, ring())) == .notAllocated(b))
    // Capacity is clamped.
    #expect(EndpointTable(node: 0, capacity: 0).capacity == 1)
    #expect(EndpointTable(node: 0, capacity: 1 << 20).capacity == 1 << 16)
  }

  @Test func configureRefusals() throws {
    var table = EndpointTable(node: 0)
    let receive = try table.allocate()
    let send = try table.allocate()
    let other = try table.allocate()
    // Nothing configured yet: a local target must be a receive endpoint.
    #expect(
      error(try table.configure(send, sender(to: receive)))
        == .invalidConfiguration(.targetNotReceive(receive)))
    #expect(
      error(try table.configure(send, sender(to: send)))
        == .invalidConfiguration(.targetIsItself))
    let nowhere = EndpointAddress(node: 0, endpoint: 999)
    #expect(
      error(try table.configure(send, sender(to: nowhere)))
        == .invalidConfiguration(.targetNotReceive(nowhere)))
    try table.configure(receive, ring())
    #expect(error(try table.configure(receive, ring())) == .alreadyConfigured(receive))
    // Against the local target: 16 slots of 128 bytes in 4 channels.
    #expect(
      error(try table.configure(send, sender(to: receive, channel: 4)))
        == .invalidConfiguration(.targetChannelOutOfRange(channel: 4, channels: 4)))
    #expect(
      error(try table.configure(send, sender(to: receive, credits: 5)))
        == .invalidConfiguration(.creditsExceedChannel(credits: 5, slots: 4)))
    #expect(
      error(try table.configure(send, sender(to: receive, size: 256)))
        == .invalidConfiguration(.messageLargerThanSlot(size: 256, slotSize: 128)))
    // Field checks come first.
    #expect(
      error(try table.configure(send, sender(to: receive, credits: 0)))
        == .invalidConfiguration(.creditsOutOfRange(0)))
    // A target on another node is checked by field only (its table is elsewhere).
    let remote = EndpointAddress(node: 5, endpoint: 1)
    #expect(error(try table.configure(other, sender(to: remote, credits: 64))) == nil)
    #expect(try table.lookup(send).configuration == nil)
    try table.configure(send, sender(to: receive))
    #expect(try table.lookup(send).configuration == sender(to: receive))
    // A memory endpoint with no rights.
    let memory = try table.allocate()
    #expect(
      error(try table.configure(memory, window(rights: [])))
        == .invalidConfiguration(.noRights))
  }

  @Test func activationIsForTheOwner() throws {
    var table = EndpointTable(node: 0)
    let ep = try table.allocate()
    #expect(error(try table.activate(ep, for: owner)) == .notConfigured(ep))
    try table.configure(ep, window())
    #expect(
      error(try table.activate(ep, for: 9))
        == .wrongOwner(ep, owner: 9, configuredFor: owner))
    #expect(error(try table.deactivate(ep, for: owner)) == .notActive(ep))
    try table.activate(ep, for: owner)
    #expect(error(try table.activate(ep, for: owner)) == .alreadyActive(ep))
    #expect(
      error(try table.deactivate(ep, for: 9))
        == .wrongOwner(ep, owner: 9, configuredFor: owner))
    #expect(try table.lookup(ep).active)
    #expect(error(try table.free(ep)) == .stillConfigured(ep))
  }

  @Test func invalidationFollowsM3() throws {
    var table = EndpointTable(node: 0)
    let receive = try table.allocate()
    let send = try table.allocate()
    let memory = try table.allocate()
    #expect(error(try table.invalidate(send, messages: 0)) == .notConfigured(send))
    try table.configure(receive, ring())
    try table.configure(send, sender(to: receive))
    try table.configure(memory, window())
    // Send: refused with messages in flight, unless forced.
    #expect(error(try table.invalidate(send, messages: 2)) == .messagesInFlight(send, count: 2))
    #expect(try table.lookup(send).configuration != nil)
    let forced = try table.invalidate(send, messages: 2, force: true)
    #expect(forced.unread == 2 && !forced.wasActive)
    try table.configure(send, sender(to: receive))
    #expect(try table.invalidate(send, messages: 0).unread == 0)
    // Receive: reports the unread count.
    try table.activate(receive, for: owner)
    let ringGone = try table.invalidate(receive, messages: 7)
    #expect(ringGone.unread == 7 && ringGone.wasActive)
    // Memory: nothing unread.
    #expect(try table.invalidate(memory, messages: 5).unread == 0)
  }

  @Test func channels() throws {
    var table = EndpointTable(node: 0)
    let receive = try table.allocate()
    let memory = try table.allocate()
    #expect(error(try table.attachChannel(to: receive)) == .notConfigured(receive))
    try table.configure(receive, ring(channels: 2))
    try table.configure(memory, window())
    #expect(error(try table.attachChannel(to: memory)) == .notReceive(memory))
    #expect(error(try table.detachChannel(0, from: memory)) == .notReceive(memory))
    #expect(try table.attachChannel(to: receive) == 0)
    #expect(try table.attachChannel(to: receive) == 1)
    #expect(error(try table.attachChannel(to: receive)) == .noFreeChannel(receive))
    try table.detachChannel(0, from: receive)
    #expect(
      error(try table.detachChannel(0, from: receive))
        == .channelNotInUse(receive, channel: 0))
    #expect(
      error(try table.detachChannel(7, from: receive))
        == .channelNotInUse(receive, channel: 7))
    #expect(try table.attachChannel(to: receive) == 0)
    guard case .receive(let ring)? = try table.lookup(receive).configuration else {
      Issue.record("not a receive endpoint")
      return
    }
    #expect(ring.channelsInUse == 0b11 && ring.slotsInUse == 16)
  }

  @Test func listingRowsAndLines() throws {
    var table = EndpointTable(node: 1, capacity: 8)
    let receive = try table.allocate()
    let send = try table.allocate()
    let memory = try table.allocate()
    let spare = try table.allocate()
    try table.configure(receive, ring())
    _ = try table.attachChannel(to: receive)
    try table.configure(send, sender(to: EndpointAddress(node: 2, endpoint: 4)))
    try table.configure(memory, window())
    try table.activate(send, for: owner)
    let rows = table.listing()
    #expect(rows.map(\.id) == [receive, send, memory, spare])
    #expect(rows.map(\.kind) == [.receive, .send, .memory, nil])
    #expect(rows.map(\.node) == [1, 2, 3, 1])
    #expect(rows[0].slotsUsed == 4 && rows[0].slots == 16 && rows[0].credits == nil)
    #expect(rows[1].label == 0xFEED && rows[1].credits == 4 && rows[1].active)
    #expect(rows[2].owner == owner && rows[2].label == nil)
    #expect(rows[3].owner == nil)
    let lines = rows.map(EndpointListingFormat.line)
    #expect(lines[0].hasPrefix("0.1.0      receive  1     0x51"))
    #expect(lines[0].hasSuffix("4/16      no"))
    #expect(lines[1].contains("0xfeed") && lines[1].hasSuffix("yes"))
    #expect(lines[3].hasPrefix("0.1.3      (none)"))
    #expect(EndpointListingFormat.header.hasPrefix("endpoint   kind"))
  }

  @Test func everyErrorHasADescription() {
    let id = EndpointAddress(node: 0, endpoint: 1)
    let errors: [EndpointTableError] = [
      .foreignEndpoint(id), .noSuchEndpoint(id), .tableFull, .notAllocated(id),
      .alreadyConfigured(id), .notConfigured(id), .stillConfigured(id),
      .wrongOwner(id, owner: 1, configuredFor: 2), .alreadyActive(id), .notActive(id),
      .messagesInFlight(id, count: 1), .notReceive(id), .noFreeChannel(id),
      .channelNotInUse(id, channel: 1), .invalidConfiguration(.noRights),
    ]
    #expect(Set(errors.map(\.description)).count == errors.count)
  }
}
