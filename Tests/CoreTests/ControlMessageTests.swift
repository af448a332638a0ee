import PropertyBased
import Testing

@testable import TesseraCore

/// Control messages between kernel instances
/// (Kernel/Core/Instances/ControlMessage.swift): what one instance encodes
/// the other decodes unchanged, and bytes that are not a message are refused
/// with an error, never a trap.
struct ControlMessageTests {
  func encoded(_ message: ControlMessage) -> [UInt8] {
    var bytes = [UInt8](repeating: 0xEE, count: ControlMessage.byteCount)
    bytes.withUnsafeMutableBytes { #expect(message.encode(into: $0)) }
    return bytes
  }

  func decode(_ bytes: [UInt8]) -> Result<ControlMessage, ControlMessageError> {
    bytes.withUnsafeBytes { ControlMessage.decode(ByteView($0)) }
  }

  @Test func requestsAndRepliesRoundTrip() async {
    await propertyCheck(
      input: Gen.uint32(), Gen.uint64(), Gen.uint64(), Gen.uint64(), Gen.uint64(), Gen.uint64()
    ) { code, tag, a, b, c, d in
      let message = ControlMessage(code: code, tag: tag, words: (a, b, c, d))
      #expect(decode(encoded(message)) == .success(message))
    }
  }

  @Test func knownKindsAndStatuses() {
    let ping = ControlMessage.request(.ping, tag: 7, (41, 0, 0, 0))
    #expect(ping.kind == .ping)
    #expect(ControlMessage.reply(.faulted, tag: 7).status == .faulted)
    #expect(ControlMessage(code: 99, tag: 0).kind == nil)
    #expect(ControlMessage(code: 99, tag: 0).status == nil)
  }

  @Test func wrongLengthsAndMagicAreRefused() {
    let good = encoded(.request(.memory, tag: 1))
    #expect(decode(Array(good.dropLast())) == .failure(.wrongLength(47)))
    #expect(decode(good + [0]) == .failure(.wrongLength(49)))
    #expect(decode([]) == .failure(.wrongLength(0)))
    var bad = good
    bad[0] ^= 0xFF
    guard case .failure(.badMagic) = decode(bad) else {
      Issue.record("a corrupted magic was accepted")
      return
    }
  }

  @Test func aTooSmallBufferIsNotWritten() {
    var bytes = [UInt8](repeating: 0xAB, count: ControlMessage.byteCount - 1)
    bytes.withUnsafeMutableBytes {
      #expect(!ControlMessage.request(.ping, tag: 1).encode(into: $0))
    }
    #expect(bytes.allSatisfy { $0 == 0xAB })
  }

  @Test func randomBytesNeverTrap() async {
    await propertyCheck(input: Gen.uint8().array(of: 0...64)) { bytes in
      switch decode(bytes) {
      case .success(let message):
        #expect(bytes.count == ControlMessage.byteCount)
        #expect(encoded(message) == bytes)
      case .failure: break
      }
    }
  }
}
