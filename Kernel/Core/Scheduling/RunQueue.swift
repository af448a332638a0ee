// One CPU's ready threads: a FIFO per priority level, the highest non-empty
// level first, round robin within a level. Both kernel instances schedule
// with it (the service preemptively with a tick, the LWK to completion); it
// lives in Core so the host tests can drive it against a model. Generic over
// the element (a thread object in the kernel, anything class-bound in the
// tests); it compares elements by identity and never looks inside them.
public struct RunQueue<Element: AnyObject> {
  private var levels: [[Element]]

  /// `priorities` levels, 0 the lowest.
  public init(priorities: Int) {
    levels = Array(repeating: [], count: max(priorities, 1))
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
    var level = levels.count - 1
    while level >= 0 && levels[level].isEmpty { level -= 1 }
    return level
  }

  /// Behind the others of its level. A priority outside the levels is
  /// clamped to the nearest one.
  public mutating func append(_ element: Element, priority: Int) {
    levels[clamp(priority)].append(element)
  }

  /// The first element of the highest non-empty level, removed.
  public mutating func popHighest() -> Element? {
    let level = highestPriority
    guard level >= 0 else { return nil }
    // With one waiting (the usual case) removeLast moves nothing.
    return levels[level].count == 1 ? levels[level].removeLast() : levels[level].removeFirst()
  }

  /// Takes `element` out of level `priority`; false when it is not there.
  @discardableResult
  public mutating func remove(_ element: Element, priority: Int) -> Bool {
    let level = clamp(priority)
    guard let index = levels[level].firstIndex(where: { $0 === element }) else { return false }
    levels[level].remove(at: index)
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
