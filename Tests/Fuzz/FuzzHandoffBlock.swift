// Fuzz target `handoff`: the input is a hand-off block as the LWK finds it
// in shared memory. It is decoded as given (which mostly exercises the
// header checks and the checksum) and once more with the checksum field
// recomputed over the stated length, so the rules behind the checksum get
// fuzzed too. Properties:
// - an error names an offset inside the buffer and quotes the field there
//   (magic, version, length, checksum against an independent FNV-1a, CPU
//   index, APIC ID with the earlier CPU holding it, partition, map type...);
// - a decoded block satisfies the layout's rules (CPU indices in order,
//   distinct APIC IDs, map sorted, disjoint, page aligned, the LWK image in
//   a reserved entry, the shared region outside the map, the kernel image
//   outside usable memory) and encodes back to exactly the bytes it came
//   from (every byte is a field);
// - decoding is deterministic.

func fuzzHandoffBlock(_ bytes: [UInt8]) {
  checkHandoff(bytes)
  guard let length = bytes.le32(12), Int(length) <= bytes.count, length >= 24 else { return }
  var sealed = bytes
  sealed.put(fnv1a(bytes, length: Int(length)), at: 16, width: 8)
  checkHandoff(sealed)
}

/// FNV-1a 64 over the first `length` bytes with bytes 16...23 as zero.
private func fnv1a(_ bytes: [UInt8], length: Int) -> UInt64 {
  var hash: UInt64 = 0xCBF2_9CE4_8422_2325
  for (offset, byte) in bytes.prefix(length).enumerated() {
    hash = (hash ^ UInt64((16..<24).contains(offset) ? 0 : byte)) &* 0x100_0000_01B3
  }
  return hash
}

private func checkHandoff(_ bytes: [UInt8]) {
  let result = bytes.withView { HandoffBlock.decode($0) }
  require(result == bytes.withView { HandoffBlock.decode($0) }, "handoff: not deterministic")
  switch result {
  case .failure(let error):
    checkError(error, bytes)
    _ = error.description
  case .success(let block):
    checkBlock(block)
    var encoded = [UInt8](repeating: 0, count: block.encodedByteCount)
    let written = encoded.withUnsafeMutableBytes { block.encode(into: $0) }
    require(written == encoded.count, "handoff: a decoded block does not encode")
    require(encoded == Array(bytes.prefix(encoded.count)), "handoff: round trip changed bytes")
  }
}

private func checkError(_ error: HandoffBlockError, _ b: [UInt8]) {
  let offset = error.offset
  if case .truncated = error {
    require(offset == b.count && b.count < HandoffBlock.headerBytes, "handoff: truncation")
    return
  }
  require(offset >= 0 && offset < b.count, "handoff: error offset outside the buffer")
  let u32 = b.le32(offset)
  let u64 = b.le64(offset)
  let claim: Bool
  switch error {
  case .truncated: claim = true
  case .badMagic(_, let found): claim = u64 == found && found != HandoffBlock.magic
  case .unsupportedVersion(_, let found): claim = u32 == found && found != HandoffBlock.version
  case .lengthBelowHeader(_, let length): claim = u32 == length && length < 112
  case .lengthBeyondBuffer(_, let length, let available):
    claim = u32 == length && available == b.count && Int(length) > available
  case .checksumMismatch(_, let stored, let computed):
    claim = u64 == stored && computed == fnv1a(b, length: Int(b.le32(12)!)) && stored != computed
  case .noCPUs: claim = u32 == 0
  case .tooManyCPUs(_, let count): claim = u32 == count && count > 256
  case .tooManyMapEntries(_, let count): claim = u32 == count && count > 128
  case .lengthMismatch(_, let length, let expected):
    claim =
      u32 == length && Int(length) != expected
      && expected == 112 + 16 * Int(b.le32(56)!) + 24 * Int(b.le32(60)!)
  case .zeroClockRate: claim = u64 == 0
  case .misalignedLocalAPICBase(_, let address): claim = u64 == address && address % 4096 != 0
  case .emptyRange(_, _): claim = b.le64(offset + 8) == 0
  case .overflowingRange(_, _), .overflowingMapEntry:
    claim = u64!.addingReportingOverflow(b.le64(offset + 8)!).overflow
  case .misalignedRange(_, _), .misalignedMapEntry:
    claim = u64! % 4096 != 0 || b.le64(offset + 8)! % 4096 != 0
  case .cpuIndexMismatch(_, let index, let expected):
    claim = u32 == index && index != expected && offset == 112 + 16 * Int(expected)
  case .duplicateAPICID(_, let apicID, let firstIndex):
    claim =
      u32 == apicID && b.le32(112 + 16 * Int(firstIndex) + 4) == apicID
      && 112 + 16 * Int(firstIndex) + 4 < offset
  case .unknownPartition(_, let value): claim = u32 == value && value > 1
  case .emptyMapEntry: claim = b.le64(offset + 8) == 0
  case .unknownMapType(_, let type): claim = u32 == type && !(1...3).contains(type)
  case .unsortedMap: claim = u64! < b.le64(offset - 24)!
  case .overlappingMap: claim = u64! < b.le64(offset - 24)! &+ b.le64(offset - 16)!
  case .lwkImageNotReserved: claim = offset == 64
  case .sharedRegionOverlapsLWKMap(_, let entry), .kernelImageInUsableLWKMemory(_, let entry):
    claim = entry >= 112 && entry + 24 <= b.count && (offset == 80 || offset == 96)
  }
  require(claim, "handoff: the error misquotes the bytes at its offset")
}

private func checkBlock(_ block: HandoffBlock) {
  require(!block.cpus.isEmpty && block.cpus.count <= 256, "handoff: CPU count")
  for (position, cpu) in block.cpus.enumerated() {
    require(cpu.index == UInt32(position), "handoff: CPU index")
    require(
      !block.cpus[..<position].contains { $0.apicID == cpu.apicID }, "handoff: duplicate APIC ID")
  }
  require(block.lwkMap.count <= 128, "handoff: map size")
  for (position, entry) in block.lwkMap.enumerated() {
    require(entry.length > 0 && entry.base % 4096 == 0 && entry.length % 4096 == 0, "handoff: map")
    require(!entry.base.addingReportingOverflow(entry.length).overflow, "handoff: map wraps")
    require((1...3).contains(entry.type), "handoff: map type")
    if position > 0 {
      let previous = block.lwkMap[position - 1]
      require(entry.base >= previous.base + previous.length, "handoff: map order")
    }
  }
  require(block.tscKHz != 0 && block.apicTicksPerMillisecond != 0, "handoff: clock")
  require(block.localAPICBase % 4096 == 0, "handoff: APIC base")
  let reserved = block.lwkMap.filter { $0.type == HandoffBlock.MapEntry.reserved }
  require(
    reserved.contains {
      $0.base <= block.lwkImage.base && block.lwkImage.end <= $0.base + $0.length
    },
    "handoff: LWK image outside reserved memory")
  for entry in block.lwkMap {
    let end = entry.base + entry.length
    require(
      end <= block.sharedRegion.base || block.sharedRegion.end <= entry.base,
      "handoff: shared region in the map")
    if entry.type == HandoffBlock.MapEntry.usable {
      require(
        end <= block.kernelImage.base || block.kernelImage.end <= entry.base,
        "handoff: kernel image in usable memory")
    }
  }
  _ = block.lwkCPUs
  _ = block.usableLWKRanges
  _ = block.ringRegions
}
