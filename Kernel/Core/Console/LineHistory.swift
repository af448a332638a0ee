// The shell's history of entered lines, for the up and down arrows: the last
// `capacity` lines in storage of a fixed size made once, so typing never
// grows the kernel heap (and `mem since` sees no history). A line equal to
// the newest one is not stored twice.
public struct LineHistory {
  public let capacity: Int
  public let lineLimit: Int
  private var bytes: [UInt8]
  private var lengths: [Int]
  /// Where the next line goes; the oldest line when the history is full.
  private var next = 0
  public private(set) var count = 0

  public init(capacity: Int, lineLimit: Int) {
    self.capacity = max(1, capacity)
    self.lineLimit = max(0, lineLimit)
    bytes = [UInt8](repeating: 0, count: self.capacity * self.lineLimit)
    lengths = [Int](repeating: 0, count: self.capacity)
  }

  /// Adds a line (empty lines and a repeat of the newest are skipped;
  /// longer lines are cut to `lineLimit`).
  public mutating func record(_ line: [UInt8]) {
    let length = min(line.count, lineLimit)
    guard length > 0 else { return }
    if count > 0, self.line(age: 0) == Array(line.prefix(length)) { return }
    let base = next * lineLimit
    for index in 0..<length { bytes[base + index] = line[index] }
    lengths[next] = length
    next = (next + 1) % capacity
    count = min(count + 1, capacity)
  }

  /// The line `age` entries back (0: the newest), if the history holds one.
  public func line(age: Int) -> [UInt8]? {
    guard age >= 0, age < count else { return nil }
    let slot = (next - 1 - age + 2 * capacity) % capacity
    let base = slot * lineLimit
    return Array(bytes[base..<base + lengths[slot]])
  }
}
