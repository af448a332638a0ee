import X86

/// The region both kernel instances map for talking to each other (reserved
/// at boot, 4 MiB; the DTU ring regions are per node, `NodeRings`): raw memory, never Swift objects, since the
/// instances share no heap. Its layout is fixed:
///
///     0x000000  status page: COM1's line lock (+0), the LWK instance's state
///               (+8), the control thread's words (+16), the shipping ring's
///               address (+32), the LWK's heartbeat (+40), why it failed
///               (+48) and its TSC then (+56), one state byte per CPU (+0x100, up to 256
///               CPUs), each LWK CPU's reply ring address (+0x200, a word
///               per CPU); the rings themselves are DTU rings in the node
///               ring regions (`FunctionShipping`)
///     0x001000  the hand-off block, written once by the service instance
///     0x010000  control queue, service -> LWK (requests of the `lwk` commands)
///     0x020000  reply queue, LWK -> service
///     0x200000  module staging: program images on their way to the LWK
enum SharedRegion {
  static let statusOffset: UInt64 = 0
  static let handoffOffset: UInt64 = 0x1000
  static let handoffBytes = 0xF000
  static let controlQueueOffset: UInt64 = 0x1_0000
  static let replyQueueOffset: UInt64 = 0x2_0000
  static let queueBytes = 0x1_0000
  static let stagingOffset: UInt64 = 0x20_0000
  /// The smallest region that holds all of the above with 1 MiB of staging.
  static let minimumBytes: UInt64 = 0x30_0000

  /// The physical address of the service's shipping ring (0: none yet).
  static var shippingRingWord: UnsafeMutablePointer<UInt64>? {
    pointer(statusOffset + 32)?.assumingMemoryBound(to: UInt64.self)
  }

  /// The physical address of LWK CPU `cpu`'s reply ring (0: none yet).
  static func replyRingWord(cpu: Int) -> UnsafeMutablePointer<UInt64>? {
    guard cpu >= 0, cpu < 256 else { return nil }
    return pointer(statusOffset + 0x200 + UInt64(cpu) * 8)?.assumingMemoryBound(to: UInt64.self)
  }

  /// Where the region is in physical memory (zero: there is none).
  nonisolated(unsafe) static var base: UInt64 = 0
  nonisolated(unsafe) static var bytes: UInt64 = 0

  static var exists: Bool { base != 0 }

  static func pointer(_ offset: UInt64) -> UnsafeMutableRawPointer? {
    guard exists, offset < bytes else { return nil }
    return PhysicalMemory.pointer(base + offset)
  }

  static var range: PhysicalRange { PhysicalRange(base: base, length: bytes) }

  /// The console's line-lock word (per machine: both instances print).
  static var consoleLockWord: UnsafeMutablePointer<UInt64>? {
    pointer(statusOffset)?.assumingMemoryBound(to: UInt64.self)
  }

  /// Bumped by the LWK's control CPU at each of the watchdog's pings.
  static var heartbeatWord: UnsafeMutablePointer<UInt64>? {
    pointer(statusOffset + 40)?.assumingMemoryBound(to: UInt64.self)
  }

  /// Why the LWK instance failed (an `LWKWatchdog.Failure`), and the TSC
  /// when it said so (panic) or began to fail (an injected hang: for the
  /// detection time only).
  static var failureWord: UnsafeMutablePointer<UInt64>? {
    pointer(statusOffset + 48)?.assumingMemoryBound(to: UInt64.self)
  }
  static var failureTimeWord: UnsafeMutablePointer<UInt64>? {
    pointer(statusOffset + 56)?.assumingMemoryBound(to: UInt64.self)
  }

  /// The LWK instance's state as it publishes it.
  enum LWKState: UInt64 {
    case absent = 0
    case booting = 1
    case up = 2
    case failed = 3

    var description: String {
      switch self {
      case .absent: "absent"
      case .booting: "booting"
      case .up: "up"
      case .failed: "failed"
      }
    }
  }

  /// Whether the state word holds a state at all (an instance that wrote
  /// over its status page leaves garbage, which reads as `failed`).
  static var lwkStateIsValid: Bool {
    guard let word = pointer(statusOffset + 8)?.assumingMemoryBound(to: UInt64.self) else {
      return true
    }
    return LWKState(rawValue: x86_load_relaxed(word)) != nil
  }

  static var lwkState: LWKState {
    get {
      guard let word = pointer(statusOffset + 8)?.assumingMemoryBound(to: UInt64.self) else {
        return .absent
      }
      return LWKState(rawValue: x86_load_relaxed(word)) ?? .failed
    }
    set {
      guard let word = pointer(statusOffset + 8)?.assumingMemoryBound(to: UInt64.self) else {
        return
      }
      x86_store_release(word, newValue.rawValue)
    }
  }

  /// What the LWK's control thread is doing, for `lwk status`: requests
  /// served (+16) and the current one's kind, or 0 while it waits (+24).
  static func controlWord(_ index: UInt64) -> UnsafeMutablePointer<UInt64>? {
    pointer(statusOffset + 16 + index * 8)?.assumingMemoryBound(to: UInt64.self)
  }

  /// The state byte of an LWK CPU: written by whichever instance starts or
  /// runs it, read by both (`cpus` on the service side).
  static func cpuStateByte(_ cpu: Int) -> UnsafeMutablePointer<UInt8>? {
    guard cpu >= 0, cpu < 256 else { return nil }
    return pointer(statusOffset + 0x100 + UInt64(cpu))?.assumingMemoryBound(to: UInt8.self)
  }

  /// Clears what a failed LWK instance left in the status page (its
  /// state, heartbeat, failure, control words, ring addresses), before it
  /// is started afresh. The console lock is left alone: the service may
  /// hold it.
  static func forgetLWK() {
    guard let status = pointer(statusOffset) else { return }
    (status + 8).initializeMemory(as: UInt8.self, repeating: 0, count: 56)
    (status + 0x200).initializeMemory(as: UInt8.self, repeating: 0, count: 256 * 8)
  }

  /// Formats a new region: everything zero (console free, no LWK).
  static func format(_ range: PhysicalRange) -> Bool {
    guard range.length >= minimumBytes, let start = PhysicalMemory.pointer(range.base) else {
      return false
    }
    start.initializeMemory(as: UInt8.self, repeating: 0, count: Int(stagingOffset))
    base = range.base
    bytes = range.length
    return true
  }

  /// The module staging area: from `stagingOffset` to the region's end.
  static var stagingBytes: Int { exists ? Int(bytes - stagingOffset) : 0 }
}
