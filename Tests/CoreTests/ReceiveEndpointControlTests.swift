// Tests of the kernel's side of a receive endpoint: formatting, binding,
// revoking and retiring channels (every refusal), and the wake and block
// tests over the same memory.
import Testing

@testable import TesseraCore

@Suite struct ReceiveEndpointControlTests {
  @Test func configureZeroesAndStartsEveryChannelInactive() throws {
    let endpoint = TestEndpoint(slotCountLog2: 7, slotSizeLog2: 8, channelCount: 5, fill: 0xEE)
    let bytes = UnsafeRawBufferPointer(start: endpoint.region.base, count: endpoint.region.bytes)
    #expect(bytes[16...].allSatisfy { $0 == 0 })
    for channel in 0..<5 {
      #expect(
        try endpoint.control.record(channel)
          == ChannelRecord(
            state: .inactive, generation: 0, label: 0, firstSlot: 0, slotCount: 0, acceptedLimit: 0)
      )
    }
    #expect(!endpoint.control.receiverSleeping && !endpoint.control.hasPending)
    let attached = try ReceiveEndpointControl.attach(
      config: endpoint.config, status: endpoint.status, slots: endpoint.slots)
    #expect(attached.layout == endpoint.layout)
  }

  @Test func setChannelWritesTheRecordAndZeroesTheRun() throws {
    let endpoint = TestEndpoint(slotCountLog2: 7, slotSizeLog2: 8, channelCount: 4)
    // A previous occupant's leftovers in slots 16..<48 and the status line.
    endpoint.slot(16).initializeMemory(as: UInt8.self, repeating: 0x77, count: 32 * 256)
    endpoint.status.storeBytes(of: 99, toByteOffset: 64 + 64 * 2, as: UInt64.self)
    endpoint.status.storeBytes(of: 98, toByteOffset: 64 + 64 * 2 + 8, as: UInt64.self)
    let run = try endpoint.control.setChannel(2, label: 0xABCD, firstSlot: 16, slotCount: 32)
    #expect(run.byteOffset == 8192 + 16 * 256 && run.byteCount == 8192)
    #expect(
      try endpoint.control.record(2)
        == ChannelRecord(
          state: .active, generation: 1, label: 0xABCD, firstSlot: 16, slotCount: 32,
          acceptedLimit: 0))
    let slots = UnsafeRawBufferPointer(start: endpoint.slot(16), count: 32 * 256)
    #expect(slots.allSatisfy { $0 == 0 })
    #expect(endpoint.control.consumed(channel: 2) == 0)
    #expect(endpoint.status.load(fromByteOffset: 64 + 64 * 2 + 8, as: UInt64.self) == 0)
    // The raw words, as documented.
    let record = endpoint.config + 64 + 64 * 2
    #expect(record.load(as: UInt64.self) == 1 | 1 << 32)
    #expect(record.load(fromByteOffset: 16, as: UInt64.self) == 16 | 32 << 32)
  }

  @Test func setChannelRefusals() throws {
    let endpoint = TestEndpoint(slotCountLog2: 7, slotSizeLog2: 8, channelCount: 4)
    let control = endpoint.control
    try control.setChannel(0, label: 1, firstSlot: 32, slotCount: 32)
    func error(_ channel: Int, _ first: Int, _ count: Int) -> ReceiveEndpointError? {
      ReceiveEndpointError.from { () throws(ReceiveEndpointError) in
        try control.setChannel(channel, label: 2, firstSlot: first, slotCount: count)
      }
    }
    #expect(error(4, 0, 16) == .noSuchChannel(channel: 4, count: 4))
    #expect(error(-1, 0, 16) == .noSuchChannel(channel: -1, count: 4))
    #expect(error(0, 0, 16) == .wrongState(channel: 0, found: .active, expected: .inactive))
    #expect(error(1, 0, 24) == .layout(.channelSlotsNotPowerOfTwo(channel: 1, slots: 24)))
    #expect(error(1, 8, 16) == .layout(.channelMisaligned(channel: 1, firstSlot: 8)))
    #expect(error(1, 112, 32) == .layout(.channelOutsideRing(channel: 1, endSlot: 144, slots: 128)))
    // Overlaps with channel 0's 32..<64, from either side or inside.
    #expect(error(1, 16, 32) == .channelsOverlap(channel: 1, other: 0))
    #expect(error(1, 48, 16) == .channelsOverlap(channel: 1, other: 0))
    #expect(error(1, 0, 64) == .channelsOverlap(channel: 1, other: 0))
    #expect(error(1, 0, 128) == .channelsOverlap(channel: 1, other: 0))
    // Adjacent is fine; a revoked channel still holds its slots; a retired
    // one does not.
    #expect(error(1, 16, 16) == nil && error(2, 64, 16) == nil)
    _ = try control.revokeChannel(0)
    #expect(error(3, 32, 16) == .channelsOverlap(channel: 3, other: 0))
    try control.retireChannel(0)
    #expect(error(3, 32, 16) == nil)
    // Channels 1, 2 and 3 are active now.
    for failure in [error(1, 16, 32), error(2, 64, 16)] {
      #expect(failure?.description.isEmpty == false)
    }
    // Active channels refuse a second setChannel by their own number and state.
    #expect(error(1, 16, 32) == .wrongState(channel: 1, found: .active, expected: .inactive))
    #expect(error(2, 64, 16)?.description == "channel 2 is active, not inactive")
  }

  @Test func revokeCountsWhatIsPublishedAndUnfreed() throws {
    let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 9, channelCount: 2)
    endpoint.bindAll([16, 8])
    var sender = try endpoint.sender(0)
    var receiver = endpoint.receiver()
    for number in 0..<10 {
      #expect(
        sender.send(ringPayload(channel: 0, number: UInt64(number), length: 20))
          == .sent(wakeReceiver: false))
    }
    // Three fetched and acked, two fetched only.
    for _ in 0..<3 { try receiver.ack(receiver.fetch()!) }
    _ = receiver.fetch()
    _ = receiver.fetch()
    #expect(endpoint.control.consumed(channel: 0) == 3)
    // A hole: position 12 is written, 11 is not; only 4...10 count.
    endpoint.publishRaw(0, position: 12, length: 4)
    #expect(try endpoint.control.revokeChannel(0) == 7)
    let record = try endpoint.control.record(0)
    #expect(record.state == .revoked && record.acceptedLimit == 10 && record.generation == 1)
    #expect(sender.send([1]) == .inactive)
    #expect(
      ReceiveEndpointError.from { () throws(ReceiveEndpointError) in
        try endpoint.control.revokeChannel(0)
      } == .wrongState(channel: 0, found: .revoked, expected: .active))
    #expect(
      ReceiveEndpointError.from { () throws(ReceiveEndpointError) in
        try endpoint.control.revokeChannel(1 + 1)
      } == .noSuchChannel(channel: 2, count: 2))
  }

  @Test func revokeOfAFullChannelStopsAtTheSlotCount() throws {
    let endpoint = TestEndpoint(slotCountLog2: 3, slotSizeLog2: 12, channelCount: 1)
    endpoint.bindAll([4])
    var sender = try endpoint.sender(0)
    for number in 0..<4 {
      _ = sender.send(ringPayload(channel: 0, number: UInt64(number), length: 8))
    }
    #expect(sender.send([1]) == .noCredits)
    #expect(try endpoint.control.revokeChannel(0) == 4)
    #expect(try endpoint.control.record(0).acceptedLimit == 4)
  }

  @Test func retireNeedsARevokedDrainedChannelAndRebindingMovesTheGeneration() throws {
    let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 9, channelCount: 2)
    endpoint.bindAll([16, 16])
    let control = endpoint.control
    func retireError(_ channel: Int) -> ReceiveEndpointError? {
      ReceiveEndpointError.from { () throws(ReceiveEndpointError) in
        try control.retireChannel(channel)
      }
    }
    #expect(retireError(0) == .wrongState(channel: 0, found: .active, expected: .revoked))
    var sender = try endpoint.sender(0)
    var receiver = endpoint.receiver()
    _ = sender.send([1, 2])
    _ = sender.send([3])
    #expect(try control.revokeChannel(0) == 2)
    #expect(retireError(0) == .notDrained(channel: 0, unread: 2))
    let first = receiver.fetch()!
    try receiver.ack(first)
    #expect(retireError(0) == .notDrained(channel: 0, unread: 1))
    try receiver.ack(receiver.fetch()!)
    #expect(receiver.fetch() == nil)
    #expect(retireError(0) == nil)
    #expect(retireError(0) == .wrongState(channel: 0, found: .inactive, expected: .revoked))
    #expect(try control.record(0).generation == 1)
    try control.setChannel(0, label: 0x77, firstSlot: 0, slotCount: 16)
    #expect(try control.record(0).generation == 2)
    // The old sender is bound to generation 1; a new one starts afresh.
    #expect(sender.send([9]) == .inactive)
    var second = try endpoint.sender(0)
    #expect(second.credits == 16)
    #expect(second.send([4, 5, 6]) == .sent(wakeReceiver: false))
    let message = receiver.fetch()!
    #expect(message.label == 0x77 && message.position == 1 && message.generation == 2)
    #expect(message.bytes == [4, 5, 6])
    #expect(throws: ChannelAckError.stale(channel: 0, generation: 1)) { try receiver.ack(first) }
    try receiver.ack(message)
    #expect(control.consumed(channel: 0) == 1)
  }

  @Test func wakeAndBlockTests() throws {
    let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 9, channelCount: 2)
    endpoint.bindAll([16, 16])
    let control = endpoint.control
    var sender = try endpoint.sender(1)
    var receiver = endpoint.receiver()
    #expect(!control.wake())
    let prepared = receiver.prepareToSleep()
    #expect(prepared)
    #expect(control.receiverSleeping && control.mayBlock && !control.hasPending)
    // A message after the flag: the sender is told to wake, the kernel's
    // block test sees it too.
    #expect(sender.send([1]) == .sent(wakeReceiver: true))
    #expect(control.hasPending && !control.mayBlock)
    #expect(control.wake())
    #expect(!control.wake() && !control.receiverSleeping && !control.mayBlock)
    // The receiver did not sleep; it fetches and tries again.
    #expect(!receiver.prepareToSleep() && !receiver.sleeping)
    try receiver.ack(receiver.fetch()!)
    let preparedAgain = receiver.prepareToSleep()
    #expect(preparedAgain)
    #expect(control.mayBlock)
    // A wake with nothing pending still stops the block.
    #expect(control.wake() && !control.mayBlock)
    control.clearSleeping()
    #expect(sender.send([2]) == .sent(wakeReceiver: false))
  }

  @Test func theKernelsRecheckUsesTheFetchedSnapshot() throws {
    let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 9, channelCount: 1)
    endpoint.bindAll([16])
    var sender = try endpoint.sender(0)
    var receiver = endpoint.receiver()
    _ = sender.send([1])
    let held = receiver.fetch()!
    // Fetched but not acked: not pending for the receiver nor the kernel.
    let prepared = receiver.prepareToSleep()
    #expect(prepared)
    #expect(endpoint.control.mayBlock)
    receiver.clearSleeping()
    try receiver.ack(held)
    // Revoked with nothing unread: nothing pending, whatever is written later.
    #expect(try endpoint.control.revokeChannel(0) == 0)
    endpoint.publishRaw(0, position: 2, length: 1)
    #expect(!endpoint.control.hasPending)
    #expect(receiver.prepareToSleep() && receiver.fetch() == nil)
  }
}
