/// A receive endpoint the kernel owns itself, for messages between the two
/// kernel instances (function shipping): the same ring, channels, sender
/// and receiver as the endpoints programs use, but in no endpoint table and
/// behind no capability, so no program can name, map or revoke it. Its
/// pages come from this instance's half of a node's ring region, like any
/// ring's; the other instance learns its address from the shared region and
/// checks it against the ring's own config page before it sends.
struct KernelRing {
  let physical: UInt64
  let pages: Int
  let control: ReceiveEndpointControl

  /// Kernel rings of this instance, for `dtu`.
  nonisolated(unsafe) static var all: [KernelRing] = []

  /// A ring of 2^slotCountLog2 slots of 2^slotSizeLog2 bytes on `node`;
  /// its channels are a page of slots each (see `NodeRings.newRing`).
  static func create(node: Int, slotCountLog2: Int, slotSizeLog2: Int) -> KernelRing? {
    guard
      case .success(let (physical, pages, control)) = NodeRings.newRing(
        node: node, slotCountLog2: slotCountLog2, slotSizeLog2: slotSizeLog2)
    else { return nil }
    let ring = KernelRing(physical: physical, pages: pages, control: control)
    all.append(ring)
    return ring
  }

  /// Gives the ring's pages back (no sender or receiver may use it any
  /// more: the other instance's CPUs are stopped).
  func free() {
    KernelRing.all.removeAll { $0.physical == physical }
    if let region = NodeRings.regions.firstIndex(where: { $0.range.contains(physical) }) {
      NodeRings.regions[region].pages.free(physical, pages: pages)
    }
  }

  /// Binds channel `channel` (its whole page of slots) for a sender whose
  /// messages carry `label`.
  func bind(_ channel: Int, label: UInt64) -> Bool {
    let layout = control.layout
    let perChannel = layout.slotCount / layout.channelCount
    return
      (try? control.setChannel(
        channel, label: label, firstSlot: channel * perChannel, slotCount: perChannel)) != nil
  }

  /// The receiving side, for this kernel.
  func receiver() -> ChannelReceiver? {
    try? ChannelReceiver(
      config: control.config, status: control.status, slots: control.slots,
      slotBytes: control.layout.ringBytes)
  }

  /// A kernel's channel into another kernel's ring: the sender, and the
  /// ring's control for the wake call.
  struct Channel {
    var sender: ChannelSender
    let control: ReceiveEndpointControl

    /// Sends; `wakeReceiver` is true only for the one sender that cleared
    /// the receiver's sleeping flag (the DTU's wake call, an exchange), so
    /// of several that saw the flag one rings the doorbell.
    /// `write` puts the `length` bytes straight into the slot.
    mutating func send(
      kind: MessageKind, replyLabel: UInt64, length: Int,
      _ write: (UnsafeMutableRawBufferPointer) -> Void
    ) -> ChannelSendResult {
      let result = sender.send(kind: kind, replyLabel: replyLabel, length: length) {
        write(UnsafeMutableRawBufferPointer(start: $0, count: length))
      }
      guard result == .sent(wakeReceiver: true) else { return result }
      return .sent(wakeReceiver: control.wake())
    }
  }

  /// The sending side of the channel bound with `label` in the ring at
  /// `physical`, which the other instance made: nil unless it lies in a
  /// ring region and its config page says it is a ring with such a channel,
  /// active (the other kernel's word is checked, not trusted).
  static func sender(ring physical: UInt64, label: UInt64) -> Channel? {
    guard physical != 0, physical & 0xFFF == 0,
      let region = NodeRings.regions.first(where: { $0.range.contains(physical) }),
      let base = PhysicalMemory.pointer(physical),
      let control = try? ReceiveEndpointControl.attach(
        config: base + ReceiveEndpointLayout.configOffset,
        status: base + ReceiveEndpointLayout.statusOffset,
        slots: base + ReceiveEndpointLayout.slotsOffset),
      physical + UInt64(control.layout.totalBytes) <= region.range.end
    else { return nil }
    for channel in 0..<control.layout.channelCount {
      guard let record = try? control.record(channel), record.state == .active,
        record.label == label,
        let run = try? control.layout.run(
          channel: channel, firstSlot: record.firstSlot, slotCount: record.slotCount)
      else { continue }
      // A sender is given its channel's run of slots, not the whole ring
      // (the run's offset counts from the ring's start, its config page).
      guard
        let sender = try? ChannelSender(
          config: control.config, status: control.status, slots: base + run.byteOffset,
          slotBytes: run.byteCount, channel: channel)
      else { return nil }
      return Channel(sender: sender, control: control)
    }
    return nil
  }
}
