// A fixed-size byte ring for input that arrives in interrupt handlers and is
// consumed elsewhere on the same CPU (callers disable interrupts around pop).
// When full, new bytes are dropped and counted, never overwriting old input.
public struct ByteRing {
  public static let capacity = 1024
  var storage = [UInt8](repeating: 0, count: ByteRing.capacity)
  var head = 0
  var count = 0
  public private(set) var dropped = 0

  public init() {}

  public var isEmpty: Bool { count == 0 }

  public mutating func push(_ byte: UInt8) {
    guard count < Self.capacity else {
      dropped += 1
      return
    }
    storage[(head + count) % Self.capacity] = byte
    count += 1
  }

  public mutating func pop() -> UInt8? {
    guard count > 0 else { return nil }
    let byte = storage[head]
    head = (head + 1) % Self.capacity
    count -= 1
    return byte
  }
}
