/// Random capability operations through the system calls, checked against
/// a model kept here: copy, mint, move, delete and revoke on a few objects,
/// and mapping and unmapping memory through them. After each step what
/// `inspect` says of every slot must be what the model says (type, rights,
/// label, the slot it was derived from); each delete or revoke must report
/// the count the model expects; and a map must find its page free exactly
/// when the model says no capability still maps it (so a mapping left
/// behind by a removed capability shows up). This tests the kernel's path
/// (system calls, the lock, error codes, removal handling) on top of the
/// hosted tests of the capability system itself.
/// Argument: the number of operations (default 20000).
enum Program {
  static let firstSlot: UInt64 = 100
  static let slots = 48

  /// One slot of the model: an object number, rights, label, parent slot.
  struct Entry {
    var object: Int
    var type: Int64
    var rights: UInt64
    var label: UInt64?
    var parent: Int?
  }

  nonisolated(unsafe) static var model = [Entry?](repeating: nil, count: slots)
  /// Pages of a small window, each unmapped or mapped through the
  /// capability in a slot.
  static let window: UInt64 = 0x0000_1200_0000_0000
  static let pages = 16
  nonisolated(unsafe) static var mappedBy = [Int?](repeating: nil, count: pages)

  static func page(_ index: Int) -> UInt64 { window + UInt64(index) * 4096 }

  /// The capability in `slot` went: so did its mappings.
  static func unmapAll(of slot: Int) {
    for i in 0..<pages where mappedBy[i] == slot { mappedBy[i] = nil }
  }
  nonisolated(unsafe) static var generator = XorShift(seed: 0x2545_F491_4F6C_DD1D)

  static func random(_ bound: Int) -> Int { Int(generator.next() % UInt64(bound)) }

  static func slot(_ index: Int) -> UInt64 { firstSlot + UInt64(index) }

  static func main(argument: String) -> Int64 {
    let operations = Int(argument) ?? 20000
    var objects = 0
    var counts = [Int](repeating: 0, count: 8)
    var mismatches = 0
    func fail(_ what: String) {
      if mismatches < 5 { print("captest: \(what)") }
      mismatches += 1
    }
    for step in 0..<operations {
      let a = random(slots)
      let b = random(slots)
      switch random(14) {
      case 12:  // map a page through it (read-only)
        let target = random(pages)
        let result = Capabilities.map(slot(a), at: page(target), rights: SystemCallRights.read)
        let expected = expectedMapping(a, target, mapping: true)
        if result != expected {
          fail(
            "step \(step): map \(a) at page \(target) gave \(resultName(result)), expected \(resultName(expected))"
          )
        }
        if result == 0 { mappedBy[target] = a }
        counts[6] += 1
      case 13:  // unmap
        let target = random(pages)
        let result = Capabilities.unmap(slot(a), at: page(target))
        let expected = expectedMapping(a, target, mapping: false)
        if result != expected {
          fail(
            "step \(step): unmap \(a) at page \(target) gave \(resultName(result)), expected \(resultName(expected))"
          )
        }
        if result == 0 { mappedBy[target] = nil }
        counts[7] += 1
      case 0, 1:  // a new object in an empty slot
        guard model[a] == nil else { continue }
        let isMemory = random(2) == 0
        let result =
          isMemory
          ? Capabilities.createMemory(slot(a), pages: 1) : Capabilities.createEndpoint(slot(a))
        guard result == 0 else {
          fail("step \(step): creating in slot \(slot(a)) gave \(resultName(result))")
          continue
        }
        let rights: UInt64 = isMemory ? 15 : 11
        model[a] = Entry(
          object: objects, type: isMemory ? 1 : 4, rights: rights, label: nil, parent: nil)
        objects += 1
        counts[0] += 1
      case 2, 3, 4:  // copy with random rights
        let rights = UInt64(random(16))
        let result = Capabilities.copy(slot(a), to: slot(b), rights: rights)
        let expected = expectDerive(from: a, to: b, rights: rights, label: nil)
        if result != expected.code {
          fail(
            "step \(step): copy \(a)->\(b) gave \(resultName(result)), expected \(resultName(expected.code))"
          )
        }
        if result == 0, let entry = expected.entry { model[b] = entry }
        counts[1] += 1
      case 5:  // mint
        let label = UInt64(random(1000))
        let result = Capabilities.mint(slot(a), to: slot(b), label: label)
        let expected = expectDerive(from: a, to: b, rights: nil, label: label)
        if result != expected.code {
          fail(
            "step \(step): mint \(a)->\(b) gave \(resultName(result)), expected \(resultName(expected.code))"
          )
        }
        if result == 0, let entry = expected.entry { model[b] = entry }
        counts[2] += 1
      case 6:  // move
        let result = Capabilities.move(slot(a), to: slot(b))
        var expected: Int64 = 0
        if model[a] == nil {
          expected = SystemCallError.emptySlot.rawValue
        } else if a == b {
          expected = SystemCallError.sameSlot.rawValue
        } else if model[b] != nil {
          expected = SystemCallError.slotOccupied.rawValue
        }
        if result != expected {
          fail(
            "step \(step): move \(a)->\(b) gave \(resultName(result)), expected \(resultName(expected))"
          )
        }
        if result == 0 {
          model[b] = model[a]
          model[a] = nil
          for i in 0..<slots where model[i]?.parent == a { model[i]!.parent = b }
          for i in 0..<pages where mappedBy[i] == a { mappedBy[i] = b }
        }
        counts[3] += 1
      case 7, 8:  // delete: children go to the parent; count destroyed objects
        let result = Capabilities.delete(slot(a))
        guard let entry = model[a] else {
          if result != SystemCallError.emptySlot.rawValue {
            fail("step \(step): delete of empty \(a) gave \(resultName(result))")
          }
          continue
        }
        model[a] = nil
        unmapAll(of: a)
        for i in 0..<slots where model[i]?.parent == a { model[i]!.parent = entry.parent }
        let destroyed = model.contains { $0?.object == entry.object } ? 0 : 1
        if result != Int64(destroyed) {
          fail("step \(step): delete \(a) gave \(resultName(result)), expected \(destroyed)")
        }
        counts[4] += 1
      default:  // revoke: every descendant goes
        let result = Capabilities.revoke(slot(a))
        guard model[a] != nil else {
          if result != SystemCallError.emptySlot.rawValue {
            fail("step \(step): revoke of empty \(a) gave \(resultName(result))")
          }
          continue
        }
        var removed = 0
        var changed = true
        var gone = [Bool](repeating: false, count: slots)
        while changed {
          changed = false
          for i in 0..<slots where model[i] != nil && !gone[i] {
            if let parent = model[i]!.parent, parent == a || gone[parent] {
              gone[i] = true
              removed += 1
              changed = true
            }
          }
        }
        for i in 0..<slots where gone[i] {
          model[i] = nil
          unmapAll(of: i)
        }
        if result != Int64(removed) {
          fail("step \(step): revoke \(a) gave \(resultName(result)), expected \(removed)")
        }
        counts[5] += 1
      }
      if step % 16 == 0 || mismatches > 0 { mismatches += compare(step) }
      if mismatches > 20 { break }
    }
    mismatches += compare(operations)
    for i in 0..<slots where model[i] != nil { Capabilities.delete(slot(i)) }
    print(
      "captest: \(operations) operations (\(counts[0]) creates, \(counts[1]) copies, \(counts[2]) mints, \(counts[3]) moves, \(counts[4]) deletes, \(counts[5]) revokes, \(counts[6]) maps, \(counts[7]) unmaps): \(mismatches) mismatches with the model"
    )
    return mismatches == 0 ? 0 : 1
  }

  /// What mapping (or unmapping) page `target` through slot `a` must give.
  static func expectedMapping(_ a: Int, _ target: Int, mapping: Bool) -> Int64 {
    guard let entry = model[a] else { return SystemCallError.emptySlot.rawValue }
    guard entry.type == 1 else { return SystemCallError.wrongType.rawValue }
    if mapping {
      if entry.rights & SystemCallRights.read == 0 { return SystemCallError.missingRights.rawValue }
      return mappedBy[target] == nil ? 0 : SystemCallError.alreadyMapped.rawValue
    }
    return mappedBy[target] == a ? 0 : SystemCallError.notMapped.rawValue
  }

  /// What a copy or mint from `a` to `b` must give, and the new entry.
  static func expectDerive(from a: Int, to b: Int, rights: UInt64?, label: UInt64?) -> (
    code: Int64, entry: Entry?
  ) {
    guard let source = model[a] else { return (SystemCallError.emptySlot.rawValue, nil) }
    guard model[b] == nil else { return (SystemCallError.slotOccupied.rawValue, nil) }
    var entry = source
    entry.parent = a
    if let rights {
      guard rights & ~source.rights == 0 else {
        return (SystemCallError.rightsEscalation.rawValue, nil)
      }
      entry.rights = rights
    }
    if let label {
      guard source.label == nil else { return (SystemCallError.alreadyLabelled.rawValue, nil) }
      entry.label = label
    }
    return (0, entry)
  }

  /// Every slot as `inspect` sees it against the model; the number of
  /// slots that differ (each reported, up to a few).
  static func compare(_ step: Int) -> Int {
    var differences = 0
    for i in 0..<slots {
      let seen = Capabilities.inspect(slot(i))
      switch (seen, model[i]) {
      case (.failure(.emptySlot), nil): continue
      case (.success(let info), let entry?):
        let parent = entry.parent.map { slot($0) } ?? 0
        if info.type == entry.type && info.rights == entry.rights && info.label == entry.label
          && info.derivedFrom == parent
        {
          continue
        }
        print(
          "captest: after step \(step) slot \(slot(i)): kernel \(info.type) \(Capabilities.describe(rights: info.rights)) label \(info.label ?? 0) from \(info.derivedFrom), model \(entry.type) \(Capabilities.describe(rights: entry.rights)) label \(entry.label ?? 0) from \(parent)"
        )
      case (.success, nil):
        print("captest: after step \(step) slot \(slot(i)) holds a capability the model lacks")
      case (.failure(let error), _):
        print("captest: after step \(step) slot \(slot(i)): \(error.name), model has one")
      }
      differences += 1
    }
    return differences
  }
}
