/// The last finished processes, for the shell's `ps` and `wait`, in storage
/// of a fixed size made once. A history of Swift strings would make the
/// kernel heap grow and shrink with the names and endings it holds, and
/// `mem mark` / `mem since` could then not tell a leak from a full history;
/// this one costs the same bytes whether it holds nothing or `capacity`
/// entries. Names and endings longer than their fields are cut at a
/// character boundary.
public struct ProcessHistory {
  public static let nameBytes = 32
  public static let statusBytes = 96
  static var entryBytes: Int { nameBytes + statusBytes }

  public let capacity: Int
  private var pids: [Int]
  private var nameLengths: [Int]
  private var statusLengths: [Int]
  private var text: [UInt8]
  /// Where the next entry goes; the oldest entry when the history is full.
  private var next = 0
  public private(set) var count = 0

  public init(capacity: Int) {
    precondition(capacity > 0, "a history holds at least one entry")
    self.capacity = capacity
    pids = [Int](repeating: 0, count: capacity)
    nameLengths = [Int](repeating: 0, count: capacity)
    statusLengths = [Int](repeating: 0, count: capacity)
    text = [UInt8](repeating: 0, count: capacity * Self.entryBytes)
  }

  /// Adds an entry, replacing the oldest one when the history is full.
  public mutating func record(pid: Int, name: String, status: String) {
    let base = next * Self.entryBytes
    pids[next] = pid
    nameLengths[next] = store(name, at: base, limit: Self.nameBytes)
    statusLengths[next] = store(status, at: base + Self.nameBytes, limit: Self.statusBytes)
    next = (next + 1) % capacity
    count = min(count + 1, capacity)
  }

  /// The newest entry for `pid`, if the history still holds one.
  public func entry(pid: Int) -> (name: String, status: String)? {
    for age in 0..<count {
      let slot = (next - 1 - age + 2 * capacity) % capacity
      if pids[slot] == pid { return (name(slot), status(slot)) }
    }
    return nil
  }

  /// The newest `limit` entries, oldest first.
  public func newest(_ limit: Int) -> [(pid: Int, name: String, status: String)] {
    let shown = min(limit, count)
    return (0..<shown).map { index in
      let slot = (next - shown + index + 2 * capacity) % capacity
      return (pids[slot], name(slot), status(slot))
    }
  }

  private func name(_ slot: Int) -> String {
    let base = slot * Self.entryBytes
    return String(decoding: text[base..<base + nameLengths[slot]], as: UTF8.self)
  }

  private func status(_ slot: Int) -> String {
    let base = slot * Self.entryBytes + Self.nameBytes
    return String(decoding: text[base..<base + statusLengths[slot]], as: UTF8.self)
  }

  /// Copies at most `limit` bytes of `string`, backing off to the start of
  /// a character, and returns how many it copied.
  private mutating func store(_ string: String, at base: Int, limit: Int) -> Int {
    let utf8 = string.utf8
    var length = min(utf8.count, limit)
    if length < utf8.count {
      let bytes = Array(utf8.prefix(length + 1))
      // A byte 0b10xxxxxx continues a character: cut before its start.
      while length > 0 && bytes[length] & 0xC0 == 0x80 { length -= 1 }
    }
    var index = base
    for byte in utf8.prefix(length) {
      text[index] = byte
      index += 1
    }
    return length
  }
}
