// Where things are: the repository root (found from the current directory, so
// the runner works from any subdirectory), the tools it calls, and where it
// writes logs and ISOs.
import Foundation

struct RunnerEnvironment: Sendable {
  var root: String
  var kernel: String
  /// The program that boots an ISO: Tools/qemu.sh, or $TESSERA_QEMU.
  var qemu: String
  var mkiso: String

  /// Test hook: TESSERA_QEMU names a program that is run instead of
  /// Tools/qemu.sh with the same arguments (ISO SMP MEM NUMA), e.g. a script
  /// that imitates the shell, to test the runner without a kernel.
  static let qemuOverrideVariable = "TESSERA_QEMU"

  init(kernel: String?) {
    let current = FileManager.default.currentDirectoryPath
    root = Self.findRoot(from: current) ?? current
    self.kernel =
      kernel.map { Self.absolute($0, relativeTo: current) } ?? root + "/build/tessera.elf"
    qemu =
      ProcessInfo.processInfo.environment[Self.qemuOverrideVariable].map {
        Self.absolute($0, relativeTo: current)
      }
      ?? root + "/Tools/qemu.sh"
    mkiso = root + "/Tools/mkiso.sh"
  }

  var outputDirectory: String { root + "/build/scenarios" }
  var defaultScenarioDirectory: String { root + "/Tests/Scenarios" }

  func logPath(for scenarioFile: String) -> String {
    let base = URL(fileURLWithPath: scenarioFile).deletingPathExtension().lastPathComponent
    return outputDirectory + "/" + base + ".log"
  }

  /// A path for messages: relative to the root when inside it.
  func display(_ path: String) -> String {
    path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1)) : path
  }

  static func findRoot(from start: String) -> String? {
    var directory = URL(fileURLWithPath: start).standardizedFileURL
    while true {
      let marker = directory.appendingPathComponent("Tools/qemu.sh").path
      if FileManager.default.fileExists(atPath: marker) { return directory.path }
      let parent = directory.deletingLastPathComponent()
      if parent.path == directory.path { return nil }
      directory = parent
    }
  }

  static func absolute(_ path: String, relativeTo base: String) -> String {
    let url =
      path.hasPrefix("/")
      ? URL(fileURLWithPath: path) : URL(fileURLWithPath: base).appendingPathComponent(path)
    return url.standardizedFileURL.path
  }
}
