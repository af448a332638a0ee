// The buddy allocator's metadata, without a struct per frame: for every order
// k and every naturally aligned position where a block of order k could start
// (frame numbers that are multiples of 2^k), a 2-bit state. Order k has one
// position per 2^k frames, so over orders 0...18 that is just under 2 × 2 = 4
// bits per frame of the covered span: 128 KiB per GiB (0.012 %), 8 MiB for a
// 64 GiB span. Holes inside the span cost the same and are simply never free.

/// What starts at one aligned position of one order.
enum BlockState: UInt64, Equatable {
  /// No block of this order starts here (it may be inside another block).
  case noBlock = 0
  /// A free block, linked into the free list of its order.
  case free = 1
  /// An allocated block: the whole allocation, or the last piece of one.
  case allocated = 2
  /// An allocated block whose allocation continues in the block right after
  /// it (the pieces of an allocation of N frames, N not a power of two).
  case allocatedContinuing = 3

  var description: String {
    switch self {
    case .noBlock: return "no block"
    case .free: return "free"
    case .allocated: return "allocated"
    case .allocatedContinuing: return "allocated (continues)"
    }
  }
}

/// 2-bit block states for frames [firstFrame, endFrame) at orders 0...maxOrder,
/// 32 states to a word. Callers check `covers` before indexing.
struct BlockStateMap {
  let firstFrame: UInt64
  let endFrame: UInt64
  let maxOrder: Int
  /// Index of the first state of each order in the flat state sequence,
  /// followed by the total number of states.
  private var orderStart: [Int]
  private var words: [UInt64]

  init(firstFrame: UInt64, endFrame: UInt64, maxOrder: Int) {
    self.firstFrame = firstFrame
    self.endFrame = max(firstFrame, endFrame)
    self.maxOrder = maxOrder
    var starts: [Int] = []
    var states = 0
    for order in 0...maxOrder {
      starts.append(states)
      states += Self.positions(order: order, firstFrame: firstFrame, endFrame: self.endFrame)
    }
    starts.append(states)
    orderStart = starts
    words = [UInt64](repeating: 0, count: (states + 31) / 32)
  }

  /// Aligned positions of `order` that hold a frame of [firstFrame, endFrame).
  static func positions(order: Int, firstFrame: UInt64, endFrame: UInt64) -> Int {
    guard endFrame > firstFrame else { return 0 }
    return Int(((endFrame - 1) >> UInt64(order)) - (firstFrame >> UInt64(order)) + 1)
  }

  /// The bytes this map takes for a span of frames.
  static func bytes(firstFrame: UInt64, endFrame: UInt64, maxOrder: Int) -> Int {
    var states = 0
    for order in 0...maxOrder {
      states += positions(order: order, firstFrame: firstFrame, endFrame: endFrame)
    }
    return (states + 31) / 32 * 8
  }

  var byteCount: Int { words.count * 8 }

  /// Whether `frame` lies in the span, so that its position at every order is
  /// in the map.
  func covers(_ frame: UInt64) -> Bool {
    frame >= firstFrame && frame < endFrame
  }

  private func index(order: Int, frame: UInt64) -> Int {
    orderStart[order] + Int((frame >> UInt64(order)) - (firstFrame >> UInt64(order)))
  }

  /// The state of the position of `order` at `frame` (a multiple of 2^order
  /// inside the span).
  subscript(order: Int, frame: UInt64) -> BlockState {
    get {
      let i = index(order: order, frame: frame)
      let raw = (words[i >> 5] >> (UInt64(i & 31) << 1)) & 3
      return BlockState(rawValue: raw) ?? .noBlock
    }
    set {
      let i = index(order: order, frame: frame)
      let shift = UInt64(i & 31) << 1
      words[i >> 5] = (words[i >> 5] & ~(3 << shift)) | (newValue.rawValue << shift)
    }
  }

  /// How many positions of `order` hold `state` (a full scan, for checks).
  func count(of state: BlockState, order: Int) -> Int {
    var found = 0
    for i in orderStart[order]..<orderStart[order + 1]
    where (words[i >> 5] >> (UInt64(i & 31) << 1)) & 3 == state.rawValue {
      found += 1
    }
    return found
  }
}
