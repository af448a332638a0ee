// The address of one endpoint of a software DTU: (board, node, endpoint),
// as M3 names an endpoint by (tile, endpoint). Board is the QEMU instance
// in rack mode (0 until then), node the NUMA node whose DTU holds the
// endpoint, endpoint the index in that DTU's endpoint table.
//
// Packed into one word so it fits a register, a message field or a slot of
// the endpoint table: board << 32 | node << 16 | endpoint, bits 48-63 zero.
// The ring side (Kernel/Core/Endpoints/EndpointAddress) packs the same way;
// the two are meant to become one type.

public struct DTUEndpointID: Equatable, Hashable, Sendable {
  public let rawValue: UInt64

  public init(board: UInt16 = 0, node: UInt16, endpoint: UInt16) {
    rawValue = UInt64(board) << 32 | UInt64(node) << 16 | UInt64(endpoint)
  }

  /// nil when a bit above the board (48-63) is set: such a word names no
  /// endpoint, and taking it from another kernel's message must not make it
  /// one.
  public init?(rawValue: UInt64) {
    guard rawValue >> 48 == 0 else { return nil }
    self.rawValue = rawValue
  }

  public var board: UInt16 { UInt16(truncatingIfNeeded: rawValue >> 32) }
  public var node: UInt16 { UInt16(truncatingIfNeeded: rawValue >> 16) }
  public var endpoint: UInt16 { UInt16(truncatingIfNeeded: rawValue) }

  /// E.g. "0.1.5" (board 0, node 1, endpoint 5).
  public var description: String {
    String(board) + "." + String(node) + "." + String(endpoint)
  }
}
