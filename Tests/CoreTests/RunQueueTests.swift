import PropertyBased
import Testing

@testable import TesseraCore

/// The run queue of both kernel instances' schedulers
/// (Kernel/Core/Scheduling/RunQueue.swift), against a model that keeps
/// (priority, arrival) pairs and picks the highest priority, oldest first.
struct RunQueueTests {
  final class Item {
    let id: Int
    init(_ id: Int) { self.id = id }
  }

  @Test func highestFirstRoundRobinWithin() {
    var queue = RunQueue<Item>(priorities: 4)
    let (a, b, c, d) = (Item(1), Item(2), Item(3), Item(4))
    queue.append(a, priority: 1)
    queue.append(b, priority: 3)
    queue.append(c, priority: 1)
    queue.append(d, priority: 3)
    #expect(queue.count == 4 && queue.highestPriority == 3)
    var order: [Item?] = []
    for _ in 0..<3 { order.append(queue.popHighest()) }
    queue.append(a, priority: 1)
    for _ in 0..<3 { order.append(queue.popHighest()) }
    #expect(order[0] === b && order[1] === d && order[2] === a)
    #expect(order[3] === c && order[4] === a && order[5] == nil)
    #expect(queue.isEmpty && queue.highestPriority == -1)
  }

  @Test func removeMoveAndClamp() {
    var queue = RunQueue<Item>(priorities: 4)
    let (a, b) = (Item(1), Item(2))
    queue.append(a, priority: 99)  // clamped to 3
    queue.append(b, priority: -5)  // clamped to 0
    #expect(queue.highestPriority == 3)
    let removedFromWrongLevel = queue.remove(a, priority: 0)
    #expect(!removedFromWrongLevel)
    let moved = queue.move(a, from: 3, to: 0)
    #expect(moved)
    #expect(queue.highestPriority == 0)
    let first = queue.popHighest()
    #expect(first === b)
    #expect(queue.contains(a) && !queue.contains(b))
    let movedMissing = queue.move(b, from: 0, to: 2)
    #expect(!movedMissing)
  }

  /// Up to 64 levels, one bit each: the top and bottom bits both work,
  /// and more levels are clamped to 64.
  @Test func sixtyFourLevelsAtMost() {
    var queue = RunQueue<Item>(priorities: 100)
    #expect(queue.priorities == RunQueue<Item>.maximumPriorities && queue.priorities == 64)
    let (low, high) = (Item(1), Item(2))
    queue.append(low, priority: 0)
    queue.append(high, priority: 1000)  // clamped to 63
    #expect(queue.highestPriority == 63)
    #expect(queue.popHighest() === high && queue.highestPriority == 0)
    #expect(queue.popHighest() === low && queue.isEmpty && queue.popHighest() == nil)
  }

  enum Step {
    case append(item: Int, priority: Int)
    case pop
    case remove(item: Int)
    case move(item: Int, to: Int)
  }

  @Test func matchesAModel() async {
    let step = zip(Gen.int(in: 0...9), Gen.int(in: 0...7), Gen.int(in: -1...4)).map {
      kind, item, priority -> Step in
      switch kind {
      case 0...3: return .append(item: item, priority: priority)
      case 4...6: return .pop
      case 7: return .remove(item: item)
      default: return .move(item: item, to: priority)
      }
    }
    await propertyCheck(input: step.array(of: 0...80)) { steps in
      let items = (0..<8).map { Item($0) }
      var queue = RunQueue<Item>(priorities: 4)
      // Model: (item, priority, arrival) of every queued item.
      var model: [(Int, Int, Int)] = []
      var arrival = 0
      func clamp(_ p: Int) -> Int { min(max(p, 0), 3) }
      for step in steps {
        switch step {
        case .append(let item, let priority):
          guard !model.contains(where: { $0.0 == item }) else { continue }  // one queue each
          queue.append(items[item], priority: priority)
          model.append((item, clamp(priority), arrival))
          arrival += 1
        case .pop:
          let best = model.indices.max { a, b in
            model[a].1 != model[b].1 ? model[a].1 < model[b].1 : model[a].2 > model[b].2
          }
          let popped = queue.popHighest()
          if let best {
            #expect(popped === items[model[best].0])
            model.remove(at: best)
          } else {
            #expect(popped == nil)
          }
        case .remove(let item):
          let index = model.firstIndex { $0.0 == item }
          let priority = index.map { model[$0].1 } ?? 0
          let removed = queue.remove(items[item], priority: priority)
          #expect(removed == (index != nil))
          if let index { model.remove(at: index) }
        case .move(let item, let to):
          guard let index = model.firstIndex(where: { $0.0 == item }) else { continue }
          let moved = queue.move(items[item], from: model[index].1, to: to)
          #expect(moved)
          model[index] = (item, clamp(to), arrival)
          arrival += 1
        }
        #expect(queue.count == model.count)
        #expect(queue.highestPriority == (model.map { $0.1 }.max() ?? -1))
      }
    }
  }
}
