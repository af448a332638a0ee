// Fuzz target `slit`: the input is a SLIT image. Properties: the raw read
// follows the header rules; the repaired table parses to exactly what the
// rules give when checked independently here (locality count 1...256, the
// whole matrix inside the table, 10 on the diagonal, nothing below 10),
// with an error naming the first cell (row by row) that breaks them; a
// parsed SLIT is consistent (n * n distances, `rows` and `distance` agree)
// and written back parses to the same value; parsing is deterministic.

func fuzzSLIT(_ bytes: [UInt8]) {
  FuzzACPI.checkRead(bytes, expecting: .slit, what: "slit")
  let table = FuzzACPI.repaired(bytes, signature: .slit)
  let result = FuzzACPI.parseValid(table, what: "slit", SLIT.parse)
  require(result == slitOracle(table), "slit: parser and independent check disagree")
  switch result {
  case .failure(let error):
    _ = error.description
  case .success(let slit):
    let n = slit.localityCount
    require(slit.distances.count == n * n, "slit: matrix size")
    let rows = slit.rows
    require(rows.count == n && rows.allSatisfy { $0.count == n }, "slit: rows")
    for from in 0..<n {
      for to in 0..<n {
        require(slit.distance(from: from, to: to) == rows[from][to], "slit: distance")
      }
    }
    require(
      slit.distance(from: n, to: 0) == nil && slit.distance(from: 0, to: -1) == nil,
      "slit: distance outside the matrix")
    _ = slit.lines
    let body = FuzzACPI.le(UInt64(n), 8) + slit.distances
    let again = FuzzACPI.parseValid(FuzzACPI.table(.slit, body: body), what: "slit", SLIT.parse)
    require(again == .success(slit), "slit: round trip changed the table")
  }
}

private func slitOracle(_ table: [UInt8]) -> Result<SLIT, SLITError> {
  guard let count = table.le64(36) else { return .failure(.tableTooShort(length: table.count)) }
  guard count >= 1, count <= 256 else { return .failure(.badLocalityCount(count)) }
  let n = Int(count)
  guard table.count - 44 >= n * n else {
    return .failure(.truncatedMatrix(localities: n, available: max(0, table.count - 44)))
  }
  let matrix = Array(table[44..<(44 + n * n)])
  for from in 0..<n {
    for to in 0..<n {
      let value = matrix[from * n + to]
      if from == to && value != 10 {
        return .failure(.localDistanceNot10(locality: from, value: value))
      }
      if value < 10 { return .failure(.reservedDistance(from: from, to: to, value: value)) }
    }
  }
  return .success(SLIT(localityCount: n, distances: matrix))
}
