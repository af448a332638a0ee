// The kernel's side of a receive endpoint: formatting its memory, binding
// and revoking channels in the config page, and what the wake and block
// system calls need. Only kernels write the config page; the operations
// here are not safe against each other on one endpoint (the kernel
// serialises them, e.g. under the endpoint object's lock), but they are
// safe against the sender and receiver running their fast paths at the
// same time, which is the point.
//
// configure: zeroes the three areas, writes the geometry, and stores the
// magic last with release, so whoever reads the magic with acquire sees a
// complete page. Every channel starts inactive, generation 0.
//
// setChannel (bind a send endpoint): the channel must be inactive; its run
// must pass the layout's checks and must not share a slot with a live
// (active or revoked) channel. The kernel zeroes the run's slots (a stale
// header from a previous occupant could otherwise carry exactly the
// sequence the receiver expects next and be read as a new message) and the
// channel's status line (consumed = 0, fetched snapshot = 0), then writes
// the record as `ChannelRecord` describes (state word to a new generation,
// release fence, fields, final state word with release). The run and label
// never change while the generation stays the same.
//
// revokeChannel: call it after the sender's pages are unmapped (on every
// CPU), so nothing more can be published. It counts the channel's
// published, unfreed messages: from consumed + 1 on, every position whose
// slot holds its sequence, stopping at the first that does not (at most a
// slot count). acceptedLimit = consumed + that count is the last position
// the receiver will take; the limit is stored, then the state word
// (revoked, same generation) with release. The count is returned: messages
// the receiver has not freed yet (some it may have fetched already). A
// receiver's corrupt `consumed` only shifts its own limit; the scan stays
// inside the run.
//
// retireChannel: a revoked channel the receiver has drained (consumed at
// or past the accepted limit) becomes inactive, so setChannel can bind the
// index again; the receiver learns of the new activation from the new
// generation. Requiring the drain means the receiver has no unfreed message
// of the old activation, so it never writes that channel's `consumed` again
// and the zero setChannel writes there stays (the new sender's credits
// depend on it). A late fetched snapshot of the old activation may still
// land on the zeroed one; only the kernel's own re-check reads it, and the
// receiver's `prepareToSleep` sees the changed state word, does not sleep,
// and rewrites the snapshot on its next call.
//
// wake / mayBlock: the sleeping flag and the kernel's re-check (see
// `ChannelReceiver`). `wake` exchanges the flag with 0 and says whether it
// was set (so only the first of several senders that saw it needs to
// unblock the receiver); `mayBlock` is the block call's test: the flag is
// still set (no wake came since `prepareToSleep`) and no head is published
// past the fetched counts the receiver stored. The kernel evaluates it and
// blocks the thread atomically with respect to `wake` (under the same
// lock), and clears the flag when the block call returns.

import Synchronization

/// The kernel's handle on one receive endpoint's memory. Unchecked
/// `Sendable`: it holds pointers; the protocol makes sharing safe.
public struct ReceiveEndpointControl: @unchecked Sendable {
  public let layout: ReceiveEndpointLayout
  public let config: UnsafeMutableRawPointer
  public let status: UnsafeMutableRawPointer
  public let slots: UnsafeMutableRawPointer

  private init(
    layout: ReceiveEndpointLayout, config: UnsafeMutableRawPointer,
    status: UnsafeMutableRawPointer, slots: UnsafeMutableRawPointer
  ) {
    self.layout = layout
    self.config = config
    self.status = status
    self.slots = slots
  }

  /// Formats the memory of a new endpoint: a 4 KiB config page, a 4 KiB
  /// status page and `layout.ringBytes` of slots at these addresses (each
  /// page-aligned; for one contiguous block use the layout's offsets).
  public static func configure(
    _ layout: ReceiveEndpointLayout, config: UnsafeMutableRawPointer,
    status: UnsafeMutableRawPointer, slots: UnsafeMutableRawPointer
  ) -> ReceiveEndpointControl {
    config.initializeMemory(as: UInt8.self, repeating: 0, count: ReceiveEndpointLayout.pageSize)
    status.initializeMemory(as: UInt8.self, repeating: 0, count: ReceiveEndpointLayout.pageSize)
    slots.initializeMemory(as: UInt8.self, repeating: 0, count: layout.ringBytes)
    EndpointWords.store(config, ReceiveEndpointLayout.geometryOffset, layout.geometryWord)
    EndpointWords.storeReleasing(
      config, ReceiveEndpointLayout.magicOffset, ReceiveEndpointLayout.magic)
    return ReceiveEndpointControl(layout: layout, config: config, status: status, slots: slots)
  }

  /// Takes over memory `configure` formatted (another kernel instance, or
  /// this one after a restart).
  public static func attach(
    config: UnsafeMutableRawPointer, status: UnsafeMutableRawPointer,
    slots: UnsafeMutableRawPointer
  ) throws(ReceiveEndpointError) -> ReceiveEndpointControl {
    let layout = try ReceiveEndpointLayout.read(config: config)
    return ReceiveEndpointControl(layout: layout, config: config, status: status, slots: slots)
  }

  // MARK: channel records

  private func check(_ channel: Int) throws(ReceiveEndpointError) {
    guard channel >= 0, channel < layout.channelCount else {
      throw .noSuchChannel(channel: channel, count: layout.channelCount)
    }
  }

  /// A consistent copy of channel `channel`'s record.
  public func record(_ channel: Int) throws(ReceiveEndpointError) -> ChannelRecord {
    try check(channel)
    guard let (record, _) = ChannelRecord.load(config: config, channel: channel) else {
      throw .recordChanging(channel: channel)
    }
    return record
  }

  private func recordWord(_ channel: Int, _ field: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
    EndpointWords.word(config, ChannelRecord.offset(channel: channel) + field)
  }

  /// The receiver's consumed count of `channel` (its word, so untrusted).
  public func consumed(channel: Int) -> UInt64 {
    EndpointWords.loadAcquiring(status, ReceiveEndpointLayout.consumedOffset(channel: channel))
  }

  /// Binds a send endpoint to inactive channel `channel`: its run of slots,
  /// the label the receiver will see on its messages, and the channel of
  /// the reply endpoint its messages name (nil: none).
  @discardableResult
  public func setChannel(
    _ channel: Int, label: UInt64, firstSlot: Int, slotCount: Int, replyChannel: Int? = nil
  ) throws(ReceiveEndpointError) -> ChannelRun {
    let current = try record(channel)
    guard current.state == .inactive else {
      throw .wrongState(channel: channel, found: current.state, expected: .inactive)
    }
    let run: ChannelRun
    do throws(ReceiveEndpointLayoutError) {
      run = try layout.run(channel: channel, firstSlot: firstSlot, slotCount: slotCount)
    } catch {
      throw .layout(error)
    }
    for other in 0..<layout.channelCount where other != channel {
      let live = try record(other)
      guard live.state != .inactive else { continue }
      if run.firstSlot < live.firstSlot + live.slotCount,
        live.firstSlot < run.endSlot
      {
        throw .channelsOverlap(channel: channel, other: other)
      }
    }
    (slots + run.firstSlot << layout.slotSizeLog2).initializeMemory(
      as: UInt8.self, repeating: 0, count: run.byteCount)
    EndpointWords.store(status, ReceiveEndpointLayout.consumedOffset(channel: channel), 0)
    EndpointWords.store(status, ReceiveEndpointLayout.fetchedSnapshotOffset(channel: channel), 0)
    let generation = current.generation &+ 1
    let state = recordWord(channel, ChannelRecord.stateOffset)
    state.pointee.store(
      ChannelRecord.stateWord(.inactive, generation: generation), ordering: .relaxed)
    atomicMemoryFence(ordering: .releasing)
    recordWord(channel, ChannelRecord.labelOffset).pointee.store(label, ordering: .relaxed)
    recordWord(channel, ChannelRecord.runOffset).pointee.store(
      UInt64(run.firstSlot) | UInt64(run.slotCount) << 32, ordering: .relaxed)
    recordWord(channel, ChannelRecord.acceptedLimitOffset).pointee.store(0, ordering: .relaxed)
    recordWord(channel, ChannelRecord.replyOffset).pointee.store(
      ChannelRecord.replyWord(replyChannel), ordering: .relaxed)
    state.pointee.store(
      ChannelRecord.stateWord(.active, generation: generation), ordering: .releasing)
    return run
  }

  /// Messages of `record` published from position `consumed + 1` on, in a
  /// row (at most the slot count).
  private func publishedRun(_ record: ChannelRecord, from consumed: UInt64) -> UInt64 {
    let run = ChannelSlots(
      slots: slots, firstSlot: record.firstSlot, slotCount: record.slotCount,
      slotSizeLog2: layout.slotSizeLog2)
    var count: UInt64 = 0
    while count < run.slotCount, run.isPublished(consumed &+ count &+ 1) { count += 1 }
    return count
  }

  /// Revokes active channel `channel` (its sender already unmapped): sets
  /// the accepted limit and the revoked state; returns how many published
  /// messages the receiver has not freed.
  public func revokeChannel(_ channel: Int) throws(ReceiveEndpointError) -> UInt64 {
    let current = try record(channel)
    guard current.state == .active else {
      throw .wrongState(channel: channel, found: current.state, expected: .active)
    }
    let consumed = consumed(channel: channel)
    let unread = publishedRun(current, from: consumed)
    recordWord(channel, ChannelRecord.acceptedLimitOffset).pointee.store(
      consumed &+ unread, ordering: .relaxed)
    recordWord(channel, ChannelRecord.stateOffset).pointee.store(
      ChannelRecord.stateWord(.revoked, generation: current.generation), ordering: .releasing)
    return unread
  }

  /// Makes drained, revoked channel `channel` inactive, free to bind again.
  public func retireChannel(_ channel: Int) throws(ReceiveEndpointError) {
    let current = try record(channel)
    guard current.state == .revoked else {
      throw .wrongState(channel: channel, found: current.state, expected: .revoked)
    }
    let consumed = consumed(channel: channel)
    guard consumed >= current.acceptedLimit else {
      throw .notDrained(channel: channel, unread: current.acceptedLimit - consumed)
    }
    recordWord(channel, ChannelRecord.stateOffset).pointee.store(
      ChannelRecord.stateWord(.inactive, generation: current.generation), ordering: .releasing)
  }

  // MARK: wake and block

  private var sleepingWord: UnsafeMutablePointer<Atomic<UInt64>> {
    EndpointWords.word(status, ReceiveEndpointLayout.sleepingOffset)
  }

  /// Whether the receiver's flag says it sleeps.
  public var receiverSleeping: Bool { sleepingWord.pointee.load(ordering: .acquiring) != 0 }

  /// The wake call: clears the flag; true when it was set, i.e. this call
  /// is the one that must unblock the receiver.
  public func wake() -> Bool {
    sleepingWord.pointee.exchange(0, ordering: .sequentiallyConsistent) != 0
  }

  /// Clears the flag (when the block call returns).
  public func clearSleeping() {
    sleepingWord.pointee.store(0, ordering: .releasing)
  }

  /// Whether any live channel's message after the receiver's stored
  /// fetched count is published (and within the accepted limit). A record
  /// that keeps changing counts as pending.
  public var hasPending: Bool {
    for channel in 0..<layout.channelCount {
      guard let (record, _) = ChannelRecord.load(config: config, channel: channel) else {
        return true
      }
      guard record.state != .inactive,
        (try? layout.run(
          channel: channel, firstSlot: record.firstSlot, slotCount: record.slotCount)) != nil
      else { continue }
      let fetched = EndpointWords.load(
        status, ReceiveEndpointLayout.fetchedSnapshotOffset(channel: channel))
      if record.state == .revoked, fetched >= record.acceptedLimit { continue }
      let run = ChannelSlots(
        slots: slots, firstSlot: record.firstSlot, slotCount: record.slotCount,
        slotSizeLog2: layout.slotSizeLog2)
      if run.isPublished(fetched &+ 1) { return true }
    }
    return false
  }

  /// The block call's test: block only while the flag is still set and
  /// nothing is pending.
  public var mayBlock: Bool {
    atomicMemoryFence(ordering: .sequentiallyConsistent)
    return receiverSleeping && !hasPending
  }
}
