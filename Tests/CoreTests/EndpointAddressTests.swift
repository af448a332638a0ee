// Tests of endpoint addresses: the packed word, the text form and the parser
// against garbage.
import PropertyBased
import Testing

@testable import TesseraCore

@Suite struct EndpointAddressTests {
  @Test func packsEachPartInItsBits() {
    let address = EndpointAddress(board: 0x1234, node: 0x5678, endpoint: 0x9ABC)
    #expect(address.packed == 0x0000_1234_5678_9ABC)
    #expect(EndpointAddress(packed: 0x0000_1234_5678_9ABC) == address)
    #expect(EndpointAddress(node: 1, endpoint: 7).packed == 0x1_0007)
    #expect(EndpointAddress(packed: 0) == EndpointAddress(board: 0, node: 0, endpoint: 0))
    let top = EndpointAddress(board: .max, node: .max, endpoint: .max)
    #expect(top.packed == 0x0000_FFFF_FFFF_FFFF && EndpointAddress(packed: top.packed) == top)
  }

  @Test func aWordWithHighBitsIsNoAddress() {
    for bit in 48..<64 { #expect(EndpointAddress(packed: 1 << UInt64(bit)) == nil) }
    #expect(EndpointAddress(packed: .max) == nil)
  }

  @Test func packingIsLossless() async {
    await propertyCheck(input: Gen.uint16(), Gen.uint16(), Gen.uint16()) { board, node, endpoint in
      let address = EndpointAddress(board: board, node: node, endpoint: endpoint)
      #expect(EndpointAddress(packed: address.packed) == address)
      #expect(EndpointAddress(parsing: address.description) == address)
      #expect(address.packed >> 48 == 0)
    }
  }

  @Test func describesAsBoardNodeEndpoint() {
    #expect(EndpointAddress(board: 2, node: 1, endpoint: 7).description == "2.1.7")
    #expect(EndpointAddress(node: 0, endpoint: 0).description == "0.0.0")
    #expect(
      EndpointAddress(board: 65535, node: 65535, endpoint: 65535).description == "65535.65535.65535"
    )
  }

  @Test func parsesThreeOrTwoParts() {
    #expect(EndpointAddress(parsing: "2.1.7") == EndpointAddress(board: 2, node: 1, endpoint: 7))
    #expect(EndpointAddress(parsing: "1.7") == EndpointAddress(board: 0, node: 1, endpoint: 7))
    #expect(EndpointAddress(parsing: "0.0") == EndpointAddress(node: 0, endpoint: 0))
    #expect(
      EndpointAddress(parsing: "65535.65535.65535")
        == EndpointAddress(board: 65535, node: 65535, endpoint: 65535))
    // Leading zeros are only zeros.
    #expect(EndpointAddress(parsing: "007.0000000001") == EndpointAddress(node: 7, endpoint: 1))
  }

  @Test(arguments: [
    "", ".", "..", "1", "7", "1.", ".1", "1..2", "1.2.", "1.2.3.", "1.2.3.4", "65536.0",
    "0.65536", "1.2.65536", "99999999999999999999999.1", "a.b", "1.b", "1.2a", " 1.2", "1.2 ",
    "1 .2", "+1.2", "-1.2", "1.-2", "0x1.2", "1,2", "1:2", "1.2\n", "１.２", "1.2.3\0",
  ])
  func rejectsGarbage(text: String) {
    #expect(EndpointAddress(parsing: text) == nil)
  }

  @Test func randomTextNeverTraps() async {
    let alphabet: [UInt8] = Array("0123456789..x- ".utf8)
    await propertyCheck(count: 300, input: Gen.int(in: 0..<alphabet.count).array(of: 0...12)) {
      indexes in
      let text = String(decoding: indexes.map { alphabet[$0] }, as: UTF8.self)
      if let address = EndpointAddress(parsing: text) {
        // Whatever is accepted has the shape the parser promises.
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 2 || parts.count == 3)
        #expect(parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) })
        #expect(EndpointAddress(parsing: address.description) == address)
      }
    }
  }
}
