import PropertyBased
import Testing

@testable import TesseraCore

private typealias Tables = ACPITestTables

/// A SLIT claiming `count` localities, followed by `matrix`.
private func slitImage(count: UInt64, matrix: [UInt8]) -> [UInt8] {
  Tables.table("SLIT", body: Tables.le64(count) + matrix)
}

private func slit(_ bytes: [UInt8]) throws -> Result<SLIT, SLITError> {
  try Tables.parse(bytes, SLIT.parse)
}

@Suite struct SLITTests {
  /// `-numa dist,src=0,dst=1,val=21` on two nodes (QEMU mirrors the distance).
  @Test func qemuTwoNodes() throws {
    let parsed = try qemuSLIT.parse(SLIT.parse).get()
    #expect(parsed == SLIT(localityCount: 2, distances: [10, 21, 21, 10]))
    #expect(parsed.rows == [[10, 21], [21, 10]])
    #expect(parsed.distance(from: 0, to: 1) == 21)
    #expect(parsed.distance(from: 2, to: 0) == nil)
    #expect(parsed.distance(from: -1, to: 0) == nil)
    #expect(parsed.lines == ["slit: 0: 10 21", "slit: 1: 21 10"])
  }

  @Test func asymmetricUnreachableAndTrailingBytes() throws {
    let matrix: [UInt8] = [10, 20, 255, 30, 10, 20, 40, 20, 10]
    let parsed = try slit(slitImage(count: 3, matrix: matrix + [0, 0, 0])).get()
    #expect(parsed.rows == [[10, 20, 255], [30, 10, 20], [40, 20, 10]])
  }

  @Test func localityCountOutOfRange() throws {
    for count: UInt64 in [0, 257, 1 << 32, UInt64.max] {
      #expect(try slit(slitImage(count: count, matrix: [10])) == .failure(.badLocalityCount(count)))
    }
    if case .failure(let error) = try slit(slitImage(count: 0, matrix: [])) {
      #expect(error.description == "slit: locality count 0 is outside 1...256")
    }
  }

  @Test func largestAllowedMatrix() throws {
    let count = SLIT.maximumLocalities
    var matrix = [UInt8](repeating: 20, count: count * count)
    for index in 0..<count { matrix[index * count + index] = 10 }
    let parsed = try slit(slitImage(count: UInt64(count), matrix: matrix)).get()
    #expect(parsed.localityCount == 256 && parsed.distance(from: 255, to: 255) == 10)
  }

  @Test func matrixRunsPastTheTable() throws {
    let result = try slit(slitImage(count: 3, matrix: [10, 20, 20, 20, 10]))
    #expect(result == .failure(.truncatedMatrix(localities: 3, available: 5)))
    if case .failure(let error) = result {
      #expect(error.description == "slit: 3 localities need 9 matrix bytes, the table has 5")
    }
    // The header's length cut into QEMU's matrix.
    #expect(
      try slit(Tables.resized(qemuSLIT.bytes, to: 46))
        == .failure(.truncatedMatrix(localities: 2, available: 2)))
  }

  @Test func tooShortForTheCount() throws {
    #expect(
      try slit(Tables.table("SLIT", body: [2, 0, 0, 0])) == .failure(.tableTooShort(length: 40)))
  }

  @Test func diagonalMustBeTen() throws {
    let result = try slit(slitImage(count: 2, matrix: [10, 21, 21, 11]))
    #expect(result == .failure(.localDistanceNot10(locality: 1, value: 11)))
    if case .failure(let error) = result {
      #expect(error.description == "slit: distance of locality 1 to itself is 11, not 10")
    }
  }

  @Test func reservedDistancesAreRefused() throws {
    #expect(
      try slit(slitImage(count: 2, matrix: [10, 21, 9, 10]))
        == .failure(.reservedDistance(from: 1, to: 0, value: 9)))
    #expect(
      try slit(slitImage(count: 2, matrix: [10, 0, 21, 10]))
        == .failure(.reservedDistance(from: 0, to: 1, value: 0)))
  }

  @Test func anotherTableIsRefused() throws {
    #expect(try qemuSMP1MADT.parse(SLIT.parse) == .failure(.wrongSignature(.madt)))
  }

  @Test func badChecksumIsCaughtBeforeParsing() {
    var corrupted = qemuSLIT.bytes
    corrupted[45] = 22
    Tables.read(corrupted, at: qemuSLIT.address) { result in
      #expect(
        result.map { _ in 0 } == .failure(.badTableChecksum(.slit, address: qemuSLIT.address)))
    }
  }

  // MARK: Random input never traps

  @Test func randomCountsAndMatrices() async {
    let interesting: [UInt64] = [0, 1, 2, 3, 4, 7, 256, 257, 1 << 31, 1 << 62, UInt64.max]
    let counts = Gen.int(in: 0...interesting.count - 1).map { interesting[$0] }
    await propertyCheck(
      count: 500, input: counts, Gen.uint8(in: 8...30).array(of: 0...40), Gen.bool()
    ) { count, matrix, tenOnDiagonal in
      var cells = matrix
      if tenOnDiagonal, count <= 6 {
        for index in 0..<Int(count) where index * Int(count) + index < cells.count {
          cells[index * Int(count) + index] = 10
        }
      }
      let image = slitImage(count: count, matrix: cells)
      let result = try slit(image)
      switch result {
      case .success(let parsed):
        #expect(UInt64(parsed.localityCount) == count)
        #expect(parsed.rows.allSatisfy { $0.count == parsed.localityCount })
      // The test knows which rule the input breaks first.
      case .failure(.badLocalityCount(let found)):
        #expect(found == count && !(1...256).contains(count))
      case .failure(.truncatedMatrix(let localities, let available)):
        #expect(UInt64(localities) == count && available == cells.count)
        #expect(cells.count < localities * localities)
      default: break
      }
      expectSLITMatchesBytes(result, table: image)
      #expect(try slit(image) == result, "parsing is deterministic")
    }
  }

  @Test func mutationsOfTheQEMUTable() async {
    let mutation = zip(Gen.int(in: 0...47), Gen.uint8())
    await propertyCheck(count: 300, input: mutation.array(of: 1...4), Gen.bool()) {
      mutations, keepChecksum in
      var bytes = qemuSLIT.bytes
      for (position, value) in mutations { bytes[position] = value }
      if keepChecksum { Tables.fixChecksum(&bytes) }
      Tables.read(bytes, at: qemuSLIT.address) { table in
        switch table {
        case .success(let table):
          let result = SLIT.parse(table)
          if case .success(let parsed) = result {
            #expect((1...SLIT.maximumLocalities).contains(parsed.localityCount))
            // With the count and matrix untouched, the distances are QEMU's.
            if bytes[36...] == qemuSLIT.bytes[36...] {
              #expect(parsed == SLIT(localityCount: 2, distances: [10, 21, 21, 10]))
            }
          }
          expectSLITMatchesBytes(result, table: table.view.bytes)
        case .failure(let error):
          expectTableErrorFitsMutation(
            error, bytes: bytes, original: qemuSLIT.bytes, checksumFixed: keepChecksum,
            address: qemuSLIT.address)
        }
      }
    }
  }
}

/// Checks a parse of `table` (its exact bytes) against the bytes: a success
/// has the count and the n×n matrix the bytes hold, every value at least 10
/// and 10 on the diagonal; a failure's claims (count, available bytes, the
/// cell and its value) are true of the bytes, and a cell it names is one that
/// breaks a rule.
private func expectSLITMatchesBytes(
  _ result: Result<SLIT, SLITError>, table: [UInt8],
  sourceLocation: SourceLocation = #_sourceLocation
) {
  let available = max(0, table.count - SLIT.matrixOffset)
  let count =
    table.count >= SLIT.matrixOffset ? table.littleEndian(at: SLIT.countOffset, width: 8) : nil
  func cell(_ from: Int, _ to: Int, in n: Int) -> UInt8? {
    guard (0..<n).contains(from), (0..<n).contains(to), from * n + to < available else {
      return nil
    }
    return table[SLIT.matrixOffset + from * n + to]
  }
  switch result {
  case .success(let parsed):
    let n = parsed.localityCount
    #expect(count == UInt64(n) && n * n <= available, sourceLocation: sourceLocation)
    #expect(
      parsed.distances == Array(table[SLIT.matrixOffset..<SLIT.matrixOffset + n * n]),
      sourceLocation: sourceLocation)
    #expect(parsed.distances.allSatisfy { $0 >= 10 }, sourceLocation: sourceLocation)
    #expect(
      (0..<n).allSatisfy { parsed.distance(from: $0, to: $0) == 10 }, sourceLocation: sourceLocation
    )
  case .failure(.tableTooShort(let length)):
    #expect(count == nil && length == table.count, sourceLocation: sourceLocation)
  case .failure(.wrongSignature(let found)):
    #expect(
      found.rawValue == UInt32(table.littleEndian(at: 0, width: 4)) && found != .slit,
      sourceLocation: sourceLocation)
  case .failure(.badLocalityCount(let found)):
    #expect(count == found && !(1...256).contains(found), sourceLocation: sourceLocation)
  case .failure(.truncatedMatrix(let localities, let availableBytes)):
    #expect(
      count == UInt64(localities) && availableBytes == available, sourceLocation: sourceLocation)
    #expect(localities * localities > available, sourceLocation: sourceLocation)
  case .failure(.localDistanceNot10(let locality, let value)):
    let n = Int(count ?? 0)
    #expect(cell(locality, locality, in: n) == value && value != 10, sourceLocation: sourceLocation)
  case .failure(.reservedDistance(let from, let to, let value)):
    let n = Int(count ?? 0)
    #expect(cell(from, to, in: n) == value && value < 10, sourceLocation: sourceLocation)
  case .failure(.table(let error)):
    Issue.record(
      "parse of a read table failed as a table: \(error)", sourceLocation: sourceLocation)
  }
}
