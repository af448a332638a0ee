// Tests of the function-shipping queue: the slot protocol and the
// piggy-back IPI rule, one step at a time, against a model (an array FIFO
// plus the "was it empty" rule), with headers the attaching kernel must
// refuse, and with real host threads standing in for producer CPUs and the
// consumer CPU, the IPI simulated by a semaphore.
import Dispatch
import Foundation
import PropertyBased
import Synchronization
import Testing

@testable import TesseraCore

/// Page-aligned memory standing in for the shared region; freed when the
/// last holder (a test or one of its threads) lets go.
final class SharedRegion: @unchecked Sendable {
  let base: UnsafeMutableRawPointer
  let bytes: Int

  init(bytes: Int, fill: UInt8 = 0) {
    self.bytes = bytes
    base = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
    base.initializeMemory(as: UInt8.self, repeating: fill, count: bytes)
  }

  deinit { base.deallocate() }

  /// A queue formatted over the whole region.
  static func queue(slotSize: Int, capacity: Int) -> (SharedRegion, ShippingQueue) {
    let bytes = ShippingQueue.requiredBytes(slotSize: slotSize, capacity: capacity)!
    let region = SharedRegion(bytes: bytes, fill: 0xA5)
    let queue = try! ShippingQueue.initialize(
      at: region.base, bytes: bytes, slotSize: slotSize, capacity: capacity)
    return (region, queue)
  }
}

extension ShippingQueue {
  func enqueue(_ bytes: [UInt8]) -> ShippingEnqueueResult {
    bytes.withUnsafeBytes { enqueue($0) }
  }

  /// Dequeues one message and marks it consumed, as the consumer does.
  func take() -> (bytes: [UInt8], next: ShippingConsumerNext)? {
    var buffer = [UInt8](repeating: 0, count: slotSize)
    let result = buffer.withUnsafeMutableBytes { dequeue(into: $0) }
    guard case .message(let length) = result else { return nil }
    return (Array(buffer[0..<length]), markConsumed())
  }

  /// Drains as the consumer does on an IPI; returns the report and the
  /// messages in the order handled.
  func drainAll(spinLimit: Int = 100) -> (ShippingDrainReport, [[UInt8]]) {
    var buffer = [UInt8](repeating: 0, count: slotSize)
    var messages: [[UInt8]] = []
    let report = buffer.withUnsafeMutableBytes {
      drain(into: $0, spinLimit: spinLimit, pause: {}) { messages.append($0.bytes) }
    }
    return (report, messages)
  }
}

private func message(_ tag: Int, length: Int) -> [UInt8] {
  (0..<length).map { UInt8(truncatingIfNeeded: tag &* 31 &+ $0) }
}

@Suite struct ShippingQueueTests {
  // MARK: format and the single-threaded protocol

  @Test func initializeFormatsAnEmptyQueue() {
    #expect(ShippingQueue.requiredBytes(slotSize: 112, capacity: 8) == 320 + 8 * 128)
    #expect(ShippingQueue.requiredBytes(slotSize: 8, capacity: 2) == 320 + 2 * 64)
    #expect(ShippingQueue.requiredBytes(slotSize: 12, capacity: 8) == nil)
    #expect(ShippingQueue.requiredBytes(slotSize: 16, capacity: 6) == nil)
    let (region, queue) = SharedRegion.queue(slotSize: 112, capacity: 8)
    #expect(queue.capacity == 8 && queue.slotSize == 112 && queue.slotStride == 128)
    #expect(region.base.load(as: UInt64.self) == ShippingQueue.magic)
    #expect(
      queue.statistics
        == ShippingQueueStatistics(
          enqueued: 0, ipisRequested: 0, refusedFull: 0, dequeued: 0, pending: 0))
    #expect(queue.take() == nil)
    var buffer = [UInt8](repeating: 0, count: 112)
    #expect(buffer.withUnsafeMutableBytes { queue.dequeue(into: $0) } == .empty)
    #expect(queue.drainAll().0 == ShippingDrainReport(stop: .nothingPending))
  }

  @Test func onlyTheInsertIntoAnEmptyQueueRaisesTheIPI() {
    let (region, queue) = SharedRegion.queue(slotSize: 32, capacity: 8)
    // The queue holds only pointers into the region: keep it alive.
    defer { withExtendedLifetime(region) {} }
    #expect(queue.enqueue(message(1, length: 5)) == .enqueued(raiseIPI: true))
    #expect(queue.enqueue(message(2, length: 32)) == .enqueued(raiseIPI: false))
    #expect(queue.enqueue(message(3, length: 0)) == .enqueued(raiseIPI: false))
    #expect(queue.pending == 3)
    // The consumer drains: it keeps going until the counter reaches 0.
    #expect(queue.take()! == (message(1, length: 5), .drainMore))
    // An insert while the consumer is draining rides along.
    #expect(queue.enqueue(message(4, length: 8)) == .enqueued(raiseIPI: false))
    #expect(queue.take()! == (message(2, length: 32), .drainMore))
    #expect(queue.take()! == ([], .drainMore))
    #expect(queue.take()! == (message(4, length: 8), .sleep))
    // Asleep: the next insert must wake it.
    #expect(queue.enqueue(message(5, length: 1)) == .enqueued(raiseIPI: true))
    let statistics = queue.statistics
    #expect(statistics.enqueued == 5 && statistics.ipisRequested == 2)
    #expect(statistics.piggyBacked == 3 && statistics.dequeued == 4 && statistics.pending == 1)
  }

  @Test func aFullQueueRefusesWithoutWriting() {
    let (region, queue) = SharedRegion.queue(slotSize: 16, capacity: 4)
    for tag in 0..<4 { #expect(queue.enqueue(message(tag, length: 16)).raiseIPI == (tag == 0)) }
    let before = Array(UnsafeRawBufferPointer(start: region.base + 64, count: region.bytes - 64))
    #expect(queue.enqueue(message(9, length: 16)) == .full)
    #expect(queue.enqueue(byteCount: 4) { _ in Issue.record("wrote into a full queue") } == .full)
    // Only the refusal counter changed.
    var after = Array(UnsafeRawBufferPointer(start: region.base + 64, count: region.bytes - 64))
    #expect(after[272 - 64] == 2)
    after[272 - 64] = 0
    #expect(after == before)
    #expect(queue.statistics.refusedFull == 2 && queue.pending == 4 && queue.occupied == 4)
    for tag in 0..<4 { #expect(queue.take()!.bytes == message(tag, length: 16)) }
    #expect(queue.enqueue(message(5, length: 16)) == .enqueued(raiseIPI: true))
  }

  @Test func positionsWrapAroundTheRingInOrder() {
    let (region, queue) = SharedRegion.queue(slotSize: 24, capacity: 4)
    // The queue holds only pointers into the region: keep it alive.
    defer { withExtendedLifetime(region) {} }
    var next = 0
    var expected = 0
    for round in 0..<50 {
      let burst = 1 + round % 4
      for index in 0..<burst {
        #expect(queue.enqueue(message(next, length: next % 25)).raiseIPI == (index == 0))
        next += 1
      }
      for index in 0..<burst {
        let (bytes, nextStep) = queue.take()!
        #expect(bytes == message(expected, length: expected % 25))
        #expect(nextStep == (index == burst - 1 ? .sleep : .drainMore))
        expected += 1
      }
    }
    #expect(queue.statistics.dequeued == UInt64(next) && queue.occupied == 0)
    #expect(queue.statistics.ipisRequested == 50)
  }

  @Test func oversizedPayloadsAreRefused() {
    let (region, queue) = SharedRegion.queue(slotSize: 32, capacity: 4)
    // The queue holds only pointers into the region: keep it alive.
    defer { withExtendedLifetime(region) {} }
    #expect(queue.enqueue(message(0, length: 33)) == .oversized(byteCount: 33, limit: 32))
    #expect(queue.enqueue(byteCount: -1) { _ in } == .oversized(byteCount: -1, limit: 32))
    #expect(queue.statistics.enqueued == 0 && queue.pending == 0 && queue.occupied == 0)
    #expect(queue.enqueue(message(0, length: 32)) == .enqueued(raiseIPI: true))
    // The writer gets exactly the bytes it asked for.
    var given = 0
    #expect(queue.enqueue(byteCount: 7) { given = $0.count } == .enqueued(raiseIPI: false))
    #expect(given == 7)
  }

  @Test func theConsumerBufferMustHoldTheMessage() {
    let (region, queue) = SharedRegion.queue(slotSize: 32, capacity: 4)
    // The queue holds only pointers into the region: keep it alive.
    defer { withExtendedLifetime(region) {} }
    _ = queue.enqueue(message(1, length: 20))
    var small = [UInt8](repeating: 0, count: 19)
    #expect(
      small.withUnsafeMutableBytes { queue.dequeue(into: $0) } == .destinationTooSmall(needed: 20))
    #expect(
      small.withUnsafeMutableBytes {
        queue.drain(into: $0, spinLimit: 1, pause: {}) { _ in }
      } == ShippingDrainReport(stop: .bufferTooSmall))
    #expect(queue.take()!.bytes == message(1, length: 20))
  }

  @Test func markingWithNothingPendingLeavesTheCounterAlone() {
    let (region, queue) = SharedRegion.queue(slotSize: 8, capacity: 2)
    // The queue holds only pointers into the region: keep it alive.
    defer { withExtendedLifetime(region) {} }
    #expect(queue.markConsumed() == .sleep)
    #expect(queue.pending == 0)
    #expect(queue.enqueue(message(0, length: 8)) == .enqueued(raiseIPI: true))
  }

  /// A producer between claim and publish: the consumer sees the head in
  /// progress; a later producer's message waits behind it, and the drain
  /// that started for it stalls (bounded) instead of skipping or hanging.
  @Test func aClaimedSlotHoldsUpTheConsumerBoundedly() {
    let (region, queue) = SharedRegion.queue(slotSize: 16, capacity: 4)
    // The queue holds only pointers into the region: keep it alive.
    defer { withExtendedLifetime(region) {} }
    var pauses = 0
    let first = queue.enqueue(byteCount: 16) { slot in
      var buffer = [UInt8](repeating: 0, count: 16)
      #expect(buffer.withUnsafeMutableBytes { queue.dequeue(into: $0) } == .inProgress)
      // Another CPU inserts behind the claimed slot: the counter was 0.
      #expect(queue.enqueue(message(2, length: 4)) == .enqueued(raiseIPI: true))
      let report = buffer.withUnsafeMutableBytes {
        queue.drain(into: $0, spinLimit: 5, pause: { pauses += 1 }) { _ in
          Issue.record("handled a message behind an unpublished slot")
        }
      }
      #expect(report == ShippingDrainReport(stop: .stalled))
      message(1, length: 16).withUnsafeBytes { slot.copyMemory(from: $0) }
    }
    // The counter was 1 (the second request), so no IPI: the kernel's
    // later poll finds both, in slot order.
    #expect(first == .enqueued(raiseIPI: false))
    #expect(pauses == 5)
    let (report, messages) = queue.drainAll()
    #expect(report == ShippingDrainReport(handled: 2, stop: .asleep))
    #expect(messages == [message(1, length: 16), message(2, length: 4)])
  }

  // MARK: memory the other kernel may have scribbled on

  @Test func aCorruptLengthIsSkippedNotTrusted() {
    let (region, queue) = SharedRegion.queue(slotSize: 16, capacity: 4)
    _ = queue.enqueue(message(1, length: 8))
    _ = queue.enqueue(message(2, length: 8))
    // Slot 0's length word says more than a slot holds.
    region.base.storeBytes(of: UInt32(17), toByteOffset: 320 + 8, as: UInt32.self)
    let (report, messages) = queue.drainAll()
    #expect(report == ShippingDrainReport(handled: 1, malformed: 1, stop: .asleep))
    #expect(messages == [message(2, length: 8)])
    #expect(queue.pending == 0 && queue.occupied == 0)
  }

  @Test func anInjectedCorruptSlotIsFoundMalformedAndTheQueueGoesOn() {
    let (_, queue) = SharedRegion.queue(slotSize: 16, capacity: 4)
    #expect(queue.enqueueCorruptSlot() == .enqueued(raiseIPI: true))
    _ = queue.enqueue(message(2, length: 8))
    var buffer = [UInt8](repeating: 0, count: 16)
    let first = buffer.withUnsafeMutableBytes { queue.dequeue(into: $0) }
    #expect(first == .malformed(length: UInt32.max))
    let (report, messages) = queue.drainAll()
    #expect(report.handled == 1 && messages == [message(2, length: 8)])
  }

  @Test func aCorruptSequenceEndsInAStallNotAHang() {
    let (region, queue) = SharedRegion.queue(slotSize: 16, capacity: 4)
    _ = queue.enqueue(message(1, length: 8))
    region.base.storeBytes(of: UInt64(0xDEAD), toByteOffset: 320, as: UInt64.self)
    let (report, _) = queue.drainAll(spinLimit: 3)
    #expect(report == ShippingDrainReport(stop: .stalled))
    // Producers facing a sequence from the future give up, boundedly.
    region.base.storeBytes(of: UInt64(0xDEAD), toByteOffset: 320 + 64, as: UInt64.self)
    region.base.storeBytes(of: UInt64(1), toByteOffset: 64, as: UInt64.self)
    #expect(queue.enqueue(message(2, length: 8)) == .busy)
  }

  @Test func attachSharesTheQueue() throws {
    let (region, queue) = SharedRegion.queue(slotSize: 40, capacity: 16)
    let other = try ShippingQueue.attach(at: region.base, bytes: region.bytes)
    #expect(other.capacity == 16 && other.slotSize == 40 && other.slotStride == 64)
    #expect(other.enqueue(message(7, length: 40)) == .enqueued(raiseIPI: true))
    #expect(queue.take()! == (message(7, length: 40), .sleep))
    #expect(other.statistics == queue.statistics)
    // A larger region than needed is fine.
    #expect(throws: Never.self) {
      let big = SharedRegion(bytes: region.bytes + 4096)
      big.base.copyMemory(from: region.base, byteCount: region.bytes)
      _ = try ShippingQueue.attach(at: big.base, bytes: big.bytes)
    }
  }

  /// A formatted header with `patch` applied, attached with `bytes` (the
  /// formatted size when nil).
  private func attachError(
    bytes: Int? = nil, offset: Int = 0, _ patch: (UnsafeMutableRawPointer) -> Void = { _ in }
  ) -> ShippingQueueError? {
    let (region, _) = SharedRegion.queue(slotSize: 16, capacity: 8)
    patch(region.base)
    do throws(ShippingQueueError) {
      _ = try ShippingQueue.attach(at: region.base + offset, bytes: bytes ?? region.bytes)
      return nil
    } catch {
      return error
    }
  }

  @Test func attachRefusesMalformedHeaders() {
    let needed = ShippingQueue.requiredBytes(slotSize: 16, capacity: 8)!
    #expect(attachError() == nil)
    // Never formatted, or another layout version.
    #expect(
      attachError { $0.initializeMemory(as: UInt8.self, repeating: 0, count: 320) } == .badMagic(0))
    #expect(
      attachError { $0.storeBytes(of: 0x0002_5150_4948_5354, as: UInt64.self) }
        == .badMagic(0x0002_5150_4948_5354))
    // Capacity: not a power of two, too small, too large.
    #expect(
      attachError { $0.storeBytes(of: UInt32(6), toByteOffset: 8, as: UInt32.self) }
        == .capacityNotPowerOfTwo(6))
    for capacity: UInt32 in [0, 1, 1 << 17, .max] {
      #expect(
        attachError { $0.storeBytes(of: capacity, toByteOffset: 8, as: UInt32.self) }
          == .capacityOutOfRange(Int(capacity)))
    }
    for slotSize: UInt32 in [0, 12, 1 << 17, .max] {
      #expect(
        attachError { $0.storeBytes(of: slotSize, toByteOffset: 12, as: UInt32.self) }
          == .slotSizeInvalid(Int(slotSize)))
    }
    // Sizes that exceed the bytes given: the slots, the header, nothing.
    #expect(attachError(bytes: needed - 1) == .regionTooSmall(needed: needed, have: needed - 1))
    #expect(
      attachError { $0.storeBytes(of: UInt32(1 << 16), toByteOffset: 8, as: UInt32.self) }
        == .regionTooSmall(needed: 320 + (1 << 16) * 64, have: needed))
    #expect(attachError(bytes: 319) == .regionTooSmall(needed: 320, have: 319))
    #expect(attachError(bytes: -5) == .regionTooSmall(needed: 320, have: 0))
    if case .misaligned = attachError(bytes: needed - 8, offset: 8) {
    } else {
      Issue.record("a misaligned base was not refused as misaligned")
    }
    for offset in [16, 63, 280, 319] {
      #expect(
        attachError { $0.storeBytes(of: UInt8(1), toByteOffset: offset, as: UInt8.self) }
          == .reservedNotZero(offset: offset))
    }
  }

  @Test func initializeRefusesBadGeometry() {
    let region = SharedRegion(bytes: 8192)
    func error(_ slotSize: Int, _ capacity: Int, bytes: Int = 8192, offset: Int = 0)
      -> ShippingQueueError?
    {
      do throws(ShippingQueueError) {
        _ = try ShippingQueue.initialize(
          at: region.base + offset, bytes: bytes, slotSize: slotSize, capacity: capacity)
        return nil
      } catch {
        return error
      }
    }
    #expect(error(16, 12) == .capacityNotPowerOfTwo(12))
    #expect(error(16, 1) == .capacityOutOfRange(1))
    #expect(error(16, -4) == .capacityOutOfRange(-4))
    #expect(error(20, 4) == .slotSizeInvalid(20))
    #expect(error(16, 128) == .regionTooSmall(needed: 320 + 128 * 64, have: 8192))
    #expect(error(16, 4, bytes: 100) == .regionTooSmall(needed: 576, have: 100))
    #expect(error(16, 4, offset: 32) == .misaligned(address: UInt(bitPattern: region.base + 32)))
    #expect(error(16, 64) == nil)
  }

  /// Random header bytes behind a valid magic: attach answers, never traps,
  /// and whatever it accepts fits in the region.
  @Test func randomHeadersNeverTrap() async {
    await propertyCheck(
      count: 400, input: Gen.uint8().array(of: 320), Gen.int(in: 0...70_000),
      Gen.int(in: 0...3)
    ) { header, bytes, mode in
      let region = SharedRegion(bytes: max(bytes, 320))
      header.withUnsafeBytes { region.base.copyMemory(from: $0.baseAddress!, byteCount: 320) }
      if mode > 0 { region.base.storeBytes(of: ShippingQueue.magic, as: UInt64.self) }
      if mode > 1 {
        // Small valid-looking geometry, reserved bytes cleared.
        region.base.storeBytes(
          of: UInt32(1) << (header[8] % 10), toByteOffset: 8, as: UInt32.self)
        region.base.storeBytes(
          of: UInt32(header[12] % 8) * 8, toByteOffset: 12, as: UInt32.self)
        (region.base + 16).initializeMemory(as: UInt8.self, repeating: 0, count: 48)
        (region.base + 280).initializeMemory(as: UInt8.self, repeating: 0, count: 40)
      }
      if let queue = try? ShippingQueue.attach(at: region.base, bytes: bytes) {
        #expect(320 + queue.capacity * queue.slotStride <= bytes)
        // Garbage positions and sequences: operations answer, never trap.
        _ = queue.enqueue([1, 2, 3])
        _ = queue.drainAll(spinLimit: 2)
      }
    }
  }

  // MARK: against the model

  /// Random enqueues (some oversized, some into a full queue), single
  /// dequeues and whole drains over small queues: the contents, the
  /// refusals, the counters and every IPI decision match an array FIFO and
  /// the rule "IPI exactly when the model queue was empty before the insert".
  @Test func randomSequencesMatchTheModel() async {
    await propertyCheck(
      count: 200, input: Gen.int(in: 1...5), Gen.int(in: 1...4),
      Gen.int(in: 0...Int.max).array(of: 1...300)
    ) { capacityLog, slotWords, steps in
      #expect(Self.run(capacity: 1 << capacityLog, slotSize: 8 * slotWords, steps: steps) == nil)
    }
  }

  /// Runs one case; returns the first discrepancy.
  static func run(capacity: Int, slotSize: Int, steps: [Int]) -> String? {
    let (region, queue) = SharedRegion.queue(slotSize: slotSize, capacity: capacity)
    // The queue holds only pointers into the region: keep it alive.
    defer { withExtendedLifetime(region) {} }
    var model: [[UInt8]] = []
    var enqueued: UInt64 = 0
    var ipis: UInt64 = 0
    var refused: UInt64 = 0
    var dequeued: UInt64 = 0
    for (index, step) in steps.enumerated() {
      let context = "step \(index): "
      let operation = step % 100
      let length = (step / 100) % (slotSize + 9)
      if operation < 60 {
        let bytes = message(index, length: length)
        let result = queue.enqueue(bytes)
        let expected: ShippingEnqueueResult
        if length > slotSize {
          expected = .oversized(byteCount: length, limit: slotSize)
        } else if model.count == capacity {
          expected = .full
          refused += 1
        } else {
          expected = .enqueued(raiseIPI: model.isEmpty)
          if model.isEmpty { ipis += 1 }
          model.append(bytes)
          enqueued += 1
        }
        if result != expected { return context + "enqueue gave \(result), model \(expected)" }
      } else if operation < 93 {
        let taken = queue.take()
        if model.isEmpty {
          if let taken { return context + "dequeued \(taken.bytes) from an empty queue" }
        } else {
          let head = model.removeFirst()
          dequeued += 1
          guard let taken else { return context + "nothing dequeued, model has \(head)" }
          if taken.bytes != head { return context + "dequeued \(taken.bytes), model \(head)" }
          let next: ShippingConsumerNext = model.isEmpty ? .sleep : .drainMore
          if taken.next != next { return context + "consumer told \(taken.next), model \(next)" }
        }
      } else {
        let (report, messages) = queue.drainAll()
        let expected = ShippingDrainReport(
          handled: model.count, stop: model.isEmpty ? .nothingPending : .asleep)
        if report != expected || messages != model {
          return context + "drain gave \(report) \(messages), model \(model)"
        }
        dequeued += UInt64(model.count)
        model = []
      }
      let statistics = queue.statistics
      let expected = ShippingQueueStatistics(
        enqueued: enqueued, ipisRequested: ipis, refusedFull: refused, dequeued: dequeued,
        pending: UInt64(model.count))
      if statistics != expected { return context + "statistics \(statistics), model \(expected)" }
      if queue.occupied != UInt64(model.count) { return context + "occupied \(queue.occupied)" }
    }
    return nil
  }

  // MARK: several producer CPUs, one consumer CPU

  /// 4 producer threads × 20 000 requests (each a `ShippedRequest` naming its
  /// producer and sequence number), one consumer thread that sleeps on a
  /// semaphore (the IPI) and drains per wake-up. Nothing is lost, duplicated
  /// or reordered per producer; every IPI comes from an insert that found
  /// the counter at 0 and wakes a consumer with work; after the producers
  /// finish and the consumer sleeps, the queue is empty and no IPI is owed.
  /// Every wait has a deadline, so a bug fails the test instead of hanging it.
  @Test(arguments: [8, 1024]) func concurrentProducersLoseNoRequestAndNoWakeUp(capacity: Int)
    async throws
  {
    let producers = 4
    let perProducer = 20_000
    let (region, queue) = SharedRegion.queue(slotSize: 128, capacity: capacity)
    let ipi = DispatchSemaphore(value: 0)
    let log = ConsumerLog(producers: producers)
    let counters = ProducerCounters()
    let deadline = Date().addingTimeInterval(120)
    let done = DispatchGroup()

    for producer in 0..<producers {
      done.enter()
      Thread {
        defer { done.leave() }
        _ = region  // keeps the memory alive while this thread runs
        for sequence in 0..<perProducer {
          var payload = UInt64(sequence).littleEndian
          var result: ShippingEnqueueResult
          repeat {
            result = withUnsafeBytes(of: &payload) { data in
              let request = ShippedRequest(
                route: ShippingRoute(server: 1, queue: 0),
                context: ShippingContext(
                  instance: 1, process: 7, thread: UInt32(producer), replyQueue: 3,
                  tag: UInt64(sequence)),
                number: 1, arguments: ShippedArguments([UInt64(producer), UInt64(sequence)])!,
                data: ByteView(data))
              return queue.enqueue(byteCount: request.encodedSize) { _ = request.encode(into: $0) }
            }
            if result == .full {
              counters.full.add(1, ordering: .relaxed)
              guard Date() < deadline, !counters.consumerFailed.load(ordering: .relaxed) else {
                counters.gaveUp.add(1, ordering: .relaxed)
                return
              }
              sched_yield()
            }
          } while result == .full
          if result.raiseIPI {
            counters.ipis.add(1, ordering: .relaxed)
            ipi.signal()
          } else if result != .enqueued(raiseIPI: false) {
            counters.gaveUp.add(1, ordering: .relaxed)
            return
          }
        }
      }.start()
    }

    done.enter()
    Thread {
      defer { done.leave() }
      _ = region
      var buffer = [UInt8](repeating: 0, count: queue.slotSize)
      let total = producers * perProducer
      while log.received < total {
        guard ipi.wait(timeout: .now() + 10) == .success else {
          log.failures.append("the consumer waited 10 s for an IPI with \(log.received) received")
          counters.consumerFailed.store(true, ordering: .relaxed)
          return
        }
        log.wakes += 1
        if queue.pending == 0 { log.failures.append("woken with nothing pending") }
        var report: ShippingDrainReport
        repeat {
          report = buffer.withUnsafeMutableBytes { buffer in
            queue.drain(into: buffer, spinLimit: 1000, pause: { sched_yield() }) { view in
              log.handle(view)
            }
          }
          if report.stop == .stalled {
            log.stalls += 1
            guard Date() < deadline else {
              log.failures.append("stalled past the deadline")
              counters.consumerFailed.store(true, ordering: .relaxed)
              return
            }
          }
        } while report.stop == .stalled
        if report.stop != .asleep { log.failures.append("drain stopped: \(report.stop)") }
      }
    }.start()

    let finished = await withCheckedContinuation { continuation in
      DispatchQueue.global().async {
        continuation.resume(returning: done.wait(timeout: .now() + 150) == .success)
      }
    }
    try #require(finished, "the threads did not finish in 150 s")
    #expect(counters.gaveUp.load(ordering: .relaxed) == 0)
    #expect(log.failures == [])
    #expect(log.received == producers * perProducer)
    #expect(log.next == [Int](repeating: perProducer, count: producers))
    // Every IPI woke the consumer once, and it found work each time.
    let statistics = queue.statistics
    #expect(statistics.enqueued == UInt64(producers * perProducer))
    #expect(statistics.ipisRequested == UInt64(counters.ipis.load(ordering: .relaxed)))
    #expect(statistics.ipisRequested == UInt64(log.wakes))
    #expect(statistics.refusedFull == UInt64(counters.full.load(ordering: .relaxed)))
    // The consumer sleeps: nothing pending, nothing queued, no IPI owed.
    #expect(
      statistics.pending == 0 && queue.occupied == 0 && statistics.dequeued == statistics.enqueued)
    #expect(ipi.wait(timeout: .now()) == .timedOut)
    print(
      "capacity \(capacity): \(statistics.enqueued) requests, \(statistics.ipisRequested) IPIs, "
        + "\(statistics.piggyBacked) piggy-backed, \(statistics.refusedFull) full refusals, "
        + "\(log.stalls) stalls")
  }
}

/// Producer-side tallies, shared by the producer threads.
final class ProducerCounters: Sendable {
  let ipis = Atomic<Int>(0)
  let full = Atomic<Int>(0)
  let gaveUp = Atomic<Int>(0)
  /// Set when the consumer gave up, so that producers waiting for room stop.
  let consumerFailed = Atomic<Bool>(false)
}

/// The consumer thread's record; read by the test only after the thread
/// has finished (the dispatch group orders the accesses).
final class ConsumerLog: @unchecked Sendable {
  var received = 0
  var wakes = 0
  var stalls = 0
  /// The next sequence number expected from each producer.
  var next: [Int]
  var failures: [String] = []

  init(producers: Int) { next = [Int](repeating: 0, count: producers) }

  func handle(_ view: ByteView) {
    received += 1
    let request: ShippedRequest
    do throws(ShippedMessageError) {
      request = try ShippedRequest.decode(view)
    } catch {
      failures.append(error.description)
      return
    }
    let producer = Int(request.context.thread)
    let sequence = Int(request.context.tag)
    guard producer < next.count, request.arguments[0] == UInt64(producer),
      request.arguments[1] == UInt64(sequence),
      request.data.u64(0) == UInt64(sequence)
    else {
      failures.append("garbled request \(producer)/\(sequence)")
      return
    }
    if sequence != next[producer] {
      // Lost, duplicated or reordered.
      failures.append("producer \(producer): got \(sequence), expected \(next[producer])")
    }
    next[producer] = sequence + 1
  }
}
