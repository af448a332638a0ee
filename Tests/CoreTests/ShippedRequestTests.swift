// Tests of the function-shipping message codec: the documented byte layout,
// round trips of random requests and replies, and decoding of bytes the
// other kernel may have got wrong — truncated, of the wrong kind, with
// lengths beyond the slot, or random — which must give an error naming the
// field and offset, never a trap.
import PropertyBased
import Synchronization
import Testing

@testable import TesseraCore

/// A decoded request with its data copied out, so it can be compared after
/// the bytes it was decoded from are gone.
struct RequestValue: Equatable {
  var route: ShippingRoute
  var context: ShippingContext
  var number: UInt64
  var arguments: ShippedArguments
  var data: [UInt8]

  init(_ request: ShippedRequest) {
    route = request.route
    context = request.context
    number = request.number
    arguments = request.arguments
    data = request.data.bytes
  }

  init(
    route: ShippingRoute, context: ShippingContext, number: UInt64,
    arguments: ShippedArguments, data: [UInt8]
  ) {
    self.route = route
    self.context = context
    self.number = number
    self.arguments = arguments
    self.data = data
  }

  /// Encodes into a slot of `slot` bytes (the encoded size when nil), bytes
  /// beyond the message left as `fill`; nil when it does not fit.
  func encoded(slot: Int? = nil, fill: UInt8 = 0xEE) -> [UInt8]? {
    data.withUnsafeBytes { bytes in
      let request = ShippedRequest(
        route: route, context: context, number: number, arguments: arguments,
        data: ByteView(bytes))
      var out = [UInt8](repeating: fill, count: slot ?? request.encodedSize)
      let written = out.withUnsafeMutableBytes { request.encode(into: $0) }
      guard let written else {
        #expect(out.allSatisfy { $0 == fill }, "a refused encode wrote")
        return nil
      }
      #expect(written == request.encodedSize)
      return out
    }
  }
}

struct ReplyValue: Equatable {
  var route: ShippingRoute
  var context: ShippingContext
  var result: UInt64
  var data: [UInt8]

  init(_ reply: ShippedReply) {
    route = reply.route
    context = reply.context
    result = reply.result
    data = reply.data.bytes
  }

  init(route: ShippingRoute, context: ShippingContext, result: UInt64, data: [UInt8]) {
    self.route = route
    self.context = context
    self.result = result
    self.data = data
  }

  func encoded(slot: Int? = nil) -> [UInt8]? {
    data.withUnsafeBytes { bytes in
      let reply = ShippedReply(
        route: route, context: context, result: result, data: ByteView(bytes))
      var out = [UInt8](repeating: 0xEE, count: slot ?? reply.encodedSize)
      guard out.withUnsafeMutableBytes({ reply.encode(into: $0) }) == reply.encodedSize else {
        return nil
      }
      return out
    }
  }
}

func decodeRequest(_ bytes: [UInt8]) -> Result<RequestValue, ShippedMessageError> {
  bytes.withUnsafeBytes { buffer in
    do throws(ShippedMessageError) {
      return .success(RequestValue(try ShippedRequest.decode(ByteView(buffer))))
    } catch {
      return .failure(error)
    }
  }
}

func decodeReply(_ bytes: [UInt8]) -> Result<ReplyValue, ShippedMessageError> {
  bytes.withUnsafeBytes { buffer in
    do throws(ShippedMessageError) {
      return .success(ReplyValue(try ShippedReply.decode(ByteView(buffer))))
    } catch {
      return .failure(error)
    }
  }
}

extension Result {
  var failure: Failure? {
    if case .failure(let error) = self { return error }
    return nil
  }
}

private let sampleContext = ShippingContext(
  instance: 0x0102, process: 0x0304_0506, thread: 0x0708_090A, replyQueue: 0x0B0C,
  tag: 0x1112_1314_1516_1718)
private let sampleRequest = RequestValue(
  route: ShippingRoute(server: 0xA1A2, queue: 0xB1B2), context: sampleContext, number: 1,
  arguments: ShippedArguments([0x21, 0x22, 0x23])!, data: Array("hi!".utf8))

private func le(_ value: UInt64, _ bytes: Int) -> [UInt8] {
  (0..<bytes).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}

/// Random requests and replies: any route, context and number, 0-6
/// arguments, 0-80 data bytes.
private let routes = zip(Gen.uint16(), Gen.uint16()).map { ShippingRoute(server: $0, queue: $1) }
private let contexts = zip(Gen.uint16(), Gen.uint32(), Gen.uint32(), Gen.uint16(), Gen.uint64())
  .map { ShippingContext(instance: $0, process: $1, thread: $2, replyQueue: $3, tag: $4) }
private let requests = zip(
  routes, contexts, Gen.uint64(), Gen.uint64().array(of: 0...6), Gen.uint8().array(of: 0...80)
).map {
  RequestValue(route: $0, context: $1, number: $2, arguments: ShippedArguments($3)!, data: $4)
}
private let replies = zip(routes, contexts, Gen.uint64(), Gen.uint8().array(of: 0...80)).map {
  ReplyValue(route: $0, context: $1, result: $2, data: $3)
}

@Suite struct ShippedRequestTests {
  // MARK: the layout

  /// The bytes of a request, field by field, as the file's header documents.
  @Test func requestLayoutIsAsDocumented() throws {
    let bytes = try #require(sampleRequest.encoded())
    let expected: [UInt8] =
      [0x54, 0x53, 0x68, 0x70, 1, 1, 3, 0]  // "TShp", request, version 1, 3 arguments, flags
      + le(0xA1A2, 2) + le(0xB1B2, 2)  // server, queue
      + le(0x0102, 2) + le(0x0B0C, 2)  // instance, reply queue
      + le(0x0304_0506, 4) + le(0x0708_090A, 4)  // process, thread
      + le(0x1112_1314_1516_1718, 8)  // tag
      + le(1, 8)  // system call number
      + le(3, 4) + le(0, 4)  // inline length, padding
      + le(0x21, 8) + le(0x22, 8) + le(0x23, 8) + [UInt8](repeating: 0, count: 24)
      + Array("hi!".utf8)
    #expect(bytes == expected)
    #expect(bytes.count == ShippedRequest.fixedBytes + 3)
    #expect(try decodeRequest(bytes).get() == sampleRequest)
  }

  @Test func replyLayoutIsAsDocumented() throws {
    let reply = ReplyValue(
      route: sampleRequest.route, context: sampleContext, result: UInt64(bitPattern: -22),
      data: [9, 8])
    let bytes = try #require(reply.encoded())
    let expected: [UInt8] =
      [0x54, 0x53, 0x68, 0x70, 2, 1, 0, 0] + le(0xA1A2, 2) + le(0xB1B2, 2) + le(0x0102, 2)
      + le(0x0B0C, 2) + le(0x0304_0506, 4) + le(0x0708_090A, 4) + le(0x1112_1314_1516_1718, 8)
      + le(UInt64(bitPattern: -22), 8) + le(2, 4) + le(0, 4) + [9, 8]
    #expect(bytes == expected)
    #expect(decodeReply(bytes) == .success(reply))
  }

  @Test func aReplyAnswersItsRequest() {
    sampleRequest.data.withUnsafeBytes { data in
      let request = ShippedRequest(
        route: sampleRequest.route, context: sampleContext, number: 1, data: ByteView(data))
      let reply = ShippedReply(answering: request, result: 3)
      #expect(reply.route == request.route && reply.context == request.context)
      #expect(reply.result == 3 && reply.data.count == 0)
    }
  }

  @Test func argumentsHoldAtMostSix() {
    #expect(ShippedArguments([1, 2, 3, 4, 5, 6, 7]) == nil)
    var arguments = ShippedArguments([1, 2, 3, 4, 5, 6])!
    #expect(arguments.count == 6 && arguments[5] == 6)
    let appended = arguments.append(7)
    #expect(!appended)
    #expect(arguments == ShippedArguments([1, 2, 3, 4, 5, 6]))
    #expect(ShippedArguments([1])![1] == 0 && ShippedArguments([1])![-1] == 0)
    #expect(ShippedArguments([1])![99] == 0)
  }

  @Test func encodingRefusesASlotTooSmall() {
    let size = ShippedRequest.fixedBytes + 3
    #expect(sampleRequest.encoded(slot: size - 1) == nil)
    #expect(sampleRequest.encoded(slot: 0) == nil)
    let roomy = sampleRequest.encoded(slot: size + 10)
    #expect(roomy.map { Array($0.suffix(10)) } == [UInt8](repeating: 0xEE, count: 10))
    #expect(ShippedRequest.maximumData(slotSize: 256) == 160)
    #expect(ShippedReply.maximumData(slotSize: 256) == 208)
    #expect(ShippedRequest.maximumData(slotSize: 64) == 0)
  }

  // MARK: round trips

  /// Any request survives encode and decode, in a slot of exactly its size
  /// or larger (the decoder ignores what follows the message); a slot one
  /// byte short is refused without a byte written.
  @Test func requestsRoundTrip() async {
    await propertyCheck(count: 500, input: requests, Gen.int(in: 0...64)) { request, extra in
      let size = ShippedRequest.fixedBytes + request.data.count
      #expect(request.encoded(slot: size - 1) == nil)
      guard let bytes = request.encoded(slot: size + extra) else {
        Issue.record("a request did not fit its size")
        return
      }
      #expect(decodeRequest(bytes) == .success(request))
      #expect(decodeRequest(Array(bytes[0..<size])) == .success(request))
      // A reply decoder refuses it by its kind.
      #expect(
        decodeReply(bytes).failure
          == ShippedMessageError(
            field: .kind, offset: 4, problem: .wrongKind(expected: .reply, found: .request)))
    }
  }

  @Test func repliesRoundTrip() async {
    await propertyCheck(count: 500, input: replies, Gen.int(in: 0...64)) { reply, extra in
      guard let bytes = reply.encoded(slot: ShippedReply.fixedBytes + reply.data.count + extra)
      else {
        Issue.record("a reply did not fit its size")
        return
      }
      #expect(decodeReply(bytes) == .success(reply))
      #expect(
        decodeRequest(bytes).failure
          == ShippedMessageError(
            field: .kind, offset: 4, problem: .wrongKind(expected: .request, found: .reply)))
    }
  }

  /// Through the queue, as the kernel will use it: encoded straight into a
  /// slot, decoded from the consumer's copy.
  @Test func requestsTravelThroughTheQueue() throws {
    let (region, queue) = SharedRegion.queue(slotSize: 128, capacity: 4)
    // The queue holds only pointers into the region: keep it alive.
    defer { withExtendedLifetime(region) {} }
    let result = sampleRequest.data.withUnsafeBytes { data in
      let request = ShippedRequest(
        route: sampleRequest.route, context: sampleContext, number: 1,
        arguments: sampleRequest.arguments, data: ByteView(data))
      return queue.enqueue(byteCount: request.encodedSize) { _ = request.encode(into: $0) }
    }
    #expect(result == .enqueued(raiseIPI: true))
    var received: [RequestValue] = []
    var buffer = [UInt8](repeating: 0, count: 128)
    let report = buffer.withUnsafeMutableBytes {
      queue.drain(into: $0, spinLimit: 1, pause: {}) { view in
        do throws(ShippedMessageError) {
          received.append(RequestValue(try ShippedRequest.decode(view)))
        } catch {
          Issue.record("\(error.description)")
        }
      }
    }
    #expect(report == ShippingDrainReport(handled: 1, stop: .asleep))
    #expect(received == [sampleRequest])
  }

  // MARK: malformed input

  /// Every prefix of a valid request is refused as truncated, naming the
  /// field the bytes end in (or the inline length, once the data is cut).
  @Test func truncatedMessagesNameTheFieldTheyEndIn() throws {
    let bytes = try #require(sampleRequest.encoded())
    for length in 0..<bytes.count {
      let error = try #require(decodeRequest(Array(bytes[0..<length])).failure)
      switch error.problem {
      case .truncated(let needed, let have):
        // The field that contains the cut.
        #expect(have == length && error.offset <= length && length < needed)
        #expect(length < ShippedRequest.fixedBytes)
      case .beyondView(let inline, let room):
        #expect(inline == 3 && room == length - ShippedRequest.fixedBytes)
        #expect(error.field == .inlineLength && error.offset == 40)
      default: Issue.record("cut at \(length): \(error.description)")
      }
    }
    #expect(
      decodeRequest([]).failure
        == ShippedMessageError(field: .magic, offset: 0, problem: .truncated(needed: 4, have: 0)))
    #expect(
      decodeRequest(Array(bytes[0..<30])).failure
        == ShippedMessageError(field: .tag, offset: 24, problem: .truncated(needed: 32, have: 30)))
    #expect(
      decodeRequest(Array(bytes[0..<90])).failure
        == ShippedMessageError(
          field: .argument(5), offset: 88, problem: .truncated(needed: 96, have: 90)))
  }

  /// A valid request with one field changed.
  private func patched(_ offset: Int, _ values: [UInt8]) -> [UInt8] {
    var bytes = sampleRequest.encoded()!
    bytes.replaceSubrange(offset..<offset + values.count, with: values)
    return bytes
  }

  @Test func badFieldsAreNamedWithTheirOffsets() throws {
    func error(_ field: ShippedField, _ offset: Int, _ problem: ShippedMessageError.Problem)
      -> ShippedMessageError
    {
      ShippedMessageError(field: field, offset: offset, problem: problem)
    }
    #expect(
      decodeRequest(patched(0, [0x54, 0x53, 0x68, 0x71])).failure
        == error(.magic, 0, .badMagic(0x7168_5354)))
    #expect(decodeRequest(patched(4, [0])).failure == error(.kind, 4, .unknownKind(0)))
    #expect(decodeRequest(patched(4, [3])).failure == error(.kind, 4, .unknownKind(3)))
    #expect(
      decodeRequest(patched(4, [2])).failure
        == error(.kind, 4, .wrongKind(expected: .request, found: .reply)))
    #expect(decodeRequest(patched(5, [2])).failure == error(.version, 5, .unsupportedVersion(2)))
    #expect(
      decodeRequest(patched(6, [7])).failure == error(.argumentCount, 6, .tooManyArguments(7)))
    #expect(decodeRequest(patched(7, [0x80])).failure == error(.flags, 7, .notZero(0x80)))
    #expect(decodeRequest(patched(46, [1])).failure == error(.padding, 44, .notZero(0x1_0000)))
    // Argument 3 is beyond the count of 3, so it must be 0.
    #expect(decodeRequest(patched(72, [5])).failure == error(.argument(3), 72, .notZero(5)))
    // With the count lowered, argument 2 is suddenly unused and not 0.
    #expect(decodeRequest(patched(6, [2])).failure == error(.argument(2), 64, .notZero(0x23)))
    // Inline lengths beyond the slot, up to the largest.
    #expect(
      decodeRequest(patched(40, [4])).failure
        == error(.inlineLength, 40, .beyondView(length: 4, room: 3)))
    #expect(
      decodeRequest(patched(40, [0xFF, 0xFF, 0xFF, 0xFF])).failure
        == error(.inlineLength, 40, .beyondView(length: .max, room: 3)))
    // A reply must not carry an argument count.
    var reply = try #require(
      ReplyValue(route: sampleRequest.route, context: sampleContext, result: 0, data: []).encoded())
    reply[6] = 1
    #expect(decodeReply(reply).failure == error(.argumentCount, 6, .notZero(1)))
  }

  @Test func errorDescriptionsNameFieldAndOffset() {
    let error = decodeRequest(patched(72, [5])).failure!
    #expect(
      error.description
        == "shipped message argument 3 at offset 72: must be 0, is 0x0000000000000005")
    let kind = decodeRequest(patched(4, [2])).failure!
    #expect(
      kind.description == "shipped message kind at offset 4: expected a request, found a reply")
  }

  /// Random bytes, and random bytes made more and more plausible (a valid
  /// start; then also zero flags, padding and unused arguments and a small
  /// inline length, so that many decode), never trap. Whatever decodes is
  /// canonical: encoding it again gives back the same bytes.
  @Test func randomBytesNeverTrap() async {
    let decoded = Atomic<Int>(0)
    await propertyCheck(
      count: 2000, input: Gen.uint8().array(of: 0...200), Gen.int(in: 0...3), Gen.uint8(in: 0...9),
      Gen.uint8()
    ) { noise, mode, count, inline in
      var bytes = noise
      let kind: UInt8 = mode == 3 ? 2 : 1
      if mode > 0, bytes.count >= 8 {
        bytes.replaceSubrange(0..<8, with: [0x54, 0x53, 0x68, 0x70, kind, 1, count, 0])
      }
      if mode > 1, bytes.count >= 48 {
        if mode == 3 { bytes[6] = count % 2 }
        bytes.replaceSubrange(40..<48, with: le(UInt64(inline % 120), 4) + le(0, 4))
      }
      if mode == 2, count <= 6, bytes.count >= 96 {
        for index in (48 + 8 * Int(count))..<96 { bytes[index] = 0 }
      }
      if case .success(let request) = decodeRequest(bytes) {
        decoded.add(1, ordering: .relaxed)
        let again = request.encoded()!
        #expect(Array(bytes.prefix(again.count)) == again)
      }
      if case .success(let reply) = decodeReply(bytes) {
        decoded.add(1, ordering: .relaxed)
        let again = reply.encoded()!
        #expect(Array(bytes.prefix(again.count)) == again)
      }
    }
    // The plausible cases do reach the end of the decoder.
    #expect(decoded.load(ordering: .relaxed) > 100)
  }

  /// The word-at-a-time check and the field-by-field one accept exactly the
  /// same messages and read the same values: a valid request or reply with
  /// one to three random bytes changed, through both.
  @Test func wordCheckAgreesWithFieldCheck() async {
    await propertyCheck(
      count: 2000, input: Gen.int(in: 0...1), Gen.int(in: 0...47).array(of: 1...3),
      Gen.uint8().array(of: 3)
    ) { kindIndex, offsets, values in
      let kind: ShippedMessageKind = kindIndex == 0 ? .request : .reply
      let context = ShippingContext(instance: 1, process: 7, thread: 9, replyQueue: 3, tag: 42)
      var bytes =
        kind == .request
        ? RequestValue(
          route: ShippingRoute(server: 0, queue: 0), context: context, number: 5,
          arguments: ShippedArguments([1, 2])!, data: [1, 2, 3]
        ).encoded()!
        : ReplyValue(
          route: ShippingRoute(server: 0, queue: 0), context: context, result: 3, data: [4]
        )
        .encoded()!
      for (offset, value) in zip(offsets, values) { bytes[offset] = value }
      bytes.withUnsafeBytes { buffer in
        let view = ByteView(buffer)
        let fast = ShippedLayout.decodeCommonWords(view, as: kind)
        let slow = try? ShippedLayout.decodeCommonByField(view, as: kind)
        #expect(fast == slow)
      }
    }
  }
}
