// What the kernel needs to power the machine off through ACPI sleep state S5:
// the PM1 control ports from the FADT and the SLP_TYP values of the DSDT's
// \_S5 object. Entering S5 is then a port write of SLP_TYP and SLP_EN (per
// PM1 control block), which the kernel does with its port I/O intrinsics.
//
// The DSDT is AML bytecode; rather than interpret it, this scans for the one
// pattern firmware (and QEMU) use to define \_S5: NameOp, the name (optionally
// with a root prefix), then a package of integer constants.
public struct ACPIPowerOff: Equatable, Sendable {
  public var pm1aControlPort: UInt16
  public var pm1bControlPort: UInt16?
  /// SLP_TYP for PM1a and PM1b, each 0...7.
  public var slpTypA: UInt16
  public var slpTypB: UInt16
  /// Where to write `acpiEnableValue` to switch the chipset into ACPI mode;
  /// nil when the FADT says the machine has no SMI command port (it is
  /// always in ACPI mode). QEMU powers off without it.
  public var smiCommandPort: UInt16?
  public var acpiEnableValue: UInt8

  public init(
    pm1aControlPort: UInt16, pm1bControlPort: UInt16?, slpTypA: UInt16, slpTypB: UInt16,
    smiCommandPort: UInt16? = nil, acpiEnableValue: UInt8 = 0
  ) {
    self.pm1aControlPort = pm1aControlPort
    self.pm1bControlPort = pm1bControlPort
    self.slpTypA = slpTypA
    self.slpTypB = slpTypB
    self.smiCommandPort = smiCommandPort
    self.acpiEnableValue = acpiEnableValue
  }

  /// SLP_EN, bit 13 of a PM1 control register.
  public static let sleepEnable: UInt16 = 1 << 13
  /// SLP_TYP occupies bits 10-12.
  private static let sleepTypeMask: UInt16 = 0x7 << 10

  /// The value to write to PM1a control: `current` (what the register reads
  /// now, so its other bits survive) with SLP_TYP and SLP_EN set.
  public func pm1aControlValue(current: UInt16 = 0) -> UInt16 {
    Self.controlValue(slpTyp: slpTypA, current: current)
  }

  public func pm1bControlValue(current: UInt16 = 0) -> UInt16 {
    Self.controlValue(slpTyp: slpTypB, current: current)
  }

  private static func controlValue(slpTyp: UInt16, current: UInt16) -> UInt16 {
    (current & ~(sleepTypeMask | sleepEnable)) | ((slpTyp << 10) & sleepTypeMask) | sleepEnable
  }

  public var description: String {
    var text = "PM1a " + hexNumber(pm1aControlPort) + " <- " + hexNumber(pm1aControlValue())
    if let pm1bControlPort {
      text += ", PM1b " + hexNumber(pm1bControlPort) + " <- " + hexNumber(pm1bControlValue())
    }
    return text
  }

  /// The plan from the loader's RSDP copy (nil when it gave none).
  public static func plan(rsdp: ByteView?, using read: PhysicalMemoryReader) -> Result<
    ACPIPowerOff, ACPIError
  > {
    guard let rsdp else { return .failure(.noRSDP) }
    return RSDP.parse(rsdp).flatMap { plan(rsdp: $0, using: read) }
  }

  public static func plan(rsdp: RSDP, using read: PhysicalMemoryReader) -> Result<
    ACPIPowerOff, ACPIError
  > {
    Result { () throws(ACPIError) in
      let directory = try ACPITableDirectory.load(rsdp: rsdp, using: read).get()
      let fadt = try directory.find(.fadt, using: read).get()
      let dsdt = try ACPITable.read(at: try dsdtAddress(fadt), expecting: .dsdt, using: read).get()
      return try plan(fadt: fadt, dsdt: dsdt)
    }
  }

  /// The plan from an already validated FADT and DSDT.
  public static func plan(fadt: ACPITable, dsdt: ACPITable) -> Result<ACPIPowerOff, ACPIError> {
    Result { () throws(ACPIError) in try plan(fadt: fadt, dsdt: dsdt) }
  }

  private static func plan(fadt: ACPITable, dsdt: ACPITable) throws(ACPIError) -> ACPIPowerOff {
    guard
      let pm1a = try controlPort(
        fadt, legacyOffset: FADT.pm1aControlBlock, extendedOffset: FADT.xPM1aControlBlock)
    else { throw .noPM1aControlPort }
    let pm1b = try controlPort(
      fadt, legacyOffset: FADT.pm1bControlBlock, extendedOffset: FADT.xPM1bControlBlock)
    let (typeA, typeB) = try s5SleepTypes(in: dsdt.view)
    guard typeA <= 7 else { throw .sleepTypeOutOfRange(typeA) }
    guard typeB <= 7 else { throw .sleepTypeOutOfRange(typeB) }
    let smiCommand = fadt.view.u32(FADT.smiCommand) ?? 0
    return ACPIPowerOff(
      pm1aControlPort: pm1a, pm1bControlPort: pm1b,
      slpTypA: UInt16(typeA), slpTypB: UInt16(typeB),
      smiCommandPort: smiCommand == 0 || smiCommand > 0xFFFF ? nil : UInt16(smiCommand),
      acpiEnableValue: fadt.view.u8(FADT.acpiEnable) ?? 0)
  }

  /// FADT field offsets (ACPI 6.5, table 5.9).
  private enum FADT {
    static let dsdt = 40
    static let smiCommand = 48
    static let acpiEnable = 52
    static let pm1aControlBlock = 64
    static let pm1bControlBlock = 68
    static let xDSDT = 140
    static let xPM1aControlBlock = 172
    static let xPM1bControlBlock = 184
    /// Generic Address Structure: space ID byte, then the address at +4.
    static let gasSize = 12
    static let systemIOSpace: UInt8 = 1
  }

  /// X_DSDT when the FADT is long enough to have it and it is set, else DSDT.
  private static func dsdtAddress(_ fadt: ACPITable) throws(ACPIError) -> UInt64 {
    if let extended = fadt.view.u64(FADT.xDSDT), extended != 0 { return extended }
    guard let legacy = fadt.view.u32(FADT.dsdt) else {
      throw .badTableLength(.fadt, address: fadt.address, length: fadt.header.length)
    }
    guard legacy != 0 else { throw .noDSDT }
    return UInt64(legacy)
  }

  /// A PM1 control port: the 32-bit block address, or when that is zero the
  /// extended Generic Address if it lies in I/O space; nil when neither is set.
  private static func controlPort(_ fadt: ACPITable, legacyOffset: Int, extendedOffset: Int)
    throws(ACPIError) -> UInt16?
  {
    guard let legacy = fadt.view.u32(legacyOffset) else {
      throw .badTableLength(.fadt, address: fadt.address, length: fadt.header.length)
    }
    var address = UInt64(legacy)
    if address == 0, fadt.view.contains(offset: extendedOffset, length: FADT.gasSize),
      fadt.view.u8(extendedOffset) == FADT.systemIOSpace,
      let extended = fadt.view.u64(extendedOffset + 4)
    {
      address = extended
    }
    guard address != 0 else { return nil }
    guard address <= 0xFFFF else { throw .controlPortOutOfRange(address) }
    return UInt16(address)
  }

  // AML opcodes used by the \_S5 pattern (ACPI 6.5, chapter 20).
  private enum AML {
    static let nameOp: UInt8 = 0x08
    static let rootPrefix: UInt8 = 0x5C
    static let packageOp: UInt8 = 0x12
    static let zeroOp: UInt8 = 0x00
    static let oneOp: UInt8 = 0x01
    static let onesOp: UInt8 = 0xFF
    static let bytePrefix: UInt8 = 0x0A
    static let wordPrefix: UInt8 = 0x0B
    static let dwordPrefix: UInt8 = 0x0C
    static let qwordPrefix: UInt8 = 0x0E
    static let s5Name: [UInt8] = Array("_S5_".utf8)
  }

  /// SLP_TYPa and SLP_TYPb: the first two elements of the first well-formed
  /// `Name(\_S5_, Package(){...})` in `dsdt` (the whole table, header
  /// included). Matches that are not a NameOp definition are skipped; a
  /// definition whose package cannot be decoded is reported only when no
  /// other definition decodes.
  static func s5SleepTypes(in dsdt: ByteView) throws(ACPIError) -> (UInt64, UInt64) {
    var firstMalformed: ACPIError?
    var index = ACPITableHeader.size
    while index + AML.s5Name.count <= dsdt.count {
      defer { index += 1 }
      guard isS5Definition(dsdt, nameAt: index) else { continue }
      let packageOffset = index + AML.s5Name.count
      if let types = sleepTypePackage(dsdt, at: packageOffset) { return types }
      // A name that ends the table has no package to point at: the error
      // names the name, so its offset stays inside the table.
      if firstMalformed == nil {
        firstMalformed = .malformedS5(offset: packageOffset < dsdt.count ? packageOffset : index)
      }
    }
    throw firstMalformed ?? .noS5
  }

  private static func isS5Definition(_ aml: ByteView, nameAt index: Int) -> Bool {
    for (position, byte) in AML.s5Name.enumerated() where aml.u8(index + position) != byte {
      return false
    }
    // The prefix bytes must be AML too, not the end of the table header.
    let amlStart = ACPITableHeader.size
    let before = index - 1 >= amlStart ? aml.u8(index - 1) : nil
    let twoBefore = index - 2 >= amlStart ? aml.u8(index - 2) : nil
    return before == AML.nameOp || (before == AML.rootPrefix && twoBefore == AML.nameOp)
  }

  /// PackageOp PkgLength NumElements Element0 Element1 ..., decoded within
  /// the bounds the PkgLength gives.
  private static func sleepTypePackage(_ aml: ByteView, at offset: Int) -> (UInt64, UInt64)? {
    guard aml.u8(offset) == AML.packageOp,
      let (length, lengthBytes) = packageLength(aml, at: offset + 1)
    else { return nil }
    // PkgLength counts itself and everything after it up to the package end.
    let end = offset + 1 + length
    let elementCountOffset = offset + 1 + lengthBytes
    guard end <= aml.count, elementCountOffset < end, let elementCount = aml.u8(elementCountOffset),
      elementCount >= 2
    else { return nil }
    guard let (first, next) = integer(aml, at: elementCountOffset + 1, end: end),
      let (second, _) = integer(aml, at: next, end: end)
    else { return nil }
    return (first, second)
  }

  /// PkgLength: one lead byte whose top two bits count the bytes that follow
  /// (0-3). With none, its low six bits are the length; otherwise its low four
  /// bits are the least significant nibble and each following byte adds eight
  /// more bits. Returns the length and how many bytes encoded it.
  private static func packageLength(_ aml: ByteView, at offset: Int) -> (Int, Int)? {
    guard let lead = aml.u8(offset) else { return nil }
    let following = Int(lead >> 6)
    if following == 0 { return (Int(lead & 0x3F), 1) }
    var length = Int(lead & 0x0F)
    for index in 0..<following {
      guard let byte = aml.u8(offset + 1 + index) else { return nil }
      length |= Int(byte) << (4 + 8 * index)
    }
    return (length, 1 + following)
  }

  /// An integer constant ending before `end`: the value and where the next
  /// element starts.
  private static func integer(_ aml: ByteView, at offset: Int, end: Int) -> (UInt64, Int)? {
    guard offset < end, let opcode = aml.u8(offset) else { return nil }
    let value: UInt64?
    let width: Int
    switch opcode {
    case AML.zeroOp: (value, width) = (0, 0)
    case AML.oneOp: (value, width) = (1, 0)
    case AML.onesOp: (value, width) = (UInt64.max, 0)
    case AML.bytePrefix: (value, width) = (aml.u8(offset + 1).map(UInt64.init), 1)
    case AML.wordPrefix: (value, width) = (aml.u16(offset + 1).map(UInt64.init), 2)
    case AML.dwordPrefix: (value, width) = (aml.u32(offset + 1).map(UInt64.init), 4)
    case AML.qwordPrefix: (value, width) = (aml.u64(offset + 1), 8)
    default: return nil
    }
    let next = offset + 1 + width
    guard let value, next <= end else { return nil }
    return (value, next)
  }
}

private func hexNumber(_ value: some BinaryInteger) -> String {
  "0x" + String(value, radix: 16)
}
