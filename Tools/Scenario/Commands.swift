// The command line: `tessera-scenario run` (the boot-scenario suite),
// `tessera-scenario boot-time` (the boot-to-prompt measurement) and
// `tessera-scenario profile` (ProfileCommand.swift).
import ArgumentParser
import Foundation

@main
struct TesseraScenario: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tessera-scenario",
    abstract: "Boot Tessera under QEMU and drive its serial shell.",
    discussion: """
      Test hook: if \(RunnerEnvironment.qemuOverrideVariable) is set, that program is run instead of \
      Tools/qemu.sh, with the same arguments (ISO SMP MEM NUMA), its stdin/stdout standing for the serial console.
      """,
    subcommands: [Run.self, BootTime.self, Profile.self]
  )
}

extension TesseraScenario {
  struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Run boot scenarios and print one PASS/FAIL line each, then 'N passed, N failed'.",
      discussion:
        "Transcripts are saved to build/scenarios/<scenario>.log. Scenario syntax: Tests/Scenarios/README.md."
    )

    @Option(help: "The kernel ELF to boot (default: build/tessera.elf in the repository).")
    var kernel: String?

    @Option(help: "Scenarios run at once. Every QEMU runs TCG and takes about a core.")
    var jobs = 2

    @Option(
      help: "Run only scenarios whose file name or name contains this text (case-insensitive).")
    var filter: String?

    @Flag(help: "Print each step as it runs.")
    var verbose = false

    @Option(help: "Hosted unit tests that passed, added to the closing 'N passed, N failed' line.")
    var hostedPassed = 0

    @Option(
      help: "Hosted unit tests that failed, added to the closing line (and to the exit status).")
    var hostedFailed = 0

    @Argument(help: "Scenario files or directories of *.scenario files (default: Tests/Scenarios).")
    var paths: [String] = []

    func validate() throws {
      guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
      guard hostedPassed >= 0, hostedFailed >= 0 else {
        throw ValidationError("hosted counts cannot be negative")
      }
    }

    func run() throws {
      Signals.install()
      let environment = RunnerEnvironment(kernel: kernel)
      let files = try scenarioFiles(environment: environment)
      let suite = Suite(environment: environment, jobs: jobs, verbose: verbose)
      let (passed, failed) = suite.run(files: files, filter: filter)
      SessionRegistry.shared.parkIfShuttingDown()
      if passed + failed == 0 {
        let why = filter.map { "no scenario matches '\($0)'" } ?? "no *.scenario files found"
        FileHandle.standardError.write(Data("tessera-scenario: \(why)\n".utf8))
      }
      print("\(passed + hostedPassed) passed, \(failed + hostedFailed) failed")
      if failed + hostedFailed > 0 || passed + failed == 0 { throw ExitCode.failure }
    }

    /// The files named, with directories replaced by their *.scenario files
    /// (not recursive), in name order.
    private func scenarioFiles(environment: RunnerEnvironment) throws -> [String] {
      let current = FileManager.default.currentDirectoryPath
      let roots = paths.isEmpty ? [environment.defaultScenarioDirectory] : paths
      var files: [String] = []
      for path in roots {
        var isDirectory: ObjCBool = false
        let absolute = RunnerEnvironment.absolute(path, relativeTo: current)
        guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory) else {
          throw ValidationError("no such file or directory: \(path)")
        }
        if isDirectory.boolValue {
          let names = try FileManager.default.contentsOfDirectory(atPath: absolute)
          files += names.filter { $0.hasSuffix(".scenario") }.sorted().map { absolute + "/" + $0 }
        } else {
          files.append(absolute)
        }
      }
      return files
    }
  }

  struct BootTime: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract:
        "Boot to the first prompt several times; print each wall time and the median, min and max.",
      discussion: """
        The time runs from starting QEMU (ISO already built) to the first 'tessera> ' on the serial \
        console. The kernel's own part (its 'boot: kernel entry to prompt' line, from the TSC) is \
        split off; the rest is firmware and loader. The closing figure lines have the format \
        make bench's collector reads, under a '# qemu:' header naming the configuration.
        """
    )

    @Option(help: "The kernel ELF to boot (default: build/tessera.elf in the repository).")
    var kernel: String?

    @Option(help: "CPUs.")
    var smp = 1

    @Option(help: "Memory, e.g. 128M or 1G.")
    var mem = "128M"

    @Option(help: "NUMA nodes (0: no -numa).")
    var numa = 0

    @Option(help: "Kernel command line.")
    var cmdline = ""

    @Option(help: "How many boots.")
    var runs = 5

    @Option(help: "Seconds allowed for each boot.")
    var timeout = 30.0

    func validate() throws {
      guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
      guard smp >= 1, numa >= 0 else { throw ValidationError("--smp must be >= 1 and --numa >= 0") }
      guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() throws {
      Signals.install()
      let environment = RunnerEnvironment(kernel: kernel)
      let isos = ISOCache(environment: environment)
      SessionRegistry.shared.addCleanup { isos.removeAll() }
      defer { isos.removeAll() }

      // A one-step scenario: boot, then stop. ScenarioExecution does the rest.
      var scenario = Scenario(file: "boot-time.scenario", name: "boot time")
      scenario.smp = smp
      scenario.memory = mem
      scenario.numa = numa
      scenario.commandLine = cmdline
      scenario.timeout = timeout
      print("# qemu: Tools/qemu.sh - \(smp) \(mem) \(numa)")
      print("boot time: smp \(smp), mem \(mem), numa \(numa), cmdline \"\(cmdline)\", \(runs) runs")
      var times: [Double] = []
      var kernelTimes: [Double] = []
      for run in 1...runs {
        let result = ScenarioExecution(
          scenario: scenario, environment: environment, isos: isos, trace: nil
        ).run()
        SessionRegistry.shared.parkIfShuttingDown()
        guard let boot = result.bootTime, result.passed else {
          print(Suite.format(result))
          throw ExitCode.failure
        }
        guard let kernel = Self.kernelPart(log: result.logPath) else {
          print(
            "run \(run): no 'boot: kernel entry to prompt: X ms' line in \(result.logPath ?? "the log")"
          )
          throw ExitCode.failure
        }
        times.append(boot)
        kernelTimes.append(kernel)
        print(String(format: "run %d: %.3f s, the kernel's part %.3f s", run, boot, kernel))
      }
      let label = "boot-time smp \(smp) nodes \(max(numa, 1))"
      print(Self.figure("\(label): QEMU start to prompt", times))
      print(Self.figure("\(label): kernel entry to prompt", kernelTimes))
      print(Self.figure("\(label): firmware and loader", zip(times, kernelTimes).map { $0 - $1 }))
    }

    /// The kernel's part of the boot in seconds, from its transcript.
    static func kernelPart(log: String?) -> Double? {
      guard let log, let text = try? String(contentsOfFile: log, encoding: .utf8) else {
        return nil
      }
      let prefix = "boot: kernel entry to prompt: "
      for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix(prefix) {
        let milliseconds = line.dropFirst(prefix.count).split(separator: " ").first
        return milliseconds.flatMap { Double($0) }.map { $0 / 1000 }
      }
      return nil
    }

    /// `label: median M min m max x s (N samples)`, seconds to the millisecond.
    static func figure(_ label: String, _ values: [Double]) -> String {
      let sorted = values.sorted()
      return label
        + String(
          format: ": median %.3f min %.3f max %.3f s (%d samples)", sorted[sorted.count / 2],
          sorted.first!, sorted.last!, sorted.count)
    }
  }
}
