// The hand-off block: the per-machine facts the booting (service) kernel
// instance writes once into shared memory for the LWK kernel instance to
// read (DESIGN.md, "Kernel instances"). It is the only state the two
// instances share besides the rings, so it is raw bytes, never a Swift
// object, and the LWK treats it as untrusted input: a service kernel with a
// bug (or a stray write before the LWK boots) must give a refused block and
// a boot-log line, not an LWK that maps the wrong memory. `decode` checks
// every field and never traps, whatever the bytes.
//
// Layout, version 2 (version 1 had no ring entries). All fields
// little-endian, no padding, offsets in bytes:
//
//   header (112 bytes)
//     0  u64  magic, the ASCII bytes "TESSERAH"
//     8  u32  version (2)
//    12  u32  length: the whole block, 112 + 16 * CPUs + 24 * map entries
//    16  u64  checksum: FNV-1a 64 over bytes [0, length) with this field
//             read as zero
//    24  u64  TSC frequency in kHz
//    32  u64  local APIC timer ticks per millisecond
//    40  u64  local APIC physical base (page aligned)
//    48  u64  flags (version 2 defines none; kept as written)
//    56  u32  number of CPU records (1 ... 256)
//    60  u32  number of LWK map entries (0 ... 128)
//    64  u64  LWK image base      72  u64  LWK image length
//    80  u64  shared region base  88  u64  shared region length
//    96  u64  kernel image base  104  u64  kernel image length
//   CPU records from 112, 16 bytes each, every CPU of the machine
//     0  u32  index (equal to the record's position)
//     4  u32  APIC ID (distinct)
//     8  u32  NUMA node
//    12  u32  partition: 0 service, 1 LWK
//   LWK map entries after the CPU records, 24 bytes each, sorted by base,
//   disjoint, page aligned
//     0  u64  base
//     8  u64  length (not zero)
//    16  u32  type: 1 usable, 2 reserved, 3 rings (a NUMA node's DTU ring
//             region: the LWK maps it and never allocates from it)
//    20  u32  NUMA node
//
// Every byte is a field, so a block that decodes encodes back to the same
// bytes. The checksum turns any single-byte corruption into a refusal: each
// FNV-1a step is a bijection of the running hash for a fixed input byte, so
// two inputs that differ in one byte always hash differently.
//
// Range fields are base and length, not PhysicalRange's clipped end, so a
// range that would wrap past 2^64 is seen and refused rather than clipped.

public struct HandoffBlock: Equatable, Sendable {
  public enum Partition: UInt32, Sendable {
    case service = 0
    case lwk = 1
  }

  public struct CPU: Equatable, Sendable {
    public var index: UInt32
    public var apicID: UInt32
    public var node: UInt32
    public var partition: Partition

    public init(index: UInt32, apicID: UInt32, node: UInt32, partition: Partition) {
      self.index = index
      self.apicID = apicID
      self.node = node
      self.partition = partition
    }
  }

  /// An E820-style entry of the LWK partition's own map (mOS's second map):
  /// type 1 usable, 2 reserved, 3 a node's DTU ring region (shared by both
  /// instances, so it may lie in service memory).
  public struct MapEntry: Equatable, Sendable {
    public static let usable: UInt32 = 1
    public static let reserved: UInt32 = 2
    public static let rings: UInt32 = 3

    public var base: UInt64
    public var length: UInt64
    public var type: UInt32
    public var node: UInt32

    public init(base: UInt64, length: UInt64, type: UInt32, node: UInt32) {
      self.base = base
      self.length = length
      self.type = type
      self.node = node
    }

    /// Clipped at 2^64-1 (see PhysicalRange); decoded entries never wrap.
    public var range: PhysicalRange { PhysicalRange(base: base, length: length) }
  }

  /// The three physical ranges of the header, for error reports.
  public enum Field: Equatable, Sendable {
    case lwkImage
    case sharedRegion
    case kernelImage

    public var name: String {
      switch self {
      case .lwkImage: "LWK image"
      case .sharedRegion: "shared region"
      case .kernelImage: "kernel image"
      }
    }

    /// Where the field's base sits in the header; its length follows.
    public var offset: Int {
      switch self {
      case .lwkImage: 64
      case .sharedRegion: 80
      case .kernelImage: 96
      }
    }
  }

  public var tscKHz: UInt64
  public var apicTicksPerMillisecond: UInt64
  public var localAPICBase: UInt64
  /// Every CPU of the machine, by index.
  public var cpus: [CPU]
  /// The LWK partition's E820-style map.
  public var lwkMap: [MapEntry]
  /// Where the loader put the LWK instance's private kernel data; lies
  /// inside a reserved entry of `lwkMap`, so the LWK's allocator never
  /// hands it out.
  public var lwkImage: PhysicalRange
  /// The shared region (rings); outside every `lwkMap` entry, because it
  /// belongs to neither partition.
  public var sharedRegion: PhysicalRange
  /// The kernel's text and read-only data, mapped read-only by both
  /// instances; never usable LWK memory.
  public var kernelImage: PhysicalRange
  public var flags: UInt64

  public init(
    tscKHz: UInt64, apicTicksPerMillisecond: UInt64, localAPICBase: UInt64, cpus: [CPU],
    lwkMap: [MapEntry], lwkImage: PhysicalRange, sharedRegion: PhysicalRange,
    kernelImage: PhysicalRange, flags: UInt64 = 0
  ) {
    self.tscKHz = tscKHz
    self.apicTicksPerMillisecond = apicTicksPerMillisecond
    self.localAPICBase = localAPICBase
    self.cpus = cpus
    self.lwkMap = lwkMap
    self.lwkImage = lwkImage
    self.sharedRegion = sharedRegion
    self.kernelImage = kernelImage
    self.flags = flags
  }

  // MARK: layout

  /// "TESSERAH" read as a little-endian u64.
  public static let magic: UInt64 = 0x4841_5245_5353_4554
  public static let version: UInt32 = 2
  public static let headerBytes = 112
  public static let cpuRecordBytes = 16
  public static let mapEntryBytes = 24
  /// 256 CPUs: the xAPIC ceiling (255 APIC IDs) with room to spare.
  public static let maximumCPUs = 256
  public static let maximumMapEntries = 128
  /// The largest block: what the shared memory must set aside for it.
  public static let maximumBytes =
    headerBytes + maximumCPUs * cpuRecordBytes + maximumMapEntries * mapEntryBytes

  static let checksumOffset = 16
  static let cpuCountOffset = 56
  static let mapCountOffset = 60

  /// The bytes `encode` writes.
  public var encodedByteCount: Int {
    HandoffBlock.headerBytes + cpus.count * HandoffBlock.cpuRecordBytes
      + lwkMap.count * HandoffBlock.mapEntryBytes
  }

  // MARK: what the LWK needs

  /// The CPUs the LWK instance runs, in index order.
  public var lwkCPUs: [CPU] { cpus.filter { $0.partition == .lwk } }

  /// The memory the LWK's allocator may hand out: the usable entries, in
  /// address order.
  public var usableLWKRanges: [PhysicalRange] {
    lwkMap.filter { $0.type == MapEntry.usable }.map { $0.range }
  }

  /// The DTU ring regions of the NUMA nodes, in address order.
  public var ringRegions: [MapEntry] { lwkMap.filter { $0.type == MapEntry.rings } }

  // MARK: encoding

  /// Writes the block at the start of `buffer`; returns the bytes written,
  /// or nil (nothing written) when the buffer is too small or the block
  /// has more records than the layout allows. The other rules are not
  /// checked here: a service kernel that wants to know decodes what it
  /// wrote, with the same code the LWK runs.
  public func encode(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
    guard cpus.count <= HandoffBlock.maximumCPUs, lwkMap.count <= HandoffBlock.maximumMapEntries
    else { return nil }
    let length = encodedByteCount
    guard buffer.count >= length else { return nil }
    func put64(_ value: UInt64, _ offset: Int) {
      buffer.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self)
    }
    func put32(_ value: UInt32, _ offset: Int) {
      buffer.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
    }
    put64(HandoffBlock.magic, 0)
    put32(HandoffBlock.version, 8)
    put32(UInt32(length), 12)
    put64(0, HandoffBlock.checksumOffset)
    put64(tscKHz, 24)
    put64(apicTicksPerMillisecond, 32)
    put64(localAPICBase, 40)
    put64(flags, 48)
    put32(UInt32(cpus.count), HandoffBlock.cpuCountOffset)
    put32(UInt32(lwkMap.count), HandoffBlock.mapCountOffset)
    for (field, range) in [
      (Field.lwkImage, lwkImage), (.sharedRegion, sharedRegion), (.kernelImage, kernelImage),
    ] {
      put64(range.base, field.offset)
      put64(range.length, field.offset + 8)
    }
    var offset = HandoffBlock.headerBytes
    for cpu in cpus {
      put32(cpu.index, offset)
      put32(cpu.apicID, offset + 4)
      put32(cpu.node, offset + 8)
      put32(cpu.partition.rawValue, offset + 12)
      offset += HandoffBlock.cpuRecordBytes
    }
    for entry in lwkMap {
      put64(entry.base, offset)
      put64(entry.length, offset + 8)
      put32(entry.type, offset + 16)
      put32(entry.node, offset + 20)
      offset += HandoffBlock.mapEntryBytes
    }
    let view = ByteView(UnsafeRawBufferPointer(buffer))
    put64(HandoffBlock.checksum(view, length: length), HandoffBlock.checksumOffset)
    return length
  }

  /// FNV-1a 64 over the first `length` bytes of `view`, the checksum field
  /// read as zero. Chosen over a CRC for being a few lines with no table;
  /// it guards against corruption, not against a malicious writer (the
  /// service kernel is trusted, its bugs are not).
  static func checksum(_ view: ByteView, length: Int) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    let skipped = checksumOffset..<(checksumOffset + 8)
    for offset in 0..<max(0, min(length, view.count)) {
      let byte = skipped.contains(offset) ? 0 : (view.u8(offset) ?? 0)
      hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }
    return hash
  }

  // MARK: decoding

  /// Reads and checks a block from the start of `bytes` (which may be
  /// longer than the block). The first rule broken ends the decode, in
  /// this order: header (magic, version, length, checksum, counts, clock,
  /// APIC base, ranges), CPU records, map entries, then how the ranges sit
  /// against the map.
  public static func decode(_ bytes: ByteView) -> Result<HandoffBlock, HandoffBlockError> {
    guard bytes.count >= headerBytes else { return .failure(.truncated(offset: bytes.count)) }
    // Past the guard every header read succeeds; `?? 0` only keeps the
    // code free of force-unwraps.
    let foundMagic = bytes.u64(0) ?? 0
    guard foundMagic == magic else { return .failure(.badMagic(offset: 0, found: foundMagic)) }
    let foundVersion = bytes.u32(8) ?? 0
    guard foundVersion == version else {
      return .failure(.unsupportedVersion(offset: 8, found: foundVersion))
    }
    let statedLength = bytes.u32(12) ?? 0
    guard Int(statedLength) >= headerBytes else {
      return .failure(.lengthBelowHeader(offset: 12, length: statedLength))
    }
    guard Int(statedLength) <= bytes.count else {
      return .failure(.lengthBeyondBuffer(offset: 12, length: statedLength, available: bytes.count))
    }
    let length = Int(statedLength)
    let stored = bytes.u64(checksumOffset) ?? 0
    let computed = checksum(bytes, length: length)
    guard stored == computed else {
      return .failure(.checksumMismatch(offset: checksumOffset, stored: stored, computed: computed))
    }
    let cpuCount = bytes.u32(cpuCountOffset) ?? 0
    guard cpuCount != 0 else { return .failure(.noCPUs(offset: cpuCountOffset)) }
    guard cpuCount <= maximumCPUs else {
      return .failure(.tooManyCPUs(offset: cpuCountOffset, count: cpuCount))
    }
    let mapCount = bytes.u32(mapCountOffset) ?? 0
    guard mapCount <= maximumMapEntries else {
      return .failure(.tooManyMapEntries(offset: mapCountOffset, count: mapCount))
    }
    // Both counts are small now, so this cannot overflow.
    let expected = headerBytes + Int(cpuCount) * cpuRecordBytes + Int(mapCount) * mapEntryBytes
    guard length == expected else {
      return .failure(.lengthMismatch(offset: 12, length: statedLength, expected: expected))
    }

    let tscKHz = bytes.u64(24) ?? 0
    guard tscKHz != 0 else { return .failure(.zeroClockRate(offset: 24)) }
    let apicTicks = bytes.u64(32) ?? 0
    guard apicTicks != 0 else { return .failure(.zeroClockRate(offset: 32)) }
    let apicBase = bytes.u64(40) ?? 0
    guard isPageAligned(apicBase) else {
      return .failure(.misalignedLocalAPICBase(offset: 40, address: apicBase))
    }
    var ranges: [PhysicalRange] = []
    for field in [Field.lwkImage, .sharedRegion, .kernelImage] {
      switch range(bytes, field) {
      case .success(let range): ranges.append(range)
      case .failure(let error): return .failure(error)
      }
    }

    var cpus: [CPU] = []
    cpus.reserveCapacity(Int(cpuCount))
    for position in 0..<Int(cpuCount) {
      let offset = headerBytes + position * cpuRecordBytes
      let index = bytes.u32(offset) ?? 0
      guard index == UInt32(position) else {
        return .failure(.cpuIndexMismatch(offset: offset, index: index, expected: UInt32(position)))
      }
      let apicID = bytes.u32(offset + 4) ?? 0
      // At most 256 records: a quadratic scan is cheaper than a hash set,
      // which the kernel would have to seed.
      if let earlier = cpus.first(where: { $0.apicID == apicID }) {
        return .failure(
          .duplicateAPICID(offset: offset + 4, apicID: apicID, firstIndex: earlier.index))
      }
      let rawPartition = bytes.u32(offset + 12) ?? 0
      guard let partition = Partition(rawValue: rawPartition) else {
        return .failure(.unknownPartition(offset: offset + 12, value: rawPartition))
      }
      cpus.append(
        CPU(index: index, apicID: apicID, node: bytes.u32(offset + 8) ?? 0, partition: partition))
    }

    var map: [MapEntry] = []
    map.reserveCapacity(Int(mapCount))
    let mapStart = headerBytes + Int(cpuCount) * cpuRecordBytes
    for position in 0..<Int(mapCount) {
      let offset = mapStart + position * mapEntryBytes
      let entry = MapEntry(
        base: bytes.u64(offset) ?? 0, length: bytes.u64(offset + 8) ?? 0,
        type: bytes.u32(offset + 16) ?? 0, node: bytes.u32(offset + 20) ?? 0)
      guard entry.length != 0 else { return .failure(.emptyMapEntry(offset: offset)) }
      guard !entry.base.addingReportingOverflow(entry.length).overflow else {
        return .failure(.overflowingMapEntry(offset: offset))
      }
      guard isPageAligned(entry.base), isPageAligned(entry.length) else {
        return .failure(.misalignedMapEntry(offset: offset))
      }
      guard (MapEntry.usable...MapEntry.rings).contains(entry.type) else {
        return .failure(.unknownMapType(offset: offset + 16, type: entry.type))
      }
      if let previous = map.last {
        guard entry.base >= previous.base else { return .failure(.unsortedMap(offset: offset)) }
        guard entry.base >= previous.base + previous.length else {
          return .failure(.overlappingMap(offset: offset))
        }
      }
      map.append(entry)
    }

    let block = HandoffBlock(
      tscKHz: tscKHz, apicTicksPerMillisecond: apicTicks, localAPICBase: apicBase, cpus: cpus,
      lwkMap: map, lwkImage: ranges[0], sharedRegion: ranges[1], kernelImage: ranges[2],
      flags: bytes.u64(48) ?? 0)
    if let error = block.placementError(mapStart: mapStart) { return .failure(error) }
    return .success(block)
  }

  /// One of the header's ranges: not empty, not wrapping, page aligned.
  private static func range(_ bytes: ByteView, _ field: Field) -> Result<
    PhysicalRange, HandoffBlockError
  > {
    let base = bytes.u64(field.offset) ?? 0
    let length = bytes.u64(field.offset + 8) ?? 0
    guard length != 0 else { return .failure(.emptyRange(field, offset: field.offset)) }
    guard !base.addingReportingOverflow(length).overflow else {
      return .failure(.overflowingRange(field, offset: field.offset))
    }
    guard isPageAligned(base), isPageAligned(length) else {
      return .failure(.misalignedRange(field, offset: field.offset))
    }
    return .success(PhysicalRange(base: base, length: length))
  }

  /// How the header's ranges sit against a checked map.
  private func placementError(mapStart: Int) -> HandoffBlockError? {
    func entryOffset(_ position: Int) -> Int { mapStart + position * HandoffBlock.mapEntryBytes }
    guard lwkMap.contains(where: { $0.type == MapEntry.reserved && $0.range.contains(lwkImage) })
    else { return .lwkImageNotReserved(offset: Field.lwkImage.offset) }
    for (position, entry) in lwkMap.enumerated() {
      if entry.range.overlaps(sharedRegion) {
        return .sharedRegionOverlapsLWKMap(
          offset: Field.sharedRegion.offset, entryOffset: entryOffset(position))
      }
      if entry.type == MapEntry.usable && entry.range.overlaps(kernelImage) {
        return .kernelImageInUsableLWKMemory(
          offset: Field.kernelImage.offset, entryOffset: entryOffset(position))
      }
    }
    return nil
  }

  private static func isPageAligned(_ value: UInt64) -> Bool {
    value & (PhysicalRange.pageSize - 1) == 0
  }
}

/// Why the LWK refused a hand-off block. Every case names the byte offset
/// (from the start of the block) of the field that broke a rule, so a boot
/// log line points at the bytes to look at.
public enum HandoffBlockError: Error, Equatable, Sendable {
  /// The buffer ends (at `offset`) before the header does.
  case truncated(offset: Int)
  case badMagic(offset: Int, found: UInt64)
  case unsupportedVersion(offset: Int, found: UInt32)
  case lengthBelowHeader(offset: Int, length: UInt32)
  case lengthBeyondBuffer(offset: Int, length: UInt32, available: Int)
  case checksumMismatch(offset: Int, stored: UInt64, computed: UInt64)
  case noCPUs(offset: Int)
  case tooManyCPUs(offset: Int, count: UInt32)
  case tooManyMapEntries(offset: Int, count: UInt32)
  /// The stated length is not what the counts make it.
  case lengthMismatch(offset: Int, length: UInt32, expected: Int)
  /// A zero TSC or APIC timer rate: the LWK would divide by it.
  case zeroClockRate(offset: Int)
  case misalignedLocalAPICBase(offset: Int, address: UInt64)
  case emptyRange(HandoffBlock.Field, offset: Int)
  case overflowingRange(HandoffBlock.Field, offset: Int)
  case misalignedRange(HandoffBlock.Field, offset: Int)
  case cpuIndexMismatch(offset: Int, index: UInt32, expected: UInt32)
  case duplicateAPICID(offset: Int, apicID: UInt32, firstIndex: UInt32)
  case unknownPartition(offset: Int, value: UInt32)
  case emptyMapEntry(offset: Int)
  /// base + length passes 2^64.
  case overflowingMapEntry(offset: Int)
  case misalignedMapEntry(offset: Int)
  case unknownMapType(offset: Int, type: UInt32)
  /// A base below the previous entry's.
  case unsortedMap(offset: Int)
  /// A base inside the previous entry.
  case overlappingMap(offset: Int)
  case lwkImageNotReserved(offset: Int)
  case sharedRegionOverlapsLWKMap(offset: Int, entryOffset: Int)
  case kernelImageInUsableLWKMemory(offset: Int, entryOffset: Int)

  public var offset: Int {
    switch self {
    case .truncated(let offset), .badMagic(let offset, _), .unsupportedVersion(let offset, _),
      .lengthBelowHeader(let offset, _), .lengthBeyondBuffer(let offset, _, _),
      .checksumMismatch(let offset, _, _), .noCPUs(let offset), .tooManyCPUs(let offset, _),
      .tooManyMapEntries(let offset, _), .lengthMismatch(let offset, _, _),
      .zeroClockRate(let offset), .misalignedLocalAPICBase(let offset, _),
      .emptyRange(_, let offset), .overflowingRange(_, let offset),
      .misalignedRange(_, let offset), .cpuIndexMismatch(let offset, _, _),
      .duplicateAPICID(let offset, _, _), .unknownPartition(let offset, _),
      .emptyMapEntry(let offset), .overflowingMapEntry(let offset),
      .misalignedMapEntry(let offset), .unknownMapType(let offset, _), .unsortedMap(let offset),
      .overlappingMap(let offset), .lwkImageNotReserved(let offset),
      .sharedRegionOverlapsLWKMap(let offset, _), .kernelImageInUsableLWKMemory(let offset, _):
      offset
    }
  }

  public var description: String {
    "hand-off block: " + detail + " (offset " + String(offset) + ")"
  }

  private var detail: String {
    switch self {
    case .truncated:
      "buffer ends before the " + String(HandoffBlock.headerBytes) + "-byte header"
    case .badMagic(_, let found): "bad magic " + hex(found)
    case .unsupportedVersion(_, let found): "unsupported version " + String(found)
    case .lengthBelowHeader(_, let length):
      "length " + String(length) + " is shorter than the header"
    case .lengthBeyondBuffer(_, let length, let available):
      "length " + String(length) + " runs past the " + String(available) + " bytes given"
    case .checksumMismatch(_, let stored, let computed):
      "checksum " + hex(stored) + " does not match the contents (" + hex(computed) + ")"
    case .noCPUs: "no CPU records"
    case .tooManyCPUs(_, let count):
      String(count) + " CPU records, more than " + String(HandoffBlock.maximumCPUs)
    case .tooManyMapEntries(_, let count):
      String(count) + " LWK map entries, more than " + String(HandoffBlock.maximumMapEntries)
    case .lengthMismatch(_, let length, let expected):
      "length " + String(length) + " where the counts give " + String(expected)
    case .zeroClockRate: "a clock rate of zero"
    case .misalignedLocalAPICBase(_, let address):
      "local APIC base " + hex(address) + " is not page aligned"
    case .emptyRange(let field, _): field.name + " is empty"
    case .overflowingRange(let field, _): field.name + " runs past the end of the address space"
    case .misalignedRange(let field, _): field.name + " is not page aligned"
    case .cpuIndexMismatch(_, let index, let expected):
      "CPU record " + String(expected) + " says index " + String(index)
    case .duplicateAPICID(_, let apicID, let firstIndex):
      "APIC ID " + String(apicID) + " already belongs to CPU " + String(firstIndex)
    case .unknownPartition(_, let value): "unknown partition " + String(value)
    case .emptyMapEntry: "empty LWK map entry"
    case .overflowingMapEntry: "LWK map entry runs past the end of the address space"
    case .misalignedMapEntry: "LWK map entry is not page aligned"
    case .unknownMapType(_, let type): "unknown LWK map entry type " + String(type)
    case .unsortedMap: "LWK map entry below the one before it"
    case .overlappingMap: "LWK map entry overlaps the one before it"
    case .lwkImageNotReserved: "LWK image is not inside a reserved LWK map entry"
    case .sharedRegionOverlapsLWKMap(_, let entryOffset):
      "shared region overlaps the LWK map entry at offset " + String(entryOffset)
    case .kernelImageInUsableLWKMemory(_, let entryOffset):
      "kernel image overlaps the usable LWK map entry at offset " + String(entryOffset)
    }
  }
}
