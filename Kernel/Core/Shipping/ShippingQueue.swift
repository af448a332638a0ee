// The function-shipping queue: the LWK kernel instance puts system-call
// requests in it and the service instance takes them out (mOS function
// shipping, seed 003 Fig. 4/5); the same queue, the other way round, carries
// the replies. The two kernels share no heap and no code state, only raw
// memory reached through each one's direct map, so the queue is a plain
// state machine over memory passed in: a header and an array of fixed-size
// slots, with every word the two sides both touch an `Atomic<UInt64>` placed
// in that memory. Nothing here allocates, locks or blocks.
//
// Producers: several CPUs at once (Dmitry Vyukov's bounded queue). Every
// slot has a sequence word. A producer reads the enqueue position P, and the
// slot P mod capacity is free for it exactly when its sequence equals P; it
// claims the slot by moving the position from P to P+1 with a compare-and-
// swap, writes the message, and publishes it by storing P+1 into the
// sequence (release). The consumer takes position H when the sequence reads
// H+1 (acquire), so it only ever sees fully written slots, and frees the
// slot for the next round by storing H+capacity. A sequence below P means
// the slot still holds the message of the previous round: the queue is
// full, and `enqueue` says so without writing anything.
//
// Consumer: exactly one (the service CPU that serves this queue). Its
// methods must not be called from two CPUs at once.
//
// The IPI rule (mOS piggy-backing). A pending counter sits beside the queue.
// A producer increments it *after* publishing its slot; when the increment
// returns 0 (no request was pending before this one) the producer must raise
// the IPI, and otherwise the consumer is already awake and the request rides
// along. The consumer, once woken, drains: after each request it consumed it
// decrements the counter, and it stops, and may sleep, only when the
// decrement leaves 0. The consumer never decrements a counter that reads 0.
//
// Why no wake-up is lost. The increments and decrements are read-modify-
// writes of one word, so they happen in one total order, and the counter
// always equals (requests counted) - (requests consumed). The consumer only
// decrements when the counter is at least 1, so consumed <= counted at all
// times. Suppose the consumer has just decremented to 0 and goes to sleep
// while some request R sits in the queue. Either R has not been counted yet:
// then its producer's increment still comes, and the first increment after
// the consumer's 0 returns 0 and raises the IPI. Or R has been counted: then,
// because consumed = counted now and R is counted but not consumed, some
// consumed request Q was not yet counted (the consumer reached Q's slot
// between its producer's publish and increment), and Q's increment is still
// to come, with the same effect. So a consumer never sleeps with a request
// pending and nobody about to wake it. Conversely, an IPI is raised only by
// an increment from 0, that is after the consumer decided to sleep (or
// before it ever woke), and the counter then stays above 0 until the
// consumer consumes something: one IPI per sleep at most. A woken consumer
// may still find the counter at 0: its last look before sleeping can take
// the request whose IPI is on its way (the model, shipping-queue.pml, shows
// it), so a wake-up with nothing to do must be harmless. (The IPI may also
// arrive while the consumer is still on its way to sleep; the kernel's
// sleep must not lose an interrupt that came in between, as with
// `sti; hlt`.)
//
// One consequence the caller has to handle: while the counter is above 0,
// the slot at the head can be claimed but not yet published (a producer on
// another CPU is between its compare-and-swap and its publish). The consumer
// then waits for it, `pause`-ing, for a bounded number of polls
// (`drain(…spinLimit:…)`). If the bound runs out it stops with `.stalled`
// and the counter still above 0: no IPI will come for this queue any more,
// so the kernel must poll it again later (or treat the other instance as
// failed). A producer that died mid-insert must not hang the service side.
//
// Trust. The instance that attaches did not format the memory: `attach`
// validates the header and refuses a malformed one with an error value. The
// geometry is read once, at attach, and never again, so a header rewritten
// later cannot move a slot outside the region. Positions and sequences
// change all the time and cannot be validated up front: every index is
// masked, all position arithmetic wraps, a length word larger than the slot
// is reported as `.malformed` and skipped, and a producer retries a bounded
// number of times, so no content of the shared memory can trap either
// kernel or make it loop forever.
//
// Memory layout (offsets in bytes from the 64-byte aligned base; multi-byte
// fields little-endian, as both kernels run on the same x86-64 machine):
//
//   header, 320 bytes, five cache lines so producers and the consumer do not
//   share lines they write:
//     0    u64  magic "TSHIPQ" 01 00 (an atomic, stored last by `initialize`
//               with release, so whoever reads it with acquire sees the rest)
//     8    u32  capacity: slots, a power of two in 2...65536
//     12   u32  slot size: payload bytes per slot, a multiple of 8 in 8...65536
//     16   48 bytes reserved, zero
//     64   u64  enqueue position (producers' compare-and-swap)
//     128  u64  dequeue position (written by the consumer only)
//     192  u64  pending requests (the IPI rule above)
//     256  u64  messages enqueued (statistics)
//     264  u64  IPIs requested (statistics)
//     272  u64  enqueues refused because the queue was full (statistics)
//     280  40 bytes reserved, zero
//   slots from 320, each `slotStride` = 16 + slot size rounded up to 64 bytes:
//     +0   u64  sequence (Vyukov)
//     +8   u32  message length, 0...slot size
//     +12  u32  reserved, zero
//     +16  slot size bytes of message
//
// Capacity 1 is refused: with one slot a published sequence (P+1) equals the
// next enqueue position and would read as free.
//
// The Promela model Tests/Models/shipping-queue.pml follows this state
// machine and must change with it.

import Synchronization

/// Why memory could not be formatted or attached as a shipping queue.
public enum ShippingQueueError: Error, Equatable, Sendable {
  /// The base address is not aligned to `ShippingQueue.alignment` bytes.
  case misaligned(address: UInt)
  /// The region holds `have` bytes; the header and slots need `needed`.
  case regionTooSmall(needed: Int, have: Int)
  /// The first word is not `ShippingQueue.magic`: not formatted, or another
  /// layout version.
  case badMagic(UInt64)
  case capacityNotPowerOfTwo(Int)
  /// Outside `ShippingQueue.minimumCapacity...maximumCapacity`.
  case capacityOutOfRange(Int)
  /// Zero, above `ShippingQueue.maximumSlotSize`, or not a multiple of 8.
  case slotSizeInvalid(Int)
  /// A reserved header byte at `offset` is not zero.
  case reservedNotZero(offset: Int)

  /// One line for the boot log.
  public var description: String {
    switch self {
    case .misaligned(let address):
      "shipping queue at " + hex(UInt64(address)) + " is not 64-byte aligned"
    case .regionTooSmall(let needed, let have):
      "shipping queue needs " + String(needed) + " bytes, the region has " + String(have)
    case .badMagic(let value): "shipping queue magic is " + hex(value)
    case .capacityNotPowerOfTwo(let value):
      "shipping queue capacity " + String(value) + " is not a power of two"
    case .capacityOutOfRange(let value):
      "shipping queue capacity " + String(value) + " is outside 2...65536"
    case .slotSizeInvalid(let value):
      "shipping queue slot size " + String(value) + " is not a multiple of 8 in 8...65536"
    case .reservedNotZero(let offset):
      "shipping queue header byte " + String(offset) + " is reserved but not zero"
    }
  }
}

/// What `enqueue` did.
public enum ShippingEnqueueResult: Equatable, Sendable {
  /// The message is in the queue. When `raiseIPI` is true no request was
  /// pending before it, so the caller must send the consumer its IPI;
  /// otherwise the consumer is awake and will find it (piggy-backing).
  case enqueued(raiseIPI: Bool)
  /// No free slot; nothing was written. The caller retries later.
  case full
  /// The message is longer than a slot (or negative); nothing was written.
  case oversized(byteCount: Int, limit: Int)
  /// Gave up after `ShippingQueue.maximumAttempts` tries to claim a slot:
  /// only a corrupted queue (or contention no real machine produces) does
  /// that. Nothing was written.
  case busy

  /// True for `.enqueued(raiseIPI: true)`.
  public var raiseIPI: Bool { self == .enqueued(raiseIPI: true) }
}

/// What one `dequeue` found at the head of the queue.
public enum ShippingDequeueResult: Equatable, Sendable {
  /// `length` bytes were copied into the destination and the slot is free.
  case message(length: Int)
  /// Nothing is claimed at the head: the queue is empty.
  case empty
  /// A producer claimed the head slot and has not published it yet.
  case inProgress
  /// The head slot was published with a length word larger than a slot
  /// (corrupted memory). It was skipped and freed; nothing was copied.
  case malformed(length: UInt32)
  /// The destination is smaller than the message; nothing was consumed.
  case destinationTooSmall(needed: Int)
}

/// What the consumer does after it consumed a request.
public enum ShippingConsumerNext: Equatable, Sendable {
  /// More requests are counted: keep draining (no IPI will announce them).
  case drainMore
  /// The pending counter reached 0: the consumer may sleep until the next IPI.
  case sleep
}

/// Why `drain` returned.
public enum ShippingDrainStop: Equatable, Sendable {
  /// The pending counter reached 0; the next insert raises an IPI.
  case asleep
  /// The counter was already 0 when `drain` started (a spurious wake-up).
  case nothingPending
  /// The head slot stayed unpublished for `spinLimit` polls while requests
  /// were counted. No IPI will come: poll again later.
  case stalled
  /// The buffer passed in is smaller than a slot.
  case bufferTooSmall
}

/// What one `drain` did.
public struct ShippingDrainReport: Equatable, Sendable {
  /// Messages handed to the handler.
  public var handled = 0
  /// Slots skipped because their length word was corrupt.
  public var malformed = 0
  public var stop = ShippingDrainStop.asleep

  public init(handled: Int = 0, malformed: Int = 0, stop: ShippingDrainStop = .asleep) {
    self.handled = handled
    self.malformed = malformed
    self.stop = stop
  }
}

/// The queue's counters, read without stopping anybody (each word is exact,
/// the set is not a snapshot).
public struct ShippingQueueStatistics: Equatable, Sendable {
  public var enqueued: UInt64
  public var ipisRequested: UInt64
  public var refusedFull: UInt64
  /// Messages the consumer took out (the dequeue position).
  public var dequeued: UInt64
  /// Requests counted and not yet marked consumed.
  public var pending: UInt64

  /// Messages that rode along without an IPI of their own.
  public var piggyBacked: UInt64 { enqueued &- ipisRequested }
}

/// A view of one shipping queue in shared memory. The value holds only the
/// base address and the geometry read at format or attach time; all shared
/// state lives in the memory, reached through atomics, so copies of the
/// value on several CPUs (and in two kernels) all work on the same queue.
/// Unchecked `Sendable` because it holds a raw pointer; the protocol above
/// is what makes concurrent use safe.
public struct ShippingQueue: @unchecked Sendable {
  /// "TSHIPQ", layout version 1, 0 — as a little-endian word.
  public static let magic: UInt64 = 0x0001_5150_4948_5354
  public static let alignment = 64
  public static let headerBytes = 320
  public static let slotHeaderBytes = 16
  public static let minimumCapacity = 2
  public static let maximumCapacity = 1 << 16
  public static let maximumSlotSize = 1 << 16
  /// Compare-and-swap rounds before `enqueue` gives up with `.busy`. Each
  /// failed round means another producer made progress (or the memory is
  /// corrupt), so an honest queue never gets near this.
  public static let maximumAttempts = 1 << 20

  // Header offsets.
  static let magicOffset = 0
  static let capacityOffset = 8
  static let slotSizeOffset = 12
  static let enqueueOffset = 64
  static let dequeueOffset = 128
  static let pendingOffset = 192
  static let enqueuedOffset = 256
  static let ipisOffset = 264
  static let refusedOffset = 272
  /// Header bytes that must be zero: the rest of the configuration line and
  /// the tail of the statistics line.
  static let reservedRanges = [16..<64, 280..<320]

  /// The base of the region (the header).
  public let base: UnsafeMutableRawPointer
  /// Slots in the ring, a power of two.
  public let capacity: Int
  /// The largest message, in bytes.
  public let slotSize: Int
  /// Bytes from one slot to the next.
  public let slotStride: Int

  private init(base: UnsafeMutableRawPointer, capacity: Int, slotSize: Int) {
    self.base = base
    self.capacity = capacity
    self.slotSize = slotSize
    self.slotStride = Self.stride(slotSize: slotSize)
  }

  // MARK: geometry

  static func stride(slotSize: Int) -> Int {
    (slotHeaderBytes + slotSize + alignment - 1) & ~(alignment - 1)
  }

  static func checkGeometry(slotSize: Int, capacity: Int) throws(ShippingQueueError) {
    guard capacity >= minimumCapacity, capacity <= maximumCapacity else {
      throw .capacityOutOfRange(capacity)
    }
    guard capacity & (capacity - 1) == 0 else { throw .capacityNotPowerOfTwo(capacity) }
    guard slotSize >= 8, slotSize <= maximumSlotSize, slotSize % 8 == 0 else {
      throw .slotSizeInvalid(slotSize)
    }
  }

  /// Bytes a queue of this geometry occupies, or nil when the geometry is
  /// invalid. At most about 4 GiB, so the product cannot overflow.
  public static func requiredBytes(slotSize: Int, capacity: Int) -> Int? {
    do throws(ShippingQueueError) {
      try checkGeometry(slotSize: slotSize, capacity: capacity)
    } catch {
      return nil
    }
    return headerBytes + capacity * stride(slotSize: slotSize)
  }

  static func checkRegion(
    _ base: UnsafeMutableRawPointer, bytes: Int, needed: Int
  ) throws(ShippingQueueError) {
    let address = UInt(bitPattern: base)
    guard address % UInt(alignment) == 0 else { throw .misaligned(address: address) }
    guard bytes >= needed else { throw .regionTooSmall(needed: needed, have: max(0, bytes)) }
  }

  // MARK: format and attach

  /// Formats `bytes` bytes at `base` as an empty queue of `capacity` slots
  /// of `slotSize` message bytes. The whole region is cleared. Only one
  /// instance formats a queue, before the other one attaches.
  public static func initialize(
    at base: UnsafeMutableRawPointer, bytes: Int, slotSize: Int, capacity: Int
  ) throws(ShippingQueueError) -> ShippingQueue {
    try checkGeometry(slotSize: slotSize, capacity: capacity)
    let needed = headerBytes + capacity * stride(slotSize: slotSize)
    try checkRegion(base, bytes: bytes, needed: needed)

    base.initializeMemory(as: UInt8.self, repeating: 0, count: needed)
    base.storeBytes(
      of: UInt32(capacity).littleEndian, toByteOffset: capacityOffset, as: UInt32.self)
    base.storeBytes(
      of: UInt32(slotSize).littleEndian, toByteOffset: slotSizeOffset, as: UInt32.self)
    for offset in [
      magicOffset, enqueueOffset, dequeueOffset, pendingOffset, enqueuedOffset, ipisOffset,
      refusedOffset,
    ] {
      (base + offset).bindMemory(to: Atomic<UInt64>.self, capacity: 1).initialize(to: Atomic(0))
    }
    let queue = ShippingQueue(base: base, capacity: capacity, slotSize: slotSize)
    for index in 0..<capacity {
      queue.slot(index).bindMemory(to: Atomic<UInt64>.self, capacity: 1)
        .initialize(to: Atomic(UInt64(index)))
    }
    // Last, with release: an attacher that reads the magic sees the rest.
    queue.word(magicOffset).pointee.store(magic, ordering: .releasing)
    return queue
  }

  /// Attaches to a queue some other instance formatted, trusting nothing in
  /// it: the alignment, the magic, the geometry, the reserved bytes and the
  /// size against `bytes` are all checked, and a malformed header is an
  /// error, never a trap.
  public static func attach(
    at base: UnsafeMutableRawPointer, bytes: Int
  ) throws(ShippingQueueError) -> ShippingQueue {
    try checkRegion(base, bytes: bytes, needed: headerBytes)
    let magicWord = (base + magicOffset).assumingMemoryBound(to: Atomic<UInt64>.self)
    let found = magicWord.pointee.load(ordering: .acquiring)
    guard found == magic else { throw .badMagic(found) }
    let capacity = Int(
      UInt32(littleEndian: base.loadUnaligned(fromByteOffset: capacityOffset, as: UInt32.self)))
    let slotSize = Int(
      UInt32(littleEndian: base.loadUnaligned(fromByteOffset: slotSizeOffset, as: UInt32.self)))
    try checkGeometry(slotSize: slotSize, capacity: capacity)
    for range in reservedRanges {
      for offset in range where base.load(fromByteOffset: offset, as: UInt8.self) != 0 {
        throw .reservedNotZero(offset: offset)
      }
    }
    try checkRegion(base, bytes: bytes, needed: headerBytes + capacity * stride(slotSize: slotSize))
    return ShippingQueue(base: base, capacity: capacity, slotSize: slotSize)
  }

  // MARK: shared words

  private func word(_ offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
    (base + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
  }

  private var enqueuePosition: UnsafeMutablePointer<Atomic<UInt64>> { word(Self.enqueueOffset) }
  private var dequeuePosition: UnsafeMutablePointer<Atomic<UInt64>> { word(Self.dequeueOffset) }
  private var pendingWord: UnsafeMutablePointer<Atomic<UInt64>> { word(Self.pendingOffset) }

  /// The slot that position `position` maps to (masked, so any position,
  /// however corrupt, lands inside the region).
  private func slot(_ position: UInt64) -> UnsafeMutableRawPointer {
    slot(Int(truncatingIfNeeded: position & UInt64(capacity &- 1)))
  }

  /// Wrapping arithmetic: the geometry was checked, so it cannot overflow,
  /// and the hot paths carry no overflow traps.
  private func slot(_ index: Int) -> UnsafeMutableRawPointer {
    base + (Self.headerBytes &+ index &* slotStride)
  }

  private func sequence(_ slot: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt64>> {
    slot.assumingMemoryBound(to: Atomic<UInt64>.self)
  }

  // MARK: producers (any number, any CPU)

  /// Claims a slot, lets `write` fill exactly `byteCount` bytes of it, and
  /// publishes it. `write` must not fail or take long: the consumer may be
  /// waiting for this very slot. No allocation, no blocking.
  public func enqueue(
    byteCount: Int, _ write: (UnsafeMutableRawBufferPointer) -> Void
  ) -> ShippingEnqueueResult {
    guard byteCount >= 0, byteCount <= slotSize else {
      return .oversized(byteCount: byteCount, limit: slotSize)
    }
    var position = enqueuePosition.pointee.load(ordering: .relaxed)
    var attempts = 0
    while true {
      attempts += 1
      guard attempts <= Self.maximumAttempts else { return .busy }
      let sequence = sequence(slot(position)).pointee.load(ordering: .acquiring)
      let difference = Int64(bitPattern: sequence &- position)
      if difference == 0 {
        let (exchanged, original) = enqueuePosition.pointee.weakCompareExchange(
          expected: position, desired: position &+ 1, ordering: .relaxed)
        if exchanged { break }
        position = original
      } else if difference < 0 {
        // The slot still holds the previous round's message.
        word(Self.refusedOffset).pointee.wrappingAdd(1, ordering: .relaxed)
        return .full
      } else {
        // Another producer took this position; look again.
        position = enqueuePosition.pointee.load(ordering: .relaxed)
      }
    }
    let claimed = slot(position)
    claimed.storeBytes(of: UInt32(byteCount).littleEndian, toByteOffset: 8, as: UInt32.self)
    write(UnsafeMutableRawBufferPointer(start: claimed + Self.slotHeaderBytes, count: byteCount))
    sequence(claimed).pointee.store(position &+ 1, ordering: .releasing)

    // Counted only after publishing: the consumer trusts every counted
    // request to be published or about to be.
    let (before, _) = pendingWord.pointee.wrappingAdd(1, ordering: .acquiringAndReleasing)
    word(Self.enqueuedOffset).pointee.wrappingAdd(1, ordering: .relaxed)
    if before == 0 {
      word(Self.ipisOffset).pointee.wrappingAdd(1, ordering: .relaxed)
      return .enqueued(raiseIPI: true)
    }
    return .enqueued(raiseIPI: false)
  }

  /// Fault injection (`lwk crash corrupt-ring`): publishes a slot whose
  /// length word is larger than any slot, as corrupted memory would leave
  /// it; the consumer's `dequeue` finds it `.malformed`.
  public func enqueueCorruptSlot() -> ShippingEnqueueResult {
    enqueue(byteCount: 0) { payload in
      // The length word is in the slot's header, just before the payload.
      (payload.baseAddress! - Self.slotHeaderBytes).storeBytes(
        of: UInt32.max, toByteOffset: 8, as: UInt32.self)
    }
  }

  /// Copies `bytes` into a slot; see `enqueue(byteCount:_:)`.
  public func enqueue(_ bytes: UnsafeRawBufferPointer) -> ShippingEnqueueResult {
    enqueue(byteCount: bytes.count) { slot in
      if let source = bytes.baseAddress, let target = slot.baseAddress {
        target.copyMemory(from: source, byteCount: bytes.count)
      }
    }
  }

  // MARK: the consumer (one CPU)

  /// Takes the message at the head, if it is published, copying it into
  /// `destination` (so the producer side cannot change it afterwards) and
  /// freeing its slot. Does not touch the pending counter: call
  /// `markConsumed` once the request is dealt with.
  public func dequeue(into destination: UnsafeMutableRawBufferPointer) -> ShippingDequeueResult {
    let position = dequeuePosition.pointee.load(ordering: .relaxed)
    let head = slot(position)
    let sequence = sequence(head).pointee.load(ordering: .acquiring)
    guard sequence == position &+ 1 else {
      // Anything else is "not published": honestly the sequence is
      // `position` (free or claimed); a corrupt value behaves the same and
      // ends as a stall the kernel can see.
      let claimed = enqueuePosition.pointee.load(ordering: .relaxed) != position
      return claimed ? .inProgress : .empty
    }
    let length = UInt32(littleEndian: head.load(fromByteOffset: 8, as: UInt32.self))
    if Int(length) > slotSize {
      release(head, position)
      return .malformed(length: length)
    }
    guard Int(length) <= destination.count else {
      return .destinationTooSmall(needed: Int(length))
    }
    if length > 0, let target = destination.baseAddress {
      target.copyMemory(from: head + Self.slotHeaderBytes, byteCount: Int(length))
    }
    release(head, position)
    return .message(length: Int(length))
  }

  private func release(_ head: UnsafeMutableRawPointer, _ position: UInt64) {
    sequence(head).pointee.store(position &+ UInt64(capacity), ordering: .releasing)
    dequeuePosition.pointee.store(position &+ 1, ordering: .releasing)
  }

  /// Accounts for one consumed request (the IPI rule): `.sleep` when none
  /// is left counted. A counter that already reads 0 is left alone, so
  /// misuse cannot wrap it around.
  public func markConsumed() -> ShippingConsumerNext {
    // Only the consumer decrements, so a non-zero load stays non-zero
    // until the subtraction below.
    guard pendingWord.pointee.load(ordering: .acquiring) > 0 else { return .sleep }
    let (_, after) = pendingWord.pointee.wrappingSubtract(1, ordering: .acquiringAndReleasing)
    return after == 0 ? .sleep : .drainMore
  }

  /// The consumer's loop for one wake-up: while requests are counted, take
  /// the next one into `buffer` (at least `slotSize` bytes), hand it to
  /// `handle` as a view of `buffer`, then mark it consumed. An unpublished
  /// head slot is polled up to `spinLimit` times in a row, calling `pause`
  /// between polls (the kernel passes the `pause` instruction).
  public func drain(
    into buffer: UnsafeMutableRawBufferPointer, spinLimit: Int, pause: () -> Void,
    _ handle: (ByteView) -> Void
  ) -> ShippingDrainReport {
    var report = ShippingDrainReport()
    guard buffer.count >= slotSize, buffer.baseAddress != nil else {
      report.stop = .bufferTooSmall
      return report
    }
    guard pending > 0 else {
      report.stop = .nothingPending
      return report
    }
    var polls = 0
    while true {
      switch dequeue(into: buffer) {
      case .message(let length):
        handle(ByteView(base: UnsafeRawPointer(buffer.baseAddress), count: length))
        report.handled += 1
      case .malformed:
        report.malformed += 1
      case .empty, .inProgress, .destinationTooSmall:
        // A counted request is published at or behind the head; wait for
        // the producer that still holds the head slot.
        guard polls < spinLimit else {
          report.stop = .stalled
          return report
        }
        polls += 1
        pause()
        continue
      }
      polls = 0
      if markConsumed() == .sleep {
        report.stop = .asleep
        return report
      }
    }
  }

  // MARK: observation

  /// Requests counted and not yet marked consumed.
  public var pending: UInt64 { pendingWord.pointee.load(ordering: .acquiring) }

  /// Slots claimed and not yet taken out (published or being written).
  public var occupied: UInt64 {
    enqueuePosition.pointee.load(ordering: .acquiring)
      &- dequeuePosition.pointee.load(ordering: .acquiring)
  }

  public var statistics: ShippingQueueStatistics {
    ShippingQueueStatistics(
      enqueued: word(Self.enqueuedOffset).pointee.load(ordering: .relaxed),
      ipisRequested: word(Self.ipisOffset).pointee.load(ordering: .relaxed),
      refusedFull: word(Self.refusedOffset).pointee.load(ordering: .relaxed),
      dequeued: dequeuePosition.pointee.load(ordering: .relaxed),
      pending: pending)
  }
}
