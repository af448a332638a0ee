// Tests of the slot header: the bit layout, and decoding of hostile words
// (every kind byte, every flags byte, lengths around the limit, random words).
import PropertyBased
import Testing

@testable import TesseraCore

@Suite struct MessageHeaderTests {
  private func decode(_ word0: UInt64, _ word1: UInt64 = 0, capacity: Int = 112) -> Result<
    MessageHeader, MessageHeaderError
  > {
    do throws(MessageHeaderError) {
      return .success(
        try MessageHeader.decode(word0: word0, word1: word1, payloadCapacity: capacity))
    } catch {
      return .failure(error)
    }
  }

  @Test func word0HasSequenceLengthKindFlags() {
    let header = MessageHeader(sequence: 0xDEAD_BEEF, length: 0x70, kind: .reply, replyLabel: 9)
    #expect(header.word0 == 0x0002_0070_DEAD_BEEF)
    #expect(MessageHeader.word0(sequence: 1, length: 0, kind: .message) == 0x0001_0000_0000_0001)
    #expect(MessageHeader.sequence(of: 0xFFFF_FFFF_1234_5678) == 0x1234_5678)
    #expect(decode(header.word0, 9) == .success(header))
    #expect(MessageHeader.size == 16)
  }

  @Test func onlyKindsOneAndTwoAreValid() throws {
    for kind in 0...255 {
      let word0 = UInt64(kind) << 48 | 5 << 32 | 1
      switch kind {
      case 1: #expect(try decode(word0).get().kind == .message)
      case 2: #expect(try decode(word0).get().kind == .reply)
      default: #expect(decode(word0) == .failure(.unknownKind(UInt8(kind))))
      }
    }
  }

  @Test func everyFlagIsReserved() {
    for flags in 1...255 {
      #expect(decode(UInt64(flags) << 56 | 1 << 48) == .failure(.reservedFlags(UInt8(flags))))
      // A bad kind is reported first.
      #expect(decode(UInt64(flags) << 56 | 3 << 48) == .failure(.unknownKind(3)))
    }
  }

  // Every slot size a receive endpoint may have (64 B...4 KiB).
  @Test(arguments: 6...12)
  func lengthsAroundTheLimit(slotSizeLog2: Int) throws {
    let capacity = (1 << slotSizeLog2) - 16
    for length in [0, 1, capacity - 1, capacity] {
      let header = try decode(UInt64(length) << 32 | 1 << 48 | 7, capacity: capacity).get()
      #expect(header.length == length && header.sequence == 7)
    }
    for length in [capacity + 1, capacity + 16, 0xFFFF] {
      #expect(
        decode(UInt64(length) << 32 | 1 << 48, capacity: capacity)
          == .failure(.lengthTooLarge(length: length, limit: capacity)))
    }
  }

  @Test func randomWordsNeverYieldAnOversizedMessage() async {
    await propertyCheck(
      count: 500, input: Gen.uint64(), Gen.uint64(), Gen.int(in: 6...12), Gen.int(in: 0...2)
    ) { random, word1, slotSizeLog2, shape in
      let capacity = (1 << slotSizeLog2) - 16
      // Shape 1 makes the kind valid, shape 2 also clears the flags and
      // shortens the length so every outcome is reached.
      var word0 = random
      if shape >= 1 { word0 = word0 & ~(0xFF << 48) | (1 + (word0 & 1)) << 48 }
      if shape == 2 { word0 = word0 & ~(0xFF << 56) & ~(0xF000 << 32) }
      let kind = UInt8(word0 >> 48 & 0xFF)
      let flags = UInt8(word0 >> 56)
      let length = Int(word0 >> 32 & 0xFFFF)
      switch decode(word0, word1, capacity: capacity) {
      case .success(let header):
        #expect(header.length <= capacity)
        #expect(word0 >> 56 == 0 && (word0 >> 48 & 0xFF == 1 || word0 >> 48 & 0xFF == 2))
        #expect(header.word0 == word0 && header.replyLabel == word1)
      // An error quotes the field that broke the rule, checked in the order
      // kind, flags, length.
      case .failure(.unknownKind(let found)):
        #expect(found == kind && kind != 1 && kind != 2)
      case .failure(.reservedFlags(let found)):
        #expect((kind == 1 || kind == 2) && found == flags && flags != 0)
      case .failure(.lengthTooLarge(let found, let limit)):
        #expect((kind == 1 || kind == 2) && flags == 0)
        #expect(found == length && limit == capacity && length > capacity)
      }
    }
  }
}
