// The System Resource Affinity Table: which proximity domain (NUMA node)
// each processor and each range of memory belongs to. Same error policy as
// the MADT (see MADT.swift): the first bad entry ends the parse with an
// `SRATError`, and the caller falls back to a single node.
//
// Proximity domains are 32 bits from SRAT revision 2 (ACPI 3.0) on. In
// revision 1 the extra bytes were reserved, so there only the low byte counts
// (as Linux does); QEMU writes revision 1 with zeros there.

/// A Processor Local APIC/SAPIC Affinity (type 0) or Processor Local x2APIC
/// Affinity (type 2) entry.
public struct ProcessorAffinity: Equatable, Sendable {
  public var apicID: UInt32
  public var proximityDomain: UInt32
  public var flags: UInt32
  /// From a type 2 entry.
  public var isX2APIC: Bool

  public init(apicID: UInt32, proximityDomain: UInt32, flags: UInt32, isX2APIC: Bool) {
    self.apicID = apicID
    self.proximityDomain = proximityDomain
    self.flags = flags
    self.isX2APIC = isX2APIC
  }

  /// Disabled entries are to be ignored.
  public var enabled: Bool { flags & 1 != 0 }

  public var description: String {
    (isX2APIC ? "x2APIC " : "APIC ") + "ID " + String(apicID) + " in domain "
      + String(proximityDomain) + (enabled ? "" : " (disabled)")
  }
}

/// A Memory Affinity entry (type 1).
public struct MemoryAffinity: Equatable, Sendable {
  public var proximityDomain: UInt32
  public var base: UInt64
  public var length: UInt64
  public var flags: UInt32

  public init(proximityDomain: UInt32, base: UInt64, length: UInt64, flags: UInt32) {
    self.proximityDomain = proximityDomain
    self.base = base
    self.length = length
    self.flags = flags
  }

  /// The bytes described, clipped at 2^64-1 (see PhysicalRange).
  public var range: PhysicalRange { PhysicalRange(base: base, length: length) }
  /// Disabled entries are to be ignored.
  public var enabled: Bool { flags & 1 != 0 }
  public var hotPluggable: Bool { flags & 2 != 0 }
  public var nonVolatile: Bool { flags & 4 != 0 }

  public var description: String {
    range.description + " in domain " + String(proximityDomain)
      + (enabled ? "" : " (disabled)") + (hotPluggable ? " hot-pluggable" : "")
      + (nonVolatile ? " non-volatile" : "")
  }
}

public struct SRAT: Equatable, Sendable {
  /// After the header, 4 reserved bytes (1 for compatibility) and 8 more.
  public static let entriesOffset = 48

  public var revision: UInt8
  /// Type 0 and 2 entries in table order, disabled ones included.
  public var processorAffinities: [ProcessorAffinity]
  /// Type 1 entries in table order, disabled ones included.
  public var memoryAffinities: [MemoryAffinity]
  /// Types the parser skipped (GICC, generic initiator, ...), in table order.
  public var skippedEntryTypes: [UInt8]

  public init(
    revision: UInt8 = 3, processorAffinities: [ProcessorAffinity] = [],
    memoryAffinities: [MemoryAffinity] = [], skippedEntryTypes: [UInt8] = []
  ) {
    self.revision = revision
    self.processorAffinities = processorAffinities
    self.memoryAffinities = memoryAffinities
    self.skippedEntryTypes = skippedEntryTypes
  }

  /// Decodes a validated table (see `ACPITable.read`).
  public static func parse(_ table: ACPITable) -> Result<SRAT, SRATError> {
    guard table.signature == .srat else { return .failure(.wrongSignature(table.signature)) }
    let view = table.view
    guard view.count >= entriesOffset else { return .failure(.tableTooShort(length: view.count)) }
    var srat = SRAT(revision: table.header.revision)
    switch ACPITableEntry.checked(in: view, from: entriesOffset, minimumLength: minimumLength) {
    case .failure(.bogusLength(let offset, let length)):
      return .failure(.bogusEntryLength(offset: offset, length: length))
    case .failure(.tooShort(let type, let offset, let length, let minimum)):
      return .failure(.entryTooShort(type: type, offset: offset, length: length, minimum: minimum))
    case .success(let entries):
      for entry in entries { srat.add(entry) }
    }
    return .success(srat)
  }

  /// The SRAT the directory lists: nil when there is none, a failure when
  /// it does not validate or parse.
  public static func load(from directory: ACPITableDirectory, using read: PhysicalMemoryReader)
    -> Result<SRAT, SRATError>?
  {
    directory.load(.srat, using: read, parse: parse, tableError: SRATError.table)
  }

  static func minimumLength(ofType type: UInt8) -> Int? {
    switch type {
    case 0: 16
    case 1: 40
    case 2: 24
    default: nil
    }
  }

  /// Records one entry `minimumLength` has checked (the `?? 0` only keep
  /// the reads free of traps).
  private mutating func add(_ entry: ACPITableEntry) {
    let view = entry.view
    let wideDomains = revision >= 2
    switch entry.type {
    case 0:
      var domain = UInt32(view.u8(2) ?? 0)
      if wideDomains {
        for index in 0..<3 { domain |= UInt32(view.u8(9 + index) ?? 0) << UInt32(8 + 8 * index) }
      }
      processorAffinities.append(
        ProcessorAffinity(
          apicID: UInt32(view.u8(3) ?? 0), proximityDomain: domain, flags: view.u32(4) ?? 0,
          isX2APIC: false))
    case 1:
      let domain = view.u32(2) ?? 0
      memoryAffinities.append(
        MemoryAffinity(
          proximityDomain: wideDomains ? domain : domain & 0xFF, base: view.u64(8) ?? 0,
          length: view.u64(16) ?? 0, flags: view.u32(28) ?? 0))
    case 2:
      processorAffinities.append(
        ProcessorAffinity(
          apicID: view.u32(8) ?? 0, proximityDomain: view.u32(4) ?? 0, flags: view.u32(12) ?? 0,
          isX2APIC: true))
    default:
      skippedEntryTypes.append(entry.type)
    }
  }

  /// One line, for the boot log.
  public var description: String {
    let processors = processorAffinities.filter { $0.enabled }.count
    let ranges = memoryAffinities.filter { $0.enabled }.count
    return "SRAT: " + String(processors) + " processor and " + String(ranges)
      + " memory affinities enabled (" + String(processorAffinities.count + memoryAffinities.count)
      + " entries)"
  }
}

public enum SRATError: Error, Equatable, Sendable {
  /// Finding or validating the table failed (`SRAT.load`).
  case table(ACPIError)
  case wrongSignature(ACPISignature)
  /// Shorter than the header and the reserved fields.
  case tableTooShort(length: Int)
  /// An entry's length byte is below 2 or runs past the table end; nil
  /// when the table ends before the length byte.
  case bogusEntryLength(offset: Int, length: UInt8?)
  case entryTooShort(type: UInt8, offset: Int, length: Int, minimum: Int)

  public var description: String {
    switch self {
    case .table(let error): error.description
    case .wrongSignature(let found): "srat: table has signature " + found.description
    case .tableTooShort(let length):
      "srat: table of " + String(length) + " bytes is shorter than its fixed part"
    case .bogusEntryLength(let offset, let length):
      "srat: " + ACPITableEntry.describeBogusLength(offset: offset, length: length)
    case .entryTooShort(let type, let offset, let length, let minimum):
      "srat: "
        + ACPITableEntry.describeShort(type: type, offset: offset, length: length, minimum: minimum)
    }
  }
}
