// Fuzz target `poweroff`: the ACPI power-off path, FADT and DSDT. The input
// is a 2-byte little-endian FADT size n, n bytes of FADT, then the DSDT;
// both are repaired into valid tables. Properties:
// - `ACPIPowerOff.plan(fadt:dsdt:)` agrees exactly (plan or error) with an
//   independent reading: PM1 ports from the legacy block or an I/O-space
//   extended address, SLP_TYPa/b from the first well-formed
//   `Name(\_S5_, Package(){...})` found by scanning the AML;
// - a malformed \_S5 is reported at an offset inside the DSDT's AML (the
//   package's, or the name's when the table ends right after it);
// - a plan has SLP_TYP values 0...7 and control values that set exactly
//   SLP_TYP and SLP_EN and keep every other bit of the register;
// - the whole chain from an RSDP (XSDT, FADT, then the DSDT the FADT names)
//   gives the same answer as the two tables directly;
// - planning is deterministic.

func fuzzACPIPowerOff(_ bytes: [UInt8]) {
  var input = FuzzInput(bytes)
  let split = min(Int(input.u16()), max(0, bytes.count - 2))
  let fadt = FuzzACPI.repaired(Array(bytes.dropFirst(2).prefix(split)), signature: .fadt)
  let dsdt = FuzzACPI.repaired(Array(bytes.dropFirst(2 + split)), signature: .dsdt)
  let fadtAddress: UInt64 = 0xFFFF_FF00_0001_0000
  let memory = FuzzPhysicalMemory([(fadtAddress, fadt), (FuzzACPI.tableAddress, dsdt)])
  withExtendedLifetime(memory) {
    let read = memory.reader
    guard
      case .success(let fadtTable) = ACPITable.read(at: fadtAddress, expecting: .fadt, using: read),
      case .success(let dsdtTable) = ACPITable.read(
        at: FuzzACPI.tableAddress, expecting: .dsdt, using: read)
    else { fatalError("fuzz property violated: poweroff: repaired tables did not validate") }
    let plan = ACPIPowerOff.plan(fadt: fadtTable, dsdt: dsdtTable)
    require(
      plan == ACPIPowerOff.plan(fadt: fadtTable, dsdt: dsdtTable), "poweroff: not deterministic")
    require(
      plan == powerOffOracle(fadt: fadt, dsdt: dsdt, fadtAddress: fadtAddress),
      "poweroff: planner and independent reading disagree")
    switch plan {
    case .failure(let error):
      if case .malformedS5(let offset) = error {
        require(offset >= ACPITableHeader.size && offset < dsdt.count, "poweroff: S5 offset")
      }
      _ = error.description
    case .success(let plan):
      require(plan.slpTypA <= 7 && plan.slpTypB <= 7, "poweroff: SLP_TYP out of range")
      for current in [UInt16(0), 0xFFFF, UInt16(truncatingIfNeeded: bytes.count &* 40503)] {
        let value = plan.pm1aControlValue(current: current)
        let mask: UInt16 = 0x3C00
        require(
          value & ~mask == current & ~mask && value & mask == plan.slpTypA << 10 | 0x2000,
          "poweroff: PM1a control value")
        let valueB = plan.pm1bControlValue(current: current)
        require(valueB & mask == plan.slpTypB << 10 | 0x2000, "poweroff: PM1b control value")
      }
      _ = plan.description
    }
    checkChain(fadt: fadt, dsdt: dsdt, direct: plan)
  }
}

/// RSDP (revision 2) -> XSDT -> FADT -> DSDT at the address the FADT
/// names, all in fake memory: the chain must end where the direct plan
/// does, or fail finding the DSDT address as the FADT's fields say.
private func checkChain(
  fadt: [UInt8], dsdt: [UInt8], direct: Result<ACPIPowerOff, ACPIError>
) {
  let high: UInt64 = 0xFFFF_FF00_0000_0000
  let xsdtAddress = high
  let fadtAddress = high + 0x1_0000
  let legacy = fadt.le32(40)
  let extended = fadt.le64(140)
  let dsdtAddress: UInt64? =
    if let extended, extended != 0 { extended } else { legacy.map(UInt64.init) }
  // A DSDT address inside the other tables' images would read those.
  if let dsdtAddress, dsdtAddress >= high { return }
  var rsdp = Array("RSD PTR ".utf8) + [0] + Array("TESSRA".utf8) + [2] + FuzzACPI.le(0, 4)
  rsdp += FuzzACPI.le(36, 4) + FuzzACPI.le(xsdtAddress, 8) + [0, 0, 0, 0]
  rsdp[8] = 0 &- rsdp[0..<20].reduce(0, &+)
  rsdp[32] = 0 &- rsdp.reduce(0, &+)
  let xsdt = FuzzACPI.table(.xsdt, body: FuzzACPI.le(fadtAddress, 8))
  var images = [(xsdtAddress, xsdt), (fadtAddress, fadt)]
  if let dsdtAddress { images.append((dsdtAddress, dsdt)) }
  let memory = FuzzPhysicalMemory(images)
  let chained = withExtendedLifetime(memory) {
    rsdp.withView { ACPIPowerOff.plan(rsdp: $0, using: memory.reader) }
  }
  switch dsdtAddress {
  case nil:
    require(
      chained == .failure(.badTableLength(.fadt, address: fadtAddress, length: UInt32(fadt.count))),
      "poweroff: a FADT without a DSDT field was not refused for its length")
  case 0:
    require(chained == .failure(.noDSDT), "poweroff: a zero DSDT address was not refused")
  default:
    require(chained == direct, "poweroff: the chain from the RSDP differs from the direct plan")
  }
}

/// The plan worked out from ACPI 6.5 (FADT table 5.9, AML chapter 20).
private func powerOffOracle(fadt: [UInt8], dsdt: [UInt8], fadtAddress: UInt64) -> Result<
  ACPIPowerOff, ACPIError
> {
  let tooShort = ACPIError.badTableLength(.fadt, address: fadtAddress, length: UInt32(fadt.count))
  func port(_ legacyAt: Int, _ extendedAt: Int) -> Result<UInt16?, ACPIError> {
    guard let legacy = fadt.le32(legacyAt) else { return .failure(tooShort) }
    var address = UInt64(legacy)
    if address == 0, fadt.count >= extendedAt + 12, fadt[extendedAt] == 1 {
      address = fadt.le64(extendedAt + 4)!
    }
    if address == 0 { return .success(nil) }
    return address <= 0xFFFF ? .success(UInt16(address)) : .failure(.controlPortOutOfRange(address))
  }
  let pm1a: UInt16
  switch port(64, 172) {
  case .failure(let error): return .failure(error)
  case .success(nil): return .failure(.noPM1aControlPort)
  case .success(let value?): pm1a = value
  }
  let pm1b: UInt16?
  switch port(68, 184) {
  case .failure(let error): return .failure(error)
  case .success(let value): pm1b = value
  }
  let types: (UInt64, UInt64)
  switch s5Oracle(dsdt) {
  case .failure(let error): return .failure(error)
  case .success(let found): types = found
  }
  if types.0 > 7 { return .failure(.sleepTypeOutOfRange(types.0)) }
  if types.1 > 7 { return .failure(.sleepTypeOutOfRange(types.1)) }
  let smi = fadt.le32(48) ?? 0
  return .success(
    ACPIPowerOff(
      pm1aControlPort: pm1a, pm1bControlPort: pm1b, slpTypA: UInt16(types.0),
      slpTypB: UInt16(types.1), smiCommandPort: smi == 0 || smi > 0xFFFF ? nil : UInt16(smi),
      acpiEnableValue: fadt.le8(52) ?? 0))
}

/// Every `_S5_` in the AML preceded by NameOp (or NameOp and the root
/// prefix, both inside the AML): the first whose package decodes wins;
/// otherwise the first that did not decode is the error.
private func s5Oracle(_ aml: [UInt8]) -> Result<(UInt64, UInt64), ACPIError> {
  let name = Array("_S5_".utf8)
  var malformed: Int?
  var at = 36
  while at + 4 <= aml.count {
    defer { at += 1 }
    guard Array(aml[at..<(at + 4)]) == name else { continue }
    let nameOp = at - 1 >= 36 && aml[at - 1] == 0x08
    let rooted = at - 2 >= 36 && aml[at - 1] == 0x5C && aml[at - 2] == 0x08
    guard nameOp || rooted else { continue }
    if let types = package(aml, at + 4) { return .success(types) }
    if malformed == nil { malformed = at + 4 < aml.count ? at + 4 : at }
  }
  return .failure(malformed.map { .malformedS5(offset: $0) } ?? .noS5)
}

/// PackageOp, PkgLength, NumElements (at least 2), then two integer
/// constants inside the package.
private func package(_ aml: [UInt8], _ at: Int) -> (UInt64, UInt64)? {
  guard at + 1 < aml.count, aml[at] == 0x12 else { return nil }
  let lead = aml[at + 1]
  let extra = Int(lead >> 6)
  guard at + 1 + extra < aml.count else { return nil }
  var length = extra == 0 ? Int(lead & 0x3F) : Int(lead & 0x0F)
  for k in 0..<extra { length += Int(aml[at + 2 + k]) << (4 + 8 * k) }
  let end = at + 1 + length
  let counted = at + 2 + extra
  guard end <= aml.count, counted < end, aml[counted] >= 2 else { return nil }
  func constant(_ o: Int) -> (UInt64, Int)? {
    guard o < end else { return nil }
    let width: Int
    switch aml[o] {
    case 0x00: return (0, o + 1)
    case 0x01: return (1, o + 1)
    case 0xFF: return (UInt64.max, o + 1)
    case 0x0A: width = 1
    case 0x0B: width = 2
    case 0x0C: width = 4
    case 0x0E: width = 8
    default: return nil
    }
    guard o + 1 + width <= end, let value = aml.le(o + 1, width) else { return nil }
    return (value, o + 1 + width)
  }
  guard let (first, next) = constant(counted + 1), let (second, _) = constant(next) else {
    return nil
  }
  return (first, second)
}
