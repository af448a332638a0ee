// One CPU's ready threads: a FIFO per priority level, the highest non-empty
// level first, round robin within a level. Both kernel instances schedule
// with it (the service preemptively with a tick, the LWK to completion); it
// lives in Core so the host tests can drive it against a model. Generic over
// the element (a thread object in the kernel, anything class-bound in the
// tests); it compares elements by identity and never looks inside them.
//
// A bit per level says which levels hold elements, so the highest one is a
// leading-zero count rather than a scan: a CPU that finds nothing to run
// asks on every pick (the cross-CPU IPC profile showed the scan of four
// empty levels at about 45 instructions).
public struct RunQueue<Element: AnyObject> {
  private var levels: [[Element]]
  /// Bit `level` set exactly when `levels[level]` is not empty.
  private var occupied: UInt64 = 0

  /// The most levels a queue has: one bit each in `occupied`.
  public static var maximumPriorities: Int { UInt64.bitWidth }

  /// `priorities` levels, 0 the lowest (1 to `maximumPriorities`; beyond,
  /// clamped).
  public init(priorities: Int) {
    levels = Array(repeating: [], count: min(max(priorities, 1), Self.maximumPriorities))
  }

  public var priorities: Int { levels.count }

  /// Ready elements at every level.
  public var count: Int {
    var total = 0
    for level in levels { total += level.count }
    return total
  }

  public var isEmpty: Bool { highestPriority < 0 }

  /// The highest level holding an element, or -1 when all are empty.
  public var highestPriority: Int {
    UInt64.bitWidth - 1 - occupied.leadingZeroBitCount
  }

  /// Behind the others of its level. A priority outside the levels is
  /// clamped to the nearest one.
  public mutating func append(_ element: Element, priority: Int) {
    let level = clamp(priority)
    levels[level].append(element)
    occupied |= 1 << UInt64(level)
  }

  /// The first element of the highest non-empty level, removed.
  public mutating func popHighest() -> Element? {
    guard occupied != 0 else { return nil }
    let level = highestPriority
    // With one waiting (the usual case) removeLast moves nothing.
    if levels[level].count == 1 {
      occupied &= ~(1 << UInt64(level))
      return levels[level].removeLast()
    }
    return levels[level].removeFirst()
  }

  /// Takes `element` out of level `priority`; false when it is not there.
  @discardableResult
  public mutating func remove(_ element: Element, priority: Int) -> Bool {
    let level = clamp(priority)
    guard let index = levels[level].firstIndex(where: { $0 === element }) else { return false }
    levels[level].remove(at: index)
    if levels[level].isEmpty { occupied &= ~(1 << UInt64(level)) }
    return true
  }

  /// Moves a ready element to the back of another level; false (nothing
  /// changed) when it is not at `from`.
  @discardableResult
  public mutating func move(_ element: Element, from: Int, to: Int) -> Bool {
    guard remove(element, priority: from) else { return false }
    append(element, priority: to)
    return true
  }

  public func contains(_ element: Element) -> Bool {
    levels.contains { level in level.contains { $0 === element } }
  }

  private func clamp(_ priority: Int) -> Int { min(max(priority, 0), levels.count - 1) }
}
