/// The kernel monitor on the serial console: reads lines with the Core line
/// editor and runs commands from `ShellCommands.all`. No input stops it.
struct Shell {
  static let prompt: StaticString = "tessera> "
  static let lineLimit = 256

  var editor = LineEditor(limit: Shell.lineLimit)

  // The prompt and the echo hold the console's line lock (released when
  // the shell waits for input), so another CPU's line, or the other
  // instance's, never lands inside them; while the shell waits, its line is
  // open (PromptLine): output from elsewhere ends it, and the prompt and
  // the line typed so far come back after it.
  mutating func run() -> Never {
    editor.commands = ShellCommands.all.map { $0.name }
    // A module's name is the first word of its command line.
    editor.modules = (boot.bootInfo?.modules ?? []).compactMap {
      $0.commandLine.split(separator: " ").first.map(String.init)
    }
    writePrompt()
    while true {
      let byte = Serial.waitForByte()
      let output = editor.feed(byte)
      ConsoleLock.acquire(shell: true)
      PromptLine.redrawIfBroken()
      for b in output.echo { Serial.write(byte: b) }
      if output.event == nil {
        PromptLine.opened(with: editor.current)
      } else {
        PromptLine.closed()
      }
      ConsoleLock.release()
      guard let event = output.event else { continue }
      switch event {
      case .line(let text):
        execute(text)
      case .cancelled:
        break
      case .tooLong(let limit):
        print("error: line too long (more than \(limit) characters), ignored")
      }
      writePrompt()
    }
  }

  /// The prompt, holding the console until the shell waits for input.
  func writePrompt() {
    ConsoleLock.acquire(shell: true)
    Console.write(Self.prompt)
    PromptLine.opened(with: [])
  }

  func execute(_ line: String) {
    let command: ShellCommand?
    do {
      command = try ShellCommand.parse(line)
    } catch {
      print("error: \(error.description)")
      return
    }
    guard let command else { return }
    guard let entry = ShellCommands.all.first(where: { $0.name == command.name }) else {
      print("error: unknown command \"\(command.name)\" (try help)")
      return
    }
    entry.run(command.arguments)
  }
}
