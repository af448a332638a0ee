import Testing

@testable import TesseraCore

/// Endpoint configurations (Kernel/Core/DTU/EndpointConfiguration.swift):
/// every field's limits, each refused with its own error, and the edges
/// that are just allowed.
struct EndpointConfigurationTests {
  func receive(
    address: UInt64 = 0x10_0000, slots: UInt8 = 4, size: UInt8 = 6, channels: UInt8 = 4,
    inUse: UInt32 = 0
  ) -> ReceiveEndpointConfiguration {
    ReceiveEndpointConfiguration(
      ringAddress: address, slotCountLog2: slots, slotSizeLog2: size, channels: channels,
      owner: 7, channelsInUse: inUse)
  }

  func send(channel: UInt8 = 0, credits: UInt32 = 4, size: UInt32 = 64)
    -> SendEndpointConfiguration
  {
    SendEndpointConfiguration(
      target: EndpointAddress(node: 1, endpoint: 2), channel: channel, label: 0x2A,
      credits: credits, maxMessageSize: size, owner: 7)
  }

  func memory(
    base: UInt64 = 0x2000, size: UInt64 = 100, rights: MemoryEndpointRights = .readWrite
  ) -> MemoryEndpointConfiguration {
    MemoryEndpointConfiguration(node: 1, base: base, size: size, rights: rights, owner: 7)
  }

  func error(_ body: @autoclosure () throws(EndpointConfigurationError) -> Void)
    -> EndpointConfigurationError?
  {
    do {
      try body()
      return nil
    } catch { return error }
  }

  @Test func endpointIDsPackBoardNodeEndpoint() {
    let id = EndpointAddress(board: 0xBEEF, node: 0x1234, endpoint: 0xABCD)
    #expect(id.rawValue == 0xBEEF_1234_ABCD)
    #expect(id.board == 0xBEEF && id.node == 0x1234 && id.endpoint == 0xABCD)
    #expect(EndpointAddress(rawValue: id.rawValue) == id)
    #expect(EndpointAddress(rawValue: 1 << 48) == nil)
    #expect(EndpointAddress(node: 1, endpoint: 5).description == "0.1.5")
  }

  @Test func receiveEndpointLimits() {
    #expect(error(try receive().validate()) == nil)
    #expect(error(try receive(slots: 0, channels: 1).validate()) == nil)
    #expect(error(try receive(slots: 10, size: 12, channels: 32).validate()) == nil)
    #expect(error(try receive(slots: 11).validate()) == .slotCountOutOfRange(log2: 11))
    #expect(error(try receive(size: 5).validate()) == .slotSizeOutOfRange(log2: 5))
    #expect(error(try receive(size: 13).validate()) == .slotSizeOutOfRange(log2: 13))
    #expect(error(try receive(channels: 0).validate()) == .channelsOutOfRange(0))
    #expect(error(try receive(slots: 10, channels: 33).validate()) == .channelsOutOfRange(33))
    #expect(error(try receive(channels: 3).validate()) == .channelsNotPowerOfTwo(3))
    #expect(
      error(try receive(slots: 2, channels: 8).validate())
        == .moreChannelsThanSlots(channels: 8, slots: 4))
    #expect(error(try receive(inUse: 1).validate()) == .channelsAlreadyInUse(1))
    #expect(error(try receive(address: 0x10_0040).validate()) == .ringMisaligned(0x10_0040))
    // 64 slots of 64 bytes = 4 KiB: the ring may end exactly at 2^52.
    let last = EndpointLimits.physicalAddressLimit - 4096
    #expect(error(try receive(address: last, slots: 6).validate()) == nil)
    #expect(
      error(try receive(address: last, slots: 10, size: 12).validate())
        == .beyondPhysicalAddressSpace(base: last, size: 1 << 22))
    #expect(
      error(try receive(address: UInt64.max - 4095, slots: 10, size: 12).validate())
        == .rangeOverflows(base: UInt64.max - 4095, size: 1 << 22))
    let ring = receive(slots: 5, size: 7, channels: 4, inUse: 0b1010)
    #expect(ring.slotCount == 32 && ring.slotSize == 128 && ring.slotsPerChannel == 8)
    #expect(ring.ringBytes == 4096 && ring.slotsInUse == 16)
  }

  @Test func sendEndpointLimits() {
    #expect(error(try send().validate()) == nil)
    #expect(error(try send(channel: 31, credits: 1024, size: 4096).validate()) == nil)
    #expect(error(try send(channel: 32).validate()) == .channelOutOfRange(32))
    #expect(error(try send(credits: 0).validate()) == .creditsOutOfRange(0))
    #expect(error(try send(credits: 1025).validate()) == .creditsOutOfRange(1025))
    #expect(error(try send(size: 0).validate()) == .messageSizeNotPowerOfTwo(0))
    #expect(error(try send(size: 96).validate()) == .messageSizeNotPowerOfTwo(96))
    #expect(error(try send(size: 32).validate()) == .messageSizeOutOfRange(32))
    #expect(error(try send(size: 8192).validate()) == .messageSizeOutOfRange(8192))
    // Against a ring of 16 slots of 64 bytes in 4 channels (4 slots each).
    let target = receive()
    #expect(error(try send(channel: 3, credits: 4).validate(against: target)) == nil)
    #expect(
      error(try send(channel: 4).validate(against: target))
        == .targetChannelOutOfRange(channel: 4, channels: 4))
    #expect(
      error(try send(credits: 5).validate(against: target))
        == .creditsExceedChannel(credits: 5, slots: 4))
    #expect(
      error(try send(size: 128).validate(against: target))
        == .messageLargerThanSlot(size: 128, slotSize: 64))
  }

  @Test func memoryEndpointLimits() {
    #expect(error(try memory().validate()) == nil)
    #expect(error(try memory(rights: .read).validate()) == nil)
    #expect(error(try memory(rights: .write).validate()) == nil)
    #expect(error(try memory(size: 0).validate()) == .emptyWindow)
    #expect(error(try memory(rights: []).validate()) == .noRights)
    #expect(
      error(try memory(rights: MemoryEndpointRights(rawValue: 5)).validate())
        == .undefinedRights(4))
    #expect(
      error(try memory(base: .max, size: 1).validate()) == .rangeOverflows(base: .max, size: 1))
    #expect(
      error(try memory(base: 1, size: .max).validate()) == .rangeOverflows(base: 1, size: .max))
    let limit = EndpointLimits.physicalAddressLimit
    #expect(error(try memory(base: limit - 1, size: 1).validate()) == nil)
    #expect(
      error(try memory(base: limit - 1, size: 2).validate())
        == .beyondPhysicalAddressSpace(base: limit - 1, size: 2))
  }

  @Test func everyErrorHasADescription() {
    let errors: [EndpointConfigurationError] = [
      .slotCountOutOfRange(log2: 11), .slotSizeOutOfRange(log2: 5), .channelsOutOfRange(0),
      .channelsNotPowerOfTwo(3), .moreChannelsThanSlots(channels: 8, slots: 4),
      .channelsAlreadyInUse(1), .ringMisaligned(1), .channelOutOfRange(32),
      .creditsOutOfRange(0), .messageSizeNotPowerOfTwo(3), .messageSizeOutOfRange(32),
      .targetIsItself, .targetNotReceive(EndpointAddress(node: 0, endpoint: 1)),
      .targetChannelOutOfRange(channel: 4, channels: 4),
      .creditsExceedChannel(credits: 5, slots: 4), .messageLargerThanSlot(size: 128, slotSize: 64),
      .emptyWindow, .noRights, .undefinedRights(4), .rangeOverflows(base: 1, size: 2),
      .beyondPhysicalAddressSpace(base: 1, size: 2),
    ]
    #expect(Set(errors.map(\.description)).count == errors.count)
  }
}
