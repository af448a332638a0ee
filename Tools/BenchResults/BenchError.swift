/// The collector's one error type: a list of messages, each complete (naming
/// the figure, the transcript and the line), so that every problem of a run
/// is reported at once instead of only the first.
public struct BenchError: Error, Equatable, CustomStringConvertible, Sendable {
  public var messages: [String]

  public init(_ messages: [String]) { self.messages = messages }
  public init(_ message: String) { self.messages = [message] }

  public var description: String { messages.joined(separator: "\n") }
}
