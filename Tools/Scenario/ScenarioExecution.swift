// Runs one scenario: make (or reuse) its ISO, boot QEMU, wait for the first
// prompt, run the steps, and always stop QEMU and write the transcript log.
//
// Where an `expect` looks: in the output after the later of (a) the end of the
// previous match (the first prompt counts as one) and (b) the point where the
// last send was queued. So an expect can never be satisfied by text from
// before the command that should produce it, and two expects in a row must
// match in order. `send` never waits; `expect` does.
//
// `expect-not` covers the output of the current send window: from the last
// send (or from QEMU's start, before any send) until the next send or the end
// of the scenario. It is checked whenever a later step waits (so a panic fails
// the scenario at once instead of after a timeout) and when its window closes.
//
// A kernel panic fails every scenario, from QEMU's start to the end, unless
// one of its expects looks for "PANIC" (the scenarios that provoke one).
import Foundation

struct ScenarioResult: Sendable {
  struct Failure: Sendable {
    /// Which part failed, e.g. "step 3 (line 9): expect: poweroff".
    var location: String
    var expected: String?
    var happened: String
  }

  var file: String
  var name: String
  var bootTime: Double?
  var totalTime: Double = 0
  var failure: Failure?
  var logPath: String?
  var transcriptTail: [String] = []
  var stderrTail: [String] = []

  var passed: Bool { failure == nil }
}

struct ScenarioExecution {
  static let prompt = Array("tessera> ".utf8)
  static let tailLines = 25

  let scenario: Scenario
  let environment: RunnerEnvironment
  let isos: ISOCache
  /// Called with progress lines when --verbose is on.
  let trace: (@Sendable (String) -> Void)?

  private struct StepFailure: Error {
    var failure: ScenarioResult.Failure
  }

  /// An `expect-not` whose window is open.
  private struct Forbidden {
    var bytes: [UInt8]
    var from: Int
    var stepNumber: Int
    var step: Step
    /// For the whole scenario, not one send window (the panic watch).
    var always = false
  }

  /// The panic watch, unless the scenario expects a panic.
  private var panicWatch: [Forbidden] {
    let expectsPanic = scenario.steps.contains { step in
      if case .expect = step.action { return step.source.contains("PANIC") }
      return false
    }
    guard !expectsPanic else { return [] }
    let step = Step(
      line: 0, source: "(every scenario) no kernel panic", action: .expectNot(Self.panicText))
    return [Forbidden(bytes: Self.panicText, from: 0, stepNumber: 0, step: step, always: true)]
  }

  /// What Kernel/Arch/Panic.swift prints first, on either kernel instance.
  static let panicText = Array("KERNEL PANIC".utf8)

  func run() -> ScenarioResult {
    let clock = ContinuousClock()
    let began = clock.now
    var result = ScenarioResult(file: environment.display(scenario.file), name: scenario.name)
    var timeline: [String] = []
    let shownFile = result.file  // not result.file: drive() holds result inout while it notes
    func note(_ event: String) {
      let line = String(format: "+%7.2f s  %@", (clock.now - began).seconds, event)
      timeline.append(line)
      trace?("\(shownFile): \(line)")
    }

    let iso: String
    do {
      iso = try isos.iso(commandLine: scenario.commandLine, modules: scenario.modules)
    } catch {
      result.failure = .init(location: "setup", expected: nil, happened: error.description)
      result.totalTime = (clock.now - began).seconds
      return result
    }

    let session = QEMUSession(
      executable: environment.qemu,
      arguments: [iso, "\(scenario.smp)", scenario.memory, "\(scenario.numa)"]
        + scenario.qemuArguments,
      workingDirectory: environment.root)
    note("start: \(environment.display(session.commandDescription))")
    do {
      try session.start()
      try drive(session, result: &result, note: note)
      note("all steps passed")
    } catch let failed as StepFailure {
      result.failure = failed.failure
      note("FAIL \(failed.failure.location): \(failed.failure.happened)")
    } catch {
      result.failure = .init(
        location: "start", expected: nil, happened: "cannot start QEMU: \(error)")
    }
    session.stop()
    note("QEMU stopped (\(session.exitStatus?.description ?? "never started"))")
    result.totalTime = (clock.now - began).seconds

    let output = session.normalizedOutput
    result.transcriptTail = Printable.lastLines(output, count: Self.tailLines)
    result.stderrTail = Printable.lastLines(session.stderrOutput, count: 10)
    result.logPath = writeLog(session: session, result: result, timeline: timeline)
    if result.passed, !scenario.hostCheck.isEmpty, let log = result.logPath {
      if let failure = hostCheck(log: log) {
        result.failure = failure
        note("FAIL \(failure.location): \(failure.happened)")
        result.logPath = writeLog(session: session, result: result, timeline: timeline)
      } else {
        note("host check passed")
      }
    }
    return result
  }

  /// Runs the scenario's `host-check:` program on the written transcript.
  private func hostCheck(log: String) -> ScenarioResult.Failure? {
    let words = scenario.hostCheck.map { $0.replacingOccurrences(of: "{log}", with: log) }
    let executable = RunnerEnvironment.absolute(words[0], relativeTo: environment.root)
    let run = ToolRun.run(
      executable, Array(words.dropFirst()), workingDirectory: environment.root, timeout: 60)
    guard !run.succeeded else { return nil }
    let tail = Printable.lastLines(Array(run.output.utf8), count: 8).joined(separator: "\n")
    return .init(
      location: "host-check", expected: words.joined(separator: " "),
      happened: "\(run.summary):\n\(tail)")
  }

  private func drive(_ session: QEMUSession, result: inout ScenarioResult, note: (String) -> Void)
    throws
  {
    let startInstant = session.startInstant ?? ContinuousClock.now

    // Boot: the first prompt.
    let bootOutcome = session.wait(timeout: scenario.effectiveBootTimeout) {
      Matching.find(Self.prompt, in: $0, from: 0).map { $0 + Self.prompt.count }
    }
    var cursor = 0
    switch bootOutcome {
    case .satisfied(let end):
      cursor = end
      result.bootTime = (ContinuousClock.now - startInstant).seconds
      note(String(format: "first prompt (boot %.2f s)", result.bootTime!))
    case .timedOut:
      throw failure(
        "boot", expected: "the first prompt \"tessera> \"",
        happened: "timeout after \(format(scenario.effectiveBootTimeout)) s")
    case .exited(let exit):
      throw failure(
        "boot", expected: "the first prompt \"tessera> \"",
        happened: "\(exit) before the first prompt")
    }

    var sendMark = 0  // where the current send window began
    var forbidden: [Forbidden] = panicWatch

    for (index, step) in scenario.steps.enumerated() {
      let number = index + 1
      let location = "step \(number) (line \(step.line)): \(step.source)"
      note("step \(number) (line \(step.line)): \(step.source)")
      switch step.action {
      case .send(let bytes):
        try checkClosing(forbidden, in: session.normalizedOutput)
        forbidden.removeAll { !$0.always }
        if let exit = session.exitStatus {
          throw failure(
            location, expected: nil, happened: "\(exit) before this input could be typed")
        }
        sendMark = session.normalizedLength
        cursor = max(cursor, sendMark)
        session.send(bytes)

      case .expect(let matcher):
        let regex = try? matcherRegex(matcher)
        let from = cursor
        let outcome = session.wait(timeout: scenario.timeout) { text -> Found? in
          if let hit = firstForbidden(forbidden, in: text) { return .forbidden(hit) }
          return Matching.firstMatchEnd(matcher, regex: regex, in: text, from: from).map(
            Found.match)
        }
        switch outcome {
        case .satisfied(.match(let end)):
          cursor = end
        case .satisfied(.forbidden(let hit)):
          throw forbiddenFailure(hit, during: number)
        case .timedOut:
          throw failure(
            location, expected: matcher.summary,
            happened: "timeout after \(format(scenario.timeout)) s"
              + (isRegex(matcher) ? " (the regex did not match)" : ""))
        case .exited(let exit):
          throw failure(
            location, expected: matcher.summary, happened: "\(exit) without producing it")
        }

      case .expectNot(let bytes):
        let entry = Forbidden(bytes: bytes, from: sendMark, stepNumber: number, step: step)
        forbidden.append(entry)
        if let hit = firstForbidden([entry], in: session.normalizedOutput) {
          throw forbiddenFailure(hit, during: number)
        }

      case .waitExit(let seconds, let code):
        let outcome = session.wait(timeout: seconds) { text -> Forbidden? in
          firstForbidden(forbidden, in: text)
        }
        switch outcome {
        case .satisfied(let hit):
          throw forbiddenFailure(hit, during: number)
        case .timedOut:
          throw failure(
            location, expected: "QEMU to exit within \(format(seconds)) s",
            happened: "QEMU was still running after \(format(seconds)) s")
        case .exited(let exit):
          try checkClosing(forbidden, in: session.normalizedOutput)
          if let code, exit.bySignal || exit.status != code {
            throw failure(location, expected: "QEMU to exit with code \(code)", happened: "\(exit)")
          }
          note("\(exit)")
        }
      }
    }
    try checkClosing(forbidden, in: session.normalizedOutput)
  }

  private enum Found {
    case match(Int)
    case forbidden(Forbidden)
  }

  private func firstForbidden(_ list: [Forbidden], in text: [UInt8]) -> Forbidden? {
    list.first { Matching.find($0.bytes, in: text, from: $0.from) != nil }
  }

  /// An expect-not window ends (at the next send or the end): check it once more.
  private func checkClosing(_ list: [Forbidden], in text: [UInt8]) throws {
    if let hit = firstForbidden(list, in: text) { throw forbiddenFailure(hit, during: nil) }
  }

  private func forbiddenFailure(_ hit: Forbidden, during stepNumber: Int?) -> StepFailure {
    let since = hit.from == 0 ? "since QEMU started" : "since the last send"
    let when = stepNumber.map { " (noticed during step \($0))" } ?? ""
    return failure(
      "step \(hit.stepNumber) (line \(hit.step.line)): \(hit.step.source)",
      expected: "no \(Printable.quoted(hit.bytes)) in the output \(since)",
      happened: "it appeared\(when)")
  }

  private func failure(_ location: String, expected: String?, happened: String) -> StepFailure {
    StepFailure(failure: .init(location: location, expected: expected, happened: happened))
  }

  private func matcherRegex(_ matcher: Matcher) throws -> NSRegularExpression? {
    if case .regex(let pattern) = matcher { return try Matching.compile(pattern) }
    return nil
  }

  private func isRegex(_ matcher: Matcher) -> Bool {
    if case .regex = matcher { return true }
    return false
  }

  private func format(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
  }

  // MARK: Log

  /// Writes build/scenarios/<base>.log: a header with the result and a step
  /// timeline, then the raw serial bytes exactly as received, then stderr.
  private func writeLog(session: QEMUSession, result: ScenarioResult, timeline: [String]) -> String?
  {
    let path = environment.logPath(for: scenario.file)
    var header = "# scenario: \(result.file) — \(scenario.name)\n"
    header += "# qemu: \(environment.display(session.commandDescription))\n"
    header += "# cmdline: \(scenario.commandLine)\n"
    if let failure = result.failure {
      header += "# result: FAIL at \(failure.location)\n"
      if let expected = failure.expected { header += "#   expected: \(expected)\n" }
      header += "#   happened: \(failure.happened)\n"
    } else {
      header += "# result: PASS\n"
    }
    header += "# timeline:\n" + timeline.map { "#   \($0)\n" }.joined()
    header += "# ---- serial output (raw bytes as received) ----\n"
    var data = Data(header.utf8)
    data.append(contentsOf: session.rawTranscript)
    data.append(contentsOf: Array("\n# ---- qemu stderr ----\n".utf8))
    data.append(contentsOf: session.stderrOutput)
    do {
      try FileManager.default.createDirectory(
        atPath: environment.outputDirectory, withIntermediateDirectories: true)
      try data.write(to: URL(fileURLWithPath: path))
      return environment.display(path)
    } catch {
      return nil
    }
  }
}

extension Duration {
  var seconds: Double {
    let (whole, fraction) = components
    return Double(whole) + Double(fraction) / 1e18
  }
}
