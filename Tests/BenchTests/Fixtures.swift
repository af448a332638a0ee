/// Where the test fixtures are (the Fixtures directory, copied into the test
/// bundle as a resource) and a scratch directory for output files, so that
/// no test writes into the repository.
import Foundation

@testable import BenchResults

enum Fixtures {
  /// The Fixtures directory inside the test bundle.
  static var directory: String {
    Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path
  }

  static func path(_ name: String) -> String { directory + "/" + name }

  static var catalog: Catalog { try! Catalog.load(path: path("catalog.json")) }

  /// A fresh empty directory under the system's temporary directory.
  static func scratchDirectory() -> String {
    let url = FileManager.default.temporaryDirectory
      .appendingPathComponent("bench-tests-" + UUID().uuidString)
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
  }

  /// A fixed clock: 2026-12-01T10:00:00Z.
  static let now = Date(timeIntervalSince1970: 1_796_119_200)
}
