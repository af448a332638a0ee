import PropertyBased
import Testing

@testable import TesseraCore

/// IPCRendezvous: the wait states and endpoint queues of synchronous IPC,
/// move by move and against a model that keeps plain lists and indices.
struct IPCRendezvousTests {
  final class Waiter: IPCWaiter {
    let id: Int
    var ipc = IPCWait<Waiter>()
    var replyTo: Waiter? = nil
    init(_ id: Int) { self.id = id }
  }

  typealias Endpoint = IPCEndpoint<Waiter>

  static func arrive(_ w: Waiter, at endpoint: Endpoint, capability: UInt64 = 1) {
    w.ipc = IPCWait(endpoint: endpoint, capability: CapabilityID(rawValue: capability), label: 7)
  }

  @Test func aSenderWaitsUntilAReceiverComes() {
    let endpoint = Endpoint()
    let (sender, receiver) = (Waiter(1), Waiter(2))
    Self.arrive(sender, at: endpoint)
    #expect(IPCRendezvous.send(sender, call: false) == nil)
    #expect(sender.ipc.state == .sending && endpoint.senders.map(\.id) == [1])
    Self.arrive(receiver, at: endpoint)
    let met = IPCRendezvous.receive(receiver, receiveSlot: 9)
    #expect(met === sender && endpoint.senders.isEmpty)
    #expect(IPCRendezvous.delivered(from: sender, to: receiver))
    #expect(sender.ipc.state == .none && receiver.ipc.state == .none && endpoint.isIdle)
  }

  @Test func aReceiverWaitsAndKeepsItsSlot() {
    let endpoint = Endpoint()
    let (sender, receiver) = (Waiter(1), Waiter(2))
    Self.arrive(receiver, at: endpoint)
    #expect(IPCRendezvous.receive(receiver, receiveSlot: 9) == nil)
    #expect(receiver.ipc.state == .receiving && receiver.ipc.receiveSlot == 9)
    Self.arrive(sender, at: endpoint)
    let met = IPCRendezvous.send(sender, call: false)
    #expect(met === receiver && met?.ipc.receiveSlot == 9)  // still readable
    IPCRendezvous.delivered(from: sender, to: receiver)
    #expect(endpoint.isIdle)
  }

  @Test func aCallWaitsForItsReplyAndTheReplyEndsIt() {
    let endpoint = Endpoint()
    let (caller, server) = (Waiter(1), Waiter(2))
    Self.arrive(server, at: endpoint)
    _ = IPCRendezvous.receive(server, receiveSlot: 0)
    Self.arrive(caller, at: endpoint)
    let met = IPCRendezvous.send(caller, call: true)
    #expect(met === server)
    #expect(!IPCRendezvous.delivered(from: caller, to: server))
    #expect(caller.ipc.state == .awaitingReply && caller.ipc.server === server)
    #expect(server.replyTo === caller && endpoint.pendingCalls == 1 && !endpoint.isIdle)
    #expect(IPCRendezvous.answer(server) === caller)
    #expect(caller.ipc.state == .none && server.replyTo == nil && endpoint.isIdle)
    #expect(IPCRendezvous.answer(server) == nil)  // nothing owed any more
  }

  @Test func sendersAreServedOldestFirst() {
    let endpoint = Endpoint()
    let senders = (1...4).map(Waiter.init)
    for sender in senders {
      Self.arrive(sender, at: endpoint)
      _ = IPCRendezvous.send(sender, call: false)
    }
    var order: [Int] = []
    for _ in senders {
      let receiver = Waiter(9)
      Self.arrive(receiver, at: endpoint)
      if let sender = IPCRendezvous.receive(receiver, receiveSlot: 0) {
        order.append(sender.id)
        IPCRendezvous.delivered(from: sender, to: receiver)
      }
    }
    #expect(order == [1, 2, 3, 4])
  }

  @Test func aServerThatEndsFailsItsCaller() {
    let endpoint = Endpoint()
    let (caller, server) = (Waiter(1), Waiter(2))
    Self.arrive(server, at: endpoint)
    _ = IPCRendezvous.receive(server, receiveSlot: 0)
    Self.arrive(caller, at: endpoint)
    _ = IPCRendezvous.send(caller, call: true)
    IPCRendezvous.delivered(from: caller, to: server)
    #expect(IPCRendezvous.cancel(server) === caller)
    #expect(caller.ipc.state == .none && endpoint.isIdle)
  }

  @Test func aCallerThatEndsIsNoLongerOwedAReply() {
    let endpoint = Endpoint()
    let (caller, server) = (Waiter(1), Waiter(2))
    Self.arrive(server, at: endpoint)
    _ = IPCRendezvous.receive(server, receiveSlot: 0)
    Self.arrive(caller, at: endpoint)
    _ = IPCRendezvous.send(caller, call: true)
    IPCRendezvous.delivered(from: caller, to: server)
    #expect(IPCRendezvous.cancel(caller) == nil)
    #expect(server.replyTo == nil && endpoint.isIdle)
    #expect(IPCRendezvous.answer(server) == nil)
  }

  @Test func abortTakesOnlyTheWaitersOfThatCapability() {
    let endpoint = Endpoint()
    let waiters = (1...4).map(Waiter.init)
    for (i, waiter) in waiters.enumerated() {
      Self.arrive(waiter, at: endpoint, capability: UInt64(i % 2 + 1))
      _ = IPCRendezvous.send(waiter, call: false)
    }
    let aborted = IPCRendezvous.abortQueued(endpoint, through: CapabilityID(rawValue: 2))
    #expect(aborted.map(\.id) == [2, 4])
    #expect(endpoint.senders.map(\.id) == [1, 3])
    #expect(aborted.allSatisfy { $0.ipc.state == .none })
    #expect(IPCRendezvous.abortQueued(endpoint, through: nil).map(\.id) == [1, 3])
    #expect(endpoint.isIdle)
  }

  @Test func anAbortedCallAwaitingItsReplyIsFoundAndAbandoned() {
    let endpoint = Endpoint()
    let (caller, server) = (Waiter(1), Waiter(2))
    Self.arrive(server, at: endpoint)
    _ = IPCRendezvous.receive(server, receiveSlot: 0)
    Self.arrive(caller, at: endpoint, capability: 5)
    _ = IPCRendezvous.send(caller, call: true)
    IPCRendezvous.delivered(from: caller, to: server)
    #expect(!IPCRendezvous.waitsForReply(caller, on: endpoint, through: CapabilityID(rawValue: 6)))
    #expect(IPCRendezvous.waitsForReply(caller, on: endpoint, through: CapabilityID(rawValue: 5)))
    #expect(IPCRendezvous.waitsForReply(caller, on: endpoint, through: nil))
    IPCRendezvous.abandon(caller)
    #expect(endpoint.isIdle && server.replyTo == nil)
    #expect(IPCRendezvous.answer(server) == nil)  // the reply finds nobody
  }

  // MARK: Against a model

  /// The model: per thread its state, endpoint, capability, server and the
  /// caller it owes; per endpoint its queues as lists of thread numbers.
  struct Model {
    struct Thread: Equatable {
      var state = IPCWaitState.none
      var endpoint: Int? = nil
      var capability: UInt64 = 0
      var server: Int? = nil
      var replyTo: Int? = nil
    }
    var threads: [Thread]
    var senders: [[Int]]
    var receivers: [[Int]]

    init(threads: Int, endpoints: Int) {
      self.threads = Array(repeating: Thread(), count: threads)
      senders = Array(repeating: [], count: endpoints)
      receivers = Array(repeating: [], count: endpoints)
    }

    func pendingCalls(_ e: Int) -> Int {
      threads.filter { $0.state == .awaitingReply && $0.endpoint == e }.count
    }

    mutating func clear(_ t: Int) {
      let replyTo = threads[t].replyTo
      threads[t] = Thread()
      threads[t].replyTo = replyTo
    }

    mutating func abandon(_ t: Int) {
      let thread = threads[t]
      switch thread.state {
      case .awaitingReply:
        if let s = thread.server, threads[s].replyTo == t { threads[s].replyTo = nil }
      case .sending, .calling, .receiving:
        let e = thread.endpoint!
        senders[e].removeAll { $0 == t }
        receivers[e].removeAll { $0 == t }
      case .none: break
      }
      clear(t)
    }

    /// A message from `s` to `r`: returns whether the sender is done.
    mutating func deliver(_ s: Int, _ r: Int) -> Bool {
      clear(r)
      if threads[s].state == .calling {
        threads[s].state = .awaitingReply
        threads[s].server = r
        threads[r].replyTo = s
        return false
      }
      clear(s)
      return true
    }

    mutating func send(_ t: Int, _ e: Int, _ cap: UInt64, call: Bool) -> (Int?, Bool) {
      threads[t].state = call ? .calling : .sending
      threads[t].endpoint = e
      threads[t].capability = cap
      guard !receivers[e].isEmpty else {
        senders[e].append(t)
        return (nil, false)
      }
      let r = receivers[e].removeFirst()
      return (r, deliver(t, r))
    }

    mutating func receive(_ t: Int, _ e: Int, _ cap: UInt64) -> (Int?, Bool) {
      threads[t].endpoint = e
      threads[t].capability = cap
      guard !senders[e].isEmpty else {
        threads[t].state = .receiving
        receivers[e].append(t)
        return (nil, false)
      }
      let s = senders[e].removeFirst()
      return (s, deliver(s, t))
    }

    mutating func answer(_ t: Int) -> Int? {
      guard let c = threads[t].replyTo else { return nil }
      threads[t].replyTo = nil
      guard threads[c].state == .awaitingReply, threads[c].server == t else { return nil }
      clear(c)
      return c
    }

    mutating func cancel(_ t: Int) -> Int? {
      abandon(t)
      guard let c = threads[t].replyTo else { return nil }
      threads[t].replyTo = nil
      guard threads[c].state == .awaitingReply, threads[c].server == t else { return nil }
      abandon(c)
      return c
    }

    mutating func abort(_ e: Int, _ cap: UInt64?) -> [Int] {
      var aborted: [Int] = []
      for t in senders[e] + receivers[e] where cap == nil || threads[t].capability == cap {
        abandon(t)
        aborted.append(t)
      }
      for t in threads.indices
      where threads[t].state == .awaitingReply && threads[t].endpoint == e
        && (cap == nil || threads[t].capability == cap)
      {
        abandon(t)
        aborted.append(t)
      }
      return aborted
    }
  }

  /// Compares every thread and endpoint with the model, and checks the
  /// invariants that hold whatever the model says.
  static func expectSame(
    _ threads: [Waiter], _ endpoints: [Endpoint], _ model: Model, after step: String
  ) {
    for (t, thread) in threads.enumerated() {
      let endpoint = thread.ipc.endpoint.flatMap { e in endpoints.firstIndex { $0 === e } }
      let seen = Model.Thread(
        state: thread.ipc.state, endpoint: thread.ipc.state == .none ? nil : endpoint,
        capability: thread.ipc.state == .none ? 0 : thread.ipc.capability.rawValue,
        server: thread.ipc.state == .awaitingReply ? thread.ipc.server?.id : nil,
        replyTo: thread.replyTo?.id)
      var expected = model.threads[t]
      if expected.state == .none { expected.capability = 0 }
      #expect(seen == expected, "thread \(t) after \(step)")
    }
    for (e, endpoint) in endpoints.enumerated() {
      #expect(endpoint.senders.map(\.id) == model.senders[e], "senders of \(e) after \(step)")
      #expect(endpoint.receivers.map(\.id) == model.receivers[e], "receivers of \(e) after \(step)")
      #expect(endpoint.pendingCalls == model.pendingCalls(e), "pending calls of \(e) after \(step)")
      // A thread is queued exactly when it sends, calls or receives there.
      for thread in endpoint.senders {
        #expect(thread.ipc.state == .sending || thread.ipc.state == .calling)
      }
      for thread in endpoint.receivers { #expect(thread.ipc.state == .receiving) }
    }
    let queued = endpoints.flatMap { $0.senders + $0.receivers }.map(\.id)
    #expect(Set(queued).count == queued.count, "a thread queued twice after \(step)")
  }

  @Test func randomMovesMatchTheModel() async {
    // An operation: kind, thread, endpoint, capability (1 or 2; 0: any).
    let operation = zip(
      Gen.int(in: 0...6), Gen.int(in: 0...4), Gen.int(in: 0...1), Gen.int(in: 0...2))
    await propertyCheck(count: 300, input: operation.array(of: 1...60)) { operations in
      let threads = (0..<5).map(Waiter.init)
      let endpoints = [Endpoint(), Endpoint()]
      var model = Model(threads: 5, endpoints: 2)
      for (kind, t, e, c) in operations {
        let me = threads[t]
        let capability = UInt64(max(c, 1))
        // A blocked thread makes no system call: only ends and aborts
        // reach it.
        let waiting = me.ipc.state != .none
        switch kind {
        case 0 where !waiting, 1 where !waiting:
          Self.arrive(me, at: endpoints[e], capability: capability)
          let met = IPCRendezvous.send(me, call: kind == 1)
          let done = met.map { IPCRendezvous.delivered(from: me, to: $0) } ?? false
          let expected = model.send(t, e, capability, call: kind == 1)
          #expect(met?.id == expected.0 && done == expected.1)
        case 2 where !waiting:
          Self.arrive(me, at: endpoints[e], capability: capability)
          let met = IPCRendezvous.receive(me, receiveSlot: 3)
          let done = met.map { IPCRendezvous.delivered(from: $0, to: me) } ?? false
          let expected = model.receive(t, e, capability)
          #expect(met?.id == expected.0 && done == expected.1)
        case 3 where !waiting:
          #expect(IPCRendezvous.answer(me)?.id == model.answer(t))
        case 4:
          #expect(IPCRendezvous.cancel(me)?.id == model.cancel(t))
        case 5:
          let id = c == 0 ? nil : CapabilityID(rawValue: capability)
          var aborted = IPCRendezvous.abortQueued(endpoints[e], through: id).map(\.id)
          for thread in threads
          where IPCRendezvous.waitsForReply(thread, on: endpoints[e], through: id) {
            IPCRendezvous.abandon(thread)
            aborted.append(thread.id)
          }
          #expect(aborted == model.abort(e, c == 0 ? nil : capability))
        case 6:
          IPCRendezvous.abandon(me)
          model.abandon(t)
        default:
          continue
        }
        Self.expectSame(threads, endpoints, model, after: "\(kind) t\(t) e\(e) c\(c)")
      }
      // Nothing may hold a pointer to a thread that has left: everyone
      // abandons, and every endpoint ends idle.
      for thread in threads { _ = IPCRendezvous.cancel(thread) }
      #expect(endpoints.allSatisfy { $0.isIdle })
    }
  }
}
