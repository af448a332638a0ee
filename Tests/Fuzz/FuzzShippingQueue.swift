// Fuzz target `shipping-queue`: the function-shipping queue between the
// two kernel instances, over memory of exactly the size it needs (so
// AddressSanitizer sees any read past it). The first byte's low bit
// chooses the mode.
//
// A program of operations (bit 0 clear): a queue of 2...32 slots of 8...64
// bytes driven by enqueues (some oversized, some into a full queue),
// injected corrupt slots, an enqueue whose writer runs another operation
// while its slot is claimed but unpublished, dequeues into buffers of any
// size, `markConsumed`, take (both), drains, length words rewritten past
// the slot size, a second view attached to the same memory, and writes of
// any word anywhere in the region by a hostile peer. Until that first
// hostile write the queue equals a model: an array FIFO of claimed
// messages (published or not), the pending counter of the IPI rule and the
// statistics; every result, message byte, drain report and counter is
// checked. After it, and in the other mode, only what must hold for any
// memory is checked.
//
// A corrupt peer (bit 0 set): any bytes as the region (size from the
// input; the magic, the reserved bytes and a small geometry optionally
// repaired so the fuzzer gets past them; optionally a misaligned base).
// `attach` must give exactly the error an independent reading of the
// header gives, or a queue that fits in the region, and then enqueue,
// dequeue, markConsumed and drain over the garbage positions and sequences
// must give well-formed answers: lengths within the slot and the buffer,
// `.malformed` only for lengths past the slot, a drain that handles at most
// one message per slot and stalls after exactly `spinLimit` pauses.

func fuzzShippingQueue(_ bytes: [UInt8]) {
  var input = FuzzInput(bytes)
  let mode = input.byte()
  if mode & 1 == 1 {
    fuzzShippingQueueAttach(mode: mode, &input)
  } else {
    fuzzShippingQueueProgram(input)
  }
}

// MARK: operations against the model

private func fuzzShippingQueueProgram(_ start: FuzzInput) {
  var input = start
  let geometry = input.byte()
  let capacity = 1 << (1 + Int(geometry % 5))
  let slotSize = 8 * (1 + Int(geometry >> 3 & 7))
  let needed = ShippingQueue.requiredBytes(slotSize: slotSize, capacity: capacity)!
  let base = UnsafeMutableRawPointer.allocate(byteCount: needed, alignment: 64)
  defer { base.deallocate() }
  base.initializeMemory(as: UInt8.self, repeating: 0xA5, count: needed)
  let queue = try! ShippingQueue.initialize(
    at: base, bytes: needed, slotSize: slotSize, capacity: capacity)
  require(
    queue.capacity == capacity && queue.slotSize == slotSize
      && queue.slotStride == (16 + slotSize + 63) / 64 * 64,
    "shipping-queue: geometry after initialize")
  var views = [queue]
  var model = ShippingModel(capacity: capacity, slotSize: slotSize)
  var tainted = false
  var taintedEnqueues = 0
  var tag = 0

  /// One enqueue of a pattern message through `view`; checks the result.
  func enqueue(_ view: ShippingQueue, length: Int, inner: ((inout FuzzInput) -> Void)? = nil) {
    tag += 1
    let payload = shippingPayload(tag, length: length)
    var written = -1
    let claimed =
      !tainted && length <= slotSize && model.entries.count < capacity
      ? model.claim(payload) : nil
    let result = view.enqueue(byteCount: length) { slot in
      written = slot.count
      if let target = slot.baseAddress, length > 0 {
        payload.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: length) }
      }
      inner?(&input)
    }
    if tainted {
      checkEnqueueShape(result, length: length, slotSize: slotSize)
      return
    }
    let expected = model.finishEnqueue(length: length, claimed: claimed)
    require(result == expected, "shipping-queue: enqueue result differs from the model")
    if case .enqueued = result {
      require(written == length, "shipping-queue: the writer got the wrong byte count")
    } else {
      require(written == -1, "shipping-queue: the writer ran for a refused enqueue")
    }
  }

  /// One dequeue into a buffer of `size` bytes; checks the result.
  func dequeue(_ view: ShippingQueue, size: Int) {
    var buffer = [UInt8](repeating: 0xEE, count: size)
    let result = buffer.withUnsafeMutableBytes { view.dequeue(into: $0) }
    checkDequeueShape(result, size: size, slotSize: slotSize)
    if tainted { return }
    let expected = model.dequeue(size: size)
    require(result == expected.result, "shipping-queue: dequeue result differs from the model")
    if let message = expected.message {
      require(
        Array(buffer.prefix(message.count)) == message, "shipping-queue: message bytes differ")
    }
  }

  func markConsumed(_ view: ShippingQueue) {
    let next = view.markConsumed()
    if tainted { return }
    require(next == model.markConsumed(), "shipping-queue: markConsumed differs from the model")
  }

  func drain(_ view: ShippingQueue, size: Int, spinLimit: Int) {
    var buffer = [UInt8](repeating: 0, count: size)
    var handled: [[UInt8]] = []
    var pauses = 0
    let report = buffer.withUnsafeMutableBytes { buffer in
      view.drain(into: buffer, spinLimit: spinLimit, pause: { pauses += 1 }) { message in
        require(message.count <= slotSize, "shipping-queue: drained message past the slot")
        handled.append(message.bytes)
      }
    }
    checkDrainShape(report, pauses: pauses, size: size, spinLimit: spinLimit, queue: view)
    if tainted { return }
    let expected = model.drain(size: size, spinLimit: spinLimit)
    require(report == expected.report, "shipping-queue: drain report differs from the model")
    require(handled == expected.messages, "shipping-queue: drained messages differ")
    require(pauses == expected.pauses, "shipping-queue: drain paused differently")
  }

  /// The operation a writer runs while its slot is claimed.
  func innerOperation(_ input: inout FuzzInput) {
    let op = input.byte()
    switch op % 3 {
    case 0: dequeue(views[0], size: slotSize)
    case 1: enqueue(views[0], length: Int(op >> 2) % (slotSize + 1))
    default: drain(views[0], size: slotSize, spinLimit: Int(op >> 2) % 4)
    }
  }

  var steps = 0
  while !input.isAtEnd && steps < 300 {
    steps += 1
    let op = input.byte()
    let view = views[Int(op >> 7) % views.count]
    switch op & 15 {
    case 0...3:
      let length = Int(input.byte()) % (slotSize + 9)
      if tainted {
        taintedEnqueues += 1
        if taintedEnqueues > 2 { break }  // each may spin 2^20 rounds (10 ms) to `.busy`
      }
      enqueue(view, length: length)
    case 4:
      if tainted { break }
      let claimed = model.entries.count < capacity ? model.claim(nil) : nil
      let result = view.enqueueCorruptSlot()
      let expected = model.finishEnqueue(length: 0, claimed: claimed)
      require(result == expected, "shipping-queue: corrupt-slot enqueue differs from the model")
    case 5:
      if tainted { break }
      enqueue(view, length: Int(input.byte()) % (slotSize + 1), inner: innerOperation)
    case 6:
      dequeue(view, size: slotSize)
    case 7:
      dequeue(view, size: Int(input.byte()) % (slotSize + 2))
    case 8:
      markConsumed(view)
    case 9:
      dequeue(view, size: slotSize)
      markConsumed(view)
    case 10:
      let sizeByte = input.byte()
      let size = sizeByte & 0x80 == 0 ? slotSize : Int(sizeByte & 0x7F) % (slotSize + 1)
      drain(view, size: size, spinLimit: Int(sizeByte >> 4 & 3))
    case 11:
      // The peer rewrites a published slot's length word past the slot.
      let pick = input.byte()
      if tainted { break }
      let published = model.entries.indices.filter { model.entries[$0].published }
      guard !published.isEmpty else { break }
      let index = published[Int(pick) % published.count]
      let length = UInt32(slotSize + 1 + Int(pick))
      let slot = model.entries[index].position & UInt64(capacity - 1)
      (base + ShippingQueue.headerBytes + Int(slot) * queue.slotStride).storeBytes(
        of: length.littleEndian, toByteOffset: 8, as: UInt32.self)
      model.entries[index].malformed = length
    case 12:
      // Attach again: exactly what the header reading says.
      let got = Result { () throws(ShippingQueueError) in
        try ShippingQueue.attach(at: base, bytes: needed)
      }
      let region = Array(UnsafeRawBufferPointer(start: base, count: needed))
      let expected = shippingAttachModel(region, address: UInt(bitPattern: base))
      checkAttach(got, expected, bytes: needed)
      if !tainted, case .success(let other) = got { views = [views[0], other] }
      if !tainted, case .failure = got {
        fatalError("fuzz property violated: shipping-queue: attach refused an honest queue")
      }
    default:
      // The hostile peer writes any word anywhere.
      tainted = true
      let offset = Int(input.u16()) % needed
      let word = input.u64()
      for index in 0..<8 where offset + index < needed {
        base.storeBytes(
          of: UInt8(truncatingIfNeeded: word >> UInt64(8 * index)), toByteOffset: offset + index,
          as: UInt8.self)
      }
    }
    if !tainted {
      let statistics = queue.statistics
      require(statistics == model.statistics, "shipping-queue: statistics differ from the model")
      require(
        queue.occupied == UInt64(model.entries.count), "shipping-queue: occupied differs")
    } else {
      _ = queue.statistics
      _ = queue.occupied
    }
  }
}

/// A message that names its tag.
private func shippingPayload(_ tag: Int, length: Int) -> [UInt8] {
  (0..<length).map { UInt8(truncatingIfNeeded: tag &* 37 &+ $0 &* 11) }
}

/// The queue as ShippingQueue.swift describes it, for one thread: claimed
/// messages in position order, the pending counter and the statistics.
private struct ShippingModel {
  struct Entry {
    let position: UInt64
    var bytes: [UInt8]
    var published = false
    /// The length word when it is past the slot (a corrupt slot).
    var malformed: UInt32?
  }

  let capacity: Int
  let slotSize: Int
  var entries: [Entry] = []
  var dequeued: UInt64 = 0
  var pending: UInt64 = 0
  var enqueued: UInt64 = 0
  var ipis: UInt64 = 0
  var refused: UInt64 = 0

  init(capacity: Int, slotSize: Int) {
    self.capacity = capacity
    self.slotSize = slotSize
  }

  var statistics: ShippingQueueStatistics {
    ShippingQueueStatistics(
      enqueued: enqueued, ipisRequested: ipis, refusedFull: refused, dequeued: dequeued,
      pending: pending)
  }

  /// A producer claims the next slot (the caller checked there is one):
  /// its position.
  mutating func claim(_ bytes: [UInt8]?) -> UInt64 {
    let position = dequeued + UInt64(entries.count)
    entries.append(
      Entry(position: position, bytes: bytes ?? [], malformed: bytes == nil ? UInt32.max : nil))
    return position
  }

  /// What an enqueue of `length` bytes gives once its writer has run:
  /// refused, or the slot it claimed at `claimed` published and counted.
  mutating func finishEnqueue(length: Int, claimed: UInt64?) -> ShippingEnqueueResult {
    if length > slotSize { return .oversized(byteCount: length, limit: slotSize) }
    guard let claimed else {
      refused += 1
      return .full
    }
    let index = entries.firstIndex { $0.position == claimed }!
    entries[index].published = true
    let before = pending
    pending &+= 1
    enqueued += 1
    if before == 0 {
      ipis += 1
      return .enqueued(raiseIPI: true)
    }
    return .enqueued(raiseIPI: false)
  }

  mutating func dequeue(size: Int) -> (result: ShippingDequeueResult, message: [UInt8]?) {
    guard let head = entries.first else { return (.empty, nil) }
    guard head.published else { return (.inProgress, nil) }
    if let length = head.malformed {
      entries.removeFirst()
      dequeued += 1
      return (.malformed(length: length), nil)
    }
    guard head.bytes.count <= size else {
      return (.destinationTooSmall(needed: head.bytes.count), nil)
    }
    entries.removeFirst()
    dequeued += 1
    return (.message(length: head.bytes.count), head.bytes)
  }

  mutating func markConsumed() -> ShippingConsumerNext {
    guard pending > 0 else { return .sleep }
    pending -= 1
    return pending == 0 ? .sleep : .drainMore
  }

  mutating func drain(size: Int, spinLimit: Int) -> (
    report: ShippingDrainReport, messages: [[UInt8]], pauses: Int
  ) {
    var report = ShippingDrainReport()
    var messages: [[UInt8]] = []
    if size < slotSize {
      report.stop = .bufferTooSmall
      return (report, messages, 0)
    }
    if pending == 0 {
      report.stop = .nothingPending
      return (report, messages, 0)
    }
    while true {
      // Nothing published at the head: nothing changes while it polls.
      guard let head = entries.first, head.published else {
        report.stop = .stalled
        return (report, messages, max(0, spinLimit))
      }
      _ = dequeue(size: size)
      if head.malformed != nil {
        report.malformed += 1
      } else {
        report.handled += 1
        messages.append(head.bytes)
      }
      if markConsumed() == .sleep {
        report.stop = .asleep
        return (report, messages, 0)
      }
    }
  }
}

// MARK: a corrupt peer's memory

private func fuzzShippingQueueAttach(mode: UInt8, _ input: inout FuzzInput) {
  let size = Int(input.u16()) % 12288
  let misaligned = mode & 0x10 != 0
  let allocated = max(1, size + (misaligned ? 8 : 0))
  let memory = UnsafeMutableRawPointer.allocate(byteCount: allocated, alignment: 64)
  defer { memory.deallocate() }
  for offset in 0..<allocated {
    memory.storeBytes(of: input.byte(), toByteOffset: offset, as: UInt8.self)
  }
  let base = misaligned ? memory + 8 : memory
  if size >= ShippingQueue.headerBytes {
    if mode & 2 != 0 { base.storeBytes(of: ShippingQueue.magic.littleEndian, as: UInt64.self) }
    if mode & 4 != 0 {
      (base + 16).initializeMemory(as: UInt8.self, repeating: 0, count: 48)
      (base + 280).initializeMemory(as: UInt8.self, repeating: 0, count: 40)
    }
    if mode & 8 != 0 {
      let capacity = UInt32(1) << (1 + UInt32(base.load(fromByteOffset: 8, as: UInt8.self) % 6))
      let slotSize = 8 * (1 + UInt32(base.load(fromByteOffset: 12, as: UInt8.self) % 8))
      base.storeBytes(of: capacity.littleEndian, toByteOffset: 8, as: UInt32.self)
      base.storeBytes(of: slotSize.littleEndian, toByteOffset: 12, as: UInt32.self)
    }
  }
  let region = Array(UnsafeRawBufferPointer(start: base, count: size))
  let got = Result { () throws(ShippingQueueError) in
    try ShippingQueue.attach(at: base, bytes: size)
  }
  checkAttach(got, shippingAttachModel(region, address: UInt(bitPattern: base)), bytes: size)
  guard case .success(let queue) = got else { return }

  // Garbage positions, sequences and lengths: answers, never traps.
  let slotSize = queue.slotSize
  let message = shippingPayload(1, length: min(slotSize, 24))
  checkEnqueueShape(
    message.withUnsafeBytes { queue.enqueue($0) }, length: message.count, slotSize: slotSize)
  for size in [slotSize, slotSize / 2, 0] {
    var buffer = [UInt8](repeating: 0, count: size)
    let result = buffer.withUnsafeMutableBytes { queue.dequeue(into: $0) }
    checkDequeueShape(result, size: size, slotSize: slotSize)
  }
  _ = queue.markConsumed()
  var buffer = [UInt8](repeating: 0, count: slotSize)
  var pauses = 0
  let report = buffer.withUnsafeMutableBytes { buffer in
    queue.drain(into: buffer, spinLimit: 3, pause: { pauses += 1 }) { message in
      require(message.count <= slotSize, "shipping-queue: drained message past the slot")
    }
  }
  checkDrainShape(report, pauses: pauses, size: slotSize, spinLimit: 3, queue: queue)
  _ = queue.statistics
  _ = queue.occupied
}

/// What `attach` must say about `region` (the bytes at `address`), read
/// here from the layout comment in ShippingQueue.swift: the capacity and
/// slot size of a queue that fits, or the first rule broken.
private func shippingAttachModel(_ region: [UInt8], address: UInt) -> Result<
  (capacity: Int, slotSize: Int), ShippingQueueError
> {
  if address % 64 != 0 { return .failure(.misaligned(address: address)) }
  if region.count < 320 { return .failure(.regionTooSmall(needed: 320, have: region.count)) }
  let magic = region.le64(0)!
  if magic != 0x0001_5150_4948_5354 { return .failure(.badMagic(magic)) }
  let capacity = Int(region.le32(8)!)
  let slotSize = Int(region.le32(12)!)
  if capacity < 2 || capacity > 65536 { return .failure(.capacityOutOfRange(capacity)) }
  if capacity & (capacity - 1) != 0 { return .failure(.capacityNotPowerOfTwo(capacity)) }
  if slotSize < 8 || slotSize > 65536 || slotSize % 8 != 0 {
    return .failure(.slotSizeInvalid(slotSize))
  }
  for offset in Array(16..<64) + Array(280..<320) where region[offset] != 0 {
    return .failure(.reservedNotZero(offset: offset))
  }
  let stride = (16 + slotSize + 63) / 64 * 64
  let needed = 320 + capacity * stride
  if needed > region.count { return .failure(.regionTooSmall(needed: needed, have: region.count)) }
  return .success((capacity, slotSize))
}

private func checkAttach(
  _ got: Result<ShippingQueue, ShippingQueueError>,
  _ expected: Result<(capacity: Int, slotSize: Int), ShippingQueueError>, bytes: Int
) {
  switch (got, expected) {
  case (.success(let queue), .success(let geometry)):
    require(
      queue.capacity == geometry.capacity && queue.slotSize == geometry.slotSize,
      "shipping-queue: attach read another geometry")
    require(
      320 + queue.capacity * queue.slotStride <= bytes, "shipping-queue: attached queue too big")
  case (.failure(let error), .failure(let model)):
    require(error == model, "shipping-queue: attach error differs from the header reading")
    _ = error.description
  default:
    fatalError("fuzz property violated: shipping-queue: attach accepts what the model refuses")
  }
}

private func checkEnqueueShape(_ result: ShippingEnqueueResult, length: Int, slotSize: Int) {
  if case .oversized(let count, let limit) = result {
    require(
      length > slotSize && count == length && limit == slotSize,
      "shipping-queue: enqueue oversized wrongly")
  } else {
    require(length <= slotSize, "shipping-queue: an oversized message was not refused")
  }
}

private func checkDequeueShape(_ result: ShippingDequeueResult, size: Int, slotSize: Int) {
  switch result {
  case .message(let length):
    require(length >= 0 && length <= slotSize && length <= size, "shipping-queue: message length")
  case .malformed(let length):
    require(Int(length) > slotSize, "shipping-queue: malformed with a length that fits")
  case .destinationTooSmall(let needed):
    require(needed > size && needed <= slotSize, "shipping-queue: destinationTooSmall wrongly")
  case .empty, .inProgress:
    break
  }
}

private func checkDrainShape(
  _ report: ShippingDrainReport, pauses: Int, size: Int, spinLimit: Int, queue: ShippingQueue
) {
  if size < queue.slotSize {
    require(report == ShippingDrainReport(stop: .bufferTooSmall), "shipping-queue: small buffer")
    return
  }
  require(report.stop != .bufferTooSmall, "shipping-queue: buffer refused that holds a slot")
  require(
    report.handled + report.malformed <= queue.capacity,
    "shipping-queue: a drain took more messages than slots")
  require(
    report.stop == .stalled ? pauses == max(0, spinLimit) : pauses == 0,
    "shipping-queue: drain paused without stalling")
}
