// Validation of user programs: an ELF64 executable (a Multiboot2 module, so
// bytes nobody checked) becomes a load plan — which bytes of the file go to
// which user addresses with which rights — or an error naming the first thing
// wrong with it. The kernel maps nothing until the whole file has passed, so
// a refused program leaves no trace in any address space.
//
// Decisions:
// - Static, non-relocatable programs only: ET_EXEC, no PT_INTERP, no
//   PT_DYNAMIC. ET_DYN (PIE) is refused with its own message, because the
//   kernel does not relocate.
// - The kernel copies segment bytes into fresh frames rather than mapping
//   the file's pages, so p_vaddr need not be congruent to p_offset; p_align
//   only has to be 0, 1 or a power of two.
// - Segments are compared after rounding out to whole 4 KiB pages: two
//   PT_LOAD segments sharing a page would need two sets of rights for it, so
//   that is an overlap. Every page must lie inside the given user range.
// - W^X holds for user programs too: a segment (or PT_GNU_STACK) that is
//   both writable and executable, or an executable stack, is refused.
// - The entry point must lie in the file-backed part of an executable
//   segment (code in the zero-filled tail would be a program of zeros).
// - An empty PT_LOAD (p_memsz 0) is refused: linkers do not emit one, and
//   every planned segment then covers at least one page.
// - OS ABI 0 (System V), 3 (GNU) and 255 (standalone) are accepted, other
//   values name another system's ABI. 3 must pass: LLVM marks an object GNU
//   when it has a retained (SHF_GNU_RETAIN) section or an IFUNC, and the
//   Swift-compiled objects of Tessera's own user programs come out that way.
// - x86 page tables cannot make a present page unreadable, so PF_R is
//   reported but every mapped segment is readable in practice.
// - Section headers are not looked at: loading needs only program headers.
// - Every field is read through `ByteView` and every offset+size and
//   address+size sum is overflow-checked: no file content can trap.

/// Which part of the file an error is about.
public enum ELFRegion: Equatable, Sendable {
  case header
  case programHeaders
  /// The file bytes of the program header with this index.
  case segment(Int)

  public var description: String {
    switch self {
    case .header: "ELF header"
    case .programHeaders: "program header table"
    case .segment(let index): "segment " + String(index)
    }
  }
}

/// Why a file is not a program Tessera can load. Indices are program header
/// indices; `description` is one line for the shell.
public enum ELFError: Error, Equatable, Sendable {
  case empty
  /// The first bytes are not 7F 'E' 'L' 'F'.
  case notELF
  /// The file ends before the end of `region`.
  case truncated(ELFRegion, needed: UInt64, have: UInt64)
  /// offset + size of `region` does not fit in 64 bits.
  case rangeOverflows(ELFRegion, offset: UInt64, size: UInt64)
  /// EI_CLASS is not 2 (64-bit).
  case wrongClass(UInt8)
  /// EI_DATA is not 1 (little endian).
  case wrongByteOrder(UInt8)
  /// EI_VERSION or e_version is not 1.
  case wrongVersion(UInt32)
  /// EI_OSABI is not 0 (System V), 3 (GNU) or 255 (standalone).
  case unsupportedABI(UInt8)
  /// e_type 3 (ET_DYN): position-independent, would need relocation.
  case positionIndependent
  /// e_type is not 2 (ET_EXEC) or 3.
  case notExecutable(UInt16)
  /// e_machine is not 62 (x86-64).
  case wrongMachine(UInt16)
  case wrongHeaderSize(UInt16)
  case wrongProgramHeaderSize(UInt16)
  case noProgramHeaders
  case tooManyProgramHeaders(UInt16)
  /// PT_INTERP: the program wants a dynamic linker.
  case needsInterpreter(index: Int)
  /// PT_DYNAMIC: the program is dynamically linked.
  case dynamicallyLinked(index: Int)
  /// PT_GNU_STACK asks for an executable stack.
  case executableStack(index: Int)
  case emptySegment(index: Int)
  case fileSizeExceedsMemorySize(index: Int, fileSize: UInt64, memorySize: UInt64)
  /// p_align is neither 0, 1 nor a power of two.
  case badAlignment(index: Int, alignment: UInt64)
  /// p_vaddr + p_memsz does not fit in 64 bits.
  case segmentAddressOverflows(index: Int, virtualAddress: UInt64, memorySize: UInt64)
  /// Some page of [start, end) lies outside user space.
  case segmentOutsideUserSpace(index: Int, start: UInt64, end: UInt64)
  case writableAndExecutable(index: Int)
  /// Two PT_LOAD segments share at least one page (first < second).
  case segmentsOverlap(Int, Int)
  case noLoadableSegments
  /// The entry point is not in the file bytes of an executable segment.
  case entryNotInCode(UInt64)

  public var description: String {
    switch self {
    case .empty: "empty file"
    case .notELF: "not an ELF file (bad magic)"
    case .truncated(let region, let needed, let have):
      "truncated " + region.description + ": needs " + String(needed) + " bytes, file has "
        + String(have)
    case .rangeOverflows(let region, let offset, let size):
      region.description + " at offset " + hex(offset) + " with size " + hex(size)
        + " overflows"
    case .wrongClass(let value):
      "not a 64-bit ELF file (class " + String(value) + ", expected 2)"
    case .wrongByteOrder(let value):
      "not a little-endian ELF file (data encoding " + String(value) + ", expected 1)"
    case .wrongVersion(let value): "unknown ELF version " + String(value) + " (expected 1)"
    case .unsupportedABI(let value):
      "unsupported OS ABI " + String(value) + " (expected 0 System V, 3 GNU or 255 standalone)"
    case .positionIndependent:
      "position-independent executable (ET_DYN) refused: the kernel does not relocate, link with -no-pie"
    case .notExecutable(let type):
      "not an executable (ELF type " + String(type) + ", expected 2, ET_EXEC)"
    case .wrongMachine(let machine):
      "not an x86-64 program (machine " + String(machine) + ", expected 62)"
    case .wrongHeaderSize(let size):
      "ELF header size " + String(size) + " (expected 64)"
    case .wrongProgramHeaderSize(let size):
      "program header size " + String(size) + " (expected 56)"
    case .noProgramHeaders: "no program headers"
    case .tooManyProgramHeaders(let count):
      String(count) + " program headers (at most " + String(ELFImage.maximumProgramHeaders)
        + ")"
    case .needsInterpreter(let index):
      "program header " + String(index)
        + " is PT_INTERP: dynamically linked programs are refused, link statically"
    case .dynamicallyLinked(let index):
      "program header " + String(index)
        + " is PT_DYNAMIC: dynamically linked programs are refused, link statically"
    case .executableStack(let index):
      "program header " + String(index) + " (PT_GNU_STACK) asks for an executable stack"
    case .emptySegment(let index): "segment " + String(index) + " is empty (memory size 0)"
    case .fileSizeExceedsMemorySize(let index, let fileSize, let memorySize):
      "segment " + String(index) + " has file size " + hex(fileSize)
        + " larger than its memory size " + hex(memorySize)
    case .badAlignment(let index, let alignment):
      "segment " + String(index) + " alignment " + hex(alignment) + " is not a power of two"
    case .segmentAddressOverflows(let index, let virtualAddress, let memorySize):
      "segment " + String(index) + " at " + hex(virtualAddress) + " with memory size "
        + hex(memorySize) + " overflows"
    case .segmentOutsideUserSpace(let index, let start, let end):
      "segment " + String(index) + " at " + hex(start) + "-" + hex(end)
        + " lies outside user space"
    case .writableAndExecutable(let index):
      "segment " + String(index) + " is both writable and executable (W^X)"
    case .segmentsOverlap(let first, let second):
      "segments " + String(first) + " and " + String(second) + " overlap (share a page)"
    case .noLoadableSegments: "no loadable (PT_LOAD) segments"
    case .entryNotInCode(let entry):
      "entry point " + hex(entry) + " is not inside an executable segment"
    }
  }
}

/// One PT_LOAD segment, checked: what to copy where, and with which rights.
/// The kernel copies `fileSize` bytes from `fileOffset` to `virtualAddress`
/// and zero-fills the rest of the pages in `pageRange`.
public struct ELFSegment: Equatable, Sendable {
  /// The program header's index, for messages.
  public var index: Int
  public var virtualAddress: UInt64
  public var memorySize: UInt64
  public var fileOffset: UInt64
  /// At most `memorySize`; the tail up to `memorySize` is zero (bss).
  public var fileSize: UInt64
  public var readable: Bool
  public var writable: Bool
  public var executable: Bool
  /// The page holding `virtualAddress`.
  public var firstPage: UInt64
  /// Pages from `firstPage` that cover the whole segment (at least one).
  public var pageCount: UInt64

  public init(
    index: Int, virtualAddress: UInt64, memorySize: UInt64, fileOffset: UInt64,
    fileSize: UInt64, readable: Bool, writable: Bool, executable: Bool, firstPage: UInt64,
    pageCount: UInt64
  ) {
    self.index = index
    self.virtualAddress = virtualAddress
    self.memorySize = memorySize
    self.fileOffset = fileOffset
    self.fileSize = fileSize
    self.readable = readable
    self.writable = writable
    self.executable = executable
    self.firstPage = firstPage
    self.pageCount = pageCount
  }

  /// One past the last byte of the segment in memory. (Validated segments
  /// never wrap; `&+` only keeps hand-made values from trapping.)
  public var end: UInt64 { virtualAddress &+ memorySize }

  /// The address of the last page; computed from the first so that a
  /// segment in the top page does not overflow.
  public var lastPage: UInt64 { firstPage &+ (pageCount &- 1) &* ELFImage.pageSize }

  /// The pages to allocate and map: first page address and page count.
  public var pageRange: (first: UInt64, count: UInt64) { (firstPage, pageCount) }

  /// "rwx" with dashes for missing rights.
  public var rights: String {
    (readable ? "r" : "-") + (writable ? "w" : "-") + (executable ? "x" : "-")
  }

  public var description: String {
    "segment " + String(index) + " " + hex(virtualAddress) + "-" + hex(end) + " " + rights
      + ", file " + hex(fileOffset, digits: 0) + "+" + hex(fileSize, digits: 0) + ", "
      + String(pageCount) + (pageCount == 1 ? " page" : " pages")
  }
}

/// What the kernel needs to start a validated program.
public struct ELFLoadPlan: Equatable, Sendable {
  public var entry: UInt64
  /// PT_LOAD segments in program header order.
  public var segments: [ELFSegment]

  public init(entry: UInt64, segments: [ELFSegment]) {
    self.entry = entry
    self.segments = segments
  }

  public var description: String {
    var text =
      "entry " + hex(entry) + ", " + String(segments.count)
      + (segments.count == 1 ? " segment" : " segments")
    for segment in segments { text += "\n  " + segment.description }
    return text
  }
}

public enum ELFImage {
  public static let pageSize: UInt64 = 4096
  /// A limit on e_phnum; real static programs have fewer than ten.
  public static let maximumProgramHeaders = 64

  static let headerSize = 64
  static let programHeaderSize = 56

  // e_ident values and e_type / e_machine / p_type / p_flags constants.
  static let magic: [UInt8] = [0x7F, 0x45, 0x4C, 0x46]
  static let classELF64: UInt8 = 2
  static let dataLittleEndian: UInt8 = 1
  static let osABISystemV: UInt8 = 0
  static let osABIGNU: UInt8 = 3
  static let osABIStandalone: UInt8 = 255
  static let typeExecutable: UInt16 = 2
  static let typeShared: UInt16 = 3
  static let machineAMD64: UInt16 = 62
  static let loadSegment: UInt32 = 1
  static let dynamicSegment: UInt32 = 2
  static let interpreterSegment: UInt32 = 3
  static let gnuStackSegment: UInt32 = 0x6474_E551
  static let flagExecute: UInt32 = 1
  static let flagWrite: UInt32 = 2
  static let flagRead: UInt32 = 4

  /// Checks the whole file and returns its load plan, or the first problem
  /// found. `userSpace` is the range of addresses (inclusive) user pages may
  /// occupy; segments are checked after rounding out to whole pages.
  public static func validate(_ view: ByteView, userSpace: ClosedRange<UInt64>) -> Result<
    ELFLoadPlan, ELFError
  > {
    do {
      return .success(try plan(view, userSpace: userSpace))
    } catch {
      return .failure(error)
    }
  }

  static func plan(_ view: ByteView, userSpace: ClosedRange<UInt64>) throws(ELFError)
    -> ELFLoadPlan
  {
    let fileSize = UInt64(view.count)
    // Magic first, on whatever bytes exist, so a short text file is "not an
    // ELF file" rather than a truncated one.
    guard view.count > 0 else { throw .empty }
    for i in 0..<min(magic.count, view.count) where view.u8(i) != magic[i] { throw .notELF }
    guard view.count >= headerSize else {
      throw .truncated(.header, needed: UInt64(headerSize), have: fileSize)
    }
    let header = try Header(view)

    // The program header table: e_phnum is at most 64, so only the offset
    // can make the sum overflow.
    let tableSize = UInt64(header.programHeaderCount) * UInt64(programHeaderSize)
    let tableOffset = try fileRange(
      .programHeaders, offset: header.programHeaderOffset, size: tableSize, fileSize: fileSize)

    var segments: [ELFSegment] = []
    for index in 0..<Int(header.programHeaderCount) {
      let entry = ProgramHeader(view, at: tableOffset + index * programHeaderSize)
      switch entry.type {
      case loadSegment:
        segments.append(
          try segment(entry, index: index, fileSize: fileSize, userSpace: userSpace))
      case interpreterSegment: throw .needsInterpreter(index: index)
      case dynamicSegment: throw .dynamicallyLinked(index: index)
      case gnuStackSegment where entry.flags & flagExecute != 0:
        throw .executableStack(index: index)
      default: break  // PT_NOTE, PT_PHDR, PT_TLS, PT_GNU_*: nothing to load
      }
    }
    guard !segments.isEmpty else { throw .noLoadableSegments }

    // At most 64 segments, so comparing every pair is cheap and names the
    // first overlapping pair in program header order.
    for (i, a) in segments.enumerated() {
      for b in segments[(i + 1)...] where a.firstPage <= b.lastPage && b.firstPage <= a.lastPage {
        throw .segmentsOverlap(a.index, b.index)
      }
    }

    let inCode = segments.contains {
      $0.executable && header.entry >= $0.virtualAddress
        && header.entry - $0.virtualAddress < $0.fileSize
    }
    guard inCode else { throw .entryNotInCode(header.entry) }
    return ELFLoadPlan(entry: header.entry, segments: segments)
  }

  /// The fields of the 64-byte ELF header the loader needs, checked.
  struct Header {
    var entry: UInt64
    var programHeaderOffset: UInt64
    var programHeaderCount: UInt16

    /// `view` holds at least 64 bytes, so every read below succeeds; the
    /// `?? 0` defaults only keep the code free of force-unwraps.
    init(_ view: ByteView) throws(ELFError) {
      let elfClass = view.u8(4) ?? 0
      guard elfClass == classELF64 else { throw .wrongClass(elfClass) }
      let data = view.u8(5) ?? 0
      guard data == dataLittleEndian else { throw .wrongByteOrder(data) }
      let identVersion = view.u8(6) ?? 0
      guard identVersion == 1 else { throw .wrongVersion(UInt32(identVersion)) }
      let abi = view.u8(7) ?? 0
      guard abi == osABISystemV || abi == osABIGNU || abi == osABIStandalone else {
        throw .unsupportedABI(abi)
      }
      let type = view.u16(16) ?? 0
      guard type != typeShared else { throw .positionIndependent }
      guard type == typeExecutable else { throw .notExecutable(type) }
      let machine = view.u16(18) ?? 0
      guard machine == machineAMD64 else { throw .wrongMachine(machine) }
      let version = view.u32(20) ?? 0
      guard version == 1 else { throw .wrongVersion(version) }
      let headerSize = view.u16(52) ?? 0
      guard headerSize == ELFImage.headerSize else { throw .wrongHeaderSize(headerSize) }
      let entrySize = view.u16(54) ?? 0
      guard entrySize == programHeaderSize else { throw .wrongProgramHeaderSize(entrySize) }
      let count = view.u16(56) ?? 0
      guard count > 0 else { throw .noProgramHeaders }
      guard count <= maximumProgramHeaders else { throw .tooManyProgramHeaders(count) }
      entry = view.u64(24) ?? 0
      programHeaderOffset = view.u64(32) ?? 0
      programHeaderCount = count
    }
  }

  /// One 56-byte program header, read from inside the checked table.
  struct ProgramHeader {
    var type: UInt32
    var flags: UInt32
    var offset: UInt64
    var virtualAddress: UInt64
    var fileSize: UInt64
    var memorySize: UInt64
    var alignment: UInt64

    init(_ view: ByteView, at base: Int) {
      type = view.u32(base) ?? 0
      flags = view.u32(base + 4) ?? 0
      offset = view.u64(base + 8) ?? 0
      virtualAddress = view.u64(base + 16) ?? 0
      fileSize = view.u64(base + 32) ?? 0
      memorySize = view.u64(base + 40) ?? 0
      alignment = view.u64(base + 48) ?? 0
    }
  }

  /// Checks a PT_LOAD header and turns it into a planned segment.
  static func segment(
    _ header: ProgramHeader, index: Int, fileSize: UInt64, userSpace: ClosedRange<UInt64>
  ) throws(ELFError) -> ELFSegment {
    guard header.memorySize > 0 else { throw .emptySegment(index: index) }
    guard header.fileSize <= header.memorySize else {
      throw .fileSizeExceedsMemorySize(
        index: index, fileSize: header.fileSize, memorySize: header.memorySize)
    }
    // A segment with no file bytes (pure bss) reads nothing, so its offset
    // does not matter.
    if header.fileSize > 0 {
      _ = try fileRange(
        .segment(index), offset: header.offset, size: header.fileSize, fileSize: fileSize)
    }
    guard header.alignment & (header.alignment &- 1) == 0 else {
      throw .badAlignment(index: index, alignment: header.alignment)
    }
    let (end, overflow) = header.virtualAddress.addingReportingOverflow(header.memorySize)
    guard !overflow else {
      throw .segmentAddressOverflows(
        index: index, virtualAddress: header.virtualAddress, memorySize: header.memorySize)
    }
    // Round out to pages without overflow: the last page is that of the
    // last byte, and its last byte is at most UInt64.max.
    let firstPage = header.virtualAddress & ~(pageSize - 1)
    let lastPage = (end - 1) & ~(pageSize - 1)
    guard firstPage >= userSpace.lowerBound, lastPage + (pageSize - 1) <= userSpace.upperBound
    else {
      throw .segmentOutsideUserSpace(index: index, start: header.virtualAddress, end: end)
    }
    let writable = header.flags & flagWrite != 0
    let executable = header.flags & flagExecute != 0
    guard !(writable && executable) else { throw .writableAndExecutable(index: index) }
    return ELFSegment(
      index: index, virtualAddress: header.virtualAddress, memorySize: header.memorySize,
      fileOffset: header.offset, fileSize: header.fileSize,
      readable: header.flags & flagRead != 0, writable: writable, executable: executable,
      firstPage: firstPage, pageCount: (lastPage - firstPage) / pageSize + 1)
  }

  /// Checks that [offset, offset + size) lies in the file and returns the
  /// offset as an Int (safe: it is at most the file's size).
  static func fileRange(_ region: ELFRegion, offset: UInt64, size: UInt64, fileSize: UInt64)
    throws(ELFError) -> Int
  {
    let (end, overflow) = offset.addingReportingOverflow(size)
    guard !overflow else { throw .rangeOverflows(region, offset: offset, size: size) }
    guard end <= fileSize else { throw .truncated(region, needed: end, have: fileSize) }
    return Int(offset)
  }
}
