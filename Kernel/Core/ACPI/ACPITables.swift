// ACPI firmware tables as far as every ACPI user needs them: the RSDP, the
// 36-byte header shared by all system description tables, and the walk of the
// root table (RSDT with 32-bit or XSDT with 64-bit entries) that finds the
// others. Firmware tables are untrusted input: lengths are bounded, checksums
// verified, and every problem becomes an `ACPIError`.

/// Reads physical memory: a view of exactly `length` bytes at `address`, or
/// nil when that range cannot be read. The kernel backs it with its map of
/// physical memory, tests with a fake one. The reader, not the parsers, owns
/// the mapping: views stay valid as long as it keeps them mapped. It must
/// treat `address + length` overflowing 64 bits as unreadable.
public typealias PhysicalMemoryReader = (_ address: UInt64, _ length: Int) -> ByteView?

/// A four-character table signature ("FACP"), kept as the four bytes in
/// memory order so comparing signatures needs no string handling.
public struct ACPISignature: Equatable, Hashable, Sendable {
  public let rawValue: UInt32

  public init(rawValue: UInt32) {
    self.rawValue = rawValue
  }

  /// From a literal such as "APIC"; bytes past the fourth are ignored.
  public init(_ text: StaticString) {
    var value: UInt32 = 0
    let count = min(4, text.utf8CodeUnitCount)
    for index in 0..<count {
      value |= UInt32(text.utf8Start[index]) << UInt32(8 * index)
    }
    rawValue = value
  }

  public static let rsdt = ACPISignature("RSDT")
  public static let xsdt = ACPISignature("XSDT")
  public static let fadt = ACPISignature("FACP")
  public static let dsdt = ACPISignature("DSDT")
  public static let madt = ACPISignature("APIC")
  public static let srat = ACPISignature("SRAT")

  /// The four characters, with anything but printable ASCII shown as '?'.
  public var description: String {
    var bytes: [UInt8] = []
    for index in 0..<4 {
      let byte = UInt8(truncatingIfNeeded: rawValue >> UInt32(8 * index))
      bytes.append((0x20...0x7E).contains(byte) ? byte : UInt8(ascii: "?"))
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}

/// The Root System Description Pointer, the entry point to all ACPI tables.
public struct RSDP: Equatable, Sendable {
  /// Bytes covered by the ACPI 1.0 checksum.
  public static let version1Length = 20
  /// Smallest length of an ACPI 2.0+ RSDP (it has the XSDT address).
  public static let version2Length = 36

  public var revision: UInt8
  public var oemID: String
  public var rsdtAddress: UInt32
  /// Present from revision 2 on; may still be zero.
  public var xsdtAddress: UInt64?
  /// 20 for revision 0, the length field otherwise.
  public var length: Int

  public init(
    revision: UInt8, oemID: String, rsdtAddress: UInt32, xsdtAddress: UInt64?, length: Int
  ) {
    self.revision = revision
    self.oemID = oemID
    self.rsdtAddress = rsdtAddress
    self.xsdtAddress = xsdtAddress
    self.length = length
  }

  /// Validates the RSDP `view` starts with: signature, the 20-byte checksum
  /// and, from revision 2 on, the length field and the extended checksum.
  public static func parse(_ view: ByteView) -> Result<RSDP, ACPIError> {
    guard view.count >= version1Length, let head = view.slice(0, version1Length) else {
      return .failure(.rsdpTooShort(count: view.count))
    }
    guard hasSignature(head, at: 0) else { return .failure(.badRSDPSignature) }
    guard head.byteSum == 0 else { return .failure(.badRSDPChecksum) }
    let revision = head.u8(15) ?? 0
    let oemID = text(head, at: 9, count: 6)
    let rsdtAddress = head.u32(16) ?? 0
    guard revision >= 2 else {
      return .success(
        RSDP(
          revision: revision, oemID: oemID, rsdtAddress: rsdtAddress, xsdtAddress: nil,
          length: version1Length))
    }
    let lengthField = view.u32(20) ?? 0
    let length = Int(lengthField)
    guard length >= version2Length, let whole = view.slice(0, length) else {
      return .failure(.badRSDPLength(length: lengthField, available: view.count))
    }
    guard whole.byteSum == 0 else { return .failure(.badRSDPExtendedChecksum) }
    return .success(
      RSDP(
        revision: revision, oemID: oemID, rsdtAddress: rsdtAddress,
        xsdtAddress: whole.u64(24), length: length))
  }

  /// The RSDP in a copy of its bytes, such as the one the loader passes.
  public static func parse(bytes: [UInt8]) -> Result<RSDP, ACPIError> {
    bytes.withUnsafeBytes { parse(ByteView($0)) }
  }

  /// Offset of the first valid RSDP in `view` on a 16-byte boundary (where
  /// BIOSes place it in the EBDA and at 0xE0000-0xFFFFF), for machines whose
  /// loader gave no copy.
  public static func search(in view: ByteView) -> Int? {
    var offset = 0
    while offset + version1Length <= view.count {
      if let candidate = view.slice(offset, view.count - offset),
        hasSignature(candidate, at: 0), case .success = parse(candidate)
      {
        return offset
      }
      offset += 16
    }
    return nil
  }

  private static let signature: [UInt8] = Array("RSD PTR ".utf8)

  private static func hasSignature(_ view: ByteView, at offset: Int) -> Bool {
    for index in 0..<signature.count where view.u8(offset + index) != signature[index] {
      return false
    }
    return true
  }
}

/// The header every system description table starts with.
public struct ACPITableHeader: Equatable, Sendable {
  public static let size = 36

  public var signature: ACPISignature
  public var length: UInt32
  public var revision: UInt8
  public var checksum: UInt8
  public var oemID: String
  public var oemTableID: String
  public var oemRevision: UInt32
  public var creatorID: ACPISignature
  public var creatorRevision: UInt32

  /// Decodes the first 36 bytes of `view`; nil when it is shorter.
  public init?(_ view: ByteView) {
    guard let signature = view.u32(0), let length = view.u32(4), let revision = view.u8(8),
      let checksum = view.u8(9), let oemRevision = view.u32(24), let creatorID = view.u32(28),
      let creatorRevision = view.u32(32)
    else { return nil }
    self.signature = ACPISignature(rawValue: signature)
    self.length = length
    self.revision = revision
    self.checksum = checksum
    self.oemID = text(view, at: 10, count: 6)
    self.oemTableID = text(view, at: 16, count: 8)
    self.oemRevision = oemRevision
    self.creatorID = ACPISignature(rawValue: creatorID)
    self.creatorRevision = creatorRevision
  }
}

/// A table that passed the length and checksum checks.
public struct ACPITable {
  /// Upper bound on any table's length; real DSDTs stay well below it.
  public static let maximumLength = 1 << 20

  public var address: UInt64
  public var header: ACPITableHeader
  /// Exactly `header.length` bytes, header included.
  public var view: ByteView

  public var signature: ACPISignature { header.signature }

  /// Reads the table at `address` and validates it; with `expected`, a
  /// different signature is an error too.
  public static func read(
    at address: UInt64, expecting expected: ACPISignature?, using read: PhysicalMemoryReader
  ) -> Result<ACPITable, ACPIError> {
    let name = expected ?? ACPISignature(rawValue: 0)
    guard let headerView = read(address, ACPITableHeader.size),
      let header = ACPITableHeader(headerView)
    else { return .failure(.tableUnreadable(name, address: address)) }
    if let expected, header.signature != expected {
      return .failure(
        .unexpectedSignature(expected: expected, found: header.signature, address: address))
    }
    let length = Int(header.length)
    guard length >= ACPITableHeader.size, length <= maximumLength else {
      return .failure(.badTableLength(header.signature, address: address, length: header.length))
    }
    guard let whole = read(address, length), let view = whole.slice(0, length) else {
      return .failure(.tableUnreadable(header.signature, address: address))
    }
    guard view.byteSum == 0 else {
      return .failure(.badTableChecksum(header.signature, address: address))
    }
    return .success(ACPITable(address: address, header: header, view: view))
  }
}

/// The root table (XSDT or RSDT) and the table addresses it lists.
public struct ACPITableDirectory {
  public var root: ACPITable
  /// Non-zero entries of the root table, in table order.
  public var entries: [UInt64]

  /// Loads the XSDT when the RSDP has a non-zero address for it, falling back
  /// to the RSDT when the XSDT does not validate; otherwise the RSDT.
  public static func load(rsdp: RSDP, using read: PhysicalMemoryReader) -> Result<
    ACPITableDirectory, ACPIError
  > {
    if let xsdtAddress = rsdp.xsdtAddress, xsdtAddress != 0 {
      let xsdt = ACPITable.read(at: xsdtAddress, expecting: .xsdt, using: read)
      switch xsdt {
      case .success(let table):
        return .success(ACPITableDirectory(root: table, entrySize: 8))
      case .failure(let error):
        guard rsdp.rsdtAddress != 0,
          case .success(let table) = ACPITable.read(
            at: UInt64(rsdp.rsdtAddress), expecting: .rsdt, using: read)
        else { return .failure(error) }
        return .success(ACPITableDirectory(root: table, entrySize: 4))
      }
    }
    guard rsdp.rsdtAddress != 0 else { return .failure(.noRootTable) }
    return ACPITable.read(at: UInt64(rsdp.rsdtAddress), expecting: .rsdt, using: read).map {
      ACPITableDirectory(root: $0, entrySize: 4)
    }
  }

  private init(root: ACPITable, entrySize: Int) {
    self.root = root
    var entries: [UInt64] = []
    // A partial trailing entry is ignored: the whole ones are unambiguous.
    var offset = ACPITableHeader.size
    while offset + entrySize <= root.view.count {
      let address = entrySize == 8 ? root.view.u64(offset) : root.view.u32(offset).map(UInt64.init)
      if let address, address != 0 { entries.append(address) }
      offset += entrySize
    }
    self.entries = entries
  }

  /// The first listed table with `signature`, validated.
  public func find(_ signature: ACPISignature, using read: PhysicalMemoryReader) -> Result<
    ACPITable, ACPIError
  > {
    for address in entries {
      guard let headerView = read(address, ACPITableHeader.size),
        let header = ACPITableHeader(headerView), header.signature == signature
      else { continue }
      return ACPITable.read(at: address, expecting: signature, using: read)
    }
    return .failure(.tableNotFound(signature))
  }

  /// One line's worth for every table: the root table, then each entry in
  /// order. Unreadable entries are listed too, so a listing shows what the
  /// firmware claims, not only what validates.
  public func summaries(using read: PhysicalMemoryReader) -> [ACPITableSummary] {
    [ACPITableSummary(of: root.address, using: read)]
      + entries.map { ACPITableSummary(of: $0, using: read) }
  }
}

extension ACPITableDirectory {
  /// The table with `signature`, decoded by `parse`: nil when the firmware
  /// lists none, a failure when it does not validate or decode.
  public func load<Table, Failure: Error>(
    _ signature: ACPISignature, using read: PhysicalMemoryReader,
    parse: (ACPITable) -> Result<Table, Failure>, tableError: (ACPIError) -> Failure
  ) -> Result<Table, Failure>? {
    switch find(signature, using: read) {
    case .success(let table): return parse(table)
    case .failure(.tableNotFound): return nil
    case .failure(let error): return .failure(tableError(error))
    }
  }
}

/// What a listing of the tables shows for one address.
public struct ACPITableSummary: Equatable, Sendable {
  public var address: UInt64
  /// nil when not even the header could be read.
  public var signature: ACPISignature?
  public var length: UInt32
  /// The length is sane, the whole table readable, and its bytes sum to 0.
  public var isValid: Bool

  public init(address: UInt64, signature: ACPISignature?, length: UInt32, isValid: Bool) {
    self.address = address
    self.signature = signature
    self.length = length
    self.isValid = isValid
  }

  public init(of address: UInt64, using read: PhysicalMemoryReader) {
    guard let headerView = read(address, ACPITableHeader.size),
      let header = ACPITableHeader(headerView)
    else {
      self.init(address: address, signature: nil, length: 0, isValid: false)
      return
    }
    let valid: Bool
    switch ACPITable.read(at: address, expecting: nil, using: read) {
    case .success: valid = true
    case .failure: valid = false
    }
    self.init(address: address, signature: header.signature, length: header.length, isValid: valid)
  }

  public var description: String {
    let name = signature?.description ?? "????"
    return name + " at " + hexNumber(address) + " length " + String(length)
      + (isValid ? " ok" : " INVALID")
  }
}

public enum ACPIError: Error, Equatable {
  /// The loader gave no RSDP and none was found.
  case noRSDP
  case rsdpTooShort(count: Int)
  case badRSDPSignature
  case badRSDPChecksum
  case badRSDPLength(length: UInt32, available: Int)
  case badRSDPExtendedChecksum
  /// The RSDP has neither an RSDT nor an XSDT address.
  case noRootTable
  case tableUnreadable(ACPISignature, address: UInt64)
  case unexpectedSignature(expected: ACPISignature, found: ACPISignature, address: UInt64)
  case badTableLength(ACPISignature, address: UInt64, length: UInt32)
  case badTableChecksum(ACPISignature, address: UInt64)
  case tableNotFound(ACPISignature)
  /// The FADT has neither a DSDT nor an X_DSDT address.
  case noDSDT
  case noS5
  /// `offset` is where the package was expected inside the DSDT, or the
  /// `_S5_` name's own offset when the table ends right after it.
  case malformedS5(offset: Int)
  case sleepTypeOutOfRange(UInt64)
  case noPM1aControlPort
  case controlPortOutOfRange(UInt64)

  public var description: String {
    switch self {
    case .noRSDP: "acpi: no RSDP"
    case .rsdpTooShort(let count): "acpi: RSDP of " + String(count) + " bytes is too short"
    case .badRSDPSignature: "acpi: RSDP signature is not \"RSD PTR \""
    case .badRSDPChecksum: "acpi: bad RSDP checksum"
    case .badRSDPLength(let length, let available):
      "acpi: RSDP length " + String(length) + " is invalid (" + String(available)
        + " bytes available)"
    case .badRSDPExtendedChecksum: "acpi: bad RSDP extended checksum"
    case .noRootTable: "acpi: RSDP has no RSDT or XSDT address"
    case .tableUnreadable(let signature, let address):
      "acpi: " + signature.description + " at " + hexNumber(address) + " is unreadable"
    case .unexpectedSignature(let expected, let found, let address):
      "acpi: expected " + expected.description + " at " + hexNumber(address) + ", found "
        + found.description
    case .badTableLength(let signature, let address, let length):
      "acpi: " + signature.description + " at " + hexNumber(address) + " has bad length "
        + String(length)
    case .badTableChecksum(let signature, let address):
      "acpi: " + signature.description + " at " + hexNumber(address) + " has a bad checksum"
    case .tableNotFound(let signature): "acpi: no " + signature.description + " table"
    case .noDSDT: "acpi: FADT has no DSDT address"
    case .noS5: "acpi: no _S5_ object in the DSDT"
    case .malformedS5(let offset):
      "acpi: malformed _S5_ package at DSDT offset " + hexNumber(offset)
    case .sleepTypeOutOfRange(let value):
      "acpi: _S5_ sleep type " + hexNumber(value) + " does not fit SLP_TYP"
    case .noPM1aControlPort: "acpi: FADT has no PM1a control port"
    case .controlPortOutOfRange(let value):
      "acpi: PM1 control block " + hexNumber(value) + " is not an I/O port"
    }
  }
}

/// Fixed-size text fields (OEM IDs): bytes up to the first NUL, as text.
private func text(_ view: ByteView, at offset: Int, count: Int) -> String {
  var bytes: [UInt8] = []
  for index in 0..<count {
    guard let byte = view.u8(offset + index), byte != 0 else { break }
    bytes.append(byte)
  }
  return String(decoding: bytes, as: UTF8.self)
}

private func hexNumber(_ value: some BinaryInteger) -> String {
  "0x" + String(value, radix: 16)
}
