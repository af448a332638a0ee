import PropertyBased
import Testing

@testable import TesseraCore

/// IPCRendezvous: the wait states and endpoint queues of synchronous IPC,
/// move by move and against a model that keeps plain lists and indices.
struct IPCRendezvousTests {
  /// A thread's IPC record with a number to name it by (its owner), and
  /// its wait state seen through that record.
  struct Waiter {
    let record: IPCThreadPointer
    init(_ id: Int) {
      record = .allocate(capacity: 1)
      record.initialize(to: IPCThread(owner: UnsafeMutableRawPointer(bitPattern: id + 1)))
    }
    var id: Int { Waiter.id(of: record) }
    var ipc: IPCThread { record.pointee }
    var replyTo: IPCThreadPointer? { record.pointee.replyTo }
    static func id(of record: IPCThreadPointer) -> Int { Int(bitPattern: record.pointee.owner) - 1 }
  }

  /// An endpoint's queues in memory of their own (the tests leak them).
  struct Endpoint {
    let queues: IPCEndpointPointer
    init() {
      queues = .allocate(capacity: 1)
      queues.initialize(to: IPCEndpointQueues())
    }
    var senders: [Int] { queues.pointee.senders.threads.map(Waiter.id(of:)) }
    var receivers: [Int] { queues.pointee.receivers.threads.map(Waiter.id(of:)) }
    var pendingCalls: Int { queues.pointee.pendingCalls }
    var isIdle: Bool { queues.pointee.isIdle }
  }

  static func arrive(_ w: Waiter, at endpoint: Endpoint, capability: UInt64 = 1) {
    w.record.pointee.clearWait()
    w.record.pointee.arrive(
      at: endpoint.queues, capability: CapabilityID(rawValue: capability), label: 7)
  }

  @Test func aSenderWaitsUntilAReceiverComes() {
    let endpoint = Endpoint()
    let (sender, receiver) = (Waiter(1), Waiter(2))
    Self.arrive(sender, at: endpoint)
    #expect(IPCRendezvous.send(sender.record, call: false) == nil)
    #expect(sender.ipc.state == .sending && endpoint.senders == [1])
    Self.arrive(receiver, at: endpoint)
    let met = IPCRendezvous.receive(receiver.record, receiveSlot: 9)
    #expect(met == sender.record && endpoint.senders.isEmpty)
    #expect(IPCRendezvous.delivered(from: sender.record, to: receiver.record))
    #expect(sender.ipc.state == .none && receiver.ipc.state == .none && endpoint.isIdle)
  }

  @Test func aReceiverWaitsAndKeepsItsSlot() {
    let endpoint = Endpoint()
    let (sender, receiver) = (Waiter(1), Waiter(2))
    Self.arrive(receiver, at: endpoint)
    #expect(IPCRendezvous.receive(receiver.record, receiveSlot: 9) == nil)
    #expect(receiver.ipc.state == .receiving && receiver.ipc.receiveSlot == 9)
    Self.arrive(sender, at: endpoint)
    let met = IPCRendezvous.send(sender.record, call: false)
    #expect(met == receiver.record && met?.pointee.receiveSlot == 9)  // still readable
    IPCRendezvous.delivered(from: sender.record, to: receiver.record)
    #expect(endpoint.isIdle)
  }

  @Test func aCallWaitsForItsReplyAndTheReplyEndsIt() {
    let endpoint = Endpoint()
    let (caller, server) = (Waiter(1), Waiter(2))
    Self.arrive(server, at: endpoint)
    _ = IPCRendezvous.receive(server.record, receiveSlot: 0)
    Self.arrive(caller, at: endpoint)
    let met = IPCRendezvous.send(caller.record, call: true)
    #expect(met == server.record)
    #expect(!IPCRendezvous.delivered(from: caller.record, to: server.record))
    #expect(caller.ipc.state == .awaitingReply && caller.ipc.server == server.record)
    #expect(server.replyTo == caller.record && endpoint.pendingCalls == 1 && !endpoint.isIdle)
    #expect(IPCRendezvous.answer(server.record) == caller.record)
    #expect(caller.ipc.state == .none && server.replyTo == nil && endpoint.isIdle)
    #expect(IPCRendezvous.answer(server.record) == nil)  // nothing owed any more
  }

  @Test func sendersAreServedOldestFirst() {
    let endpoint = Endpoint()
    let senders = (1...4).map(Waiter.init)
    for sender in senders {
      Self.arrive(sender, at: endpoint)
      _ = IPCRendezvous.send(sender.record, call: false)
    }
    var order: [Int] = []
    for _ in senders {
      let receiver = Waiter(9)
      Self.arrive(receiver, at: endpoint)
      if let sender = IPCRendezvous.receive(receiver.record, receiveSlot: 0) {
        order.append(Waiter.id(of: sender))
        IPCRendezvous.delivered(from: sender, to: receiver.record)
      }
    }
    #expect(order == [1, 2, 3, 4])
  }

  @Test func aServerThatEndsFailsItsCaller() {
    let endpoint = Endpoint()
    let (caller, server) = (Waiter(1), Waiter(2))
    Self.arrive(server, at: endpoint)
    _ = IPCRendezvous.receive(server.record, receiveSlot: 0)
    Self.arrive(caller, at: endpoint)
    _ = IPCRendezvous.send(caller.record, call: true)
    IPCRendezvous.delivered(from: caller.record, to: server.record)
    #expect(IPCRendezvous.cancel(server.record) == caller.record)
    #expect(caller.ipc.state == .none && endpoint.isIdle)
  }

  @Test func aCallerThatEndsIsNoLongerOwedAReply() {
    let endpoint = Endpoint()
    let (caller, server) = (Waiter(1), Waiter(2))
    Self.arrive(server, at: endpoint)
    _ = IPCRendezvous.receive(server.record, receiveSlot: 0)
    Self.arrive(caller, at: endpoint)
    _ = IPCRendezvous.send(caller.record, call: true)
    IPCRendezvous.delivered(from: caller.record, to: server.record)
    #expect(IPCRendezvous.cancel(caller.record) == nil)
    #expect(server.replyTo == nil && endpoint.isIdle)
    #expect(IPCRendezvous.answer(server.record) == nil)
  }

  @Test func abortTakesOnlyTheWaitersOfThatCapability() {
    let endpoint = Endpoint()
    let waiters = (1...4).map(Waiter.init)
    for (i, waiter) in waiters.enumerated() {
      Self.arrive(waiter, at: endpoint, capability: UInt64(i % 2 + 1))
      _ = IPCRendezvous.send(waiter.record, call: false)
    }
    let aborted = IPCRendezvous.abortQueued(endpoint.queues, through: CapabilityID(rawValue: 2))
    #expect(aborted.map(Waiter.id(of:)) == [2, 4])
    #expect(endpoint.senders == [1, 3])
    #expect(aborted.allSatisfy { $0.pointee.state == .none })
    #expect(IPCRendezvous.abortQueued(endpoint.queues, through: nil).map(Waiter.id(of:)) == [1, 3])
    #expect(endpoint.isIdle)
  }

  @Test func anAbortedCallAwaitingItsReplyIsFoundAndAbandoned() {
    let endpoint = Endpoint()
    let (caller, server) = (Waiter(1), Waiter(2))
    Self.arrive(server, at: endpoint)
    _ = IPCRendezvous.receive(server.record, receiveSlot: 0)
    Self.arrive(caller, at: endpoint, capability: 5)
    _ = IPCRendezvous.send(caller.record, call: true)
    IPCRendezvous.delivered(from: caller.record, to: server.record)
    #expect(
      !IPCRendezvous.waitsForReply(
        caller.record, on: endpoint.queues, through: CapabilityID(rawValue: 6)))
    #expect(
      IPCRendezvous.waitsForReply(
        caller.record, on: endpoint.queues, through: CapabilityID(rawValue: 5)))
    #expect(IPCRendezvous.waitsForReply(caller.record, on: endpoint.queues, through: nil))
    IPCRendezvous.abandon(caller.record)
    #expect(endpoint.isIdle && server.replyTo == nil)
    #expect(IPCRendezvous.answer(server.record) == nil)  // the reply finds nobody
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
      let endpoint = thread.ipc.endpoint.flatMap { e in endpoints.firstIndex { $0.queues == e } }
      let seen = Model.Thread(
        state: thread.ipc.state, endpoint: thread.ipc.state == .none ? nil : endpoint,
        capability: thread.ipc.state == .none ? 0 : thread.ipc.capability.rawValue,
        server: thread.ipc.state == .awaitingReply ? thread.ipc.server.map(Waiter.id(of:)) : nil,
        replyTo: thread.replyTo.map(Waiter.id(of:)))
      var expected = model.threads[t]
      if expected.state == .none { expected.capability = 0 }
      #expect(seen == expected, "thread \(t) after \(step)")
      // The fast path's reply check relies on it: a server is named only
      // while its reply is awaited.
      #expect(
        thread.ipc.server == nil || thread.ipc.state == .awaitingReply,
        "thread \(t) names a server without awaiting a reply after \(step)")
    }
    for (e, endpoint) in endpoints.enumerated() {
      #expect(endpoint.senders == model.senders[e], "senders of \(e) after \(step)")
      #expect(endpoint.receivers == model.receivers[e], "receivers of \(e) after \(step)")
      #expect(endpoint.pendingCalls == model.pendingCalls(e), "pending calls of \(e) after \(step)")
      // A thread is queued exactly when it sends, calls or receives there.
      for t in endpoint.senders {
        #expect(threads[t].ipc.state == .sending || threads[t].ipc.state == .calling)
      }
      for t in endpoint.receivers { #expect(threads[t].ipc.state == .receiving) }
    }
    let queued = endpoints.flatMap { $0.senders + $0.receivers }
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
          let met = IPCRendezvous.send(me.record, call: kind == 1)
          let done = met.map { IPCRendezvous.delivered(from: me.record, to: $0) } ?? false
          let expected = model.send(t, e, capability, call: kind == 1)
          #expect(met.map(Waiter.id(of:)) == expected.0 && done == expected.1)
        case 2 where !waiting:
          Self.arrive(me, at: endpoints[e], capability: capability)
          let met = IPCRendezvous.receive(me.record, receiveSlot: 3)
          let done = met.map { IPCRendezvous.delivered(from: $0, to: me.record) } ?? false
          let expected = model.receive(t, e, capability)
          #expect(met.map(Waiter.id(of:)) == expected.0 && done == expected.1)
        case 3 where !waiting:
          #expect(IPCRendezvous.answer(me.record).map(Waiter.id(of:)) == model.answer(t))
        case 4:
          #expect(IPCRendezvous.cancel(me.record).map(Waiter.id(of:)) == model.cancel(t))
        case 5:
          let id = c == 0 ? nil : CapabilityID(rawValue: capability)
          var aborted = IPCRendezvous.abortQueued(endpoints[e].queues, through: id).map(
            Waiter.id(of:))
          for thread in threads
          where IPCRendezvous.waitsForReply(thread.record, on: endpoints[e].queues, through: id) {
            IPCRendezvous.abandon(thread.record)
            aborted.append(thread.id)
          }
          #expect(aborted == model.abort(e, c == 0 ? nil : capability))
        case 6:
          IPCRendezvous.abandon(me.record)
          model.abandon(t)
        default:
          continue
        }
        Self.expectSame(threads, endpoints, model, after: "\(kind) t\(t) e\(e) c\(c)")
      }
      // Nothing may hold a pointer to a thread that has left: everyone
      // abandons, and every endpoint ends idle.
      for thread in threads { _ = IPCRendezvous.cancel(thread.record) }
      #expect(endpoints.allSatisfy { $0.isIdle })
    }
  }
}
