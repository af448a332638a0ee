// The System Locality Information Table: relative distances between
// localities (proximity domains), an N×N byte matrix after a 64-bit N.
// 10 means local; a value of 20 means twice as far; 255 means unreachable;
// 0-9 are reserved. Like Linux, a matrix that breaks these rules (a diagonal
// other than 10, a reserved value anywhere) is rejected as a whole: the
// distances are only useful if they can be compared.

extension ACPISignature {
  public static let slit = ACPISignature("SLIT")
}

public struct SLIT: Equatable, Sendable {
  public static let countOffset = 36
  public static let matrixOffset = 44
  /// More localities than any machine we target; it bounds the matrix at
  /// 64 KiB (a table may claim up to 1 MiB).
  public static let maximumLocalities = 256
  public static let localDistance: UInt8 = 10

  public var localityCount: Int
  /// Row-major: `distances[from * localityCount + to]`.
  public var distances: [UInt8]

  public init(localityCount: Int, distances: [UInt8]) {
    self.localityCount = localityCount
    self.distances = distances
  }

  /// The distance from locality `from` to `to`; nil outside the matrix.
  public func distance(from: Int, to: Int) -> UInt8? {
    guard from >= 0, to >= 0, from < localityCount, to < localityCount else { return nil }
    let index = from * localityCount + to
    return index < distances.count ? distances[index] : nil
  }

  /// The matrix as rows.
  public var rows: [[UInt8]] {
    (0..<localityCount).map { row in (0..<localityCount).map { distance(from: row, to: $0) ?? 0 } }
  }

  /// Decodes and checks a validated table (see `ACPITable.read`). Bytes
  /// after the matrix are ignored.
  public static func parse(_ table: ACPITable) -> Result<SLIT, SLITError> {
    guard table.signature == .slit else { return .failure(.wrongSignature(table.signature)) }
    let view = table.view
    guard let count = view.u64(countOffset) else {
      return .failure(.tableTooShort(length: view.count))
    }
    guard count >= 1, count <= UInt64(maximumLocalities) else {
      return .failure(.badLocalityCount(count))
    }
    let localities = Int(count)
    // At most 256 * 256: no overflow.
    let cells = localities * localities
    guard let matrix = view.slice(matrixOffset, cells) else {
      return .failure(
        .truncatedMatrix(localities: localities, available: max(0, view.count - matrixOffset)))
    }
    let slit = SLIT(localityCount: localities, distances: matrix.bytes)
    for from in 0..<localities {
      for to in 0..<localities {
        let value = slit.distance(from: from, to: to) ?? 0
        if from == to && value != localDistance {
          return .failure(.localDistanceNot10(locality: from, value: value))
        }
        if value < localDistance {
          return .failure(.reservedDistance(from: from, to: to, value: value))
        }
      }
    }
    return .success(slit)
  }

  /// The SLIT the directory lists: nil when there is none, a failure when
  /// it does not validate or parse.
  public static func load(from directory: ACPITableDirectory, using read: PhysicalMemoryReader)
    -> Result<SLIT, SLITError>?
  {
    directory.load(.slit, using: read, parse: parse, tableError: SLITError.table)
  }

  /// One line per row, for the boot log: "slit: 0: 10 21".
  public var lines: [String] {
    rows.enumerated().map { index, row in
      var line = "slit: " + String(index) + ":"
      for value in row { line += " " + String(value) }
      return line
    }
  }
}

public enum SLITError: Error, Equatable, Sendable {
  /// Finding or validating the table failed (`SLIT.load`).
  case table(ACPIError)
  case wrongSignature(ACPISignature)
  /// Too short to hold the locality count.
  case tableTooShort(length: Int)
  /// Zero, or more than `SLIT.maximumLocalities`.
  case badLocalityCount(UInt64)
  /// The table ends before the N×N matrix does; `available` matrix bytes.
  case truncatedMatrix(localities: Int, available: Int)
  case localDistanceNot10(locality: Int, value: UInt8)
  /// A value 0-9 off the diagonal.
  case reservedDistance(from: Int, to: Int, value: UInt8)

  public var description: String {
    switch self {
    case .table(let error): error.description
    case .wrongSignature(let found): "slit: table has signature " + found.description
    case .tableTooShort(let length):
      "slit: table of " + String(length) + " bytes has no locality count"
    case .badLocalityCount(let count):
      "slit: locality count " + String(count) + " is outside 1..."
        + String(SLIT.maximumLocalities)
    case .truncatedMatrix(let localities, let available):
      "slit: " + String(localities) + " localities need " + String(localities &* localities)
        + " matrix bytes, the table has " + String(available)
    case .localDistanceNot10(let locality, let value):
      "slit: distance of locality " + String(locality) + " to itself is " + String(value)
        + ", not 10"
    case .reservedDistance(let from, let to, let value):
      "slit: distance from locality " + String(from) + " to " + String(to) + " is "
        + String(value) + ", a reserved value"
    }
  }
}
