// One range of the firmware's physical memory map, as Multiboot2 (and E820
// before it) reports it. Kept independent of the boot protocol so the
// memory-map normalizer and the partition split can use it directly.
public struct MemoryMapEntry: Equatable, Sendable {
  public var base: UInt64
  public var length: UInt64
  public var type: MemoryType

  public init(base: UInt64, length: UInt64, type: MemoryType) {
    self.base = base
    self.length = length
    self.type = type
  }

  /// The first address after the range, or nil when `base + length` does not
  /// fit in 64 bits (firmware maps are untrusted, so this can happen).
  public var end: UInt64? {
    let (sum, overflow) = base.addingReportingOverflow(length)
    return overflow ? nil : sum
  }

  public var description: String {
    "[0x" + String(base, radix: 16) + " +0x" + String(length, radix: 16) + "] " + type.description
  }
}

/// The kind of a memory range. The raw values are the Multiboot2/E820 type
/// numbers; numbers without a meaning here are kept as `unrecognized` and must
/// be treated as reserved.
public enum MemoryType: Equatable, Hashable, Sendable, RawRepresentable {
  case available
  case reserved
  /// Holds ACPI tables; usable once they have been read.
  case acpiReclaimable
  /// ACPI non-volatile storage: must be preserved across sleep states.
  case acpiNVS
  case badRAM
  case unrecognized(UInt32)

  public init(rawValue: UInt32) {
    switch rawValue {
    case 1: self = .available
    case 2: self = .reserved
    case 3: self = .acpiReclaimable
    case 4: self = .acpiNVS
    case 5: self = .badRAM
    default: self = .unrecognized(rawValue)
    }
  }

  public var rawValue: UInt32 {
    switch self {
    case .available: 1
    case .reserved: 2
    case .acpiReclaimable: 3
    case .acpiNVS: 4
    case .badRAM: 5
    case .unrecognized(let value): value
    }
  }

  /// Only `available` memory may be handed to an allocator.
  public var isAvailable: Bool { self == .available }

  /// Which type wins where firmware entries overlap: the higher rank, so
  /// memory is never treated as more usable than any entry says. Bad RAM
  /// (4) must not be touched by anyone; reserved and unrecognized types (3)
  /// belong to the firmware or devices; ACPI NVS (2) must survive sleep
  /// states; ACPI reclaimable (1) becomes usable only after the tables are
  /// read; available (0) is the least restrictive.
  public var restrictiveness: Int {
    switch self {
    case .available: 0
    case .acpiReclaimable: 1
    case .acpiNVS: 2
    case .reserved, .unrecognized: 3
    case .badRAM: 4
    }
  }

  public var description: String {
    switch self {
    case .available: "available"
    case .reserved: "reserved"
    case .acpiReclaimable: "ACPI reclaimable"
    case .acpiNVS: "ACPI NVS"
    case .badRAM: "bad RAM"
    case .unrecognized(let value): "reserved (type " + String(value) + ")"
    }
  }
}
