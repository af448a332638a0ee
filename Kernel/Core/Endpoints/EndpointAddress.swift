// The name of an emulated DTU endpoint anywhere in the rack: the board (one
// QEMU instance of the rack, as M3 names a tile), the NUMA node on that board
// whose software DTU owns the endpoint, and the endpoint's index in that
// DTU's endpoint table. Each part is 16 bits, so the triple packs losslessly
// into one 64-bit word that fits in a register, a capability record or a
// message:
//
//   bits 63...48  zero (a packed word with any of these set is not an address)
//   bits 47...32  board
//   bits 31...16  node
//   bits 15...0   endpoint
//
// The text form, for the shell and the boot log, is "board.node.endpoint"
// in decimal ("0.1.7"); "node.endpoint" names an endpoint on board 0, the
// board a single QEMU instance is. The parser takes ASCII digits and dots
// only: no signs, no spaces, no empty parts, no value above 65535, exactly
// two or three parts. It works on the UTF-8 bytes, so it is the same in the
// kernel, in user programs and on the host.

/// (board, node, endpoint): where an endpoint lives in the rack.
public struct EndpointAddress: Hashable, Sendable {
  public var board: UInt16
  public var node: UInt16
  public var endpoint: UInt16

  public init(board: UInt16 = 0, node: UInt16, endpoint: UInt16) {
    self.board = board
    self.node = node
    self.endpoint = endpoint
  }

  /// The address as one word (layout above).
  public var packed: UInt64 {
    UInt64(board) << 32 | UInt64(node) << 16 | UInt64(endpoint)
  }

  /// Decodes a packed word; nil when any of bits 63...48 is set (the word
  /// was not made by `packed`).
  public init?(packed: UInt64) {
    guard packed >> 48 == 0 else { return nil }
    board = UInt16(truncatingIfNeeded: packed >> 32)
    node = UInt16(truncatingIfNeeded: packed >> 16)
    endpoint = UInt16(truncatingIfNeeded: packed)
  }

  /// The packed word under the name the endpoint tables and the
  /// cross-kernel messages use (`Kernel/Core/DTU`).
  public var rawValue: UInt64 { packed }

  public init?(rawValue: UInt64) { self.init(packed: rawValue) }

  /// "board.node.endpoint" in decimal, e.g. "0.1.7".
  public var description: String {
    String(board) + "." + String(node) + "." + String(endpoint)
  }

  /// Parses "board.node.endpoint" or "node.endpoint" (board 0); nil for
  /// anything else.
  public init?(parsing text: String) {
    var parts: (UInt16, UInt16, UInt16) = (0, 0, 0)
    var count = 0
    var value: UInt32 = 0
    var digits = 0
    for byte in text.utf8 {
      if byte == UInt8(ascii: ".") {
        guard digits > 0, count < 2 else { return nil }
        Self.set(&parts, count, UInt16(value))
        count += 1
        value = 0
        digits = 0
      } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
        value = value * 10 + UInt32(byte - UInt8(ascii: "0"))
        // Checked at every digit, so the accumulator never overflows
        // however many digits follow.
        guard value <= UInt32(UInt16.max) else { return nil }
        digits += 1
      } else {
        return nil
      }
    }
    guard digits > 0, count >= 1 else { return nil }
    Self.set(&parts, count, UInt16(value))
    if count == 1 {
      self.init(board: 0, node: parts.0, endpoint: parts.1)
    } else {
      self.init(board: parts.0, node: parts.1, endpoint: parts.2)
    }
  }

  private static func set(_ parts: inout (UInt16, UInt16, UInt16), _ index: Int, _ value: UInt16) {
    switch index {
    case 0: parts.0 = value
    case 1: parts.1 = value
    default: parts.2 = value
    }
  }
}
