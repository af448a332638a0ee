// Fuzz target `elf`: the input is a user program file. Properties:
// - `ELFImage.validate` agrees exactly (load plan or error) with an
//   independent reading of the ELF64 header and program headers against
//   the rules in ELFImage.swift's header comment, checked in the order it
//   gives (header fields, program header table, each header in turn, then
//   overlaps and the entry point);
// - an error quotes only what the file holds: the file size it has, a
//   program header index below e_phnum, the entry it names;
// - a plan's segments cover whole pages inside user space, are pairwise
//   disjoint by page, never writable and executable, have their file bytes
//   inside the file, and the entry lies in the file part of an executable
//   one; validation is deterministic.

/// The user range Tessera's kernel gives programs (as in ELFImageTests).
let fuzzUserSpace: ClosedRange<UInt64> = 0x0000_0080_0000_0000...0x0000_3FFF_FFFF_FFFF

func fuzzELF(_ bytes: [UInt8]) {
  // The low half of user space too, so small addresses in mutated files
  // reach the later checks.
  for space in [fuzzUserSpace, 0x1000...0x0000_7FFF_FFFF_FFFF] {
    let result = bytes.withView { ELFImage.validate($0, userSpace: space) }
    require(
      result == bytes.withView { ELFImage.validate($0, userSpace: space) }, "elf: determinism")
    require(result == elfOracle(bytes, userSpace: space), "elf: validator and oracle disagree")
    switch result {
    case .failure(let error):
      _ = error.description
      if case .truncated(_, let needed, let have) = error {
        require(have == UInt64(bytes.count) && needed > have, "elf: truncation not about the file")
      }
    case .success(let plan):
      _ = plan.description
      checkPlan(plan, fileSize: UInt64(bytes.count), userSpace: space)
    }
  }
}

private func checkPlan(_ plan: ELFLoadPlan, fileSize: UInt64, userSpace: ClosedRange<UInt64>) {
  require(!plan.segments.isEmpty, "elf: a plan without segments")
  for (i, s) in plan.segments.enumerated() {
    require(s.fileSize <= s.memorySize && s.memorySize > 0, "elf: segment sizes")
    require(s.fileSize == 0 || s.fileOffset + s.fileSize <= fileSize, "elf: file bytes outside")
    require(s.firstPage % 4096 == 0 && s.pageCount >= 1, "elf: pages")
    require(
      s.firstPage <= s.virtualAddress && s.virtualAddress - s.firstPage < 4096,
      "elf: first page does not hold the start")
    require(
      s.lastPage <= s.end - 1 && s.end - 1 - s.lastPage < 4096,
      "elf: last page does not hold the end")
    require(
      s.firstPage >= userSpace.lowerBound && s.lastPage + 4095 <= userSpace.upperBound,
      "elf: pages outside user space")
    require(!(s.writable && s.executable), "elf: W^X")
    for t in plan.segments[(i + 1)...] {
      require(s.lastPage < t.firstPage || t.lastPage < s.firstPage, "elf: segments share a page")
    }
  }
  require(
    plan.segments.contains {
      $0.executable && plan.entry >= $0.virtualAddress
        && plan.entry - $0.virtualAddress < $0.fileSize
    }, "elf: entry outside code")
}

/// The load plan worked out from the ELF64 specification and the rules of
/// ELFImage.swift, over plain bytes.
private func elfOracle(_ f: [UInt8], userSpace: ClosedRange<UInt64>) -> Result<
  ELFLoadPlan, ELFError
> {
  let size = UInt64(f.count)
  if f.isEmpty { return .failure(.empty) }
  if !zip(f, [0x7F, 0x45, 0x4C, 0x46] as [UInt8]).allSatisfy({ $0 == $1 }) {
    return .failure(.notELF)
  }
  if f.count < 64 { return .failure(.truncated(.header, needed: 64, have: size)) }
  if f[4] != 2 { return .failure(.wrongClass(f[4])) }
  if f[5] != 1 { return .failure(.wrongByteOrder(f[5])) }
  if f[6] != 1 { return .failure(.wrongVersion(UInt32(f[6]))) }
  if ![0, 3, 255].contains(f[7]) { return .failure(.unsupportedABI(f[7])) }
  let type = f.le16(16)!
  if type == 3 { return .failure(.positionIndependent) }
  if type != 2 { return .failure(.notExecutable(type)) }
  if f.le16(18)! != 62 { return .failure(.wrongMachine(f.le16(18)!)) }
  if f.le32(20)! != 1 { return .failure(.wrongVersion(f.le32(20)!)) }
  if f.le16(52)! != 64 { return .failure(.wrongHeaderSize(f.le16(52)!)) }
  if f.le16(54)! != 56 { return .failure(.wrongProgramHeaderSize(f.le16(54)!)) }
  let count = f.le16(56)!
  if count == 0 { return .failure(.noProgramHeaders) }
  if count > 64 { return .failure(.tooManyProgramHeaders(count)) }
  let entry = f.le64(24)!
  let tableOffset = f.le64(32)!
  let tableSize = UInt64(count) * 56
  if tableOffset > UInt64.max - tableSize {
    return .failure(.rangeOverflows(.programHeaders, offset: tableOffset, size: tableSize))
  }
  if tableOffset + tableSize > size {
    return .failure(.truncated(.programHeaders, needed: tableOffset + tableSize, have: size))
  }
  var segments: [ELFSegment] = []
  for index in 0..<Int(count) {
    let h = Int(tableOffset) + 56 * index
    let pType = f.le32(h)!
    let flags = f.le32(h + 4)!
    let offset = f.le64(h + 8)!
    let vaddr = f.le64(h + 16)!
    let fileSize = f.le64(h + 32)!
    let memSize = f.le64(h + 40)!
    let align = f.le64(h + 48)!
    switch pType {
    case 1:
      if memSize == 0 { return .failure(.emptySegment(index: index)) }
      if fileSize > memSize {
        return .failure(
          .fileSizeExceedsMemorySize(index: index, fileSize: fileSize, memorySize: memSize))
      }
      if fileSize > 0 {
        if offset > UInt64.max - fileSize {
          return .failure(.rangeOverflows(.segment(index), offset: offset, size: fileSize))
        }
        if offset + fileSize > size {
          return .failure(.truncated(.segment(index), needed: offset + fileSize, have: size))
        }
      }
      if align != 0 && align.nonzeroBitCount != 1 {
        return .failure(.badAlignment(index: index, alignment: align))
      }
      if vaddr > UInt64.max - memSize {
        return .failure(
          .segmentAddressOverflows(index: index, virtualAddress: vaddr, memorySize: memSize))
      }
      let end = vaddr + memSize
      let first = vaddr / 4096 * 4096
      let last = (end - 1) / 4096 * 4096
      if first < userSpace.lowerBound || last > userSpace.upperBound - 4095 {
        return .failure(.segmentOutsideUserSpace(index: index, start: vaddr, end: end))
      }
      let writable = flags & 2 != 0
      let executable = flags & 1 != 0
      if writable && executable { return .failure(.writableAndExecutable(index: index)) }
      segments.append(
        ELFSegment(
          index: index, virtualAddress: vaddr, memorySize: memSize, fileOffset: offset,
          fileSize: fileSize, readable: flags & 4 != 0, writable: writable,
          executable: executable, firstPage: first, pageCount: (last - first) / 4096 + 1))
    case 3: return .failure(.needsInterpreter(index: index))
    case 2: return .failure(.dynamicallyLinked(index: index))
    case 0x6474_E551 where flags & 1 != 0: return .failure(.executableStack(index: index))
    default: break
    }
  }
  if segments.isEmpty { return .failure(.noLoadableSegments) }
  for i in segments.indices {
    for j in segments.indices where j > i {
      let a = segments[i]
      let b = segments[j]
      let aLast = a.firstPage + (a.pageCount - 1) * 4096
      let bLast = b.firstPage + (b.pageCount - 1) * 4096
      if !(aLast < b.firstPage || bLast < a.firstPage) {
        return .failure(.segmentsOverlap(a.index, b.index))
      }
    }
  }
  let inCode = segments.contains {
    $0.executable && entry >= $0.virtualAddress && entry - $0.virtualAddress < $0.fileSize
  }
  return inCode
    ? .success(ELFLoadPlan(entry: entry, segments: segments)) : .failure(.entryNotInCode(entry))
}
