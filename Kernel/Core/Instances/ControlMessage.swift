// The requests one kernel instance sends another about the instance itself
// (the shell's `lwk` commands) and their replies, as they
// travel through the control and reply queues of the shared region. The
// bytes come from the other kernel, so decoding checks everything and never
// traps; an unknown kind is an error the receiver answers, not a crash.
//
// Layout, little-endian, 48 bytes:
//   0   u32  magic "CTL1"
//   4   u32  kind (request) or status (reply), see below
//   8   u64  tag: chosen by the requester, echoed by the reply
//   16  4 x u64  words: the request's arguments or the reply's values

public struct ControlMessage: Equatable, Sendable {
  public static let magic: UInt32 = 0x314C_5443  // "CTL1"
  public static let byteCount = 48

  /// What a request asks for.
  public enum Kind: UInt32, Sendable, CaseIterable {
    /// words[0] = n; the reply's words: n + 1, the answering CPU.
    case ping = 1
    /// The instance prints its memory (frame allocator, heap) itself.
    case memory = 2
    /// Read (words[1] == 0) or write (words[1] == 1, value words[2]) the
    /// kernel virtual address words[0]. Reply: ok with the value read, or
    /// faulted with vector, address, error code.
    case poke = 3
    /// Load the program staged in the shared region: words are
    /// image length, name length, argument length, CPU (all ones: the
    /// instance chooses). Reply: ok with pid and CPU, or refused with a
    /// SystemCallError code in words[0].
    case run = 4
    /// How process words[0] is: reply words are (ended 0/1, exit code, 1
    /// when there is an exit code, 1 when the process is unknown).
    case state = 5
    /// End process words[0]; the instance prints the outcome.
    case kill = 6
    /// The instance prints its processes.
    case processes = 7
    /// The instance prints process words[0]'s capabilities.
    case capabilities = 8
    /// The instance prints its system-call triage counters.
    case triage = 9
    /// Start process words[0], which `run` loaded: the requester records
    /// the pid first, so the program's first shipped call finds it known.
    case start = 10
    /// The instance prints its DTU endpoints (`eps`): words[0] = 0 all
    /// nodes, n + 1 node n; words[1] = 1 for its DTU statistics instead.
    case endpoints = 11
    /// A service program connects to the receive endpoint an LWK program
    /// published as words[0]: bind a channel of words[1] credits that the
    /// receiver sees with label words[2]; words[3], when not 0, names its
    /// reply channel (ring | channel << 1 | 1). Reply: ok with (ring
    /// physical address, channel), or refused with a SystemCallError code.
    case dtuConnect = 12
    /// The service sender of channel words[1] of the LWK ring at words[0]
    /// is deactivated (unmapped on every service CPU): revoke the channel.
    /// Reply: ok with the messages it left unread (the second phase of a
    /// cross-instance revoke).
    case dtuRelease = 13
    /// The receiver of the LWK ring at words[0] said it sleeps: wake it.
    case dtuWake = 14
    /// The owner of the service ring at words[0] revokes its senders: take
    /// back every capability of the LWK sender on channel words[1] and
    /// unmap it on every LWK CPU. Reply: ok once that is done.
    case dtuDeactivate = 15
    /// An EndpointCapabilityBundle follows the message (the delegation and
    /// revocation of endpoint capabilities between the instances); the
    /// reply is ok with the LWK's bundle after it.
    case capabilityBundle = 16
    /// Fault injection (`lwk crash`): after answering, the LWK instance
    /// panics (words[0] = 1), hangs with interrupts off (2), or writes
    /// over all the memory it maps (4); for 3 its answer is a corrupted
    /// reply-queue slot.
    case crash = 17
  }

  /// How a request went.
  public enum Status: UInt32, Sendable {
    case ok = 0
    case faulted = 1
    case refused = 2
  }

  /// The kind (requests) or status (replies) as sent.
  public var code: UInt32
  public var tag: UInt64
  public var words: (UInt64, UInt64, UInt64, UInt64)

  public init(code: UInt32, tag: UInt64, words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)) {
    self.code = code
    self.tag = tag
    self.words = words
  }

  public static func request(
    _ kind: Kind, tag: UInt64, _ words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
  ) -> ControlMessage {
    ControlMessage(code: kind.rawValue, tag: tag, words: words)
  }

  public static func reply(
    _ status: Status, tag: UInt64, _ words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
  ) -> ControlMessage {
    ControlMessage(code: status.rawValue, tag: tag, words: words)
  }

  public var kind: Kind? { Kind(rawValue: code) }
  public var status: Status? { Status(rawValue: code) }

  public static func == (a: ControlMessage, b: ControlMessage) -> Bool {
    a.code == b.code && a.tag == b.tag && a.words.0 == b.words.0 && a.words.1 == b.words.1
      && a.words.2 == b.words.2 && a.words.3 == b.words.3
  }

  /// Writes the message; false when `buffer` is too small.
  public func encode(into buffer: UnsafeMutableRawBufferPointer) -> Bool {
    guard buffer.count >= Self.byteCount, let base = buffer.baseAddress else { return false }
    base.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
    base.storeBytes(of: code.littleEndian, toByteOffset: 4, as: UInt32.self)
    base.storeBytes(of: tag.littleEndian, toByteOffset: 8, as: UInt64.self)
    base.storeBytes(of: words.0.littleEndian, toByteOffset: 16, as: UInt64.self)
    base.storeBytes(of: words.1.littleEndian, toByteOffset: 24, as: UInt64.self)
    base.storeBytes(of: words.2.littleEndian, toByteOffset: 32, as: UInt64.self)
    base.storeBytes(of: words.3.littleEndian, toByteOffset: 40, as: UInt64.self)
    return true
  }

  /// Reads a message of exactly `byteCount` bytes with the right magic.
  /// Whether its kind or status is known is for the receiver to check.
  public static func decode(_ bytes: ByteView) -> Result<ControlMessage, ControlMessageError> {
    guard bytes.count == byteCount else { return .failure(.wrongLength(bytes.count)) }
    guard let magic = bytes.u32(0), magic == Self.magic else {
      return .failure(.badMagic(bytes.u32(0) ?? 0))
    }
    guard let code = bytes.u32(4), let tag = bytes.u64(8), let w0 = bytes.u64(16),
      let w1 = bytes.u64(24), let w2 = bytes.u64(32), let w3 = bytes.u64(40)
    else { return .failure(.wrongLength(bytes.count)) }
    return .success(ControlMessage(code: code, tag: tag, words: (w0, w1, w2, w3)))
  }
}

public enum ControlMessageError: Error, Equatable, Sendable {
  case wrongLength(Int)
  case badMagic(UInt32)

  public var description: String {
    switch self {
    case .wrongLength(let count):
      "control message of " + String(count) + " bytes (expected "
        + String(ControlMessage.byteCount) + ")"
    case .badMagic(let value): "control message magic " + hex(UInt64(value)) + " (offset 0)"
    }
  }
}
