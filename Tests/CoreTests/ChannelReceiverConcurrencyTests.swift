// The channel ring with real threads: one sender thread per channel and one
// receiver thread, 100 000 messages in all. The receiver really sleeps:
// whenever `prepareToSleep` allows it, it blocks on a condition variable
// (standing in for the kernel's block call) until the sleeping flag is
// clear; a sender makes the wake call (`ReceiveEndpointControl.wake`, an
// exchange of the flag, plus a signal, under the same lock, as the kernel
// will do it) only when `send` said `wakeReceiver`. The block does NOT use
// the kernel's own re-check (`mayBlock`), only the flag, so nothing but the
// protocol's store-fence-load on both sides can save the receiver: a lost
// wake-up leaves it blocked with the flag set and messages pending, and
// every wait has a deadline, so that fails the test instead of hanging it.
// The receiver fetches and holds a few messages before it acks them, and
// takes every fifth with `receive` (freed at once, or once the held ones
// are acked).
// Checked: nothing lost, duplicated or reordered per sender, every payload
// and label intact, credits all back at the end; reported: how many times
// the receiver slept and how many wake calls that took, against messages.
import Dispatch
import Foundation
import Synchronization
import Testing

@testable import TesseraCore

@Suite struct ChannelReceiverConcurrencyTests {
  struct Geometry: Sendable, CustomTestStringConvertible {
    var slotCountLog2: Int
    var slotSizeLog2: Int
    var slotsPerChannel: Int
    var testDescription: String {
      "\(slotsPerChannel) slots of \(1 << slotSizeLog2) bytes per channel"
    }
  }

  @Test(arguments: [
    // Roomy: 32 credits per sender, 128-byte slots.
    Geometry(slotCountLog2: 7, slotSizeLog2: 7, slotsPerChannel: 32),
    // Tight: 2 credits per sender, 4 KiB slots: senders wait for acks all
    // the time and the receiver sleeps often.
    Geometry(slotCountLog2: 3, slotSizeLog2: 12, slotsPerChannel: 2),
  ])
  func sendersAndASleepingReceiverLoseNothing(geometry: Geometry) async throws {
    let senders = 4
    let perSender = 25_000
    let total = senders * perSender
    let endpoint = TestEndpoint(
      slotCountLog2: geometry.slotCountLog2, slotSizeLog2: geometry.slotSizeLog2,
      channelCount: senders)
    endpoint.bindAll([Int](repeating: geometry.slotsPerChannel, count: senders), labelBase: 0x100)
    let sleep = SleepQueue(control: endpoint.control)
    let tallies = RingTallies()
    let deadline = Date().addingTimeInterval(60)
    let done = DispatchGroup()
    let finalCredits = Mutex<[Int]>([Int](repeating: -1, count: senders))

    for channel in 0..<senders {
      let attached = try endpoint.sender(channel)
      done.enter()
      Thread {
        defer { done.leave() }
        var sender = attached
        var spins = 0
        for number in 1...perSender {
          // 16 to 80 bytes: the channel and number, then a pattern.
          let payload = ringPayload(
            channel: channel, number: UInt64(number), length: 16 + number % 65)
          while true {
            let result = sender.send(payload, replyLabel: UInt64(number))
            if case .sent(let wakeReceiver) = result {
              if wakeReceiver {
                tallies.wakeCalls.add(1, ordering: .relaxed)
                if sleep.wake() { tallies.signals.add(1, ordering: .relaxed) }
              }
              break
            }
            guard result == .noCredits else {
              tallies.fail("channel \(channel): send gave \(result)")
              return
            }
            tallies.noCredits.add(1, ordering: .relaxed)
            spins += 1
            if spins % 64 == 0 {
              guard Date() < deadline, !tallies.failed else {
                tallies.fail("channel \(channel): no credits past the deadline at \(number)")
                return
              }
              sched_yield()
            }
          }
        }
        // The receiver acks everything before it stops, so the credits come
        // back; wait for that (bounded).
        while sender.credits != geometry.slotsPerChannel, Date() < deadline, !tallies.failed {
          sched_yield()
        }
        let credits = sender.credits
        finalCredits.withLock { $0[channel] = credits }
      }.start()
    }

    let attached = endpoint.receiver()
    done.enter()
    Thread {
      defer { done.leave() }
      var receiver = attached
      var next = [UInt64](repeating: 1, count: senders)
      var received = 0
      var held: [ReceivedMessage] = []
      var sleeps = 0
      var emptyWakes = 0
      func ackHeld() -> Bool {
        for message in held {
          do throws(ChannelAckError) {
            try receiver.ack(message)
          } catch {
            tallies.fail("ack: \(error)")
            return false
          }
        }
        held.removeAll(keepingCapacity: true)
        return true
      }
      /// The next message of its channel, in order and intact.
      func check(_ message: ReceivedMessage) -> Bool {
        let channel = message.channel
        let number = next[channel]
        guard message.position == number, message.label == 0x100 + UInt64(channel),
          message.replyLabel == number, message.kind == .message,
          message.length == 16 + Int(number) % 65,
          message.bytes == ringPayload(channel: channel, number: number, length: message.length)
        else {
          tallies.fail("channel \(channel): got \(message.position), expected \(number)")
          return false
        }
        next[channel] = number + 1
        return true
      }
      var wokeUp = false
      while received < total {
        // Every fifth through receive: freed at once, or when the acks of
        // the messages held before it reach it.
        if received % 5 == 4, let checked = receiver.receive(check) {
          guard checked else { return }
          wokeUp = false
          received += 1
          continue
        }
        if let message = receiver.fetch() {
          wokeUp = false
          guard check(message) else { return }
          received += 1
          held.append(message)
          // Hold a few (in order per channel) before acking, as a server
          // that answers in batches would.
          if held.count >= 3, !ackHeld() { return }
          continue
        }
        if wokeUp { emptyWakes += 1 }
        guard ackHeld() else { return }
        if receiver.prepareToSleep() {
          switch sleep.block(until: deadline) {
          case .slept:
            sleeps += 1
            wokeUp = true
          case .wokenBeforeBlocking: break
          case .timedOut:
            tallies.fail(
              "the receiver slept past the deadline with \(received) of \(total) received")
            return
          }
          // The block call returned: the flag is clear again.
          receiver.clearSleeping()
        }
      }
      _ = ackHeld()
      tallies.record(
        received: received, sleeps: sleeps, emptyWakes: emptyWakes,
        statuses: (0..<senders).map { receiver.status(channel: $0) })
    }.start()

    let finished = await withCheckedContinuation { continuation in
      DispatchQueue.global().async {
        continuation.resume(returning: done.wait(timeout: .now() + 90) == .success)
      }
    }
    try #require(finished, "the threads did not finish in 90 s")
    #expect(tallies.failures == [])
    #expect(tallies.received == total)
    #expect(
      finalCredits.withLock { $0 } == [Int](repeating: geometry.slotsPerChannel, count: senders))
    for channel in 0..<senders {
      #expect(endpoint.control.consumed(channel: channel) == UInt64(perSender))
      let status = tallies.statuses[channel]
      #expect(status?.fetched == UInt64(perSender) && status?.acked == UInt64(perSender))
      #expect(status?.malformed == 0)
    }
    // Every sleep ended with a wake call that found the flag set; there may
    // be more such calls (a sender that took the flag while the receiver
    // was still deciding, then found it awake).
    let signals = tallies.signals.load(ordering: .relaxed)
    #expect(signals >= tallies.sleeps)
    #expect(!endpoint.control.receiverSleeping)
    print(
      "\(geometry.testDescription): \(total) messages, \(tallies.sleeps) sleeps, "
        + "\(tallies.wakeCalls.load(ordering: .relaxed)) wake calls, \(signals) signals "
        + "(\(tallies.emptyWakes) woke to nothing), "
        + "\(tallies.noCredits.load(ordering: .relaxed)) sends without credits")
  }
}

/// The kernel's block and wake calls for one receiver, as `ReceiveEndpoint-
/// Control` describes them, with a condition variable: `block` waits while
/// the sleeping flag is set (no re-check of the rings: the test is of the
/// protocol alone); `wake` exchanges the flag and signals when it was set.
final class SleepQueue: @unchecked Sendable {
  enum Outcome { case slept, wokenBeforeBlocking, timedOut }

  private let condition = NSCondition()
  private let control: ReceiveEndpointControl

  init(control: ReceiveEndpointControl) { self.control = control }

  func block(until deadline: Date) -> Outcome {
    condition.lock()
    defer { condition.unlock() }
    guard control.receiverSleeping else { return .wokenBeforeBlocking }
    while control.receiverSleeping {
      if !condition.wait(until: deadline) { return .timedOut }
    }
    return .slept
  }

  func wake() -> Bool {
    condition.lock()
    defer { condition.unlock() }
    guard control.wake() else { return false }
    condition.signal()
    return true
  }
}

/// Counters the threads share, and the receiver's record (read after the
/// threads finished; the dispatch group orders the accesses).
final class RingTallies: @unchecked Sendable {
  let wakeCalls = Atomic<Int>(0)
  let signals = Atomic<Int>(0)
  let noCredits = Atomic<Int>(0)
  private let failedFlag = Atomic<Bool>(false)
  private let lock = Mutex<[String]>([])
  private(set) var received = 0
  private(set) var sleeps = 0
  private(set) var emptyWakes = 0
  private(set) var statuses: [ReceiverChannelStatus?] = []

  var failed: Bool { failedFlag.load(ordering: .relaxed) }
  var failures: [String] { lock.withLock { $0 } }

  func fail(_ message: String) {
    failedFlag.store(true, ordering: .relaxed)
    lock.withLock { $0.append(message) }
  }

  func record(
    received: Int, sleeps: Int, emptyWakes: Int, statuses: [ReceiverChannelStatus?]
  ) {
    self.statuses = statuses
    self.received = received
    self.sleeps = sleeps
    self.emptyWakes = emptyWakes
  }
}
