// Fuzz target `capability-message`: the 48-byte messages kernels exchange
// about endpoint capabilities (delegation, revocation). Properties:
// - `EndpointCapabilityMessage.decode` agrees exactly with the layout read
//   independently, field by field in offset order (magic, version, kind,
//   reason, reserved, sender, receiver not the sender, padding, parent and
//   child IDs held by the kernels the kind says, then the two words);
// - an error names its field's offset and, but for a truncation (which
//   needs more bytes than the view has), lies inside the view;
// - a decoded message encodes back to exactly its 48 bytes, and its sender
//   and receiver are the ones written.

func fuzzCapabilityMessage(_ bytes: [UInt8]) {
  let result = decodeCapabilityMessage(bytes)
  require(
    result == capabilityMessageOracle(bytes), "capability-message: decoder and layout disagree")
  switch result {
  case .failure(let error):
    _ = error.description
    if case .truncated(let needed, let have) = error.problem {
      require(
        have == bytes.count && needed == error.offset + error.field.size && needed > have,
        "capability-message: truncation")
    } else {
      require(error.offset + error.field.size <= bytes.count, "capability-message: error offset")
    }
  case .success(let message):
    _ = message.description
    require(
      UInt64(message.sender) == bytes.le(8, 2) && UInt64(message.receiver) == bytes.le(10, 2),
      "capability-message: sender or receiver")
    var encoded = [UInt8](repeating: 0, count: EndpointCapabilityMessage.byteCount)
    let fits = encoded.withUnsafeMutableBytes { message.encode(into: $0) }
    require(fits && encoded == Array(bytes.prefix(48)), "capability-message: round trip")
  }
}

func decodeCapabilityMessage(_ bytes: [UInt8]) -> Result<
  EndpointCapabilityMessage, EndpointCapabilityMessageError
> {
  bytes.withView { view in
    Result { () throws(EndpointCapabilityMessageError) in
      try EndpointCapabilityMessage.decode(view)
    }
  }
}

/// The layout in EndpointCapabilityMessage.swift's header comment.
func capabilityMessageOracle(_ b: [UInt8]) -> Result<
  EndpointCapabilityMessage, EndpointCapabilityMessageError
> {
  typealias Failure = EndpointCapabilityMessageError
  func field(_ f: Failure.Field) throws(Failure) -> UInt64 {
    let (offset, size): (Int, Int)
    switch f {
    case .magic: (offset, size) = (0, 4)
    case .version: (offset, size) = (4, 1)
    case .kind: (offset, size) = (5, 1)
    case .reason: (offset, size) = (6, 1)
    case .reserved: (offset, size) = (7, 1)
    case .sender: (offset, size) = (8, 2)
    case .receiver: (offset, size) = (10, 2)
    case .padding: (offset, size) = (12, 4)
    case .parent: (offset, size) = (16, 8)
    case .child: (offset, size) = (24, 8)
    case .word0: (offset, size) = (32, 8)
    case .word1: (offset, size) = (40, 8)
    }
    guard let value = b.le(offset, size) else {
      throw Failure(f, .truncated(needed: offset + size, have: b.count))
    }
    return value
  }
  func zero(_ f: Failure.Field) throws(Failure) {
    let value = try field(f)
    if value != 0 { throw Failure(f, .notZero(value)) }
  }
  return Result { () throws(Failure) in
    let magic = try field(.magic)
    if magic != 0x7063_4554 { throw Failure(.magic, .badMagic(UInt32(magic))) }
    let version = try field(.version)
    if version != 1 { throw Failure(.version, .unsupportedVersion(UInt8(version))) }
    let kindValue = try field(.kind)
    guard (1...6).contains(kindValue) else { throw Failure(.kind, .unknownKind(UInt8(kindValue))) }
    let reason = try field(.reason)
    if kindValue == 3 {
      if !(1...3).contains(reason) { throw Failure(.reason, .unknownReason(UInt8(reason))) }
    } else if reason != 0 {
      throw Failure(.reason, .notZero(reason))
    }
    try zero(.reserved)
    let sender = UInt16(try field(.sender))
    let receiver = UInt16(try field(.receiver))
    if sender == receiver { throw Failure(.receiver, .sameKernel(receiver)) }
    try zero(.padding)
    // Delegate request, cancel and revoke acknowledgement go to the parent.
    let toParent = [1, 4, 6].contains(kindValue)
    func id(_ f: Failure.Field, _ kernel: UInt16) throws(Failure) -> EndpointCapabilityID {
      let raw = try field(f)
      guard (raw >> 16) & 0xFFFF_FFFF != 0 else { throw Failure(f, .nullCapability(raw)) }
      let holder = UInt16(raw >> 48)
      if holder != kernel { throw Failure(f, .wrongKernel(expected: kernel, found: holder)) }
      return EndpointCapabilityID(rawValue: raw)!
    }
    let parent = try id(.parent, toParent ? receiver : sender)
    let child = try id(.child, toParent ? sender : receiver)
    let word0 = try field(.word0)
    let word1 = try field(.word1)
    switch kindValue {
    case 2:
      if word0 >> 48 != 0 { throw Failure(.word0, .notAnEndpoint(word0)) }
      return .delegateGranted(
        parent: parent, child: child,
        capability: EndpointCapability(endpoint: EndpointAddress(packed: word0)!, label: word1))
    case 6:
      if word1 != 0 { throw Failure(.word1, .notZero(word1)) }
      return .revokeAck(parent: parent, child: child, unread: word0)
    default:
      if word0 != 0 { throw Failure(.word0, .notZero(word0)) }
      if word1 != 0 { throw Failure(.word1, .notZero(word1)) }
      switch kindValue {
      case 1: return .delegateRequest(parent: parent, child: child)
      case 3:
        return .delegateRefused(
          parent: parent, child: child, reason: DelegationRefusal(rawValue: UInt8(reason))!)
      case 4: return .delegateCancel(parent: parent, child: child)
      default: return .revokeRequest(parent: parent, child: child)
      }
    }
  }
}
