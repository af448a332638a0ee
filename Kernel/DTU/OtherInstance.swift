import X86

/// The DTU's requests to the other kernel instance: connect to a receive
/// endpoint it published, wake its receiver, release a channel it bound.
/// The instances share no tables, so each of these is a kernel-to-kernel
/// message; only the transport differs by direction. The service asks the
/// LWK over the control queue (`LWKControl`, served by the LWK's control
/// thread); the LWK ships to the service over the function-shipping endpoint
/// (`FunctionShipping`, served in the service's doorbell interrupt), the
/// same channel its shipped system calls use.
///
/// Revocation is two-phase both ways: the sender's kernel deactivates its
/// side (every mapping of the channel to the sink, shot down on every CPU
/// of its instance), then asks the ring's kernel, which revokes the channel
/// (what was published stays readable) and answers with the unread count.
///
/// No kernel waits for the other while it holds its KernelLock: the
/// service's shipping server and the LWK's control thread each need their
/// own instance's lock to serve, so a kernel waiting under its lock for the
/// other could wait for itself. Capabilities are torn down under the lock,
/// so the capability calls and the reaping of processes collect the
/// releases they cause (`deferringReleases`) and ask the other kernel
/// after the lock is released (`finish`), waiting for each answer: a
/// delete or revoke returns when the other kernel has revoked the channel.
/// A release from anywhere else is posted from the LWK (the service answers
/// nothing) and asked directly from the service. A wake needs no answer:
/// the sender learns of a revoke from its channel record.
enum OtherInstance {
  /// Binds a channel of the receive endpoint published as `name` in the
  /// other instance: its ring's physical address and the channel. With
  /// `reply` (a channel of a ring here, bound for the replies) its
  /// receiver answers there.
  static func connect(
    name: UInt64, credits: UInt64, label: UInt64, reply: (ring: UInt64, channel: Int)? = nil
  ) -> Result<(ring: UInt64, channel: Int), SystemCallError> {
    if KernelInstance.kind == .service {
      switch LWKControl.call(.dtuConnect, (name, credits, label, replyWord(reply))) {
      case .success(let reply) where reply.status == .ok:
        return .success((reply.words.0, Int(truncatingIfNeeded: reply.words.1)))
      case .success(let reply):
        return .failure(SystemCallError(rawValue: Int64(bitPattern: reply.words.0)) ?? .noSuchName)
      case .failure: return .failure(.noSuchName)
      }
    }
    // The service computes the label from the shipped context itself.
    var bound: (ring: UInt64, channel: Int)? = nil
    var arguments = ShippedArguments()
    _ = arguments.append(name)
    _ = arguments.append(credits)
    _ = arguments.append(reply?.ring ?? 0)
    _ = arguments.append(UInt64(reply?.channel ?? 0))
    let result = FunctionShipping.ship(
      .dtuConnect, arguments: arguments, data: ByteView(base: nil, count: 0)
    ) { data in
      if let ring = data.u64(0), let channel = data.u64(8) {
        bound = (ring, Int(truncatingIfNeeded: channel))
      }
    }
    guard result == 0, let bound else {
      return .failure(SystemCallError(rawValue: result) ?? .noSuchName)
    }
    return .success(bound)
  }

  /// Asks the ring's kernel to wake its receiver. False when it refused.
  static func wake(ring: UInt64) -> Bool {
    if KernelInstance.kind == .service {
      if case .success = LWKControl.call(.dtuWake, (ring, 0, 0, 0)) { return true }
      return false
    }
    guard let context = FunctionShipping.context(tag: 0) else { return false }
    return post(FunctionShipping.wakeNumber, context, ring, 0)
  }

  /// A release asked for once KernelLock is released; `reply`, the reply
  /// channel here that the other kernel maps for its receiver, goes after
  /// the answer.
  struct Release {
    let ring: UInt64
    let channel: Int
    let owner: UInt64
    var reply: SendEndpoint? = nil
  }

  /// Set (under KernelLock) while a capability call runs on the LWK: the
  /// releases it causes are collected here instead of posted.
  nonisolated(unsafe) static var deferredReleases: [Release]? = nil

  /// Runs `body` (under KernelLock) collecting the releases it causes, and
  /// hands them out for `finish` after the lock.
  static func deferringReleases<R>(_ body: () -> R) -> (R, [Release]) {
    deferredReleases = []
    let result = body()
    let releases = deferredReleases ?? []
    deferredReleases = nil
    return (result, releases)
  }

  /// Asks the other kernel to release each channel and waits for its
  /// answer (not under KernelLock): the channel is revoked there when this
  /// returns.
  static func finish(_ releases: [Release]) {
    for release in releases {
      var unread: UInt64? = nil
      // Why not, for the message: the control call can fail in several ways.
      var why = "it refused"
      if KernelInstance.kind == .service {
        switch LWKControl.call(.dtuRelease, (release.ring, UInt64(release.channel), 0, 0)) {
        case .success(let reply) where reply.status == .ok: unread = reply.words.0
        case .success(let reply): why = "it answered status \(reply.code)"
        case .failure(let failure): why = failure.description
        }
      } else {
        var arguments = ShippedArguments()
        _ = arguments.append(release.ring)
        _ = arguments.append(UInt64(release.channel))
        let result = FunctionShipping.ship(
          .dtuConnect, arguments: arguments, data: ByteView(base: nil, count: 0),
          number: FunctionShipping.releaseNumber, process: release.owner)
        if result >= 0 { unread = UInt64(result) } else { why = "shipping it failed: \(result)" }
      }
      guard let unread else {
        // Without the answer the other kernel may still map the reply
        // channel: it stays bound.
        print(
          "dtu: the other kernel did not release channel \(release.channel) of ring \(hex(release.ring)): \(why)"
        )
        continue
      }
      KernelLock.held {
        DTU.unreadAtRevoke &+= unread
        if let reply = release.reply { DTU.destroy(reply) }
      }
    }
  }

  /// The second phase of revoking a channel of the other instance's ring,
  /// after every mapping here is gone. `owner` is the process that
  /// connected (the LWK's release names it to the service, which checks
  /// the channel was bound for it).
  static func release(ring: UInt64, channel: Int, owner: UInt64, reply: SendEndpoint? = nil) {
    let release = Release(ring: ring, channel: channel, owner: owner, reply: reply)
    if deferredReleases != nil {
      deferredReleases!.append(release)
      return
    }
    if KernelInstance.kind == .service {
      finish([release])
      return
    }
    // Posted: no answer comes, so a reply channel stays bound (the other
    // kernel may map it for as long as it likes).
    let context = ShippingContext(
      instance: FunctionShipping.lwkInstanceID, process: UInt32(truncatingIfNeeded: owner),
      thread: 0, replyQueue: UInt16(truncatingIfNeeded: Processor.currentIndex), tag: 0)
    if !post(FunctionShipping.releaseNumber, context, ring, UInt64(channel)) {
      print(
        "dtu: this CPU's channel to the service stayed full; channel \(channel) of ring \(hex(ring)) stays bound there"
      )
    }
  }

  /// A reply channel in one control word: the ring is page-aligned, so its
  /// channel and a "given" bit fit below the address (0: none).
  static func replyWord(_ reply: (ring: UInt64, channel: Int)?) -> UInt64 {
    reply.map { $0.ring | UInt64($0.channel) << 1 | 1 } ?? 0
  }

  static func reply(fromWord word: UInt64) -> (ring: UInt64, channel: Int)? {
    word & 1 == 0 ? nil : (ring: word & ~0xFFF, channel: Int(word >> 1 & 0x7FF))
  }

  /// Serving the other kernel's dtuRevokeSenders (both directions).
  static func serveDeactivate(ring: UInt64, channel: UInt64) {
    KernelLock.held {
      DTU.deactivateForOtherInstance(
        ring: ring, channel: Int(truncatingIfNeeded: min(channel, 255)))
    }
  }

  /// Asks the other kernel to take back its sender on channel `channel` of
  /// our ring at `ring` (every capability to it, its mappings, its reply
  /// channel) and waits for the answer, not under KernelLock. False when
  /// none came.
  static func deactivate(ring: UInt64, channel: Int) -> Bool {
    if KernelInstance.kind == .service {
      if case .success(let reply) = LWKControl.call(.dtuDeactivate, (ring, UInt64(channel), 0, 0)),
        reply.status == .ok
      {
        return true
      }
      return false
    }
    var arguments = ShippedArguments()
    _ = arguments.append(ring)
    _ = arguments.append(UInt64(channel))
    return FunctionShipping.ship(
      .dtuRevokeSenders, arguments: arguments, data: ByteView(base: nil, count: 0),
      number: FunctionShipping.deactivateNumber) == 0
  }

  /// Posts a request that gets no answer, waiting (bounded, 100 ms) while
  /// this CPU's shipping channel is full.
  private static func post(
    _ number: UInt64, _ context: ShippingContext, _ first: UInt64, _ second: UInt64
  ) -> Bool {
    var arguments = ShippedArguments()
    _ = arguments.append(first)
    _ = arguments.append(second)
    let request = ShippedRequest(
      route: FunctionShipping.route, context: context, number: number, arguments: arguments)
    let deadline = x86_rdtsc() + Clock.cycles(microseconds: 100_000)
    while true {
      if case .sent = FunctionShipping.post(request) { return true }
      if x86_rdtsc() > deadline { return false }
      x86_pause()
    }
  }

  // MARK: The service serving the LWK

  /// A DTU request the LWK shipped, served in the shipping server (the
  /// service's doorbell interrupt, interrupts off). The answer is sent by
  /// the caller for connect; wake and release get none.
  static func serveConnect(_ request: ShippedRequest) -> (
    result: UInt64, ring: UInt64, channel: UInt64
  ) {
    let label = DTU.connectLabel(
      instance: UInt64(FunctionShipping.lwkInstanceID), pid: UInt64(request.context.process))
    let credits = Int(min(request.arguments[1], 1 << 20))
    let replyRing = request.arguments[2]
    let reply =
      replyRing == 0
      ? nil : (ring: replyRing, channel: Int(truncatingIfNeeded: min(request.arguments[3], 255)))
    let connected = KernelLock.held {
      DTU.connectFromOtherInstance(
        name: request.arguments[0], credits: credits, label: label, reply: reply)
    }
    switch connected {
    case .success(let (ring, channel)): return (0, ring, UInt64(channel))
    case .failure(let error): return (UInt64(bitPattern: error.rawValue), 0, 0)
    }
  }

  static func serveWake(_ request: ShippedRequest) {
    KernelLock.held { DTU.wakeFromOtherInstance(ring: request.arguments[0]) }
  }

  /// Only a channel bound for the process the context names is released
  /// (its label says whom it was bound for): the process itself may have
  /// ended, so the list of live LWK processes is not asked. The unread
  /// count, or nil when no such channel was bound for it.
  static func serveRelease(_ request: ShippedRequest) -> UInt64? {
    let label = DTU.connectLabel(
      instance: UInt64(FunctionShipping.lwkInstanceID), pid: UInt64(request.context.process))
    return KernelLock.held {
      DTU.releaseFromOtherInstance(
        ring: request.arguments[0], channel: Int(truncatingIfNeeded: request.arguments[1]),
        label: label)
    }
  }
}
