import PropertyBased
import Testing

@testable import TesseraCore

@Suite struct KernelCommandLineTests {
  // MARK: good inputs

  @Test func emptyLineHasNoSettings() {
    let line = KernelCommandLine.parse("  \t ")
    #expect(line.options.isEmpty)
    #expect(line.maxCPUs == nil && line.serviceMemory == nil && line.lwkCPUs == nil)
    #expect(!line.debug && !line.quiet && !line.noFastPath)
    #expect(line.warnings.isEmpty && line.errors.isEmpty)
  }

  @Test func everyKnownOption() throws {
    let text =
      "maxcpus=2 mem=512M lwkcpus=2-3,6 lwkmem=1G ringmem=0x200000 nostart=1,5 console=ttyS0 debug quiet nofastpath"
    let line = KernelCommandLine.parse(text)
    #expect(line.errors.isEmpty)
    #expect(line.warnings.isEmpty)
    #expect(line.raw == text)
    #expect(line.maxCPUs == 2)
    #expect(line.serviceMemory == 512 << 20)
    #expect(line.lwkCPUs?.description == "2-3,6")
    #expect(line.lwkMemory == 1 << 30)
    #expect(line.ringMemory == 0x20_0000)
    #expect(line.notStarted?.description == "1,5")
    #expect(line.console == "ttyS0")
    #expect(line.debug && line.quiet && line.noFastPath)
    #expect(line.options.map(\.description) == text.split(separator: " ").map(String.init))
  }

  @Test func bareFlagHasNoValueAndEmptyValueIsKept() {
    let line = KernelCommandLine.parse("debug extra=")
    #expect(line.options == [.init(key: "debug", value: nil), .init(key: "extra", value: "")])
  }

  @Test func quotedValueKeepsSpacesAndDropsQuotes() {
    let line = KernelCommandLine.parse("console=\"ttyS0 115200\" mem=1G note=a\"b c\"d")
    #expect(line.errors.isEmpty)
    #expect(line.console == "ttyS0 115200")
    #expect(line.serviceMemory == 1 << 30)
    #expect(line.options.last == .init(key: "note", value: "ab cd"))
  }

  @Test func keysMayUseDigitsUnderscoreDashDot() {
    let line = KernelCommandLine.parse("a_b-c.d9=1")
    #expect(line.errors.isEmpty)
    #expect(line.options == [.init(key: "a_b-c.d9", value: "1")])
  }

  @Test func whitespaceOfAnyKindSeparates() {
    let line = KernelCommandLine.parse("\tmaxcpus=3\r\nquiet\u{0B}debug\u{0C}")
    #expect(line.maxCPUs == 3 && line.quiet && line.debug)
    #expect(line.errors.isEmpty)
  }

  @Test func maxCPUsBounds() {
    #expect(KernelCommandLine.parse("maxcpus=0").maxCPUs == 0)
    #expect(KernelCommandLine.parse("maxcpus=4096").maxCPUs == 4096)
    #expect(KernelCommandLine.parse("maxcpus=007").maxCPUs == 7)
  }

  // MARK: warnings

  @Test func unknownKeyWarnsAndIsKept() {
    let line = KernelCommandLine.parse("root=/dev/sda maxcpus=1")
    #expect(line.errors.isEmpty)
    #expect(line.warnings == ["root=/dev/sda: unknown option \"root\" ignored"])
    #expect(line.options.first == .init(key: "root", value: "/dev/sda"))
    #expect(line.maxCPUs == 1)
  }

  @Test func repeatedKeyLastWinsWithWarning() {
    let line = KernelCommandLine.parse("mem=1G maxcpus=2 mem=2G")
    #expect(line.serviceMemory == 2 << 30)
    #expect(line.warnings.count == 1)
    #expect(line.warnings.first?.hasPrefix("mem=2G:") == true)
    #expect(line.options.count == 3)
  }

  @Test func malformedRepeatKeepsEarlierValue() {
    let line = KernelCommandLine.parse("mem=1G mem=lots")
    #expect(line.serviceMemory == 1 << 30)
    #expect(line.errors.map(\.token) == ["mem=lots"])
    #expect(line.warnings.count == 1)
  }

  // MARK: malformed values: the error names the token, the rest still applies

  @Test(arguments: [
    ("mem=12Q", "invalid size \"12Q\" (expected a number with optional K/M/G/T suffix)"),
    ("mem=", "invalid size \"\" (expected a number with optional K/M/G/T suffix)"),
    ("mem=-1", "invalid size \"-1\" (expected a number with optional K/M/G/T suffix)"),
    ("mem=1.5G", "invalid size \"1.5G\" (expected a number with optional K/M/G/T suffix)"),
    ("mem=16777216T", "size \"16777216T\" does not fit in 64 bits"),
    ("lwkmem=99999999999999999999", "size \"99999999999999999999\" does not fit in 64 bits"),
    ("ringmem=0x", "invalid size \"0x\" (expected a number with optional K/M/G/T suffix)"),
    ("mem", "option \"mem\" needs a value (mem=SIZE)"),
    ("maxcpus=4097", "invalid CPU count \"4097\" (expected a decimal number 0...4096)"),
    ("maxcpus=two", "invalid CPU count \"two\" (expected a decimal number 0...4096)"),
    ("maxcpus=0x4", "invalid CPU count \"0x4\" (expected a decimal number 0...4096)"),
    ("maxcpus=-1", "invalid CPU count \"-1\" (expected a decimal number 0...4096)"),
    (
      "maxcpus=99999999999999999999999",
      "invalid CPU count \"99999999999999999999999\" (expected a decimal number 0...4096)"
    ),
    ("lwkcpus=5-3", "invalid CPU list \"5-3\" (range 5-3 is reversed)"),
    ("lwkcpus=1,,2", "invalid CPU list \"1,,2\" (an element is empty)"),
    ("lwkcpus=", "invalid CPU list \"\" (the list is empty)"),
    ("lwkcpus=a", "invalid CPU list \"a\" (\"a\" is not a CPU number)"),
    ("lwkcpus=4096", "invalid CPU list \"4096\" (CPU 4096 is not below 4096)"),
    ("nostart=x", "invalid CPU list \"x\" (\"x\" is not a CPU number)"),
    ("debug=1", "option \"debug\" takes no value"),
    ("console=", "option \"console\" needs a value (console=NAME)"),
    ("Mem=1G", "invalid option name \"Mem\" (expected lowercase letters, digits, '_', '-' or '.')"),
    ("=1", "invalid option name \"\" (expected lowercase letters, digits, '_', '-' or '.')"),
    ("m$m=1", "invalid option name \"m$m\" (expected lowercase letters, digits, '_', '-' or '.')"),
    ("console=\"ttyS0", "unterminated quote"),
  ])
  func malformedTokenIsReportedAndOthersStillApply(token: String, message: String) {
    let line = KernelCommandLine.parse("maxcpus=3 \(token) quiet lwkmem=4M")
    #expect(line.errors == [CommandLineError(token: token, message: message)])
    #expect(line.errors.first?.description == "\(token): \(message)")
    #expect(line.maxCPUs == 3)
    #expect(line.quiet)
    #expect(line.lwkMemory == 4 << 20)
  }

  @Test func unterminatedQuoteEndsAtNextWhitespaceSoLaterTokensParse() {
    let line = KernelCommandLine.parse("console=\"tty s0 mem=1G")
    #expect(line.errors.map(\.token) == ["console=\"tty"])
    #expect(line.serviceMemory == 1 << 30)
    #expect(line.console == nil)
    // "s0" is a stray bare word: unknown, so only a warning.
    #expect(line.warnings.count == 1)
  }

  @Test func manyErrorsAreAllReported() {
    let line = KernelCommandLine.parse("mem=x lwkcpus=9-1 maxcpus=y debug")
    #expect(line.errors.map(\.token) == ["mem=x", "lwkcpus=9-1", "maxcpus=y"])
    #expect(line.debug)
    #expect(line.serviceMemory == nil && line.lwkCPUs == nil && line.maxCPUs == nil)
  }

  @Test func knownOptionTableIsConsistent() {
    for option in KernelCommandLine.KnownOption.allCases {
      #expect(KernelCommandLine.KnownOption.named(ArraySlice(option.key.utf8)) == option)
      #expect(option.syntax.hasPrefix(option.key))
      #expect(option.takesValue == option.syntax.contains("="))
    }
  }

  // MARK: properties

  @Test func arbitraryBytesNeverTrap() async {
    await propertyCheck(count: 2000, input: Gen<UInt8>.value(in: 0...255).array(of: 0...80)) {
      bytes in
      let text = String(decoding: bytes, as: UTF8.self)
      let line = KernelCommandLine.parse(text)
      #expect(line.raw == text)
      // Every error and warning names a token that occurs in the input.
      for error in line.errors { #expect(text.contains(error.token)) }
    }
  }

  @Test func arbitraryOptionLikeTextNeverTraps() async {
    // Bytes drawn from the command-line alphabet hit the parser's real paths.
    let alphabet = Array("mem=lwkcpus maxcpus ringmem debug 0123456789xKMGTB-,\"\t".utf8)
    await propertyCheck(count: 2000, input: Gen.element(of: alphabet).array(of: 0...60)) { picked in
      let bytes = picked.compactMap { $0 }
      let line = KernelCommandLine.parse(String(decoding: bytes, as: UTF8.self))
      #expect(line.options.count + line.errors.count >= line.options.count)
      if let cpus = line.lwkCPUs { #expect(cpus.count <= CPUList.capacity) }
      if let count = line.maxCPUs { #expect((0...4096).contains(count)) }
    }
  }
}

@Suite struct KernelCommandLineSizeTests {
  static let validCases: [(String, UInt64)] = [
    ("0", UInt64(0)), ("4096", 4096), ("0x1000", 0x1000), ("0X1f", 0x1F),
    ("1K", 1024), ("1k", 1024), ("1KB", 1024), ("1kb", 1024),
    ("3M", 3 << 20), ("3m", 3 << 20), ("3MB", 3 << 20),
    ("2G", 2 << 30), ("2g", 2 << 30), ("2Gb", 2 << 30),
    ("5T", 5 << 40), ("5t", 5 << 40), ("5TB", 5 << 40),
    ("0x10M", 16 << 20), ("0x1B", 0x1B),
    ("18446744073709551615", .max), ("0xFFFFFFFFFFFFFFFF", .max),
    ("16777215T", 16_777_215 << 40), ("17179869183G", 17_179_869_183 << 30),
  ]

  @Test(arguments: validCases)
  func validSizes(text: String, bytes: UInt64) throws {
    #expect(try SizeValue.parse(text) == bytes)
  }

  static let invalidCases: [(String, SizeValue.ParseError)] = [
    ("", .invalid), ("K", .invalid), ("12Q", .invalid), ("12B", .invalid),
    ("12KK", .invalid), ("12KBB", .invalid), ("12 K", .invalid), ("+1", .invalid),
    ("0x", .invalid), ("0xG", .invalid), ("1P", .invalid), ("12KiB", .invalid),
    ("18446744073709551616", .overflow), ("0x10000000000000000", .overflow),
    ("16777216T", .overflow), ("17179869184G", .overflow), ("16777216TB", .overflow),
    ("18014398509481984K", .overflow),
  ]

  @Test(arguments: invalidCases)
  func invalidSizes(text: String, error: SizeValue.ParseError) {
    #expect(throws: error) { try SizeValue.parse(text) }
  }

  @Test func formatPicksLargestExactUnit() {
    #expect(SizeValue.format(0) == "0")
    #expect(SizeValue.format(1536) == "1536")
    #expect(SizeValue.format(2048) == "2K")
    #expect(SizeValue.format(512 << 20) == "512M")
    #expect(SizeValue.format(1 << 50) == "1024T")
    #expect(SizeValue.format(.max) == "18446744073709551615")
  }

  @Test func formattedSizeParsesBack() async {
    await propertyCheck(count: 1000, input: Gen<UInt64>.value(), Gen.int(in: 0...4)) { raw, power in
      // Keep the number small enough for its unit, as a real size would be.
      let number = raw >> UInt64(power * 10)
      let bytes = number << UInt64(power * 10)
      let suffix = ["", "K", "M", "G", "T"][power]
      #expect((try? SizeValue.parse(String(number) + suffix)) == bytes)
      #expect((try? SizeValue.parse(SizeValue.format(bytes))) == bytes)
    }
  }

  @Test func anyNumberWithAnySuffixParsesOrReportsOverflow() async {
    await propertyCheck(count: 1000, input: Gen<UInt64>.value(), Gen.int(in: 0...4)) {
      number, power in
      let suffix = ["", "k", "m", "g", "t"][power]
      let (product, overflow) = number.multipliedReportingOverflow(by: 1 << UInt64(power * 10))
      if overflow {
        #expect(throws: SizeValue.ParseError.overflow) {
          try SizeValue.parse(String(number) + suffix)
        }
      } else {
        #expect((try? SizeValue.parse(String(number) + suffix)) == product)
      }
    }
  }
}

@Suite struct KernelCommandLineCPUListTests {
  @Test(arguments: [
    ("0-3,6", [0, 1, 2, 3, 6], "0-3,6"),
    ("2", [2], "2"),
    ("1,3,5-7", [1, 3, 5, 6, 7], "1,3,5-7"),
    ("7,5-6,1,3", [1, 3, 5, 6, 7], "1,3,5-7"),
    ("0-2,1-4", [0, 1, 2, 3, 4], "0-4"),
    ("3-3", [3], "3"),
    ("63,64", [63, 64], "63-64"),
    ("4095", [4095], "4095"),
    ("0-4095", Array(0..<4096), "0-4095"),
  ])
  func validLists(text: String, cpus: [Int], canonical: String) throws {
    let list = try CPUList.parse(text)
    #expect(Array(list) == cpus)
    #expect(list.count == cpus.count)
    #expect(list.description == canonical)
    #expect(try CPUList.parse(canonical) == list)
    for cpu in cpus { #expect(list.contains(cpu)) }
    #expect(!list.contains(-1) && !list.contains(4096))
  }

  @Test(arguments: [
    ("", CPUList.ParseError.empty), (",", .emptyElement), ("1,", .emptyElement),
    (",1", .emptyElement), ("1,,2", .emptyElement), ("5-3", .reversedRange(5, 3)),
    ("a", .notANumber("a")), ("1-", .notANumber("")), ("-1", .notANumber("")),
    ("1-2-3", .notANumber("1-2-3")), ("0x3", .notANumber("0x3")), (" 1", .notANumber(" 1")),
    ("4096", .tooLarge("4096")), ("0-4096", .tooLarge("4096")),
    ("99999999999999999999999", .tooLarge("99999999999999999999999")),
  ])
  func invalidLists(text: String, error: CPUList.ParseError) {
    #expect(throws: error) { try CPUList.parse(text) }
  }

  @Test func insertAndRemoveKeepCanonicalStorage() {
    var list = CPUList()
    #expect(list.isEmpty && list.description == "")
    let insertedInRange = list.insert(200)
    let insertedOutOfRange = list.insert(4096) || list.insert(-1)
    #expect(insertedInRange && !insertedOutOfRange)
    list.insert(3)
    #expect(list.description == "3,200")
    list.remove(200)
    #expect(list == (try? CPUList.parse("3")))
    list.remove(3)
    #expect(list == CPUList())
  }

  @Test func randomSetsRoundTripThroughDescription() async {
    let cpus = Gen.int(in: 0...(CPUList.capacity - 1)).array(of: 1...40)
    let clustered = Gen.int(in: 0...70).array(of: 1...40)  // many adjacent runs
    await propertyCheck(count: 500, input: cpus, clustered) { spread, dense in
      for numbers in [spread, dense] {
        var list = CPUList()
        for cpu in numbers { list.insert(cpu) }
        let model = Array(Set(numbers)).sorted()
        #expect(Array(list) == model)
        #expect(list.count == model.count)
        #expect((try? CPUList.parse(list.description)) == list)
      }
    }
  }
}
