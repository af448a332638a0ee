// The messages kernel instances exchange about endpoint capabilities: the
// cross-kernel delegation (request, grant or refusal, cancel) and the
// two-phase revoke (request, acknowledgement). EndpointCapabilityDirectory
// sends and receives them; EndpointRevocation explains the protocol. The
// bytes come from another kernel, so decoding checks every field and any
// input, truncated or random, gives an error naming the field and its
// offset, never a trap.
//
// Every message is about one edge of the derivation tree: a parent
// capability and one of its children, held by two different kernels. It
// travels either to the parent's kernel (delegate request, cancel, revoke
// acknowledgement) or to the child's (grant, refusal, revoke request), so
// sender and receiver follow from the IDs and the kind; they are written
// anyway and must match, which catches a message sent down the wrong ring.
//
// Layout, little-endian, 48 bytes (one cache line with room to spare, like
// ControlMessage); a longer view (a ring slot) is accepted and the bytes
// after the message ignored:
//
//   0   u32  magic "TEcp" (54 45 63 70)
//   4   u8   version: 1
//   5   u8   kind: 1 delegate request, 2 granted, 3 refused, 4 cancel,
//                  5 revoke request, 6 revoke acknowledgement
//   6   u8   refusal reason (refused: 1 no such capability, 2 revoking,
//                  3 no room); 0 otherwise
//   7   u8   reserved: 0
//   8   u16  sender kernel
//   10  u16  receiver kernel (not the sender)
//   12  u32  reserved: 0
//   16  u64  parent capability ID (generation not 0)
//   24  u64  child capability ID (generation not 0)
//   32  u64  granted: the endpoint (a EndpointAddress, bits 48-63 zero);
//            revoke acknowledgement: unread messages; 0 otherwise
//   40  u64  granted: the label; 0 otherwise
//
// Reserved and unused fields must be zero, so each message has exactly one
// encoding and a later version can give them meaning.

/// Why the parent's kernel refused a delegation.
public enum DelegationRefusal: UInt8, Equatable, Hashable, Sendable, CaseIterable {
  /// The parent does not exist (any more), or is not installed yet.
  case noSuchCapability = 1
  /// The parent, or an ancestor of it, is being revoked.
  case revoking = 2
  /// The parent's kernel has no free record for the child.
  case noRoom = 3

  public var description: String {
    switch self {
    case .noSuchCapability: "no such capability"
    case .revoking: "being revoked"
    case .noRoom: "no room"
    }
  }
}

public enum EndpointCapabilityMessage: Equatable, Hashable, Sendable {
  /// To the parent's kernel: make `child` (a pending record of the sender)
  /// a child of `parent`.
  case delegateRequest(parent: EndpointCapabilityID, child: EndpointCapabilityID)
  /// To the child's kernel: `child` is registered under `parent`; install it.
  case delegateGranted(
    parent: EndpointCapabilityID, child: EndpointCapabilityID, capability: EndpointCapability)
  /// To the child's kernel: no child was registered.
  case delegateRefused(
    parent: EndpointCapabilityID, child: EndpointCapabilityID, reason: DelegationRefusal)
  /// To the parent's kernel: `child` was not installed and never will be;
  /// drop it.
  case delegateCancel(parent: EndpointCapabilityID, child: EndpointCapabilityID)
  /// To the child's kernel: revoke `child` and everything derived from it.
  case revokeRequest(parent: EndpointCapabilityID, child: EndpointCapabilityID)
  /// To the parent's kernel: `child` and everything derived from it are
  /// gone and deactivated; `unread` messages were collected on the way.
  case revokeAck(parent: EndpointCapabilityID, child: EndpointCapabilityID, unread: UInt64)

  public enum Kind: UInt8, Equatable, Hashable, Sendable, CaseIterable {
    case delegateRequest = 1
    case delegateGranted = 2
    case delegateRefused = 3
    case delegateCancel = 4
    case revokeRequest = 5
    case revokeAck = 6

    /// The message goes to the parent's kernel (else to the child's).
    public var toParent: Bool {
      switch self {
      case .delegateRequest, .delegateCancel, .revokeAck: true
      case .delegateGranted, .delegateRefused, .revokeRequest: false
      }
    }

    public var description: String {
      switch self {
      case .delegateRequest: "delegate request"
      case .delegateGranted: "delegate granted"
      case .delegateRefused: "delegate refused"
      case .delegateCancel: "delegate cancel"
      case .revokeRequest: "revoke request"
      case .revokeAck: "revoke ack"
      }
    }
  }

  public static let magic: UInt32 = 0x7063_4554  // "TEcp"
  public static let version: UInt8 = 1
  public static let byteCount = 48

  public var kind: Kind {
    switch self {
    case .delegateRequest: .delegateRequest
    case .delegateGranted: .delegateGranted
    case .delegateRefused: .delegateRefused
    case .delegateCancel: .delegateCancel
    case .revokeRequest: .revokeRequest
    case .revokeAck: .revokeAck
    }
  }

  public var parent: EndpointCapabilityID {
    switch self {
    case .delegateRequest(let parent, _), .delegateGranted(let parent, _, _),
      .delegateRefused(let parent, _, _), .delegateCancel(let parent, _),
      .revokeRequest(let parent, _), .revokeAck(let parent, _, _):
      parent
    }
  }

  public var child: EndpointCapabilityID {
    switch self {
    case .delegateRequest(_, let child), .delegateGranted(_, let child, _),
      .delegateRefused(_, let child, _), .delegateCancel(_, let child),
      .revokeRequest(_, let child), .revokeAck(_, let child, _):
      child
    }
  }

  public var sender: UInt16 { kind.toParent ? child.kernel : parent.kernel }
  public var receiver: UInt16 { kind.toParent ? parent.kernel : child.kernel }

  /// E.g. "revoke request k0:3.1 -> k1:0.2".
  public var description: String {
    kind.description + " " + parent.description + " -> " + child.description
  }

  // MARK: encoding

  /// Writes the message at the start of `buffer`; false (nothing written)
  /// when the buffer is shorter than `byteCount`.
  public func encode(into buffer: UnsafeMutableRawBufferPointer) -> Bool {
    guard buffer.count >= Self.byteCount, let base = buffer.baseAddress else { return false }
    var reason: UInt8 = 0
    var word0: UInt64 = 0
    var word1: UInt64 = 0
    switch self {
    case .delegateGranted(_, _, let capability):
      word0 = capability.endpoint.rawValue
      word1 = capability.label
    case .delegateRefused(_, _, let refusal): reason = refusal.rawValue
    case .revokeAck(_, _, let unread): word0 = unread
    case .delegateRequest, .delegateCancel, .revokeRequest: break
    }
    base.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
    base.storeBytes(of: Self.version, toByteOffset: 4, as: UInt8.self)
    base.storeBytes(of: kind.rawValue, toByteOffset: 5, as: UInt8.self)
    base.storeBytes(of: reason, toByteOffset: 6, as: UInt8.self)
    base.storeBytes(of: UInt8(0), toByteOffset: 7, as: UInt8.self)
    base.storeBytes(of: sender.littleEndian, toByteOffset: 8, as: UInt16.self)
    base.storeBytes(of: receiver.littleEndian, toByteOffset: 10, as: UInt16.self)
    base.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)
    base.storeBytes(of: parent.rawValue.littleEndian, toByteOffset: 16, as: UInt64.self)
    base.storeBytes(of: child.rawValue.littleEndian, toByteOffset: 24, as: UInt64.self)
    base.storeBytes(of: word0.littleEndian, toByteOffset: 32, as: UInt64.self)
    base.storeBytes(of: word1.littleEndian, toByteOffset: 40, as: UInt64.self)
    return true
  }

  // MARK: decoding

  /// Decodes and checks the message at the start of `view`, field by field
  /// in offset order; the first problem is thrown.
  public static func decode(_ view: ByteView) throws(EndpointCapabilityMessageError)
    -> EndpointCapabilityMessage
  {
    typealias Failure = EndpointCapabilityMessageError
    let magicValue = UInt32(try read(view, .magic))
    guard magicValue == magic else { throw Failure(.magic, .badMagic(magicValue)) }
    let versionValue = UInt8(try read(view, .version))
    guard versionValue == version else {
      throw Failure(.version, .unsupportedVersion(versionValue))
    }
    let kindValue = UInt8(try read(view, .kind))
    guard let kind = Kind(rawValue: kindValue) else {
      throw Failure(.kind, .unknownKind(kindValue))
    }
    let reasonValue = UInt8(try read(view, .reason))
    var refusal: DelegationRefusal? = nil
    if kind == .delegateRefused {
      refusal = DelegationRefusal(rawValue: reasonValue)
      guard refusal != nil else { throw Failure(.reason, .unknownReason(reasonValue)) }
    } else {
      guard reasonValue == 0 else { throw Failure(.reason, .notZero(UInt64(reasonValue))) }
    }
    try requireZero(view, .reserved)
    let sender = UInt16(try read(view, .sender))
    let receiver = UInt16(try read(view, .receiver))
    guard receiver != sender else { throw Failure(.receiver, .sameKernel(receiver)) }
    try requireZero(view, .padding)
    let parentKernel = kind.toParent ? receiver : sender
    let childKernel = kind.toParent ? sender : receiver
    let parent = try capabilityID(view, .parent, kernel: parentKernel)
    let child = try capabilityID(view, .child, kernel: childKernel)
    let word0 = try read(view, .word0)
    let word1 = try read(view, .word1)
    switch kind {
    case .delegateRequest, .delegateCancel, .revokeRequest:
      guard word0 == 0 else { throw Failure(.word0, .notZero(word0)) }
      guard word1 == 0 else { throw Failure(.word1, .notZero(word1)) }
    case .revokeAck:
      guard word1 == 0 else { throw Failure(.word1, .notZero(word1)) }
    case .delegateGranted:
      guard EndpointAddress(rawValue: word0) != nil else {
        throw Failure(.word0, .notAnEndpoint(word0))
      }
    case .delegateRefused:
      guard word0 == 0 else { throw Failure(.word0, .notZero(word0)) }
      guard word1 == 0 else { throw Failure(.word1, .notZero(word1)) }
    }
    switch kind {
    case .delegateRequest: return .delegateRequest(parent: parent, child: child)
    case .delegateGranted:
      // Checked above.
      let endpoint = EndpointAddress(rawValue: word0) ?? EndpointAddress(node: 0, endpoint: 0)
      return .delegateGranted(
        parent: parent, child: child,
        capability: EndpointCapability(endpoint: endpoint, label: word1))
    case .delegateRefused:
      return .delegateRefused(parent: parent, child: child, reason: refusal ?? .noSuchCapability)
    case .delegateCancel: return .delegateCancel(parent: parent, child: child)
    case .revokeRequest: return .revokeRequest(parent: parent, child: child)
    case .revokeAck: return .revokeAck(parent: parent, child: child, unread: word0)
    }
  }

  private static func read(_ view: ByteView, _ field: EndpointCapabilityMessageError.Field)
    throws(EndpointCapabilityMessageError) -> UInt64
  {
    let offset = field.offset
    let value: UInt64?
    switch field.size {
    case 1: value = view.u8(offset).map { UInt64($0) }
    case 2: value = view.u16(offset).map { UInt64($0) }
    case 4: value = view.u32(offset).map { UInt64($0) }
    default: value = view.u64(offset)
    }
    guard let value else {
      throw EndpointCapabilityMessageError(
        field, .truncated(needed: offset + field.size, have: view.count))
    }
    return value
  }

  private static func requireZero(_ view: ByteView, _ field: EndpointCapabilityMessageError.Field)
    throws(EndpointCapabilityMessageError)
  {
    let value = try read(view, field)
    guard value == 0 else { throw EndpointCapabilityMessageError(field, .notZero(value)) }
  }

  private static func capabilityID(
    _ view: ByteView, _ field: EndpointCapabilityMessageError.Field, kernel: UInt16
  ) throws(EndpointCapabilityMessageError) -> EndpointCapabilityID {
    let raw = try read(view, field)
    guard let id = EndpointCapabilityID(rawValue: raw) else {
      throw EndpointCapabilityMessageError(field, .nullCapability(raw))
    }
    guard id.kernel == kernel else {
      throw EndpointCapabilityMessageError(field, .wrongKernel(expected: kernel, found: id.kernel))
    }
    return id
  }
}

/// Why bytes are not a valid endpoint-capability message: which field, at
/// which offset, and what is wrong with it.
public struct EndpointCapabilityMessageError: Error, Equatable, Hashable, Sendable {
  public enum Field: Equatable, Hashable, Sendable, CaseIterable {
    case magic, version, kind, reason, reserved, sender, receiver, padding, parent, child
    /// Endpoint (granted) or unread count (revoke acknowledgement).
    case word0
    /// Label (granted).
    case word1

    public var offset: Int {
      switch self {
      case .magic: 0
      case .version: 4
      case .kind: 5
      case .reason: 6
      case .reserved: 7
      case .sender: 8
      case .receiver: 10
      case .padding: 12
      case .parent: 16
      case .child: 24
      case .word0: 32
      case .word1: 40
      }
    }

    public var size: Int {
      switch self {
      case .version, .kind, .reason, .reserved: 1
      case .sender, .receiver: 2
      case .magic, .padding: 4
      case .parent, .child, .word0, .word1: 8
      }
    }

    public var name: String {
      switch self {
      case .magic: "magic"
      case .version: "version"
      case .kind: "kind"
      case .reason: "reason"
      case .reserved: "reserved"
      case .sender: "sender"
      case .receiver: "receiver"
      case .padding: "padding"
      case .parent: "parent"
      case .child: "child"
      case .word0: "endpoint/unread"
      case .word1: "label"
      }
    }
  }

  public enum Problem: Equatable, Hashable, Sendable {
    /// The view ends inside the field: it needs `needed` bytes, has `have`.
    case truncated(needed: Int, have: Int)
    case badMagic(UInt32)
    case unsupportedVersion(UInt8)
    case unknownKind(UInt8)
    /// A refusal with a reason that names none.
    case unknownReason(UInt8)
    /// A reserved or unused field holds this value.
    case notZero(UInt64)
    /// The receiver is the sender.
    case sameKernel(UInt16)
    /// A capability ID with generation 0 (names nothing).
    case nullCapability(UInt64)
    /// A capability ID held by another kernel than this end of the edge.
    case wrongKernel(expected: UInt16, found: UInt16)
    /// A granted endpoint with bits 48-63 set.
    case notAnEndpoint(UInt64)
  }

  public let field: Field
  public let problem: Problem
  public var offset: Int { field.offset }

  public init(_ field: Field, _ problem: Problem) {
    self.field = field
    self.problem = problem
  }

  /// One line for the log.
  public var description: String {
    let what: String
    switch problem {
    case .truncated(let needed, let have):
      what = "truncated: needs " + String(needed) + " bytes, has " + String(have)
    case .badMagic(let value): what = "bad magic " + hex(UInt64(value), digits: 8)
    case .unsupportedVersion(let value): what = "unsupported version " + String(value)
    case .unknownKind(let value): what = "unknown kind " + String(value)
    case .unknownReason(let value): what = "unknown refusal reason " + String(value)
    case .notZero(let value): what = "must be 0, is " + hex(value)
    case .sameKernel(let kernel): what = "kernel " + String(kernel) + " sends to itself"
    case .nullCapability(let raw): what = "no capability has ID " + hex(raw)
    case .wrongKernel(let expected, let found):
      what = "held by kernel " + String(found) + ", expected " + String(expected)
    case .notAnEndpoint(let raw): what = hex(raw) + " is not an endpoint"
    }
    return "capability message " + field.name + " at offset " + String(offset) + ": " + what
  }
}
