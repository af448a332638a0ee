// Helpers shared by the receive-endpoint tests: one endpoint's memory (config
// page, status page, slot area in one page-aligned block, as the kernel
// would place it), senders and a receiver attached to it, and raw access to
// slots for the tests that play a hostile sender.
import Synchronization

@testable import TesseraCore

/// One receive endpoint's memory, configured; freed with the last holder.
final class TestEndpoint: @unchecked Sendable {
  let region: SharedRegion
  let layout: ReceiveEndpointLayout
  let control: ReceiveEndpointControl

  /// `fill` is what the memory held before `configure` zeroed it.
  init(slotCountLog2: Int, slotSizeLog2: Int, channelCount: Int, fill: UInt8 = 0xA5) {
    layout = try! ReceiveEndpointLayout(
      slotCountLog2: slotCountLog2, slotSizeLog2: slotSizeLog2, channelCount: channelCount)
    region = SharedRegion(bytes: layout.totalBytes, fill: fill)
    control = ReceiveEndpointControl.configure(
      layout, config: region.base + ReceiveEndpointLayout.configOffset,
      status: region.base + ReceiveEndpointLayout.statusOffset,
      slots: region.base + ReceiveEndpointLayout.slotsOffset)
  }

  var config: UnsafeMutableRawPointer { control.config }
  var status: UnsafeMutableRawPointer { control.status }
  var slots: UnsafeMutableRawPointer { control.slots }

  /// Binds channels 0, 1, ... with these slot counts, one after the other;
  /// channel i gets label `labelBase + i`.
  func bindAll(_ slotCounts: [Int], labelBase: UInt64 = 0x1_0000) {
    let runs = try! layout.placeChannels(slotCounts: slotCounts)
    for (channel, run) in runs.enumerated() {
      try! control.setChannel(
        channel, label: labelBase + UInt64(channel), firstSlot: run.firstSlot,
        slotCount: run.slotCount)
    }
  }

  /// The slot memory of `channel`'s run, as the kernel would map it.
  func run(_ channel: Int) -> (base: UnsafeMutableRawPointer, bytes: Int) {
    let record = try! control.record(channel)
    return (
      slots + record.firstSlot << layout.slotSizeLog2, record.slotCount << layout.slotSizeLog2
    )
  }

  func sender(_ channel: Int) throws(ReceiveEndpointError) -> ChannelSender {
    let (base, bytes) = run(channel)
    return try ChannelSender(
      config: config, status: status, slots: base, slotBytes: bytes, channel: channel)
  }

  func receiver() -> ChannelReceiver {
    try! ChannelReceiver(config: config, status: status, slots: slots, slotBytes: layout.ringBytes)
  }

  /// Slot `index` of the ring.
  func slot(_ index: Int) -> UnsafeMutableRawPointer { slots + index << layout.slotSizeLog2 }

  /// Header word 0 of channel `channel`'s slot for position `position`.
  func word0Pointer(_ channel: Int, position: UInt64) -> UnsafeMutablePointer<UInt64> {
    let record = try! control.record(channel)
    let index = record.firstSlot + Int((position - 1) % UInt64(record.slotCount))
    return slot(index).assumingMemoryBound(to: UInt64.self)
  }

  /// Writes a whole message into the slot for `position` of `channel`, as a
  /// sender (honest or not) can at any time.
  func publishRaw(
    _ channel: Int, position: UInt64, kind: UInt8 = 1, flags: UInt8 = 0, length: Int,
    replyLabel: UInt64 = 0, fill: UInt8 = 0x5A
  ) {
    let word0 = word0Pointer(channel, position: position)
    let slot = UnsafeMutableRawPointer(word0)
    let payload = min(length, layout.payloadCapacity)
    (slot + 16).initializeMemory(as: UInt8.self, repeating: fill, count: max(0, payload))
    slot.storeBytes(of: replyLabel, toByteOffset: 8, as: UInt64.self)
    word0.pointee =
      UInt64(UInt32(truncatingIfNeeded: position)) | UInt64(UInt16(truncatingIfNeeded: length))
      << 32
      | UInt64(kind) << 48 | UInt64(flags) << 56
  }
}

/// A payload that names its channel and number, `length` bytes long (at
/// least 16 when there is room; shorter payloads carry a prefix).
func ringPayload(channel: Int, number: UInt64, length: Int) -> [UInt8] {
  var bytes = [UInt8](repeating: 0, count: length)
  let head = UInt64(channel) << 56 | number
  for index in 0..<length {
    bytes[index] =
      index < 8
      ? UInt8(truncatingIfNeeded: head >> (8 * UInt64(index)))
      : UInt8(truncatingIfNeeded: number &* 131 &+ UInt64(index))
  }
  return bytes
}

extension ChannelSender {
  mutating func send(
    _ bytes: [UInt8], kind: MessageKind = .message, replyLabel: UInt64 = 0
  ) -> ChannelSendResult {
    bytes.withUnsafeBytes { send(kind: kind, replyLabel: replyLabel, bytes: $0) }
  }
}

extension ReceivedMessage {
  var bytes: [UInt8] { Array(payloadBytes) }
}

extension ReceiveEndpointError {
  /// Runs `body`, returning the endpoint error it threw (nil if none).
  static func from<T>(_ body: () throws(ReceiveEndpointError) -> T) -> ReceiveEndpointError? {
    do throws(ReceiveEndpointError) {
      _ = try body()
      return nil
    } catch {
      return error
    }
  }
}
