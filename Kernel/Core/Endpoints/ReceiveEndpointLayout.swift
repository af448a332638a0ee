// The memory of one receive endpoint of the emulated DTU, and the geometry
// calculator the kernel uses before it places it.
//
// A receive endpoint is a ring of 2^k slots of 2^m bytes each, m in 6...12
// (64 B ... 4 KiB; a slot holds a 16-byte `MessageHeader` and up to
// 2^m - 16 payload bytes), the whole ring 4 KiB ... 1 MiB (k + m in
// 12...20). The ring is split into CHANNELS, one per send endpoint bound to
// the receive endpoint: a channel owns a run of slots that only its sender
// writes (the "sub-ring per send endpoint"). A run's slot count is a power
// of two (so a position maps to a slot with a mask) and is the channel's
// credits; its bytes start on a page boundary and are a whole number of
// 4 KiB pages, so the kernel can map exactly that channel's pages writable
// into the sender and nothing of any other channel. Runs need not be
// naturally aligned or adjacent; they must not overlap (`setChannel` checks).
//
// Three areas, each page-aligned and separately mappable, because each has
// a different writer:
//
//   offset 0      config page, 4 KiB: written only by kernels; mapped
//                 read-only into the receiver and every sender
//   offset 4096   status page, 4 KiB: written by the receiver; read-only
//                 for senders (the kernel reads it for revocation and for
//                 the re-check in its block call)
//   offset 8192   the slot area, 2^(k+m) bytes: channel runs, each mapped
//                 writable into its sender and read-only into the receiver
//
// The offsets are where the kernel puts the areas in the physical memory it
// allocates (one contiguous block, receiver-node local); the code that uses
// them takes one pointer per area, because each program maps them where it
// likes and a sender maps only its own run of the slot area.
//
// Config page (all words little-endian u64, all atomics):
//   0      magic "TDTURE" 01 00 (layout version 1), stored last by
//          `ReceiveEndpointControl.configure` with release
//   8      geometry: bits 7...0 k, bits 15...8 m, bits 31...16 channel
//          count (1...32), bits 63...32 zero
//   16     48 bytes reserved, zero
//   64 + 64 * i, i < 32: channel record i (`ChannelRecord`), one cache line:
//          +0 state word, +8 label, +16 run, +24 accepted limit, +32 reply,
//          +40 zero
//   2112   the rest of the page, zero
//
// Status page:
//   0      sleeping: 1 while the receiver says it may block (own line)
//   64 + 64 * i: channel i's line:
//          +0  consumed: messages of the channel the receiver has freed (its
//              acknowledged count); the sender's credits are computed from it
//          +8  fetched snapshot: the receiver's fetched count, stored by
//              `prepareToSleep` so the kernel's block call can re-check
//              without the receiver's private state
//
// One cache line per channel in both pages: a sender polls its channel's
// consumed word on every send, and should not be disturbed by acks on other
// channels. Thirty-two channels of 64 bytes fit a page with the header line.

/// Why a geometry or a channel run was refused.
public enum ReceiveEndpointLayoutError: Error, Equatable, Sendable {
  /// log2 of the slot size is outside 6...12 (64 B ... 4 KiB).
  case slotSizeOutOfRange(log2: Int)
  /// The ring, 2^(slotCountLog2 + slotSizeLog2) bytes, is not 4 KiB ... 1 MiB.
  case ringSizeOutOfRange(slotCountLog2: Int, slotSizeLog2: Int)
  /// Not 1...32 channels.
  case channelCountOutOfRange(Int)
  /// More channel runs than the endpoint has channels.
  case tooManyChannels(given: Int, limit: Int)
  /// A channel's slot count is not a power of two (or is not positive).
  case channelSlotsNotPowerOfTwo(channel: Int, slots: Int)
  /// A channel's slots are not a whole number of 4 KiB pages.
  case channelNotWholePages(channel: Int, bytes: Int)
  /// A channel's first slot does not start a page.
  case channelMisaligned(channel: Int, firstSlot: Int)
  /// A channel ends at `endSlot`, beyond the ring's `slots`.
  case channelOutsideRing(channel: Int, endSlot: Int, slots: Int)

  public var description: String {
    switch self {
    case .slotSizeOutOfRange(let log2):
      "slot size 2^" + String(log2) + " is outside 64 B...4 KiB"
    case .ringSizeOutOfRange(let slots, let size):
      "ring of 2^" + String(slots) + " slots of 2^" + String(size)
        + " bytes is outside 4 KiB...1 MiB"
    case .channelCountOutOfRange(let count):
      "channel count " + String(count) + " is outside 1...32"
    case .tooManyChannels(let given, let limit):
      String(given) + " channels given, the endpoint has " + String(limit)
    case .channelSlotsNotPowerOfTwo(let channel, let slots):
      "channel " + String(channel) + ": " + String(slots) + " slots is not a power of two"
    case .channelNotWholePages(let channel, let bytes):
      "channel " + String(channel) + ": " + String(bytes) + " bytes is not whole 4 KiB pages"
    case .channelMisaligned(let channel, let firstSlot):
      "channel " + String(channel) + ": first slot " + String(firstSlot)
        + " does not start a page"
    case .channelOutsideRing(let channel, let endSlot, let slots):
      "channel " + String(channel) + " ends at slot " + String(endSlot) + ", the ring has "
        + String(slots)
    }
  }
}

/// A channel's run of slots, checked against a layout.
public struct ChannelRun: Equatable, Sendable {
  public var firstSlot: Int
  /// A power of two: the channel's credits.
  public var slotCount: Int
  /// Where the run starts, from the start of the endpoint's memory (the
  /// config page), and how many bytes it has; both multiples of 4 KiB.
  public var byteOffset: Int
  public var byteCount: Int

  public var pageCount: Int { byteCount / ReceiveEndpointLayout.pageSize }
  public var endSlot: Int { firstSlot + slotCount }
}

/// The geometry of a receive endpoint and where everything is.
public struct ReceiveEndpointLayout: Equatable, Sendable {
  public static let pageSize = 4096
  public static let slotSizeLog2Range = 6...12
  /// log2 of the ring's bytes.
  public static let ringBytesLog2Range = 12...20
  public static let maximumChannels = 32

  // The three areas.
  public static let configOffset = 0
  public static let statusOffset = 4096
  public static let slotsOffset = 8192

  // Config page.
  /// "TDTURE", layout version 1, 0 — as a little-endian word.
  public static let magic: UInt64 = 0x0001_4552_5554_4454
  static let magicOffset = 0
  static let geometryOffset = 8
  static let configReservedRange = 16..<64
  static let recordStride = 64
  static let recordsOffset = 64

  // Status page.
  static let sleepingOffset = 0
  static let channelStatusOffset = 64
  static let channelStatusStride = 64

  /// Offset in the status page of channel `channel`'s consumed word.
  @inline(__always)
  static func consumedOffset(channel: Int) -> Int {
    channelStatusOffset &+ channel &* channelStatusStride
  }

  /// Offset in the status page of channel `channel`'s fetched snapshot.
  @inline(__always)
  static func fetchedSnapshotOffset(channel: Int) -> Int {
    channelStatusOffset &+ channel &* channelStatusStride &+ 8
  }

  /// log2 of the number of slots in the ring (k).
  public let slotCountLog2: Int
  /// log2 of the slot size in bytes (m).
  public let slotSizeLog2: Int
  /// Channel records in the config page.
  public let channelCount: Int

  public init(slotCountLog2: Int, slotSizeLog2: Int, channelCount: Int)
    throws(ReceiveEndpointLayoutError)
  {
    guard Self.slotSizeLog2Range.contains(slotSizeLog2) else {
      throw .slotSizeOutOfRange(log2: slotSizeLog2)
    }
    // The first test keeps the sum from overflowing for any input.
    guard slotCountLog2 >= 0, slotCountLog2 <= Self.ringBytesLog2Range.upperBound,
      Self.ringBytesLog2Range.contains(slotCountLog2 + slotSizeLog2)
    else {
      throw .ringSizeOutOfRange(slotCountLog2: slotCountLog2, slotSizeLog2: slotSizeLog2)
    }
    guard channelCount >= 1, channelCount <= Self.maximumChannels else {
      throw .channelCountOutOfRange(channelCount)
    }
    self.slotCountLog2 = slotCountLog2
    self.slotSizeLog2 = slotSizeLog2
    self.channelCount = channelCount
  }

  public var slotCount: Int { 1 << slotCountLog2 }
  public var slotSize: Int { 1 << slotSizeLog2 }
  /// Payload bytes a slot holds after its header.
  public var payloadCapacity: Int { slotSize - MessageHeader.size }
  /// Bytes of the slot area.
  public var ringBytes: Int { 1 << (slotCountLog2 + slotSizeLog2) }
  /// Bytes of the whole endpoint: config page, status page, slot area.
  public var totalBytes: Int { Self.slotsOffset + ringBytes }
  /// The fewest slots that fill a page: the smallest channel and the
  /// alignment of every channel's first slot.
  public var slotsPerPage: Int { Self.pageSize >> slotSizeLog2 }

  /// Checks one channel's run against the geometry: a power-of-two slot
  /// count, whole pages, page-aligned, inside the ring. Overlap with other
  /// channels is `setChannel`'s check.
  public func run(channel: Int, firstSlot: Int, slotCount: Int) throws(ReceiveEndpointLayoutError)
    -> ChannelRun
  {
    guard slotCount > 0, slotCount & (slotCount - 1) == 0 else {
      throw .channelSlotsNotPowerOfTwo(channel: channel, slots: slotCount)
    }
    // Both are powers of two: whole pages is "at least a page".
    guard slotCount >= slotsPerPage else {
      throw .channelNotWholePages(channel: channel, bytes: slotCount << slotSizeLog2)
    }
    guard firstSlot >= 0, firstSlot % slotsPerPage == 0 else {
      throw .channelMisaligned(channel: channel, firstSlot: firstSlot)
    }
    // slotCount is at most... anything a caller passes; compare without
    // adding so a huge value cannot overflow.
    guard firstSlot <= self.slotCount, slotCount <= self.slotCount - firstSlot else {
      throw .channelOutsideRing(
        channel: channel, endSlot: firstSlot &+ slotCount, slots: self.slotCount)
    }
    return ChannelRun(
      firstSlot: firstSlot, slotCount: slotCount,
      byteOffset: Self.slotsOffset + firstSlot << slotSizeLog2,
      byteCount: slotCount << slotSizeLog2)
  }

  /// Places channels 0, 1, ... one after the other from slot 0, with the
  /// given slot counts, and checks that they fit.
  public func placeChannels(slotCounts: [Int]) throws(ReceiveEndpointLayoutError) -> [ChannelRun] {
    guard slotCounts.count <= channelCount else {
      throw .tooManyChannels(given: slotCounts.count, limit: channelCount)
    }
    var runs: [ChannelRun] = []
    var next = 0
    for (channel, slots) in slotCounts.enumerated() {
      let run = try run(channel: channel, firstSlot: next, slotCount: slots)
      runs.append(run)
      next = run.endSlot
    }
    return runs
  }

  /// The geometry word of the config page.
  var geometryWord: UInt64 {
    UInt64(slotCountLog2) | UInt64(slotSizeLog2) << 8 | UInt64(channelCount) << 16
  }

  /// Reads and validates the config page that `configure` wrote: the magic
  /// (with acquire, so the rest is visible), the geometry and the reserved
  /// bytes of the header line.
  public static func read(config: UnsafeRawPointer) throws(ReceiveEndpointError)
    -> ReceiveEndpointLayout
  {
    let found = EndpointWords.loadAcquiring(config, magicOffset)
    guard found == magic else { throw .badMagic(found) }
    let geometry = EndpointWords.load(config, geometryOffset)
    guard geometry >> 32 == 0 else { throw .reservedNotZero(offset: geometryOffset + 4) }
    for offset in stride(
      from: configReservedRange.lowerBound, to: configReservedRange.upperBound, by: 8)
    where EndpointWords.load(config, offset) != 0 {
      throw .reservedNotZero(offset: offset)
    }
    do throws(ReceiveEndpointLayoutError) {
      return try ReceiveEndpointLayout(
        slotCountLog2: Int(geometry & 0xFF), slotSizeLog2: Int(geometry >> 8 & 0xFF),
        channelCount: Int(geometry >> 16 & 0xFFFF))
    } catch {
      throw .layout(error)
    }
  }
}
