// ISOs for one run. The kernel command line is baked into grub.cfg, so each
// distinct (command line, modules) pair needs its own ISO; scenarios that
// share one reuse it. They live in build/scenarios/iso-<pid>/ (one directory
// per runner process, so two runs at once do not collide) and are removed
// when the run ends or is interrupted.
import Foundation

final class ISOCache: @unchecked Sendable {
  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  /// Seconds mkiso.sh may take (it normally takes about 0.2 s).
  static let mkisoTimeout = 60.0

  let environment: RunnerEnvironment
  let directory: String

  private let lock = NSLock()
  private var entries: [String: Entry] = [:]

  /// One ISO; its own lock makes a second scenario wait for the first one's
  /// mkiso instead of building the same image twice.
  private final class Entry: @unchecked Sendable {
    let lock = NSLock()
    var result: Result<String, Failure>?
  }

  init(environment: RunnerEnvironment) {
    self.environment = environment
    directory = environment.outputDirectory + "/iso-\(getpid())"
    removeAbandoned()
  }

  /// Removes ISO directories left by runs that were killed outright (their
  /// process no longer exists), so crashed runs do not pile up images.
  private func removeAbandoned() {
    let names =
      (try? FileManager.default.contentsOfDirectory(atPath: environment.outputDirectory)) ?? []
    for name in names where name.hasPrefix("iso-") {
      guard let pid = pid_t(name.dropFirst(4)), pid != getpid() else { continue }
      if kill(pid, 0) != 0 && errno == ESRCH {
        try? FileManager.default.removeItem(atPath: environment.outputDirectory + "/" + name)
      }
    }
  }

  func iso(commandLine: String, modules: [String]) throws(Failure) -> String {
    let key = ([commandLine] + modules).joined(separator: "\u{0}")
    let entry = lock.withLock {
      if let existing = entries[key] { return existing }
      let created = Entry()
      entries[key] = created
      return created
    }
    entry.lock.lock()
    defer { entry.lock.unlock() }
    if entry.result == nil {
      entry.result = Result { () throws(Failure) in
        try build(key: key, commandLine: commandLine, modules: modules)
      }
    }
    return try entry.result!.get()
  }

  func removeAll() {
    try? FileManager.default.removeItem(atPath: directory)
  }

  private func build(key: String, commandLine: String, modules: [String]) throws(Failure) -> String
  {
    guard FileManager.default.fileExists(atPath: environment.kernel) else {
      throw Failure(
        description: "kernel \(environment.display(environment.kernel)) not found (build it first)")
    }
    let modulePaths = modules.map { RunnerEnvironment.absolute($0, relativeTo: environment.root) }
    for path in modulePaths where !FileManager.default.fileExists(atPath: path) {
      throw Failure(description: "module \(environment.display(path)) not found")
    }
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw Failure(description: "cannot create \(directory): \(error.localizedDescription)")
    }
    let output = directory + "/iso-" + Self.fnv1a(key) + ".iso"
    let result = ToolRun.run(
      environment.mkiso, [output, environment.kernel, commandLine] + modulePaths,
      workingDirectory: environment.root, timeout: Self.mkisoTimeout)
    guard result.succeeded else {
      throw Failure(
        description:
          "mkiso.sh failed (\(result.summary)): \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))"
      )
    }
    return output
  }

  /// A stable, short name for a key (Hasher is seeded per process).
  static func fnv1a(_ text: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
      hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
    }
    return String(hash, radix: 16)
  }
}

/// Runs a short helper program to completion, bounded in time.
enum ToolRun {
  struct Result {
    var status: Int32?
    var output: String
    var timedOut: Bool

    var succeeded: Bool { status == 0 && !timedOut }
    var summary: String {
      timedOut ? "timed out" : status.map { "exit code \($0)" } ?? "could not start"
    }
  }

  static func run(
    _ executable: String, _ arguments: [String], workingDirectory: String, timeout: Double
  ) -> Result {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory)
    process.standardInput = FileHandle.nullDevice
    // Its output is small (errors only); a file avoids a pipe that could fill up.
    let log = FileManager.default.temporaryDirectory.appendingPathComponent(
      "tessera-tool-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: log) }
    guard let handle = try? FileHandle(forWritingTo: log) else {
      return Result(status: nil, output: "cannot create \(log.path)", timedOut: false)
    }
    process.standardOutput = handle
    process.standardError = handle
    let done = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in done.signal() }
    do {
      try process.run()
    } catch {
      return Result(status: nil, output: "\(error)", timedOut: false)
    }
    var timedOut = false
    if done.wait(timeout: .now() + timeout) == .timedOut {
      timedOut = true
      kill(-process.processIdentifier, SIGKILL)
      done.wait()
    }
    try? handle.close()
    let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
    return Result(
      status: timedOut ? nil : process.terminationStatus, output: output, timedOut: timedOut)
  }
}
