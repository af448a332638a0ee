import PropertyBased
import Testing

@testable import TesseraCore

/// Bundles of capability messages (Kernel/Core/DTU/EndpointCapabilityBundle.swift):
/// they round-trip with their extra words and flag, and every malformed
/// header, count and entry is refused with its reason, never a trap.
struct EndpointCapabilityBundleTests {
  typealias Bundle = EndpointCapabilityBundle
  typealias Envelope = EndpointCapabilityEnvelope

  static let messages = EndpointCapabilityMessageTests.samples

  func encoded(_ bundle: Bundle, size: Int? = nil) -> [UInt8] {
    var bytes = [UInt8](repeating: 0xEE, count: size ?? bundle.byteCount)
    bytes.withUnsafeMutableBytes { #expect(bundle.encode(into: $0) == bundle.byteCount) }
    return bytes
  }

  func decode(_ bytes: [UInt8]) -> Result<Bundle, EndpointCapabilityBundleError> {
    bytes.withUnsafeBytes { raw in
      Result { () throws(EndpointCapabilityBundleError) in try Bundle.decode(ByteView(raw)) }
    }
  }

  @Test func bundlesRoundTrip() {
    for count in 0...Bundle.maximum {
      let entries = (0..<count).map { index in
        Envelope(
          Self.messages[index % Self.messages.count], extra0: UInt64(index) << 40 | 0x1000,
          extra1: ~UInt64(index))
      }
      for more in [false, true] {
        let bundle = Bundle(entries, more: more)
        #expect(decode(encoded(bundle)) == .success(bundle))
        // In a larger slot the bytes after it are ignored.
        #expect(decode(encoded(bundle, size: Bundle.maximumBytes + 16)) == .success(bundle))
      }
    }
  }

  @Test func moreThanTheMaximumIsCutAtInit() {
    let entries = (0..<9).map { Envelope(Self.messages[$0 % Self.messages.count]) }
    #expect(Bundle(entries).entries.count == Bundle.maximum)
  }

  @Test func encodingRefusesAShortBuffer() {
    let bundle = Bundle([Envelope(Self.messages[0])])
    var bytes = [UInt8](repeating: 0, count: bundle.byteCount - 1)
    bytes.withUnsafeMutableBytes { #expect(bundle.encode(into: $0) == nil) }
  }

  @Test func malformedHeadersAreNamed() {
    let good = encoded(Bundle([Envelope(Self.messages[1])]))
    var bytes = good
    bytes[0] = 0
    #expect(decode(bytes) == .failure(.badMagic(0x6263_4500)))
    bytes = good
    bytes[4] = 8
    #expect(decode(bytes) == .failure(.tooMany(8)))
    bytes = good
    bytes[5] = 2
    #expect(decode(bytes) == .failure(.reservedNotZero(2)))
    bytes = good
    bytes[7] = 1
    #expect(decode(bytes) == .failure(.reservedNotZero(0x1_0000)))
    bytes = good
    bytes[4] = 2
    #expect(decode(bytes) == .failure(.truncated(needed: 8 + 128, have: 72)))
    #expect(decode(Array(good.prefix(5))) == .failure(.truncated(needed: 8, have: 5)))
  }

  @Test func aBadEntryIsNamedByIndexAndField() {
    let entries = [Envelope(Self.messages[0]), Envelope(Self.messages[4])]
    var bytes = encoded(Bundle(entries))
    // Entry 1's version byte.
    bytes[8 + 64 + 4] = 9
    #expect(
      decode(bytes)
        == .failure(
          .message(index: 1, EndpointCapabilityMessageError(.version, .unsupportedVersion(9)))))
  }

  @Test func everyTruncationFailsCleanly() {
    let bytes = encoded(
      Bundle((0..<3).map { Envelope(Self.messages[$0], extra0: 1, extra1: 2) }, more: true))
    for length in 0..<bytes.count {
      guard case .failure = decode(Array(bytes.prefix(length))) else {
        Issue.record("a bundle cut to \(length) bytes decoded")
        continue
      }
    }
  }

  @Test func randomBytesNeverTrap() async {
    await propertyCheck(input: Gen.uint64(), Gen.uint64(), Gen.int(in: 0...Bundle.maximumBytes)) {
      a, b, length in
      var state = a | 1
      var bytes = [UInt8](repeating: 0, count: length)
      for index in bytes.indices {
        state = state &* 6_364_136_223_846_793_005 &+ (b | 1)
        bytes[index] = UInt8(truncatingIfNeeded: state >> 56)
      }
      // A plausible header half the time, so decoding reaches the entries.
      if length >= 8 && a & 1 == 0 {
        bytes[0] = 0x54
        bytes[1] = 0x45
        bytes[2] = 0x63
        bytes[3] = 0x62
        bytes[4] = UInt8(b % 8)
        bytes[5] = 0
        bytes[6] = 0
        bytes[7] = 0
      }
      _ = decode(bytes)
    }
  }
}
