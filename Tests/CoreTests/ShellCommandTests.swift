import PropertyBased
import Testing

@testable import TesseraCore

@Suite struct ShellCommandTests {
  @Test(arguments: [
    ("", [String]()),
    ("   \t ", []),
    ("help", ["help"]),
    ("  mem   map\t0x1000  ", ["mem", "map", "0x1000"]),
    ("echo \"a b\"", ["echo", "a b"]),
    ("echo \"a b\"c d", ["echo", "a bc", "d"]),
    ("echo x\"\"y", ["echo", "xy"]),
    ("echo \"\" end", ["echo", "", "end"]),
    ("say \"tab\tinside\"", ["say", "tab\tinside"]),
    ("a\"b\"c", ["abc"]),
  ])
  func splitsWords(line: String, words: [String]) throws {
    #expect(try ShellCommand.words(of: line) == words)
  }

  @Test func parseGivesNameAndArguments() throws {
    #expect(
      try ShellCommand.parse("cap  copy 3 4")
        == ShellCommand(name: "cap", arguments: ["copy", "3", "4"]))
    #expect(try ShellCommand.parse("ps") == ShellCommand(name: "ps", arguments: []))
    #expect(try ShellCommand.parse("  ") == nil)
  }

  @Test func unterminatedQuoteIsAnError() {
    #expect(throws: ShellCommand.SyntaxError(offset: 5)) {
      try ShellCommand.words(of: "echo \"abc")
    }
    #expect(throws: ShellCommand.SyntaxError(offset: 8)) { try ShellCommand.parse("echo \"\" \"") }
    #expect(ShellCommand.SyntaxError(offset: 5).description == "unterminated quote at column 6")
  }

  @Test(arguments: [
    ("0", UInt64(0)), ("42", 42), ("007", 7), ("0x0", 0), ("0x1f", 0x1F), ("0XFF", 0xFF),
    ("18446744073709551615", .max), ("0xffffffffffffffff", .max),
  ])
  func unsignedNumbers(word: String, value: UInt64) {
    #expect(ShellCommand.parseUnsigned(word) == value)
  }

  @Test(arguments: [
    "", "x", "-1", "+1", " 1", "1 ", "0x", "0xg", "12a", "1_000", "١٢",
    "18446744073709551616", "0x10000000000000000", "99999999999999999999999999",
  ])
  func notUnsignedNumbers(word: String) {
    #expect(ShellCommand.parseUnsigned(word) == nil)
  }

  @Test func unsignedNumbersRoundTrip() async {
    await propertyCheck(count: 1000, input: Gen<UInt64>.value()) { value in
      #expect(ShellCommand.parseUnsigned(String(value)) == value)
      #expect(ShellCommand.parseUnsigned("0x" + String(value, radix: 16)) == value)
      #expect(ShellCommand.parseUnsigned("0X" + String(value, radix: 16, uppercase: true)) == value)
    }
  }

  @Test func wordsWithoutQuotesOrBlanksSurviveJoining() async {
    let word = Gen.letterOrNumber.string(of: 1...8)
    await propertyCheck(count: 500, input: word.array(of: 0...6)) { words in
      #expect((try? ShellCommand.words(of: words.joined(separator: " \t "))) == words)
      // Quoting every word changes nothing.
      let quoted = words.map { "\"" + $0 + "\"" }.joined(separator: " ")
      #expect((try? ShellCommand.words(of: quoted)) == words)
    }
  }

  @Test func arbitraryBytesNeverTrap() async {
    await propertyCheck(count: 1000, input: Gen<UInt8>.value(in: 0...255).array(of: 0...60)) {
      bytes in
      let line = String(decoding: bytes, as: UTF8.self)
      let quotes = bytes.filter { $0 == UInt8(ascii: "\"") }.count
      do {
        let words = try ShellCommand.words(of: line)
        #expect(quotes % 2 == 0)
        for word in words { #expect(!word.contains("\"")) }
      } catch {
        #expect(quotes % 2 == 1)
      }
      _ = ShellCommand.parseUnsigned(line)
    }
  }
}
