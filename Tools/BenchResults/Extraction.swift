/// Finding one catalogued figure or trace in a transcript and checking it:
/// the line must be there, must parse, and must sit below a `# qemu:` header
/// of the catalogued mode. Every problem becomes a message naming the
/// figure, the transcript and the line. A figure printed twice (a rerun)
/// counts once, from its LAST line; trace lines with the same label
/// concatenate in order.

/// How one transcript line relates to a label.
enum LineMatch: Equatable {
  /// Not this label's line (another label, possibly a longer one with this
  /// one as a prefix, or no figure at all).
  case unrelated
  case parsed(FigureLine)
  /// Starts with `LABEL:` but does not parse.
  case garbled
}

public enum Extraction {
  static func match(_ text: String, label: String) -> LineMatch {
    guard text.hasPrefix(label + ":") else { return .unrelated }
    guard let parsed = FigureLine.parse(text) else { return .garbled }
    return parsed.label == label ? .parsed(parsed) : .unrelated
  }

  /// The unit a result reports: a raw TSC `ticks` count is guest
  /// instructions under `-icount shift=0` and host cycles under plain TCG.
  public static func unit(_ raw: String, mode: TimingMode) -> String {
    guard raw == "ticks" else { return raw }
    return mode == .icount ? "instructions" : "cycles"
  }

  /// The figure's result, or every problem found with it.
  public static func figure(
    _ figure: Catalog.Figure, in transcript: Transcript, measured: String
  ) -> Result<FigureResult, BenchError> {
    let name = "figure \(figure.id)"
    var problems: [String] = []
    var found: (Transcript.Line, FigureLine)?
    for line in transcript.lines {
      switch match(line.text, label: figure.line) {
      case .unrelated: continue
      case .parsed(let parsed):
        if case .trace = parsed.value {
          problems.append(garbled(name, transcript, line, grammar: FigureLine.figureGrammar))
        } else {
          found = (line, parsed)
        }
      case .garbled:
        problems.append(garbled(name, transcript, line, grammar: FigureLine.figureGrammar))
      }
    }
    guard let (line, parsed) = found else {
      if problems.isEmpty {
        problems.append(absent(name, figure.line, "...", transcript))
      }
      return .failure(BenchError(problems))
    }
    let configuration: QEMUConfiguration
    switch checkedConfiguration(name, transcript, line, mode: figure.mode) {
    case .success(let checked): configuration = checked
    case .failure(let error): return .failure(BenchError(problems + error.messages))
    }
    if !problems.isEmpty { return .failure(BenchError(problems)) }

    let (median, min, max, rawUnit, samples): (Double, Double, Double, String, Int)
    switch parsed.value {
    case .summary(let m, let low, let high, let unit, let count):
      (median, min, max, rawUnit, samples) = (m, low, high, unit, count)
    case .value(let value, let unit, let count):
      (median, min, max, rawUnit, samples) = (value, value, value, unit, count)
    case .trace: preconditionFailure("trace lines are refused above")
    }
    let ratio = figure.peer.flatMap { $0.value > 0 ? median / $0.value : nil }
    return .success(
      FigureResult(
        id: figure.id, title: figure.title, group: figure.group, mode: figure.mode,
        unit: unit(rawUnit, mode: figure.mode), median: median, min: min, max: max,
        samples: samples, qemu: configuration.arguments, smp: configuration.smp,
        memory: configuration.memory, numa: configuration.numa, cpu: configuration.cpu,
        transcript: transcript.path, line: line.number, measured: measured, peer: figure.peer,
        ratio: ratio))
  }

  /// The trace's values (all its lines, in order), or every problem found.
  public static func trace(
    _ trace: Catalog.Trace, in transcript: Transcript, measured: String
  ) -> Result<TraceResult, BenchError> {
    let name = "trace \(trace.id)"
    var problems: [String] = []
    var values: [Int] = []
    var lines = 0
    for line in transcript.lines {
      switch match(line.text, label: trace.line) {
      case .unrelated: continue
      case .parsed(let parsed):
        guard case .trace(let more) = parsed.value else {
          problems.append(garbled(name, transcript, line, grammar: FigureLine.traceGrammar))
          continue
        }
        lines += 1
        values += more
        if case .failure(let error) = checkedConfiguration(name, transcript, line, mode: trace.mode)
        {
          problems += error.messages
        }
      case .garbled:
        problems.append(garbled(name, transcript, line, grammar: FigureLine.traceGrammar))
      }
    }
    if lines == 0 && problems.isEmpty {
      problems.append(absent(name, trace.line, "trace ...", transcript))
    }
    if !problems.isEmpty { return .failure(BenchError(problems)) }
    return .success(
      TraceResult(
        id: trace.id, title: trace.title, group: trace.group, mode: trace.mode, values: values,
        transcript: transcript.path, measured: measured))
  }

  private static func garbled(
    _ name: String, _ transcript: Transcript, _ line: Transcript.Line, grammar: String
  ) -> String {
    let why = FigureLine.inconsistency(line.text).map { "; here \($0)" } ?? ""
    return
      "\(name): \(transcript.path) line \(line.number) is garbled: '\(line.text)' (expected '\(grammar)'\(why))"
  }

  private static func absent(
    _ name: String, _ label: String, _ rest: String, _ transcript: Transcript
  ) -> String {
    "\(name): no line '\(label): \(rest)' in \(transcript.path) (the transcript ends at line \(transcript.lines.count): truncated?)"
  }

  /// The configuration of the header above `line`, if there is one, it
  /// parses and its mode is the catalogued one.
  private static func checkedConfiguration(
    _ name: String, _ transcript: Transcript, _ line: Transcript.Line, mode: TimingMode
  ) -> Result<QEMUConfiguration, BenchError> {
    let at = "\(name): \(transcript.path) line \(line.number)"
    guard let header = line.header else {
      return .failure(BenchError("\(at) has no '# qemu:' header above it, so its mode is unknown"))
    }
    guard let configuration = header.configuration else {
      return .failure(
        BenchError(
          "\(at): its '# qemu:' header at line \(header.number) does not parse: '\(header.text)' (expected '# qemu: PROGRAM ISO SMP MEM NUMA [extra...]')"
        ))
    }
    guard configuration.mode == mode else {
      return .failure(
        BenchError(
          "\(at) was measured in \(configuration.mode.rawValue) mode (the '# qemu:' header at line \(header.number): '\(configuration.arguments)'), but the catalog wants \(mode.rawValue)"
        ))
    }
    return .success(configuration)
  }
}
