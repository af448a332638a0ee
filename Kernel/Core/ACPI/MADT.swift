// The Multiple APIC Description Table (signature "APIC"): which processors
// exist and with which APIC IDs, where the IOAPICs are, and how ISA IRQs map
// to global system interrupts.
//
// Error policy (the same for the SRAT): parsing is all or nothing. The first
// entry whose length is bogus or too short for its type ends the parse with
// an `MADTError` naming the entry's offset, and the caller falls back to a
// machine it can trust (see `Topology.build`). Entries are found only through
// the lengths of the entries before them, so after one bad length nothing
// that follows can be located; and a table that passes its checksum but
// breaks its own layout is one we misread or the firmware got wrong. A
// partial list would look plausible while missing CPUs, where the fallback is
// a known, safe shape and the boot log names the exact entry.
// Entries longer than their type needs are accepted (later ACPI revisions
// extend entries at the end); unknown types are skipped by their length.

/// One processor entry: Processor Local APIC (type 0) or Processor Local
/// x2APIC (type 9).
public struct MADTProcessor: Equatable, Sendable {
  public var apicID: UInt32
  /// The ACPI processor UID (type 0 has only 8 bits of it).
  public var acpiProcessorUID: UInt32
  public var flags: UInt32
  /// From a type 9 entry.
  public var isX2APIC: Bool

  public init(apicID: UInt32, acpiProcessorUID: UInt32, flags: UInt32, isX2APIC: Bool) {
    self.apicID = apicID
    self.acpiProcessorUID = acpiProcessorUID
    self.flags = flags
    self.isX2APIC = isX2APIC
  }

  /// Usable now.
  public var enabled: Bool { flags & 1 != 0 }
  /// Disabled but may be brought online later (ACPI 6.3 and later).
  public var onlineCapable: Bool { flags & 2 != 0 }

  public var description: String {
    (isX2APIC ? "x2APIC " : "APIC ") + "ID " + String(apicID) + ", processor UID "
      + String(acpiProcessorUID) + (enabled ? ", enabled" : ", disabled")
      + (onlineCapable ? ", online capable" : "")
  }
}

/// Which local APIC input (LINT0/1) receives NMIs: types 4 and 0xA.
public struct LocalAPICNMI: Equatable, Sendable {
  /// The ACPI processor UID, or nil for all processors (0xFF in type 4,
  /// 0xFFFFFFFF in type 0xA).
  public var acpiProcessorUID: UInt32?
  /// MPS INTI flags: polarity (bits 0-1) and trigger mode (bits 2-3).
  public var flags: UInt16
  public var lint: UInt8

  public init(acpiProcessorUID: UInt32?, flags: UInt16, lint: UInt8) {
    self.acpiProcessorUID = acpiProcessorUID
    self.flags = flags
    self.lint = lint
  }

  public var description: String {
    "NMI on LINT" + String(lint) + " of "
      + (acpiProcessorUID.map { "processor UID " + String($0) } ?? "all processors")
      + ", flags " + hex(UInt64(flags), digits: 4)
  }
}

public struct MADT: Equatable, Sendable {
  /// Where the entries start: after the header, the local APIC address and
  /// the flags.
  public static let entriesOffset = 44

  /// The 32-bit local APIC address in the table's fixed part.
  public var localAPICAddress32: UInt32
  /// Bit 0 (PCAT_COMPAT): the machine also has the two legacy 8259 PICs.
  public var flags: UInt32
  /// Type 0 and 9 entries in table order, duplicates included.
  public var processors: [MADTProcessor]
  public var ioAPICs: [IOAPICDescriptor]
  /// Type 2 entries. Their bus field is always 0 (ISA) and is not kept.
  public var interruptOverrides: [InterruptOverride]
  public var nmis: [LocalAPICNMI]
  /// The 64-bit address of a type 5 entry (the first when there are several).
  public var localAPICAddressOverride: UInt64?
  /// Types the parser skipped (known but unused, or unknown), in table order.
  public var skippedEntryTypes: [UInt8]

  public init(
    localAPICAddress32: UInt32, flags: UInt32 = 0, processors: [MADTProcessor] = [],
    ioAPICs: [IOAPICDescriptor] = [], interruptOverrides: [InterruptOverride] = [],
    nmis: [LocalAPICNMI] = [], localAPICAddressOverride: UInt64? = nil,
    skippedEntryTypes: [UInt8] = []
  ) {
    self.localAPICAddress32 = localAPICAddress32
    self.flags = flags
    self.processors = processors
    self.ioAPICs = ioAPICs
    self.interruptOverrides = interruptOverrides
    self.nmis = nmis
    self.localAPICAddressOverride = localAPICAddressOverride
    self.skippedEntryTypes = skippedEntryTypes
  }

  /// The address to use: the type 5 override when there is one.
  public var localAPICAddress: UInt64 {
    localAPICAddressOverride ?? UInt64(localAPICAddress32)
  }

  public var hasLegacyPICs: Bool { flags & 1 != 0 }

  /// Decodes a validated table (see `ACPITable.read`); the error policy is
  /// at the top of this file.
  public static func parse(_ table: ACPITable) -> Result<MADT, MADTError> {
    guard table.signature == .madt else { return .failure(.wrongSignature(table.signature)) }
    let view = table.view
    guard let address = view.u32(36), let flags = view.u32(40) else {
      return .failure(.tableTooShort(length: view.count))
    }
    var madt = MADT(localAPICAddress32: address, flags: flags)
    switch ACPITableEntry.checked(in: view, from: entriesOffset, minimumLength: minimumLength) {
    case .failure(.bogusLength(let offset, let length)):
      return .failure(.bogusEntryLength(offset: offset, length: length))
    case .failure(.tooShort(let type, let offset, let length, let minimum)):
      return .failure(.entryTooShort(type: type, offset: offset, length: length, minimum: minimum))
    case .success(let entries):
      for entry in entries { madt.add(entry) }
    }
    return .success(madt)
  }

  /// The MADT the directory lists: nil when there is none, a failure when
  /// it does not validate or parse.
  public static func load(from directory: ACPITableDirectory, using read: PhysicalMemoryReader)
    -> Result<MADT, MADTError>?
  {
    directory.load(.madt, using: read, parse: parse, tableError: MADTError.table)
  }

  /// The lengths the fields this parser reads need; nil for skipped types.
  static func minimumLength(ofType type: UInt8) -> Int? {
    switch type {
    case 0: 8
    case 1: 12
    case 2: 10
    case 4: 6
    case 5: 12
    case 9: 16
    case 0xA: 12
    default: nil
    }
  }

  /// Records one entry whose length `minimumLength` has checked, so the
  /// reads below cannot fail; the `?? 0` only keep them free of traps.
  private mutating func add(_ entry: ACPITableEntry) {
    let view = entry.view
    switch entry.type {
    case 0:
      processors.append(
        MADTProcessor(
          apicID: UInt32(view.u8(3) ?? 0), acpiProcessorUID: UInt32(view.u8(2) ?? 0),
          flags: view.u32(4) ?? 0, isX2APIC: false))
    case 1:
      ioAPICs.append(
        IOAPICDescriptor(
          id: view.u8(2) ?? 0, address: UInt64(view.u32(4) ?? 0), interruptBase: view.u32(8) ?? 0))
    case 2:
      interruptOverrides.append(
        InterruptOverride(
          sourceIRQ: view.u8(3) ?? 0, globalInterrupt: view.u32(4) ?? 0, flags: view.u16(8) ?? 0))
    case 4:
      let uid = view.u8(2) ?? 0
      nmis.append(
        LocalAPICNMI(
          acpiProcessorUID: uid == 0xFF ? nil : UInt32(uid), flags: view.u16(3) ?? 0,
          lint: view.u8(5) ?? 0))
    case 5:
      if localAPICAddressOverride == nil { localAPICAddressOverride = view.u64(4) }
    case 9:
      processors.append(
        MADTProcessor(
          apicID: view.u32(4) ?? 0, acpiProcessorUID: view.u32(12) ?? 0, flags: view.u32(8) ?? 0,
          isX2APIC: true))
    case 0xA:
      let uid = view.u32(4) ?? 0
      nmis.append(
        LocalAPICNMI(
          acpiProcessorUID: uid == 0xFFFF_FFFF ? nil : uid, flags: view.u16(2) ?? 0,
          lint: view.u8(8) ?? 0))
    default:
      skippedEntryTypes.append(entry.type)
    }
  }

  /// One line, for the boot log.
  public var description: String {
    let enabled = processors.filter { $0.enabled }.count
    return "MADT: local APIC " + hex(localAPICAddress, digits: 8) + ", processors "
      + String(processors.count) + " (" + String(enabled) + " enabled), IOAPICs "
      + String(ioAPICs.count) + ", interrupt overrides " + String(interruptOverrides.count)
      + ", local NMIs " + String(nmis.count)
  }
}

public enum MADTError: Error, Equatable, Sendable {
  /// Finding or validating the table failed (`MADT.load`).
  case table(ACPIError)
  case wrongSignature(ACPISignature)
  /// Shorter than the header and the fixed fields.
  case tableTooShort(length: Int)
  /// An entry's length byte is below 2 or runs past the table end; nil
  /// when the table ends before the length byte.
  case bogusEntryLength(offset: Int, length: UInt8?)
  case entryTooShort(type: UInt8, offset: Int, length: Int, minimum: Int)

  public var description: String {
    switch self {
    case .table(let error): error.description
    case .wrongSignature(let found): "madt: table has signature " + found.description
    case .tableTooShort(let length):
      "madt: table of " + String(length) + " bytes is shorter than its fixed part"
    case .bogusEntryLength(let offset, let length):
      "madt: " + ACPITableEntry.describeBogusLength(offset: offset, length: length)
    case .entryTooShort(let type, let offset, let length, let minimum):
      "madt: "
        + ACPITableEntry.describeShort(
          type: type, offset: offset, length: length, minimum: minimum)
    }
  }
}
