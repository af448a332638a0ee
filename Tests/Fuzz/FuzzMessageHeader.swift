// Fuzz target `message-header`: the 16-byte slot header of a receive
// endpoint. The input is word 0, word 1 (little-endian) and a 2-byte
// payload capacity. Properties:
// - `MessageHeader.decode` agrees exactly with the layout read
//   independently (kind byte 1 or 2 checked first, then flags zero, then the
//   length against the capacity);
// - a decoded header re-encodes to the same word 0 and decodes again to
//   itself; `sequence(of:)` is the low 32 bits of any word.

func fuzzMessageHeader(_ bytes: [UInt8]) {
  var input = FuzzInput(bytes)
  let word0 = input.u64()
  let word1 = input.u64()
  let capacity = Int(input.u16())
  let decoded = decodeHeader(word0, word1, capacity)
  let kind = UInt8(truncatingIfNeeded: word0 >> 48)
  let flags = UInt8(truncatingIfNeeded: word0 >> 56)
  let length = Int((word0 >> 32) & 0xFFFF)
  let expected: Result<MessageHeader, MessageHeaderError>
  if kind != 1 && kind != 2 {
    expected = .failure(.unknownKind(kind))
  } else if flags != 0 {
    expected = .failure(.reservedFlags(flags))
  } else if length > capacity {
    expected = .failure(.lengthTooLarge(length: length, limit: capacity))
  } else {
    expected = .success(
      MessageHeader(
        sequence: UInt32(truncatingIfNeeded: word0), length: length,
        kind: kind == 1 ? .message : .reply, replyLabel: word1))
  }
  require(decoded == expected, "message-header: decoder and layout disagree")
  require(MessageHeader.sequence(of: word0) == UInt32(truncatingIfNeeded: word0), "sequence")
  switch decoded {
  case .failure(let error): _ = error.description
  case .success(let header):
    require(header.word0 == word0, "message-header: word 0 does not round trip")
    require(
      decodeHeader(header.word0, header.replyLabel, capacity) == .success(header),
      "message-header: re-encoded header decodes differently")
  }
}

private func decodeHeader(_ word0: UInt64, _ word1: UInt64, _ capacity: Int) -> Result<
  MessageHeader, MessageHeaderError
> {
  Result { () throws(MessageHeaderError) in
    try MessageHeader.decode(word0: word0, word1: word1, payloadCapacity: capacity)
  }
}
