// Where endpoints appear in a program's address space. The kernel maps each
// activation into a window of its own, and a receiver's replies go out
// through windows at addresses both sides compute the same way, so the
// receiver library finds a reply channel without asking the kernel.
//
// Activation windows: `count` windows of 2 MiB from `base` (a ring with its
// config and status pages fits in one); the kernel takes the first free one.
//
// Reply windows: after the activation windows, 32 per activation window,
// one per channel a receive endpoint can have. When channel c of a receive
// endpoint activated at window w names a reply endpoint, the kernel maps the
// reply endpoint's ring at `replyWindow(receiveWindow: w, channel: c)` the
// way a sender sees a ring: config and status pages read-only, the reply
// channel's run writable. It maps the rest of the window's first
// `replyMappedBytes` to a scratch page, and the whole window there again
// when the binding goes, so that no access inside those bytes can fault: a
// reply racing with a revoke lands nowhere instead of taking the receiver
// down (see `ChannelReplier`).

public enum EndpointWindows {
  public static let base: UInt64 = 0x0000_3000_0000_0000
  public static let stride: UInt64 = 2 << 20
  public static let count: UInt64 = 4096
  /// The first reply window: after the last activation window.
  public static let replyBase: UInt64 = base + count * stride
  /// The bytes of a reply window that are always mapped: the two pages
  /// and the largest ring a layout allows.
  public static let replyMappedBytes =
    ReceiveEndpointLayout.slotsOffset + 1 << ReceiveEndpointLayout.ringBytesLog2Range.upperBound

  /// The reply window of channel `channel` of the receive endpoint mapped
  /// at activation window `receiveWindow`; nil when that is not a window
  /// or the channel is out of range.
  @inline(__always)
  public static func replyWindow(receiveWindow: UInt64, channel: Int) -> UInt64? {
    let offset = receiveWindow &- base
    guard receiveWindow >= base, offset % stride == 0, offset / stride < count,
      channel >= 0, channel < ReceiveEndpointLayout.maximumChannels
    else { return nil }
    let index = offset / stride * UInt64(ReceiveEndpointLayout.maximumChannels) + UInt64(channel)
    return replyBase + index * stride
  }
}
