// A channel's run of slots seen as memory: which slot holds which position,
// and whether a position is published there. Positions count a channel's
// messages from 1; message p lives in slot (p - 1) mod slotCount of the run
// and is published when that slot's header sequence equals p (truncated to
// 32 bits). The slot count is a power of two, so the slot is a mask and a
// shift away, and any position, however corrupt, lands inside the run.
// Used by the sender (to write), the receiver (to read) and the kernel (to
// count what a revoked channel published and to re-check before blocking).

import Synchronization

struct ChannelSlots {
  /// The first slot of the run.
  let base: UnsafeMutableRawPointer
  /// slotCount - 1.
  let mask: UInt64
  /// log2 of the slot size.
  let shift: Int

  @inline(__always)
  init(base: UnsafeMutableRawPointer, slotCount: Int, slotSizeLog2: Int) {
    self.base = base
    self.mask = UInt64(truncatingIfNeeded: slotCount &- 1)
    self.shift = slotSizeLog2
  }

  /// The run of `record` inside a slot area at `slots` (the record's run
  /// must have been checked against the layout).
  @inline(__always)
  init(slots: UnsafeRawPointer, firstSlot: Int, slotCount: Int, slotSizeLog2: Int) {
    self.init(
      base: UnsafeMutableRawPointer(mutating: slots) + firstSlot &<< slotSizeLog2,
      slotCount: slotCount, slotSizeLog2: slotSizeLog2)
  }

  var slotCount: UInt64 { mask &+ 1 }

  /// The slot that holds position `position` (1-based).
  @inline(__always)
  func slot(_ position: UInt64) -> UnsafeMutableRawPointer {
    base + Int(truncatingIfNeeded: (position &- 1) & mask) &<< shift
  }

  /// The slot's index in the run.
  @inline(__always)
  func index(_ position: UInt64) -> Int { Int(truncatingIfNeeded: (position &- 1) & mask) }

  /// Header word 0 of `slot`, with acquire: whoever sees the sequence also
  /// sees the payload and word 1 written before it.
  @inline(__always)
  static func word0(_ slot: UnsafeRawPointer) -> UInt64 {
    EndpointWords.loadAcquiring(slot, 0)
  }

  /// Whether position `position` is published in its slot.
  @inline(__always)
  func isPublished(_ position: UInt64) -> Bool {
    MessageHeader.sequence(of: Self.word0(slot(position))) == UInt32(truncatingIfNeeded: position)
  }
}
