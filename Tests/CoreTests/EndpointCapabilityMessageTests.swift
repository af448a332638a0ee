import PropertyBased
import Testing

@testable import TesseraCore

/// The messages kernels exchange about endpoint capabilities
/// (Kernel/Core/DTU/EndpointCapabilityMessage.swift): every kind round-trips,
/// every malformed field is named with its offset, and no bytes trap.
struct EndpointCapabilityMessageTests {
  typealias Message = EndpointCapabilityMessage
  typealias Failure = EndpointCapabilityMessageError

  static let parent = EndpointCapabilityID(kernel: 0, index: 3, generation: 7)
  static let child = EndpointCapabilityID(kernel: 1, index: 9, generation: 2)
  static let capability = EndpointCapability(
    endpoint: EndpointAddress(board: 1, node: 2, endpoint: 3), label: 0xDEAD_BEEF)

  static let samples: [Message] = [
    .delegateRequest(parent: parent, child: child),
    .delegateGranted(parent: parent, child: child, capability: capability),
    .delegateRefused(parent: parent, child: child, reason: .revoking),
    .delegateCancel(parent: parent, child: child),
    .revokeRequest(parent: parent, child: child),
    .revokeAck(parent: parent, child: child, unread: 0x1_0000_0001),
  ]

  func encoded(_ message: Message, size: Int = Message.byteCount) -> [UInt8] {
    var bytes = [UInt8](repeating: 0xEE, count: size)
    bytes.withUnsafeMutableBytes { #expect(message.encode(into: $0)) }
    return bytes
  }

  func decode(_ bytes: [UInt8]) -> Result<Message, Failure> {
    bytes.withUnsafeBytes { raw in
      Result { () throws(Failure) in try Message.decode(ByteView(raw)) }
    }
  }

  /// `bytes` with the little-endian `value` of `size` bytes at `offset`.
  func patched(_ bytes: [UInt8], at offset: Int, size: Int, _ value: UInt64) -> [UInt8] {
    var copy = bytes
    for index in 0..<size { copy[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    return copy
  }

  @Test func everyKindRoundTrips() {
    for message in Self.samples {
      #expect(decode(encoded(message)) == .success(message))
      // A whole ring slot decodes the same; what follows is ignored.
      #expect(decode(encoded(message, size: 64)) == .success(message))
    }
    #expect(Self.samples.map(\.kind) == Message.Kind.allCases)
  }

  @Test func sendersAndReceiversFollowTheEdge() {
    for message in Self.samples {
      let toParent = message.kind.toParent
      #expect(message.sender == (toParent ? 1 : 0))
      #expect(message.receiver == (toParent ? 0 : 1))
      let bytes = encoded(message)
      #expect(UInt16(bytes[8]) | UInt16(bytes[9]) << 8 == message.sender)
      #expect(UInt16(bytes[10]) | UInt16(bytes[11]) << 8 == message.receiver)
    }
  }

  @Test func randomMessagesRoundTrip() async {
    await propertyCheck(
      input: Gen.int(in: 0...5), Gen.uint16(), Gen.uint16(), Gen.uint64(), Gen.uint64(),
      Gen.uint64(), Gen.uint64()
    ) { kind, kernelA, kernelB, a, b, c, d in
      let parentKernel = kernelA
      let childKernel = kernelB == kernelA ? kernelA &+ 1 : kernelB
      let parent = EndpointCapabilityID(
        kernel: parentKernel, index: UInt16(truncatingIfNeeded: a),
        generation: max(1, UInt32(truncatingIfNeeded: a >> 16)))
      let child = EndpointCapabilityID(
        kernel: childKernel, index: UInt16(truncatingIfNeeded: b),
        generation: max(1, UInt32(truncatingIfNeeded: b >> 16)))
      let endpoint = EndpointAddress(rawValue: c & 0xFFFF_FFFF_FFFF)!
      let message: Message =
        switch kind {
        case 0: .delegateRequest(parent: parent, child: child)
        case 1:
          .delegateGranted(
            parent: parent, child: child,
            capability: EndpointCapability(endpoint: endpoint, label: d))
        case 2:
          .delegateRefused(
            parent: parent, child: child,
            reason: DelegationRefusal.allCases[Int(c % 3)])
        case 3: .delegateCancel(parent: parent, child: child)
        case 4: .revokeRequest(parent: parent, child: child)
        default: .revokeAck(parent: parent, child: child, unread: d)
        }
      #expect(decode(encoded(message)) == .success(message))
    }
  }

  @Test func truncationNamesTheFieldItEndsIn() {
    let bytes = encoded(Self.samples[1])
    for length in 0..<Message.byteCount {
      // The first field that does not fit: the one the bytes end in, or
      // the next one when they end at a field's start.
      let field = Failure.Field.allCases.first { $0.offset + $0.size > length }!
      #expect(
        decode(Array(bytes.prefix(length)))
          == .failure(Failure(field, .truncated(needed: field.offset + field.size, have: length))),
        "length \(length)")
    }
  }

  @Test func everyMalformedFieldIsNamed() {
    let request = encoded(.delegateRequest(parent: Self.parent, child: Self.child))
    let granted = encoded(Self.samples[1])
    let refused = encoded(Self.samples[2])
    let ack = encoded(Self.samples[5])
    func expect(_ bytes: [UInt8], _ field: Failure.Field, _ problem: Failure.Problem) {
      #expect(decode(bytes) == .failure(Failure(field, problem)))
    }
    expect(patched(request, at: 0, size: 4, 0x7063_4555), .magic, .badMagic(0x7063_4555))
    expect(patched(request, at: 4, size: 1, 2), .version, .unsupportedVersion(2))
    expect(patched(request, at: 4, size: 1, 0), .version, .unsupportedVersion(0))
    expect(patched(request, at: 5, size: 1, 0), .kind, .unknownKind(0))
    expect(patched(request, at: 5, size: 1, 7), .kind, .unknownKind(7))
    expect(patched(request, at: 6, size: 1, 1), .reason, .notZero(1))
    expect(patched(refused, at: 6, size: 1, 0), .reason, .unknownReason(0))
    expect(patched(refused, at: 6, size: 1, 4), .reason, .unknownReason(4))
    expect(patched(request, at: 7, size: 1, 9), .reserved, .notZero(9))
    expect(patched(request, at: 10, size: 2, 1), .receiver, .sameKernel(1))
    expect(patched(request, at: 12, size: 4, 5), .padding, .notZero(5))
    // IDs: generation 0 names nothing; each end of the edge is on its kernel.
    expect(patched(request, at: 16, size: 8, 3), .parent, .nullCapability(3))
    expect(
      patched(
        request, at: 16, size: 8, EndpointCapabilityID(kernel: 1, index: 0, generation: 1).rawValue),
      .parent, .wrongKernel(expected: 0, found: 1))
    expect(patched(request, at: 24, size: 8, 1 << 48), .child, .nullCapability(1 << 48))
    expect(
      patched(
        request, at: 24, size: 8, EndpointCapabilityID(kernel: 5, index: 0, generation: 1).rawValue),
      .child, .wrongKernel(expected: 1, found: 5))
    // A message sent down the wrong ring: the IDs no longer fit the kernels.
    expect(patched(request, at: 8, size: 2, 2), .child, .wrongKernel(expected: 2, found: 1))
    // Words a kind does not use must be zero.
    expect(patched(request, at: 32, size: 8, 1), .word0, .notZero(1))
    expect(patched(request, at: 40, size: 8, 1), .word1, .notZero(1))
    expect(patched(refused, at: 32, size: 8, 1), .word0, .notZero(1))
    expect(patched(refused, at: 40, size: 8, 2), .word1, .notZero(2))
    expect(patched(ack, at: 40, size: 8, 1), .word1, .notZero(1))
    expect(patched(granted, at: 32, size: 8, 1 << 48), .word0, .notAnEndpoint(1 << 48))
  }

  @Test func aTooSmallBufferIsNotWritten() {
    var bytes = [UInt8](repeating: 0xAB, count: Message.byteCount - 1)
    bytes.withUnsafeMutableBytes { #expect(!Self.samples[0].encode(into: $0)) }
    #expect(bytes.allSatisfy { $0 == 0xAB })
  }

  @Test func randomBytesNeverTrap() async {
    await propertyCheck(input: Gen.uint8().array(of: 0...64)) { bytes in
      if case .success(let message) = decode(bytes) {
        #expect(encoded(message) == Array(bytes.prefix(Message.byteCount)))
      }
    }
  }

  /// Valid messages with a few bytes changed reach the checks deep inside
  /// (random bytes rarely get past the magic): whatever decodes re-encodes
  /// to the same bytes, so no field is ignored.
  @Test func corruptedMessagesNeverTrap() async {
    await propertyCheck(
      input: Gen.int(in: 0...5), Gen.int(in: 0...47).array(of: 1...3), Gen.uint8()
    ) { sample, offsets, value in
      var bytes = encoded(Self.samples[sample])
      for offset in offsets { bytes[offset] ^= value | 1 }
      if case .success(let message) = decode(bytes) {
        #expect(encoded(message) == bytes)
      }
    }
  }

  @Test func everyProblemHasADescription() {
    let problems: [Failure.Problem] = [
      .truncated(needed: 4, have: 0), .badMagic(1), .unsupportedVersion(2), .unknownKind(9),
      .unknownReason(9), .notZero(1), .sameKernel(1), .nullCapability(0),
      .wrongKernel(expected: 0, found: 1), .notAnEndpoint(1 << 48),
    ]
    let texts = problems.map { Failure(.parent, $0).description }
    #expect(Set(texts).count == problems.count)
    #expect(texts[0].hasPrefix("capability message parent at offset 16: "))
  }
}
