// Fuzz target `shipped`: function-shipping messages. The input is a slot's
// bytes, decoded both as a request and as a reply. Properties:
// - each decode agrees exactly with the layout read independently, field
//   by field in offset order (magic, kind, version, argument count, flags,
//   the ids, number/result, inline length, padding, unused arguments, then
//   the data against the view);
// - an error names the offset of its field, and quotes what is there; a
//   truncation needs more bytes than the view has;
// - the fast path (six words checked at once) and the field-by-field
//   path agree on the common part: both accept or neither does;
// - a decoded message's data points into the view, and the message encodes
//   back to exactly the bytes it was decoded from.

func fuzzShipped(_ bytes: [UInt8]) {
  bytes.withView { view in
    for kind in [ShippedMessageKind.request, .reply] {
      let fast = ShippedLayout.decodeCommonWords(view, as: kind)
      let slow = Result { () throws(ShippedMessageError) in
        try ShippedLayout.decodeCommonByField(view, as: kind)
      }
      switch slow {
      case .success(let common): require(fast == common, "shipped: fast path refused or differs")
      case .failure: require(fast == nil, "shipped: fast path accepted what the fields refuse")
      }
    }
    let request = Result { () throws(ShippedMessageError) in try ShippedRequest.decode(view) }
    let reply = Result { () throws(ShippedMessageError) in try ShippedReply.decode(view) }
    let oracleRequest = shippedOracle(bytes, request: true)
    let oracleReply = shippedOracle(bytes, request: false)
    switch request {
    case .failure(let error):
      require(oracleRequest == .failure(error), "shipped: request error differs from the layout")
      checkQuote(error, bytes)
    case .success(let message):
      require(
        oracleRequest
          == .success(
            Decoded(
              route: message.route, context: message.context, word: message.number,
              arguments: (0..<6).map { message.arguments[$0] }, count: message.arguments.count,
              dataLength: message.data.count)), "shipped: request differs from the layout")
      require(message.data.base == view.base.map { $0 + 96 }, "shipped: request data view")
      var encoded = [UInt8](repeating: 0, count: message.encodedSize)
      let written = encoded.withUnsafeMutableBytes { message.encode(into: $0) }
      require(
        written == encoded.count && encoded == Array(bytes.prefix(encoded.count)),
        "shipped: request round trip changed the bytes")
    }
    switch reply {
    case .failure(let error):
      require(oracleReply == .failure(error), "shipped: reply error differs from the layout")
      checkQuote(error, bytes)
    case .success(let message):
      require(
        oracleReply
          == .success(
            Decoded(
              route: message.route, context: message.context, word: message.result,
              arguments: [0, 0, 0, 0, 0, 0], count: 0, dataLength: message.data.count)),
        "shipped: reply differs from the layout")
      require(message.data.base == view.base.map { $0 + 48 }, "shipped: reply data view")
      var encoded = [UInt8](repeating: 0, count: message.encodedSize)
      let written = encoded.withUnsafeMutableBytes { message.encode(into: $0) }
      require(
        written == encoded.count && encoded == Array(bytes.prefix(encoded.count)),
        "shipped: reply round trip changed the bytes")
    }
  }
}

/// What a decode yields, in comparable form.
private struct Decoded: Equatable {
  var route: ShippingRoute
  var context: ShippingContext
  var word: UInt64
  var arguments: [UInt64]
  var count: Int
  var dataLength: Int
}

/// The error's offset is its field's, inside the view unless it is a
/// truncation (which needs more than the view has), and it quotes the
/// stored value.
private func checkQuote(_ error: ShippedMessageError, _ bytes: [UInt8]) {
  let (offset, size) = ShippedLayout.place(error.field)
  require(error.offset == offset, "shipped: error offset is not its field's")
  _ = error.description
  switch error.problem {
  case .truncated(let needed, let have):
    require(have == bytes.count && needed == offset + size && needed > have, "shipped: truncated")
  case .beyondView(let length, let room):
    require(
      UInt64(length) == bytes.le32(40).map(UInt64.init) && Int(length) > room,
      "shipped: beyond view")
  case .badMagic(let value): require(UInt64(value) == bytes.le(offset, size), "shipped: magic")
  case .unknownKind(let value), .unsupportedVersion(let value), .tooManyArguments(let value):
    require(UInt64(value) == bytes.le(offset, size), "shipped: quoted byte")
  case .notZero(let value): require(value == bytes.le(offset, size) && value != 0, "shipped: zero")
  case .wrongKind(let expected, let found):
    require(expected != found && UInt64(found.rawValue) == bytes.le(4, 1), "shipped: kind")
  }
}

/// The layout in ShippedRequest.swift's header, read field by field.
private func shippedOracle(_ b: [UInt8], request: Bool) -> Result<Decoded, ShippedMessageError> {
  func field(_ f: ShippedField, _ offset: Int, _ size: Int) -> Result<UInt64, ShippedMessageError> {
    guard let value = b.le(offset, size) else {
      return .failure(
        ShippedMessageError(
          field: f, offset: offset, problem: .truncated(needed: offset + size, have: b.count)))
    }
    return .success(value)
  }
  func fail(_ f: ShippedField, _ offset: Int, _ p: ShippedMessageError.Problem) -> Result<
    Decoded, ShippedMessageError
  > { .failure(ShippedMessageError(field: f, offset: offset, problem: p)) }
  do throws(ShippedMessageError) {
    let magic = try field(.magic, 0, 4).get()
    if magic != 0x7068_5354 { return fail(.magic, 0, .badMagic(UInt32(magic))) }
    let kind = try field(.kind, 4, 1).get()
    guard kind == 1 || kind == 2 else { return fail(.kind, 4, .unknownKind(UInt8(kind))) }
    if (kind == 1) != request {
      return fail(
        .kind, 4,
        .wrongKind(expected: request ? .request : .reply, found: kind == 1 ? .request : .reply))
    }
    let version = try field(.version, 5, 1).get()
    if version != 1 { return fail(.version, 5, .unsupportedVersion(UInt8(version))) }
    let count = try field(.argumentCount, 6, 1).get()
    if request && count > 6 { return fail(.argumentCount, 6, .tooManyArguments(UInt8(count))) }
    if !request && count != 0 { return fail(.argumentCount, 6, .notZero(count)) }
    let flags = try field(.flags, 7, 1).get()
    if flags != 0 { return fail(.flags, 7, .notZero(flags)) }
    let server = try field(.server, 8, 2).get()
    let queue = try field(.queue, 10, 2).get()
    let instance = try field(.instance, 12, 2).get()
    let replyQueue = try field(.replyQueue, 14, 2).get()
    let process = try field(.process, 16, 4).get()
    let thread = try field(.thread, 20, 4).get()
    let tag = try field(.tag, 24, 8).get()
    let word = try field(.numberOrResult, 32, 8).get()
    let length = try field(.inlineLength, 40, 4).get()
    let padding = try field(.padding, 44, 4).get()
    if padding != 0 { return fail(.padding, 44, .notZero(padding)) }
    var arguments: [UInt64] = []
    let fixed = request ? 96 : 48
    if request {
      for index in 0..<6 {
        let value = try field(.argument(index), 48 + 8 * index, 8).get()
        if index >= Int(count) && value != 0 {
          return fail(.argument(index), 48 + 8 * index, .notZero(value))
        }
        arguments.append(value)
      }
    } else {
      arguments = [0, 0, 0, 0, 0, 0]
    }
    if Int(length) > b.count - fixed {
      return fail(.inlineLength, 40, .beyondView(length: UInt32(length), room: b.count - fixed))
    }
    return .success(
      Decoded(
        route: ShippingRoute(server: UInt16(server), queue: UInt16(queue)),
        context: ShippingContext(
          instance: UInt16(instance), process: UInt32(process), thread: UInt32(thread),
          replyQueue: UInt16(replyQueue), tag: tag),
        word: word, arguments: arguments, count: Int(count), dataLength: Int(length)))
  } catch {
    return .failure(error)
  }
}
