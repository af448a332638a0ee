// Runs a set of scenario files, `jobs` at a time, and reports each as it
// finishes: one PASS/FAIL line, and for a failure the step, what was expected,
// what happened and the end of the transcript. Output from parallel scenarios
// never interleaves: each report is printed whole under a lock.
import Foundation

final class Suite: @unchecked Sendable {
  let environment: RunnerEnvironment
  let jobs: Int
  let verbose: Bool
  private let isos: ISOCache
  private let printLock = NSLock()
  private var passed = 0
  private var failed = 0

  init(environment: RunnerEnvironment, jobs: Int, verbose: Bool) {
    self.environment = environment
    self.jobs = max(1, jobs)
    self.verbose = verbose
    isos = ISOCache(environment: environment)
    SessionRegistry.shared.addCleanup { [isos] in isos.removeAll() }
  }

  /// Runs the files and returns (passed, failed). Files that do not parse
  /// count as failed and are reported with their file:line error.
  func run(files: [String], filter: String?) -> (passed: Int, failed: Int) {
    var runnable: [Scenario] = []
    for file in files {
      do {
        let scenario = try ScenarioParser.parse(file: file)
        if let filter, !matches(filter, file: file, name: scenario.name) { continue }
        runnable.append(scenario)
      } catch {
        if let filter, !matches(filter, file: file, name: nil) { continue }
        report(
          ScenarioResult(
            file: environment.display(file), name: "(not run)",
            failure: .init(location: "scenario file", expected: nil, happened: error.description)))
      }
    }

    // A fixed pool of worker threads takes the scenarios in order.
    let scenarios = runnable
    let queue = WorkQueue(count: scenarios.count)
    let group = DispatchGroup()
    for _ in 0..<min(jobs, scenarios.count) {
      group.enter()
      let worker = Thread { [self] in
        while let index = queue.take() { runOne(scenarios[index]) }
        group.leave()
      }
      worker.start()
    }
    group.wait()
    isos.removeAll()
    return printLock.withLock { (passed, failed) }
  }

  private func runOne(_ scenario: Scenario) {
    var trace: (@Sendable (String) -> Void)?
    if verbose { trace = { [self] line in printTrace(line) } }
    report(
      ScenarioExecution(scenario: scenario, environment: environment, isos: isos, trace: trace)
        .run())
  }

  private func printTrace(_ line: String) {
    printLock.lock()
    defer { printLock.unlock() }
    print("  · \(line)")
    fflush(nil)
  }

  private func matches(_ filter: String, file: String, name: String?) -> Bool {
    let base = URL(fileURLWithPath: file).lastPathComponent
    return base.localizedCaseInsensitiveContains(filter)
      || (name?.localizedCaseInsensitiveContains(filter) ?? false)
  }

  private func report(_ result: ScenarioResult) {
    // After Ctrl-C the sessions fail because they were stopped; say nothing.
    guard !SessionRegistry.shared.isShuttingDown else { return }
    let text = Self.format(result)
    printLock.withLock {
      if result.passed { passed += 1 } else { failed += 1 }
      print(text)
      fflush(nil)  // stdout is block-buffered when piped (make test)
    }
  }

  static func format(_ result: ScenarioResult) -> String {
    let base = URL(fileURLWithPath: result.file).lastPathComponent
    var times: [String] = []
    if let boot = result.bootTime { times.append(String(format: "boot %.2f s", boot)) }
    if result.totalTime > 0 { times.append(String(format: "total %.2f s", result.totalTime)) }
    let timing = times.isEmpty ? "" : " (\(times.joined(separator: ", ")))"
    var lines = ["\(result.passed ? "PASS" : "FAIL")  \(base) — \(result.name)\(timing)"]
    guard let failure = result.failure else { return lines[0] }
    let indent = "      "
    lines.append("\(indent)at \(failure.location)")
    if let expected = failure.expected { lines.append("\(indent)expected: \(expected)") }
    lines.append("\(indent)happened: \(failure.happened)")
    if let log = result.logPath {
      let count = result.transcriptTail.count
      lines.append(
        "\(indent)transcript \(log)" + (count == 0 ? " is empty" : ", last \(count) lines:"))
      lines += result.transcriptTail.map { "\(indent)  | \($0)" }
    }
    if !result.stderrTail.isEmpty {
      lines.append("\(indent)QEMU stderr:")
      lines += result.stderrTail.map { "\(indent)  | \($0)" }
    }
    return lines.joined(separator: "\n")
  }
}

/// Hands out 0..<count once each, to any number of threads.
private final class WorkQueue: @unchecked Sendable {
  private let lock = NSLock()
  private var next = 0
  private let count: Int

  init(count: Int) { self.count = count }

  func take() -> Int? {
    lock.withLock {
      guard next < count else { return nil }
      defer { next += 1 }
      return next
    }
  }
}
