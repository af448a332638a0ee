// Fuzz target `control-message`: the 48-byte requests and replies kernel
// instances exchange through the control queues. Properties: a view of any
// length but 48 is refused for its length; 48 bytes decode exactly when
// the magic is "CTL1", to the fields as stored; a decoded message encodes
// back to the same bytes; kind and status are derived from the code alone.

func fuzzControlMessage(_ bytes: [UInt8]) {
  let result = bytes.withView { ControlMessage.decode($0) }
  if bytes.count != ControlMessage.byteCount {
    require(result == .failure(.wrongLength(bytes.count)), "control-message: length not refused")
    return
  }
  guard bytes.le32(0) == ControlMessage.magic else {
    require(result == .failure(.badMagic(bytes.le32(0)!)), "control-message: bad magic accepted")
    if case .failure(let error) = result { _ = error.description }
    return
  }
  guard case .success(let message) = result else {
    fatalError("fuzz property violated: control-message: a well-formed message was refused")
  }
  require(
    message.code == bytes.le32(4) && message.tag == bytes.le64(8)
      && message.words.0 == bytes.le64(16) && message.words.1 == bytes.le64(24)
      && message.words.2 == bytes.le64(32) && message.words.3 == bytes.le64(40),
    "control-message: fields misread")
  require(message.kind == ControlMessage.Kind(rawValue: message.code), "control-message: kind")
  require(
    message.status == ControlMessage.Status(rawValue: message.code), "control-message: status")
  var encoded = [UInt8](repeating: 0, count: ControlMessage.byteCount)
  let fits = encoded.withUnsafeMutableBytes { message.encode(into: $0) }
  require(fits && encoded == bytes, "control-message: round trip changed the bytes")
  var short = [UInt8](repeating: 0, count: ControlMessage.byteCount - 1)
  require(
    !short.withUnsafeMutableBytes { message.encode(into: $0) },
    "control-message: encoded into a short buffer")
}
