// A set of CPU numbers, as written in boot options (`lwkcpus=0-3,6`).
//
// Kept as a bitmap of 64-bit words with no trailing zero words, so two equal
// sets have equal storage (== just compares words) and iteration comes out
// sorted without a sort.
public struct CPUList: Equatable, Sequence {
  /// CPU numbers must be below this (matches the largest `maxcpus=`).
  public static let capacity = 4096

  private var words: [UInt64] = []

  public init() {}

  public enum ParseError: Error, Equatable {
    case empty
    case emptyElement
    case notANumber(String)
    case tooLarge(String)
    case reversedRange(UInt64, UInt64)

    public var description: String {
      switch self {
      case .empty: "the list is empty"
      case .emptyElement: "an element is empty"
      case .notANumber(let text): "\"\(text)\" is not a CPU number"
      case .tooLarge(let text): "CPU \(text) is not below \(CPUList.capacity)"
      case .reversedRange(let low, let high): "range \(low)-\(high) is reversed"
      }
    }
  }

  /// Parses comma-separated elements, each a CPU number or an inclusive
  /// range `low-high`, in decimal. Order and overlaps do not matter.
  public static func parse(_ text: ArraySlice<UInt8>) throws(ParseError) -> CPUList {
    guard !text.isEmpty else { throw .empty }
    var list = CPUList()
    for element in text.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
      guard !element.isEmpty else { throw .emptyElement }
      let bounds = element.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
      guard bounds.count <= 2 else { throw .notANumber(String(decoding: element, as: UTF8.self)) }
      let low = try cpuNumber(bounds[0])
      let high = bounds.count == 2 ? try cpuNumber(bounds[1]) : low
      guard low <= high else { throw .reversedRange(UInt64(low), UInt64(high)) }
      for cpu in low...high { list.insert(cpu) }
    }
    return list
  }

  public static func parse(_ text: String) throws(ParseError) -> CPUList {
    try parse(ArraySlice(text.utf8))
  }

  private static func cpuNumber(_ text: ArraySlice<UInt8>) throws(ParseError) -> Int {
    let spelled = String(decoding: text, as: UTF8.self)
    let value: UInt64
    do {
      value = try UnsignedNumber.parse(text, hexAllowed: false)
    } catch {
      throw error == .overflow ? .tooLarge(spelled) : .notANumber(spelled)
    }
    guard value < UInt64(capacity) else { throw .tooLarge(spelled) }
    return Int(value)
  }

  public func contains(_ cpu: Int) -> Bool {
    guard cpu >= 0 else { return false }
    let word = cpu >> 6
    return word < words.count && words[word] & (1 << UInt64(cpu & 63)) != 0
  }

  /// Adds `cpu`; false (and no change) when it is outside 0..<capacity.
  @discardableResult
  public mutating func insert(_ cpu: Int) -> Bool {
    guard cpu >= 0, cpu < CPUList.capacity else { return false }
    let word = cpu >> 6
    while words.count <= word { words.append(0) }
    words[word] |= 1 << UInt64(cpu & 63)
    return true
  }

  public mutating func remove(_ cpu: Int) {
    guard contains(cpu) else { return }
    words[cpu >> 6] &= ~(1 << UInt64(cpu & 63))
    while let last = words.last, last == 0 { words.removeLast() }
  }

  public var count: Int {
    var total = 0
    for word in words { total += word.nonzeroBitCount }
    return total
  }

  public var isEmpty: Bool { words.isEmpty }

  /// Canonical form: ascending, runs of two or more as `low-high`, e.g.
  /// `0-3,6`. Parsing it gives the same set. The empty set prints as "".
  public var description: String {
    var text: [UInt8] = []
    var runStart = -1
    var previous = -2
    func closeRun() {
      guard runStart >= 0 else { return }
      if !text.isEmpty { text.append(UInt8(ascii: ",")) }
      text.append(contentsOf: String(runStart).utf8)
      if previous != runStart {
        text.append(UInt8(ascii: "-"))
        text.append(contentsOf: String(previous).utf8)
      }
    }
    for cpu in self {
      if cpu != previous + 1 {
        closeRun()
        runStart = cpu
      }
      previous = cpu
    }
    closeRun()
    return String(decoding: text, as: UTF8.self)
  }

  public struct Iterator: IteratorProtocol {
    fileprivate let words: [UInt64]
    fileprivate var index = 0
    fileprivate var remaining: UInt64 = 0

    public mutating func next() -> Int? {
      while remaining == 0 {
        guard index < words.count else { return nil }
        remaining = words[index]
        index += 1
      }
      let bit = remaining.trailingZeroBitCount
      remaining &= remaining - 1  // clear the lowest set bit
      return (index - 1) * 64 + bit
    }
  }

  public func makeIterator() -> Iterator { Iterator(words: words) }
}
