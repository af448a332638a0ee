// Why an endpoint configuration was refused. The fields come from a kernel
// acting for a user program (ring placement, sizes, credits, windows), so
// every way a field can be wrong has its own case carrying the value, and
// the shell and the system-call layer can say exactly what was wrong.

public enum EndpointConfigurationError: Error, Equatable, Hashable, Sendable {
  // Receive endpoints.
  /// log2 of the slot count is outside EndpointLimits.slotCountLog2.
  case slotCountOutOfRange(log2: UInt8)
  /// log2 of the slot size is outside EndpointLimits.slotSizeLog2.
  case slotSizeOutOfRange(log2: UInt8)
  /// 0 channels, or more than 32.
  case channelsOutOfRange(UInt8)
  case channelsNotPowerOfTwo(UInt8)
  case moreChannelsThanSlots(channels: UInt8, slots: UInt32)
  /// A new receive endpoint claims channels already (only the table hands
  /// them out).
  case channelsAlreadyInUse(UInt32)
  /// The ring does not start on a page.
  case ringMisaligned(UInt64)

  // Send endpoints.
  /// A channel number of 32 or more.
  case channelOutOfRange(UInt8)
  /// 0 credits, or more than a ring has slots.
  case creditsOutOfRange(UInt32)
  case messageSizeNotPowerOfTwo(UInt32)
  /// Outside the slot sizes (64 bytes to 4 KiB).
  case messageSizeOutOfRange(UInt32)
  /// The send endpoint targets itself.
  case targetIsItself
  /// The target (in the same table) is not a configured receive endpoint.
  case targetNotReceive(EndpointAddress)
  /// The target has fewer channels than the channel number needs.
  case targetChannelOutOfRange(channel: UInt8, channels: UInt8)
  /// More credits than the target's channel has slots.
  case creditsExceedChannel(credits: UInt32, slots: UInt32)
  /// Messages larger than the target's slots.
  case messageLargerThanSlot(size: UInt32, slotSize: UInt32)

  // Memory endpoints.
  /// A window of 0 bytes.
  case emptyWindow
  case noRights
  /// Right bits other than read (1) and write (2).
  case undefinedRights(UInt8)

  // Any range (a ring or a window).
  /// base + size does not fit in 64 bits.
  case rangeOverflows(base: UInt64, size: UInt64)
  /// The range ends beyond the 52-bit physical address space.
  case beyondPhysicalAddressSpace(base: UInt64, size: UInt64)

  /// The range checks of rings and windows.
  static func checkRange(base: UInt64, size: UInt64) throws(EndpointConfigurationError) {
    let (end, overflow) = base.addingReportingOverflow(size)
    guard !overflow else { throw .rangeOverflows(base: base, size: size) }
    guard end <= EndpointLimits.physicalAddressLimit else {
      throw .beyondPhysicalAddressSpace(base: base, size: size)
    }
  }

  public var description: String {
    switch self {
    case .slotCountOutOfRange(let log2):
      "slot count 2^" + String(log2) + " outside 2^0...2^10"
    case .slotSizeOutOfRange(let log2): "slot size 2^" + String(log2) + " outside 2^6...2^12"
    case .channelsOutOfRange(let count): String(count) + " channels (1...32)"
    case .channelsNotPowerOfTwo(let count): String(count) + " channels is not a power of two"
    case .moreChannelsThanSlots(let channels, let slots):
      String(channels) + " channels for " + String(slots) + " slots"
    case .channelsAlreadyInUse(let mask): "channels " + hex(UInt64(mask), digits: 8) + " in use"
    case .ringMisaligned(let address): "ring at " + hex(address) + " is not page-aligned"
    case .channelOutOfRange(let channel): "channel " + String(channel) + " (0...31)"
    case .creditsOutOfRange(let credits): String(credits) + " credits (1...1024)"
    case .messageSizeNotPowerOfTwo(let size):
      "message size " + String(size) + " is not a power of two"
    case .messageSizeOutOfRange(let size): "message size " + String(size) + " (64...4096)"
    case .targetIsItself: "a send endpoint targets itself"
    case .targetNotReceive(let target):
      "target " + target.description + " is not a receive endpoint"
    case .targetChannelOutOfRange(let channel, let channels):
      "channel " + String(channel) + " of a ring with " + String(channels) + " channels"
    case .creditsExceedChannel(let credits, let slots):
      String(credits) + " credits for a channel of " + String(slots) + " slots"
    case .messageLargerThanSlot(let size, let slotSize):
      "messages of " + String(size) + " bytes in slots of " + String(slotSize)
    case .emptyWindow: "a memory window of 0 bytes"
    case .noRights: "a memory window without rights"
    case .undefinedRights(let bits): "undefined rights bits " + hex(UInt64(bits), digits: 2)
    case .rangeOverflows(let base, let size):
      hex(base) + " + " + hex(size) + " overflows"
    case .beyondPhysicalAddressSpace(let base, let size):
      hex(base) + " + " + hex(size) + " ends beyond the physical address space"
    }
  }
}
