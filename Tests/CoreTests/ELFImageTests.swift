import PropertyBased
import Testing

@testable import TesseraCore

private typealias EB = ELFBuilder

/// The kernel's user range: PML4 slots 1 to 127.
private let userSpace: ClosedRange<UInt64> = 0x0000_0080_0000_0000...0x0000_3FFF_FFFF_FFFF
private let base: UInt64 = 0x100_0000_0000

private func validate(_ bytes: [UInt8], in range: ClosedRange<UInt64> = userSpace) -> Result<
  ELFLoadPlan, ELFError
> {
  EB.validate(bytes, userSpace: range)
}

private func failure(_ builder: ELFBuilder, in range: ClosedRange<UInt64> = userSpace)
  -> ELFError?
{
  failure(builder.build(), in: range)
}

private func failure(_ bytes: [UInt8], in range: ClosedRange<UInt64> = userSpace) -> ELFError? {
  if case .failure(let error) = validate(bytes, in: range) { return error }
  return nil
}

private func planned(_ builder: ELFBuilder, in range: ClosedRange<UInt64> = userSpace)
  -> ELFLoadPlan?
{
  try? validate(builder.build(), in: range).get()
}

/// A valid program with one more program header of `type` and `flags`.
private func withExtraHeader(type: UInt32, flags: UInt32 = 0) -> ELFBuilder {
  var builder = EB.twoSegmentProgram()
  builder.programHeaders.append(
    .init(type: type, flags: flags, virtualAddress: 0, memorySize: 0, alignment: 16))
  return builder
}

/// Everything a successful plan promises; empty when it keeps its promises.
private func violations(_ plan: ELFLoadPlan, fileSize: Int, userSpace: ClosedRange<UInt64>)
  -> [String]
{
  var found: [String] = []
  if plan.segments.isEmpty { found.append("no segments") }
  for segment in plan.segments {
    let name = segment.description
    if segment.memorySize == 0 { found.append("empty: " + name) }
    if segment.fileSize > segment.memorySize { found.append("file > memory: " + name) }
    let (fileEnd, fileOverflow) = segment.fileOffset.addingReportingOverflow(segment.fileSize)
    if segment.fileSize > 0 && (fileOverflow || fileEnd > UInt64(fileSize)) {
      found.append("file range outside the file: " + name)
    }
    if segment.writable && segment.executable { found.append("W+X: " + name) }
    let (end, overflow) = segment.virtualAddress.addingReportingOverflow(segment.memorySize)
    if overflow { found.append("address overflow: " + name) }
    if segment.pageCount == 0 || segment.firstPage != segment.virtualAddress & ~0xFFF
      || segment.lastPage != (end &- 1) & ~0xFFF
    {
      found.append("page range: " + name)
    }
    if segment.firstPage < userSpace.lowerBound || segment.lastPage > userSpace.upperBound - 0xFFF {
      found.append("outside user space: " + name)
    }
  }
  for (i, a) in plan.segments.enumerated() {
    for b in plan.segments[(i + 1)...] where a.firstPage <= b.lastPage && b.firstPage <= a.lastPage
    {
      found.append("overlap: " + a.description + " / " + b.description)
    }
  }
  let entryInCode = plan.segments.contains {
    $0.executable && plan.entry >= $0.virtualAddress && plan.entry - $0.virtualAddress < $0.fileSize
  }
  if !entryInCode { found.append("entry " + hex(plan.entry) + " not in code") }
  return found
}

/// Checks a validation result: a failure has a message, a success keeps
/// the plan's promises.
private func expectSound(
  _ bytes: [UInt8], in range: ClosedRange<UInt64> = userSpace,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  switch validate(bytes, in: range) {
  case .success(let plan):
    #expect(
      violations(plan, fileSize: bytes.count, userSpace: range) == [],
      sourceLocation: sourceLocation)
  case .failure(let error):
    #expect(!error.description.isEmpty, sourceLocation: sourceLocation)
    #expect(
      claimHolds(error, bytes), "\(error.description)", sourceLocation: sourceLocation)
  }
}

/// Whether what `error` says about `bytes` is true of them: the values it
/// quotes are the ones at their fields, the sizes it names are the file's,
/// and the program header it names exists.
private func claimHolds(_ error: ELFError, _ bytes: [UInt8]) -> Bool {
  func le(_ offset: Int, _ width: Int) -> UInt64 {
    (0..<width).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << UInt64(8 * $1) }
  }
  // Past the 64-byte header checks every field of it is readable.
  let count = bytes.count >= 64 ? Int(le(56, 2)) : 0
  switch error {
  case .empty: return bytes.isEmpty
  case .notELF:
    return !bytes.isEmpty
      && !Array(bytes.prefix(4)).elementsEqual([0x7F, 0x45, 0x4C, 0x46].prefix(bytes.count))
  case .truncated(_, let needed, let have): return have == UInt64(bytes.count) && needed > have
  case .rangeOverflows(_, let offset, let size):
    return offset.addingReportingOverflow(size).overflow
  case .wrongClass(let value): return value == bytes[4] && value != 2
  case .wrongByteOrder(let value): return value == bytes[5] && value != 1
  case .wrongVersion(let value): return (value == bytes[6] || value == le(20, 4)) && value != 1
  case .unsupportedABI(let value): return value == bytes[7] && ![0, 3, 255].contains(value)
  case .positionIndependent: return le(16, 2) == 3
  case .notExecutable(let type): return type == le(16, 2) && type != 2 && type != 3
  case .wrongMachine(let machine): return machine == le(18, 2) && machine != 62
  case .wrongHeaderSize(let size): return size == le(52, 2) && size != 64
  case .wrongProgramHeaderSize(let size): return size == le(54, 2) && size != 56
  case .noProgramHeaders: return count == 0
  case .tooManyProgramHeaders(let found): return Int(found) == count && count > 64
  case .entryNotInCode(let entry): return entry == le(24, 8)
  case .segmentsOverlap(let first, let second):
    return 0 <= first && first < second && second < count
  case .fileSizeExceedsMemorySize(let index, let fileSize, let memorySize):
    // p_filesz and p_memsz of that program header.
    let header = Int(le(32, 8)) + 56 * index
    return index < count && fileSize == le(header + 32, 8) && memorySize == le(header + 40, 8)
      && fileSize > memorySize
  case .needsInterpreter(let index), .dynamicallyLinked(let index), .executableStack(let index),
    .emptySegment(let index), .badAlignment(let index, _),
    .segmentAddressOverflows(let index, _, _), .segmentOutsideUserSpace(let index, _, _),
    .writableAndExecutable(let index):
    return 0 <= index && index < count
  case .noLoadableSegments: return count > 0
  }
}

@Suite struct ELFImageTests {
  // MARK: valid programs

  @Test func planOfATwoSegmentProgram() throws {
    let builder = EB.twoSegmentProgram()
    #expect(builder.dataOffsets == [0xB0, 0xF0])
    let plan = try #require(planned(builder))
    #expect(
      plan
        == ELFLoadPlan(
          entry: base + 4,
          segments: [
            ELFSegment(
              index: 0, virtualAddress: base, memorySize: 0x40, fileOffset: 0xB0, fileSize: 0x40,
              readable: true, writable: false, executable: true, firstPage: base, pageCount: 1),
            ELFSegment(
              index: 1, virtualAddress: base + 0x2010, memorySize: 0x2030, fileOffset: 0xF0,
              fileSize: 0x30, readable: true, writable: true, executable: false,
              firstPage: base + 0x2000, pageCount: 3),
          ]))
    #expect(plan.segments[1].pageRange == (first: base + 0x2000, count: 3))
    #expect(plan.segments[1].end == base + 0x4040)
    #expect(plan.segments[1].lastPage == base + 0x4000)
    #expect(
      plan.description == """
        entry 0x0000010000000004, 2 segments
          segment 0 0x0000010000000000-0x0000010000000040 r-x, file 0xb0+0x40, 1 page
          segment 1 0x0000010000002010-0x0000010000004040 rw-, file 0xf0+0x30, 3 pages
        """)
  }

  @Test func theCompiledFixtureValidates() throws {
    let plan = try #require(try? validate(helloELFFixture).get())
    #expect(plan.entry == 0x100_0000_116C)
    #expect(
      plan.segments == [
        ELFSegment(
          index: 1, virtualAddress: 0x100_0000_0000, memorySize: 0x16B, fileOffset: 0,
          fileSize: 0x16B, readable: true, writable: false, executable: false,
          firstPage: 0x100_0000_0000, pageCount: 1),
        ELFSegment(
          index: 2, virtualAddress: 0x100_0000_116C, memorySize: 0x20, fileOffset: 0x16C,
          fileSize: 0x20, readable: true, writable: false, executable: true,
          firstPage: 0x100_0000_1000, pageCount: 1),
        ELFSegment(
          index: 3, virtualAddress: 0x100_0000_218C, memorySize: 0x2008, fileOffset: 0x18C,
          fileSize: 8, readable: true, writable: true, executable: false,
          firstPage: 0x100_0000_2000, pageCount: 3),
      ])
    // The code the plan copies is _start's: lea message(%rip), %rsi.
    #expect(helloELFFixture[0x16C..<0x16F] == [0x48, 0x8D, 0x35])
    // The data segment starts with `counter`, 41.
    #expect(helloELFFixture[0x18C..<0x194] == [41, 0, 0, 0, 0, 0, 0, 0])
    #expect(violations(plan, fileSize: helloELFFixture.count, userSpace: userSpace) == [])
  }

  @Test func theFixtureNeedsItsWholeAddressRange() {
    // A user range that ends inside the bss page.
    #expect(
      failure(helloELFFixture, in: 0x80_0000_0000...0x100_0000_3FFE)
        == .segmentOutsideUserSpace(index: 3, start: 0x100_0000_218C, end: 0x100_0000_4194))
    // One that starts after the header page.
    #expect(
      failure(helloELFFixture, in: 0x100_0000_1000...0x3FFF_FFFF_FFFF)
        == .segmentOutsideUserSpace(index: 1, start: 0x100_0000_0000, end: 0x100_0000_016B))
    // Exactly its pages.
    #expect(
      (try? validate(helloELFFixture, in: 0x100_0000_0000...0x100_0000_4FFF).get())?.entry
        == 0x100_0000_116C)
  }

  /// Linked with `-Ttext=0x10000000000` instead of `--image-base`, lld
  /// leaves the headers and .rodata at 0x200000: refused.
  @Test func aProgramLinkedBelowUserSpaceIsRefused() {
    var bytes = helloELFFixture
    // Move the first PT_LOAD (program header 1 at 0x40 + 56) to 0x200000.
    let header = 0x40 + 56
    bytes.replaceSubrange(header + 16..<header + 24, with: EB.le64(0x20_0000))
    #expect(
      failure(bytes) == .segmentOutsideUserSpace(index: 1, start: 0x20_0000, end: 0x20_016B))
  }

  @Test func acceptsWhatItMayIgnore() throws {
    // System V, GNU (what LLVM writes for Embedded Swift programs) and
    // standalone.
    for abi: UInt8 in [0, 3, 255] {
      var builder = EB.twoSegmentProgram()
      builder.osABI = abi
      #expect(planned(builder) != nil, "OS ABI \(abi)")
    }
    for type: UInt32 in [4, 6, 7, 0x6474_E550, 0x6474_E552, 0x7000_0000, 0x1234_5678] {
      #expect(planned(withExtraHeader(type: type, flags: 7))?.segments.count == 2)
    }
    #expect(planned(withExtraHeader(type: 0x6474_E551, flags: EB.r | EB.w)) != nil)
    for alignment: UInt64 in [0, 1, 2, 0x1000, 0x20_0000, 1 << 63] {
      var builder = EB.twoSegmentProgram()
      builder.programHeaders[1].alignment = alignment
      #expect(planned(builder) != nil, "alignment \(alignment)")
    }
    // A pure-bss segment: its offset is never read.
    var bss = EB.twoSegmentProgram()
    bss.programHeaders.append(
      .init(
        flags: EB.r | EB.w, offset: 0xFFFF_FFFF_FFFF_0000, virtualAddress: base + 0x8000,
        memorySize: 0x1000))
    #expect(planned(bss)?.segments.last?.fileSize == 0)
    // Segments on adjacent pages, listed in descending address order.
    var adjacent = ELFBuilder()
    adjacent.entry = base + 0x1FFF
    adjacent.load(
      at: base + 0x1000, flags: EB.r | EB.x, data: [UInt8](repeating: 0xC3, count: 0x1000))
    adjacent.load(at: base, flags: EB.r, data: [1], memorySize: 0x1000)
    #expect(planned(adjacent)?.segments.map(\.pageCount) == [1, 1])
    // 64 program headers is the limit, not an error.
    var many = EB.twoSegmentProgram()
    for _ in 0..<62 {
      many.programHeaders.append(.init(type: 4, flags: 0, virtualAddress: 0, memorySize: 0))
    }
    #expect(planned(many)?.segments.count == 2)
  }

  @Test func userSpaceEdges() {
    let lowest = userSpace.lowerBound
    let highest = userSpace.upperBound
    // The first and the last user page.
    var edges = ELFBuilder()
    edges.entry = lowest
    edges.load(at: lowest, flags: EB.r | EB.x, data: [0xC3])
    edges.load(at: highest - 0xFFF, flags: EB.r | EB.w, data: [], memorySize: 0x1000)
    #expect(planned(edges)?.segments.map(\.firstPage) == [lowest, highest - 0xFFF])
    // One page further either way.
    var low = edges
    low.programHeaders[0].virtualAddress = lowest - 1
    low.entry = lowest - 1
    #expect(failure(low) == .segmentOutsideUserSpace(index: 0, start: lowest - 1, end: lowest))
    var high = edges
    high.programHeaders[1].memorySize = 0x1001
    #expect(
      failure(high)
        == .segmentOutsideUserSpace(index: 1, start: highest - 0xFFF, end: highest + 2))
    // Page rounding: a range that starts or ends inside a page excludes
    // that page, even where the segment's own bytes are inside the range.
    var inner = edges
    inner.programHeaders[0].virtualAddress = lowest + 0x20
    inner.entry = lowest + 0x20
    inner.programHeaders[1].memorySize = 0x100
    #expect(planned(inner) != nil)
    #expect(
      failure(inner, in: lowest + 0x10...highest)
        == .segmentOutsideUserSpace(index: 0, start: lowest + 0x20, end: lowest + 0x21))
    #expect(
      failure(inner, in: lowest...highest - 0x800)
        == .segmentOutsideUserSpace(index: 1, start: highest - 0xFFF, end: highest - 0xEFF))
    // Kernel and non-canonical addresses.
    for address: UInt64 in [0, 0x1000, 0xFFFF_FFFF_8000_0000, 0x8000_0000_0000] {
      var builder = EB.twoSegmentProgram()
      builder.programHeaders[1].virtualAddress = address
      #expect(
        failure(builder)
          == .segmentOutsideUserSpace(index: 1, start: address, end: address + 0x2030))
    }
  }

  // MARK: every error, by construction

  @Test func refusesFilesThatAreNotELF() {
    #expect(failure([]) == .empty)
    #expect(failure(Array("hello, world\n".utf8)) == .notELF)
    #expect(failure([0x7F, 0x45, 0x4C, 0x47]) == .notELF)
    #expect(failure([0x7F]) == .truncated(.header, needed: 64, have: 1))
    var bytes = EB.twoSegmentProgram().build()
    bytes[3] = 0x66
    #expect(failure(bytes) == .notELF)
    #expect(failure(Array(bytes.prefix(2))) == .truncated(.header, needed: 64, have: 2))
  }

  @Test func refusesBadHeaderFields() {
    func broken(_ change: (inout ELFBuilder) -> Void) -> ELFError? {
      var builder = EB.twoSegmentProgram()
      change(&builder)
      return failure(builder)
    }
    #expect(broken { $0.elfClass = 1 } == .wrongClass(1))
    #expect(broken { $0.dataEncoding = 2 } == .wrongByteOrder(2))
    #expect(broken { $0.identVersion = 0 } == .wrongVersion(0))
    #expect(broken { $0.osABI = 9 } == .unsupportedABI(9))  // FreeBSD
    #expect(broken { $0.osABI = 97 } == .unsupportedABI(97))  // ARM
    #expect(broken { $0.type = 3 } == .positionIndependent)
    #expect(broken { $0.type = 1 } == .notExecutable(1))
    #expect(broken { $0.type = 4 } == .notExecutable(4))
    #expect(broken { $0.machine = 3 } == .wrongMachine(3))
    #expect(broken { $0.machine = 183 } == .wrongMachine(183))
    #expect(broken { $0.version = 2 } == .wrongVersion(2))
    #expect(broken { $0.headerSize = 52 } == .wrongHeaderSize(52))
    #expect(broken { $0.programHeaderEntrySize = 32 } == .wrongProgramHeaderSize(32))
    #expect(broken { $0.programHeaderEntrySize = 64 } == .wrongProgramHeaderSize(64))
    #expect(broken { $0.programHeaderCount = 0 } == .noProgramHeaders)
    #expect(broken { $0.programHeaderCount = 65 } == .tooManyProgramHeaders(65))
    #expect(broken { $0.programHeaderCount = 0xFFFF } == .tooManyProgramHeaders(0xFFFF))
  }

  @Test func refusesAProgramHeaderTableOutsideTheFile() {
    var builder = EB.twoSegmentProgram()
    let size = UInt64(builder.build().count)
    builder.programHeaderCount = 64
    #expect(failure(builder) == .truncated(.programHeaders, needed: 64 + 64 * 56, have: size))
    builder.programHeaderCount = nil
    builder.programHeaderOffset = size - 111
    #expect(failure(builder) == .truncated(.programHeaders, needed: size + 1, have: size))
    builder.programHeaderOffset = UInt64.max - 100
    #expect(
      failure(builder) == .rangeOverflows(.programHeaders, offset: UInt64.max - 100, size: 112))
  }

  @Test func refusesDynamicPrograms() {
    #expect(failure(withExtraHeader(type: 3)) == .needsInterpreter(index: 2))
    #expect(failure(withExtraHeader(type: 2)) == .dynamicallyLinked(index: 2))
    #expect(
      failure(withExtraHeader(type: 0x6474_E551, flags: EB.r | EB.w | EB.x))
        == .executableStack(index: 2))
  }

  @Test func refusesBadSegments() {
    func broken(_ change: (inout ELFBuilder.ProgramHeader) -> Void) -> ELFError? {
      var builder = EB.twoSegmentProgram()
      change(&builder.programHeaders[1])
      return failure(builder)
    }
    let size = UInt64(EB.twoSegmentProgram().build().count)
    #expect(
      broken {
        $0.memorySize = 0
        $0.fileSize = 0
      } == .emptySegment(index: 1))
    #expect(
      broken { $0.memorySize = 0x20 }
        == .fileSizeExceedsMemorySize(index: 1, fileSize: 0x30, memorySize: 0x20))
    #expect(
      broken { $0.fileSize = 0x31 } == .truncated(.segment(1), needed: size + 1, have: size))
    #expect(
      broken { $0.offset = size } == .truncated(.segment(1), needed: size + 0x30, have: size))
    #expect(
      broken { $0.offset = UInt64.max - 0x10 }
        == .rangeOverflows(.segment(1), offset: UInt64.max - 0x10, size: 0x30))
    #expect(broken { $0.alignment = 3 } == .badAlignment(index: 1, alignment: 3))
    #expect(broken { $0.alignment = 0x1800 } == .badAlignment(index: 1, alignment: 0x1800))
    #expect(
      broken { $0.virtualAddress = UInt64.max - 0x1000 }
        == .segmentAddressOverflows(
          index: 1, virtualAddress: UInt64.max - 0x1000, memorySize: 0x2030))
    #expect(
      broken { $0.flags = EB.r | EB.w | EB.x } == .writableAndExecutable(index: 1))
    #expect(broken { $0.flags = EB.w | EB.x } == .writableAndExecutable(index: 1))
  }

  @Test func refusesOverlappingSegments() {
    // Disjoint bytes on a shared page.
    var samePage = EB.twoSegmentProgram()
    samePage.programHeaders[1].virtualAddress = base + 0x800
    #expect(failure(samePage) == .segmentsOverlap(0, 1))
    // The data segment's bss reaching into the page of a third segment.
    var bss = EB.twoSegmentProgram()
    bss.load(at: base + 0x4FF0, flags: EB.r, data: [1, 2, 3])
    #expect(failure(bss) == .segmentsOverlap(1, 2))
    // Overlapping bytes, listed in reverse order.
    var reversed = ELFBuilder()
    reversed.entry = base
    reversed.load(at: base + 0x10, flags: EB.r | EB.w, data: [], memorySize: 0x100)
    reversed.load(at: base, flags: EB.r | EB.x, data: [0xC3, 0xC3])
    #expect(failure(reversed) == .segmentsOverlap(0, 1))
    // The first overlapping pair in program header order is the one named.
    var three = EB.twoSegmentProgram()
    three.load(at: base + 0x3000, flags: EB.r, data: [1])
    three.load(at: base + 0xFFF, flags: EB.r, data: [1])
    #expect(failure(three) == .segmentsOverlap(0, 3))
    // The same segment twice.
    var twice = EB.twoSegmentProgram()
    twice.programHeaders.append(twice.programHeaders[0])
    #expect(failure(twice) == .segmentsOverlap(0, 2))
  }

  @Test func refusesProgramsWithoutLoadableCode() {
    var notes = ELFBuilder()
    notes.programHeaders = [.init(type: 4, flags: EB.r, virtualAddress: 0, memorySize: 0)]
    #expect(failure(notes) == .noLoadableSegments)
    func entry(_ address: UInt64, _ change: (inout ELFBuilder) -> Void = { _ in }) -> ELFError? {
      var builder = EB.twoSegmentProgram()
      builder.entry = address
      change(&builder)
      return failure(builder)
    }
    #expect(entry(base + 0x2010) == .entryNotInCode(base + 0x2010))  // in data
    #expect(entry(base + 0x40) == .entryNotInCode(base + 0x40))  // one past the code
    #expect(entry(base - 1) == .entryNotInCode(base - 1))
    #expect(entry(0) == .entryNotInCode(0))
    #expect(entry(base + 0x3F) == nil)  // the last code byte
    // In the zero-filled tail of an executable segment.
    #expect(
      entry(base + 0x80) { $0.programHeaders[0].memorySize = 0x100 }
        == .entryNotInCode(base + 0x80))
    // No executable segment at all.
    #expect(entry(base + 4) { $0.programHeaders[0].flags = EB.r } == .entryNotInCode(base + 4))
  }

  @Test func errorDescriptions() {
    #expect(ELFError.notELF.description == "not an ELF file (bad magic)")
    #expect(ELFError.empty.description == "empty file")
    #expect(
      ELFError.truncated(.segment(2), needed: 300, have: 200).description
        == "truncated segment 2: needs 300 bytes, file has 200")
    #expect(
      ELFError.truncated(.header, needed: 64, have: 10).description
        == "truncated ELF header: needs 64 bytes, file has 10")
    #expect(
      ELFError.wrongMachine(3).description == "not an x86-64 program (machine 3, expected 62)")
    #expect(
      ELFError.segmentOutsideUserSpace(index: 1, start: 0x20_0000, end: 0x20_016B).description
        == "segment 1 at 0x0000000000200000-0x000000000020016b lies outside user space")
    #expect(
      ELFError.segmentsOverlap(0, 3).description == "segments 0 and 3 overlap (share a page)")
    #expect(
      ELFError.writableAndExecutable(index: 1).description
        == "segment 1 is both writable and executable (W^X)")
    #expect(
      ELFError.entryNotInCode(0x10).description
        == "entry point 0x0000000000000010 is not inside an executable segment")
    #expect(ELFError.positionIndependent.description.contains("does not relocate"))
    #expect(ELFError.tooManyProgramHeaders(65).description == "65 program headers (at most 64)")
    // Every case has a one-line message.
    let all: [ELFError] = [
      .empty, .notELF, .truncated(.programHeaders, needed: 1, have: 0),
      .rangeOverflows(.segment(0), offset: 1, size: 2), .wrongClass(1), .wrongByteOrder(2),
      .wrongVersion(0), .unsupportedABI(9), .positionIndependent, .notExecutable(1),
      .wrongMachine(3), .wrongHeaderSize(0), .wrongProgramHeaderSize(0), .noProgramHeaders,
      .tooManyProgramHeaders(65), .needsInterpreter(index: 0), .dynamicallyLinked(index: 0),
      .executableStack(index: 0), .emptySegment(index: 0),
      .fileSizeExceedsMemorySize(index: 0, fileSize: 2, memorySize: 1),
      .badAlignment(index: 0, alignment: 3),
      .segmentAddressOverflows(index: 0, virtualAddress: 1, memorySize: 2),
      .segmentOutsideUserSpace(index: 0, start: 0, end: 1), .writableAndExecutable(index: 0),
      .segmentsOverlap(0, 1), .noLoadableSegments, .entryNotInCode(0),
    ]
    for error in all {
      #expect(!error.description.isEmpty && !error.description.contains("\n"))
    }
    // No two cases read alike: the shell line tells them apart.
    #expect(Set(all.map(\.description)).count == all.count)
  }

  // MARK: truncation

  /// Every prefix of the synthetic program is refused, with the part it
  /// cuts; the whole file is accepted.
  @Test func everyTruncationOfASyntheticProgram() {
    let bytes = EB.twoSegmentProgram().build()
    #expect(failure(bytes) == nil)
    for length in 0..<bytes.count {
      let error = failure(Array(bytes.prefix(length)))
      let have = UInt64(length)
      switch length {
      case 0: #expect(error == .empty)
      case 1..<64: #expect(error == .truncated(.header, needed: 64, have: have))
      case 64..<0xB0: #expect(error == .truncated(.programHeaders, needed: 0xB0, have: have))
      case 0xB0..<0xF0: #expect(error == .truncated(.segment(0), needed: 0xF0, have: have))
      default: #expect(error == .truncated(.segment(1), needed: 0x120, have: have))
      }
    }
  }

  /// The fixture carries section headers and .comment past its last
  /// segment, which loading does not need: a prefix is accepted exactly
  /// when it holds every segment's bytes, and then with the same plan.
  @Test func everyTruncationOfTheFixture() throws {
    let full = try validate(helloELFFixture).get()
    let needed = full.segments.map { Int($0.fileOffset + $0.fileSize) }.max() ?? 0
    #expect(needed == 0x194)
    for length in 0...helloELFFixture.count {
      let result = validate(Array(helloELFFixture.prefix(length)))
      if length < needed {
        #expect(throws: ELFError.self) { try result.get() }
      } else {
        #expect(try result.get() == full)
      }
    }
  }

  // MARK: random input never traps

  @Test func randomBytes() async {
    await propertyCheck(count: 1000, input: Gen.uint8().array(of: 0...400)) { bytes in
      expectSound(bytes)
    }
  }

  /// Random bytes behind a valid identification and machine, so the
  /// validator gets past the header into the program headers.
  @Test func randomBytesBehindAValidHeader() async {
    await propertyCheck(count: 1000, input: Gen.uint8().array(of: 0...600), Gen.int(in: 0...4)) {
      tail, count in
      var builder = ELFBuilder()
      builder.programHeaderCount = UInt16(count)
      var bytes = builder.build()
      bytes += tail
      expectSound(bytes)
    }
  }

  @Test func mutationsOfValidPrograms() async {
    let programs = [EB.twoSegmentProgram().build(), helloELFFixture]
    let mutation = zip(Gen.int(in: 0...499), Gen.uint8())
    await propertyCheck(
      count: 1000, input: Gen.int(in: 0...1), mutation.array(of: 1...8), Gen.int(in: 0...1100)
    ) { which, mutations, length in
      var bytes = programs[which]
      for (position, value) in mutations where position < bytes.count { bytes[position] = value }
      expectSound(bytes)
      expectSound(Array(bytes.prefix(length)))
    }
  }

  /// Random segments near the edges of user space against a page model:
  /// the validator accepts exactly the programs whose segments are
  /// non-empty, W^X, inside user space and on pages no other segment
  /// touches, with the entry in an executable segment's file bytes.
  @Test func randomSegmentsAgainstAPageModel() async {
    await propertyCheck(
      count: 1000, input: SegmentSeed.generator.array(of: 1...4), Gen.int(in: 0...255)
    ) {
      seeds, entryPick in
      var builder = ELFBuilder()
      for seed in seeds {
        builder.load(
          at: seed.address, flags: seed.flags, data: [UInt8](repeating: 0xCC, count: seed.fileSize),
          memorySize: UInt64(seed.memorySize))
      }
      // Aim the entry at some segment's bytes, or just past them.
      let target = seeds[entryPick % seeds.count]
      builder.entry = target.address &+ UInt64(entryPick % (target.fileSize + 2))
      let bytes = builder.build()

      // The model works in page numbers, which cannot overflow here.
      var pages: [UInt64: Int] = [:]
      var valid = true
      for seed in seeds {
        guard seed.memorySize > 0, seed.flags & 3 != 3 else {
          valid = false
          continue
        }
        let first = seed.address / 4096
        let last = (seed.address + UInt64(seed.memorySize) - 1) / 4096
        if first < userSpace.lowerBound / 4096 || last > userSpace.upperBound / 4096 {
          valid = false
        }
        for page in first...last { pages[page, default: 0] += 1 }
      }
      if pages.values.contains(where: { $0 > 1 }) { valid = false }
      let entryInCode = seeds.contains {
        $0.flags & 1 != 0 && builder.entry >= $0.address
          && builder.entry - $0.address < UInt64($0.fileSize)
      }
      if !entryInCode { valid = false }

      switch validate(bytes) {
      case .success(let plan):
        #expect(valid, "accepted: \(plan.description)")
        #expect(violations(plan, fileSize: bytes.count, userSpace: userSpace) == [])
        #expect(plan.segments.count == seeds.count)
      case .failure(let error):
        #expect(!valid, "refused: \(error.description)")
      }
    }
  }
}

/// A random PT_LOAD segment a few pages from either end of user space.
private struct SegmentSeed: Sendable, CustomStringConvertible {
  var address: UInt64
  var fileSize: Int
  var memorySize: Int
  var flags: UInt32

  static let generator = zip(
    Gen.bool(), Gen.int(in: -3...6), Gen.int(in: 0...4095), Gen.int(in: 0...40),
    Gen.int(in: 0...9000),
    Gen.uint32(in: 0...7)
  ).map {
    let edge = $0.0 ? userSpace.upperBound + 1 - 4 * 4096 : userSpace.lowerBound
    let address = UInt64(Int64(edge) + Int64($0.1) * 4096 + Int64($0.2))
    // Now and then an empty segment; often one with bss.
    let empty = $0.4 % 97 == 0
    return SegmentSeed(
      address: address, fileSize: empty ? 0 : $0.3, memorySize: empty ? 0 : $0.3 + $0.4,
      flags: $0.5)
  }

  var description: String {
    hex(address) + " file " + String(fileSize) + " memory " + String(memorySize) + " flags "
      + String(flags)
  }
}
