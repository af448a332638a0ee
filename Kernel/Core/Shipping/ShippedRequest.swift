// The function-shipping message codec: a system call the LWK instance does
// not serve itself travels to the service instance as a request, and the
// answer comes back as a reply (mOS's route / context / payload, seed 003
// Fig. 4/5). Messages travel as the payload of DTU endpoint messages and
// are read back in the receiver's slot through `ByteView`, because the
// instance that decodes did not write them and must not trust them: every
// field is checked, and any input, truncated or random, gives an error
// naming the field and its offset, never a trap.
//
// Unlike McKernel, whose request carries the address of a response record
// in the requester's memory, a request here names where its answer goes by
// small numbers (a reply CPU and a tag): no kernel ever writes to an
// address the other one chose.
//
// Layout, little-endian, offsets in bytes. The first 48 bytes are common:
//
//   0   u32  magic "TShp" (54 53 68 70)
//   4   u8   kind: 1 request, 2 reply
//   5   u8   version: 1
//   6   u8   argument count: 0...6 in a request, 0 in a reply
//   7   u8   flags: 0 (reserved)
//   8   u16  route: server id
//   10  u16  route: queue id
//   12  u16  context: LWK instance id
//   14  u16  context: reply queue id (where the answer goes)
//   16  u32  context: process id
//   20  u32  context: thread id
//   24  u64  context: request tag (echoed by the reply)
//   32  u64  request: system call number / reply: result word
//   40  u32  inline length: bytes of data after the fixed part
//   44  u32  padding: 0
//
// A request continues with its arguments and then its data:
//
//   48  6 × u64  arguments; those beyond the count are 0
//   96  inline data (user bytes copied in, e.g. what write() writes)
//
// A reply's data (e.g. what read() read) follows the common part at 48.
//
// Reserved and unused fields must be zero, so one request has exactly one
// encoding and a later version can give them meaning. The decoder accepts a
// view longer than the message (a whole slot) and ignores what follows; the
// data must end inside the view.

/// Which message a slot holds (byte 4).
public enum ShippedMessageKind: UInt8, Equatable, Sendable {
  case request = 1
  case reply = 2
}

/// Where a request goes on the service side: which server, which of its
/// queues.
public struct ShippingRoute: Equatable, Sendable {
  public var server: UInt16
  public var queue: UInt16

  public init(server: UInt16, queue: UInt16) {
    self.server = server
    self.queue = queue
  }
}

/// Who asked, and where the answer goes. A reply carries the context of
/// its request unchanged, so the LWK finds the waiting thread by it.
public struct ShippingContext: Equatable, Sendable {
  /// The LWK kernel instance that shipped the call.
  public var instance: UInt16
  public var process: UInt32
  public var thread: UInt32
  /// The LWK's queue the reply goes into.
  public var replyQueue: UInt16
  /// Chosen by the LWK; matches a reply to its request.
  public var tag: UInt64

  public init(instance: UInt16, process: UInt32, thread: UInt32, replyQueue: UInt16, tag: UInt64) {
    self.instance = instance
    self.process = process
    self.thread = thread
    self.replyQueue = replyQueue
    self.tag = tag
  }
}

/// Up to six system-call argument words (the registers RDI, RSI, RDX, R10,
/// R8, R9), without an array so that building a request allocates nothing.
/// Words at and beyond `count` are always 0.
public struct ShippedArguments: Equatable, Sendable {
  public static let maximum = 6
  public private(set) var count = 0
  private var w0: UInt64 = 0
  private var w1: UInt64 = 0
  private var w2: UInt64 = 0
  private var w3: UInt64 = 0
  private var w4: UInt64 = 0
  private var w5: UInt64 = 0

  public init() {}

  /// nil when there are more than six words.
  public init?(_ words: some Collection<UInt64>) {
    guard words.count <= Self.maximum else { return nil }
    for word in words { _ = append(word) }
  }

  /// Adds a word; false (and no change) when six are there already.
  @discardableResult
  public mutating func append(_ word: UInt64) -> Bool {
    guard count < Self.maximum else { return false }
    set(count, word)
    count += 1
    return true
  }

  /// The word at `index`; 0 at and beyond `count` (and for any index out of
  /// 0..<6), so no index traps.
  public subscript(index: Int) -> UInt64 {
    index >= 0 && index < count ? self[unchecked: index] : 0
  }

  /// The six argument words as a request carries them (those beyond the
  /// count are 0).
  func store(to base: UnsafeMutableRawPointer) {
    for index in 0..<Self.maximum {
      base.storeBytes(
        of: self[unchecked: index].littleEndian, toByteOffset: index * 8, as: UInt64.self)
    }
  }

  /// `count` arguments read from six words of a request; nil when `count`
  /// is out of range or a word beyond it is not 0.
  init?(loading base: UnsafeRawPointer, count: Int) {
    guard count >= 0, count <= Self.maximum else { return nil }
    func word(_ index: Int) -> UInt64 {
      UInt64(littleEndian: base.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
    }
    (w0, w1, w2, w3, w4, w5) = (word(0), word(1), word(2), word(3), word(4), word(5))
    self.count = count
    // Words beyond the count are 0: one request, one encoding.
    var beyond: UInt64 = 0
    for index in count..<Self.maximum { beyond |= self[unchecked: index] }
    guard beyond == 0 else { return nil }
  }

  private subscript(unchecked index: Int) -> UInt64 {
    switch index {
    case 0: w0
    case 1: w1
    case 2: w2
    case 3: w3
    case 4: w4
    default: w5
    }
  }

  private mutating func set(_ index: Int, _ word: UInt64) {
    switch index {
    case 0: w0 = word
    case 1: w1 = word
    case 2: w2 = word
    case 3: w3 = word
    case 4: w4 = word
    default: w5 = word
    }
  }
}

/// A field of the layout above, for error messages.
public enum ShippedField: Equatable, Sendable {
  case magic, kind, version, argumentCount, flags
  case server, queue, instance, replyQueue, process, thread, tag
  /// The system call number (request) or the result word (reply).
  case numberOrResult
  case inlineLength, padding
  case argument(Int)

  public var name: String {
    switch self {
    case .magic: "magic"
    case .kind: "kind"
    case .version: "version"
    case .argumentCount: "argument count"
    case .flags: "flags"
    case .server: "server"
    case .queue: "queue"
    case .instance: "instance"
    case .replyQueue: "reply queue"
    case .process: "process"
    case .thread: "thread"
    case .tag: "tag"
    case .numberOrResult: "number/result"
    case .inlineLength: "inline length"
    case .padding: "padding"
    case .argument(let index): "argument " + String(index)
    }
  }
}

/// Why bytes are not a valid shipped message: which field, at which
/// offset, and what is wrong with it.
public struct ShippedMessageError: Error, Equatable, Sendable {
  public enum Problem: Equatable, Sendable {
    /// The view ends inside the field: it needs `needed` bytes, has `have`.
    case truncated(needed: Int, have: Int)
    case badMagic(UInt32)
    /// Neither a request nor a reply.
    case unknownKind(UInt8)
    /// A valid kind, but not the one being decoded.
    case wrongKind(expected: ShippedMessageKind, found: ShippedMessageKind)
    case unsupportedVersion(UInt8)
    /// More than six arguments.
    case tooManyArguments(UInt8)
    /// A reserved or unused field holds `value`.
    case notZero(UInt64)
    /// The inline data (`length` bytes) runs past the view, which has
    /// `room` bytes after the fixed part.
    case beyondView(length: UInt32, room: Int)
  }

  public let field: ShippedField
  public let offset: Int
  public let problem: Problem

  public init(field: ShippedField, offset: Int, problem: Problem) {
    self.field = field
    self.offset = offset
    self.problem = problem
  }

  /// One line for the log.
  public var description: String {
    let what: String
    switch problem {
    case .truncated(let needed, let have):
      what = "truncated: needs " + String(needed) + " bytes, has " + String(have)
    case .badMagic(let value): what = "bad magic " + hex(UInt64(value), digits: 8)
    case .unknownKind(let value): what = "unknown kind " + String(value)
    case .wrongKind(let expected, let found):
      what =
        "expected a " + (expected == .request ? "request" : "reply") + ", found a "
        + (found == .request ? "request" : "reply")
    case .unsupportedVersion(let value): what = "unsupported version " + String(value)
    case .tooManyArguments(let value): what = String(value) + " arguments (at most 6)"
    case .notZero(let value): what = "must be 0, is " + hex(value)
    case .beyondView(let length, let room):
      what = String(length) + " bytes, only " + String(room) + " fit"
    }
    return "shipped message " + field.name + " at offset " + String(offset) + ": " + what
  }
}

/// Reading and writing the common part; shared by requests and replies.
enum ShippedLayout {
  static let magic: UInt32 = 0x7068_5354  // "TShp"
  static let version: UInt8 = 1
  static let commonBytes = 48

  /// Offset and size of every fixed field.
  static func place(_ field: ShippedField) -> (offset: Int, size: Int) {
    switch field {
    case .magic: (0, 4)
    case .kind: (4, 1)
    case .version: (5, 1)
    case .argumentCount: (6, 1)
    case .flags: (7, 1)
    case .server: (8, 2)
    case .queue: (10, 2)
    case .instance: (12, 2)
    case .replyQueue: (14, 2)
    case .process: (16, 4)
    case .thread: (20, 4)
    case .tag: (24, 8)
    case .numberOrResult: (32, 8)
    case .inlineLength: (40, 4)
    case .padding: (44, 4)
    case .argument(let index): (48 + 8 * index, 8)
    }
  }

  /// The field's value, zero-extended, or the truncation error.
  static func read(_ view: ByteView, _ field: ShippedField) throws(ShippedMessageError) -> UInt64 {
    let (offset, size) = place(field)
    let value: UInt64?
    switch size {
    case 1: value = view.u8(offset).map { UInt64($0) }
    case 2: value = view.u16(offset).map { UInt64($0) }
    case 4: value = view.u32(offset).map { UInt64($0) }
    default: value = view.u64(offset)
    }
    guard let value else {
      throw ShippedMessageError(
        field: field, offset: offset, problem: .truncated(needed: offset + size, have: view.count))
    }
    return value
  }

  static func requireZero(_ view: ByteView, _ field: ShippedField) throws(ShippedMessageError) {
    let value = try read(view, field)
    guard value == 0 else {
      throw ShippedMessageError(field: field, offset: place(field).offset, problem: .notZero(value))
    }
  }

  struct Common: Equatable {
    var route: ShippingRoute
    var context: ShippingContext
    var argumentCount: Int
    var word: UInt64
    var inlineLength: UInt32
  }

  /// The common part read as six words and checked with a few compares:
  /// nil when anything is wrong (or the view is short), and then
  /// `decodeCommon` goes field by field to say what. Every shipped call
  /// decodes two messages, so this is most of the codec's cost.
  @inline(__always)
  static func decodeCommonWords(_ view: ByteView, as expected: ShippedMessageKind) -> Common? {
    guard let base = view.base, view.count >= commonBytes else { return nil }
    func word(_ index: Int) -> UInt64 {
      UInt64(littleEndian: base.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
    }
    let head = word(0)
    // Magic, kind, version and flags exact; the argument count (bits
    // 48...55) in range for the kind.
    let expectedHead = UInt64(magic) | UInt64(expected.rawValue) << 32 | UInt64(version) << 40
    let count = Int(head >> 48 & 0xFF)
    guard head & 0xFF00_FFFF_FFFF_FFFF == expectedHead,
      expected == .request ? count <= ShippedArguments.maximum : count == 0
    else { return nil }
    let (routeAndQueues, ids, length) = (word(1), word(2), word(5))
    guard length >> 32 == 0 else { return nil }  // padding
    return Common(
      route: ShippingRoute(
        server: UInt16(truncatingIfNeeded: routeAndQueues),
        queue: UInt16(truncatingIfNeeded: routeAndQueues >> 16)),
      context: ShippingContext(
        instance: UInt16(truncatingIfNeeded: routeAndQueues >> 32),
        process: UInt32(truncatingIfNeeded: ids), thread: UInt32(truncatingIfNeeded: ids >> 32),
        replyQueue: UInt16(truncatingIfNeeded: routeAndQueues >> 48), tag: word(3)),
      argumentCount: count, word: word(4), inlineLength: UInt32(truncatingIfNeeded: length))
  }

  static func decodeCommon(
    _ view: ByteView, as expected: ShippedMessageKind
  ) throws(ShippedMessageError) -> Common {
    if let common = decodeCommonWords(view, as: expected) { return common }
    return try decodeCommonByField(view, as: expected)
  }

  /// The same check, field by field in offset order, so that an error
  /// names the first field that is wrong (or that the bytes end in).
  static func decodeCommonByField(
    _ view: ByteView, as expected: ShippedMessageKind
  ) throws(ShippedMessageError) -> Common {
    let magicValue = UInt32(try read(view, .magic))
    guard magicValue == magic else {
      throw ShippedMessageError(field: .magic, offset: 0, problem: .badMagic(magicValue))
    }
    let kindValue = UInt8(try read(view, .kind))
    guard let kind = ShippedMessageKind(rawValue: kindValue) else {
      throw ShippedMessageError(field: .kind, offset: 4, problem: .unknownKind(kindValue))
    }
    guard kind == expected else {
      throw ShippedMessageError(
        field: .kind, offset: 4, problem: .wrongKind(expected: expected, found: kind))
    }
    let versionValue = UInt8(try read(view, .version))
    guard versionValue == version else {
      throw ShippedMessageError(
        field: .version, offset: 5, problem: .unsupportedVersion(versionValue))
    }
    let count = UInt8(try read(view, .argumentCount))
    switch kind {
    case .request:
      guard Int(count) <= ShippedArguments.maximum else {
        throw ShippedMessageError(
          field: .argumentCount, offset: 6, problem: .tooManyArguments(count))
      }
    case .reply:
      guard count == 0 else {
        throw ShippedMessageError(
          field: .argumentCount, offset: 6, problem: .notZero(UInt64(count)))
      }
    }
    try requireZero(view, .flags)
    // In offset order, so a truncation names the field the bytes end in.
    let server = UInt16(try read(view, .server))
    let queue = UInt16(try read(view, .queue))
    let instance = UInt16(try read(view, .instance))
    let replyQueue = UInt16(try read(view, .replyQueue))
    let process = UInt32(try read(view, .process))
    let thread = UInt32(try read(view, .thread))
    let tag = try read(view, .tag)
    let route = ShippingRoute(server: server, queue: queue)
    let context = ShippingContext(
      instance: instance, process: process, thread: thread, replyQueue: replyQueue, tag: tag)
    let word = try read(view, .numberOrResult)
    let length = UInt32(try read(view, .inlineLength))
    try requireZero(view, .padding)
    return Common(
      route: route, context: context, argumentCount: Int(count), word: word, inlineLength: length)
  }

  /// The inline data at `offset`, a view into `view`, or why it does not fit.
  static func inlineData(
    _ view: ByteView, at offset: Int, length: UInt32
  ) throws(ShippedMessageError) -> ByteView {
    guard let data = view.slice(offset, Int(length)) else {
      throw ShippedMessageError(
        field: .inlineLength, offset: place(.inlineLength).offset,
        problem: .beyondView(length: length, room: max(0, view.count - offset)))
    }
    return data
  }

  /// Writes the common part as its six words (the layout above).
  static func encodeCommon(
    _ slot: UnsafeMutableRawPointer, kind: ShippedMessageKind, argumentCount: Int,
    route: ShippingRoute, context: ShippingContext, word: UInt64, inlineLength: Int
  ) {
    func store(_ index: Int, _ value: UInt64) {
      slot.storeBytes(of: value.littleEndian, toByteOffset: index * 8, as: UInt64.self)
    }
    store(
      0,
      UInt64(magic) | UInt64(kind.rawValue) << 32 | UInt64(version) << 40
        | UInt64(UInt8(truncatingIfNeeded: argumentCount)) << 48)
    store(
      1,
      UInt64(route.server) | UInt64(route.queue) << 16 | UInt64(context.instance) << 32
        | UInt64(context.replyQueue) << 48)
    store(2, UInt64(context.process) | UInt64(context.thread) << 32)
    store(3, context.tag)
    store(4, word)
    store(5, UInt64(UInt32(truncatingIfNeeded: inlineLength)))
  }

  /// Copies `data` to `offset` of the slot.
  static func copyData(_ data: ByteView, to slot: UnsafeMutableRawPointer, at offset: Int) {
    guard data.count > 0, let source = data.base else { return }
    (slot + offset).copyMemory(from: source, byteCount: data.count)
  }
}

/// A system call shipped from the LWK to the service instance: route,
/// context and payload. `data` is a view, not a copy: when encoding it
/// points at the bytes to ship (a kernel buffer the user bytes were copied
/// into); after decoding it points into the view decoded from, and is valid
/// as long as that memory is.
public struct ShippedRequest {
  public static let fixedBytes = 96

  public var route: ShippingRoute
  public var context: ShippingContext
  /// The system call number, as the caller gave it (the server decides what
  /// it means, and refuses what it does not know).
  public var number: UInt64
  public var arguments: ShippedArguments
  public var data: ByteView

  public init(
    route: ShippingRoute, context: ShippingContext, number: UInt64,
    arguments: ShippedArguments = ShippedArguments(), data: ByteView = ByteView(base: nil, count: 0)
  ) {
    self.route = route
    self.context = context
    self.number = number
    self.arguments = arguments
    self.data = data
  }

  /// Bytes the encoded request occupies.
  public var encodedSize: Int { Self.fixedBytes + data.count }

  /// The most data a request can carry in a slot of `slotSize` bytes.
  public static func maximumData(slotSize: Int) -> Int { max(0, slotSize - fixedBytes) }

  /// Writes the request at the start of `slot`; returns the bytes written,
  /// or nil (nothing written) when it does not fit.
  public func encode(into slot: UnsafeMutableRawBufferPointer) -> Int? {
    guard let base = slot.baseAddress, encodedSize <= slot.count,
      data.count <= Int(UInt32.max)
    else { return nil }
    ShippedLayout.encodeCommon(
      base, kind: .request, argumentCount: arguments.count, route: route, context: context,
      word: number, inlineLength: data.count)
    arguments.store(to: base + ShippedLayout.commonBytes)
    ShippedLayout.copyData(data, to: base, at: Self.fixedBytes)
    return encodedSize
  }

  /// Decodes and checks a request at the start of `view`.
  public static func decode(_ view: ByteView) throws(ShippedMessageError) -> ShippedRequest {
    let common = try ShippedLayout.decodeCommon(view, as: .request)
    if let base = view.base, view.count >= fixedBytes,
      let arguments = ShippedArguments(
        loading: base + ShippedLayout.commonBytes, count: common.argumentCount),
      let data = view.slice(fixedBytes, Int(common.inlineLength))
    {
      return ShippedRequest(
        route: common.route, context: common.context, number: common.word, arguments: arguments,
        data: data)
    }
    // Something is wrong: find the field, in offset order.
    var arguments = ShippedArguments()
    for index in 0..<ShippedArguments.maximum {
      if index < common.argumentCount {
        arguments.append(try ShippedLayout.read(view, .argument(index)))
      } else {
        try ShippedLayout.requireZero(view, .argument(index))
      }
    }
    let data = try ShippedLayout.inlineData(view, at: fixedBytes, length: common.inlineLength)
    return ShippedRequest(
      route: common.route, context: common.context, number: common.word, arguments: arguments,
      data: data)
  }
}

/// The answer to a shipped request: the request's route and context (tag
/// included) unchanged, the result word (what the system call returns in
/// RAX) and optional data (what a read read). `data` is a view, as in
/// `ShippedRequest`.
public struct ShippedReply {
  public static let fixedBytes = ShippedLayout.commonBytes

  public var route: ShippingRoute
  public var context: ShippingContext
  public var result: UInt64
  public var data: ByteView

  public init(
    route: ShippingRoute, context: ShippingContext, result: UInt64,
    data: ByteView = ByteView(base: nil, count: 0)
  ) {
    self.route = route
    self.context = context
    self.result = result
    self.data = data
  }

  /// The reply to `request`: its route and context, this result and data.
  public init(
    answering request: ShippedRequest, result: UInt64,
    data: ByteView = ByteView(base: nil, count: 0)
  ) {
    self.init(route: request.route, context: request.context, result: result, data: data)
  }

  public var encodedSize: Int { Self.fixedBytes + data.count }

  public static func maximumData(slotSize: Int) -> Int { max(0, slotSize - fixedBytes) }

  /// Writes the reply at the start of `slot`; returns the bytes written, or
  /// nil (nothing written) when it does not fit.
  public func encode(into slot: UnsafeMutableRawBufferPointer) -> Int? {
    guard let base = slot.baseAddress, encodedSize <= slot.count,
      data.count <= Int(UInt32.max)
    else { return nil }
    ShippedLayout.encodeCommon(
      base, kind: .reply, argumentCount: 0, route: route, context: context, word: result,
      inlineLength: data.count)
    ShippedLayout.copyData(data, to: base, at: Self.fixedBytes)
    return encodedSize
  }

  /// Decodes and checks a reply at the start of `view`.
  public static func decode(_ view: ByteView) throws(ShippedMessageError) -> ShippedReply {
    let common = try ShippedLayout.decodeCommon(view, as: .reply)
    let data = try ShippedLayout.inlineData(view, at: fixedBytes, length: common.inlineLength)
    return ShippedReply(
      route: common.route, context: common.context, result: common.word, data: data)
  }
}
