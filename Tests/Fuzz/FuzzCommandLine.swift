// Fuzz target `cmdline`: the input is a kernel command line (bytes taken as
// UTF-8, invalid sequences repaired as the loader's string would be).
// Properties:
// - every dropped token an error quotes is a piece of the input;
// - each setting is what the last well-formed occurrence of its key gives
//   (checked against the option list and the value parsers);
// - the options re-encoded as `key="value"` parse back to the same options
//   and settings, with only the errors of values (not of tokens) again;
// - CPU lists and sizes print in a form that parses back to them;
// - parsing is deterministic.

func fuzzCommandLine(_ bytes: [UInt8]) {
  let text = String(decoding: bytes, as: UTF8.self)
  let line = KernelCommandLine.parse(text)
  let raw = Array(text.utf8)
  require(line.raw == text, "cmdline: raw text changed")
  for error in line.errors {
    require(contains(raw, Array(error.token.utf8)), "cmdline: error token not in the input")
    _ = error.description
  }
  let tokenErrors = line.errors.filter { isTokenError($0) }.count
  require(line.options.count + tokenErrors <= raw.count, "cmdline: more tokens than bytes")

  // Settings: the last option with the key whose value parses.
  func last<T>(_ key: String, _ parse: ([UInt8]) -> T?) -> T? {
    for option in line.options.reversed() where option.key == key {
      if let value = option.value, let parsed = parse(Array(value.utf8)) { return parsed }
    }
    return nil
  }
  func size(_ value: [UInt8]) -> UInt64? { try? SizeValue.parse(ArraySlice(value)) }
  func cpus(_ value: [UInt8]) -> CPUList? { try? CPUList.parse(ArraySlice(value)) }
  func count(_ value: [UInt8]) -> Int? {
    guard let number = try? UnsignedNumber.parse(ArraySlice(value), hexAllowed: false),
      number <= UInt64(CPUList.capacity)
    else { return nil }
    return Int(number)
  }
  require(line.serviceMemory == last("mem", size), "cmdline: mem is not the last valid value")
  require(line.lwkMemory == last("lwkmem", size), "cmdline: lwkmem is not the last valid value")
  require(line.ringMemory == last("ringmem", size), "cmdline: ringmem is not the last valid")
  require(line.maxCPUs == last("maxcpus", count), "cmdline: maxcpus is not the last valid value")
  require(line.lwkCPUs == last("lwkcpus", cpus), "cmdline: lwkcpus is not the last valid value")
  require(line.notStarted == last("nostart", cpus), "cmdline: nostart is not the last valid")
  require(
    line.console == last("console") { $0.isEmpty ? nil : String(decoding: $0, as: UTF8.self) },
    "cmdline: console is not the last valid value")
  require(
    line.debug == line.options.contains { $0.key == "debug" && $0.value == nil },
    "cmdline: debug flag")
  require(
    line.quiet == line.options.contains { $0.key == "quiet" && $0.value == nil },
    "cmdline: quiet flag")

  // Canonical printing of the values parses back.
  for list in [line.lwkCPUs, line.notStarted] {
    if let list { require((try? CPUList.parse(list.description)) == list, "cmdline: CPU list") }
  }
  for size in [line.serviceMemory, line.lwkMemory, line.ringMemory] {
    if let size { require((try? SizeValue.parse(SizeValue.format(size))) == size, "cmdline: size") }
  }

  // Round trip through a canonical spelling of the well-formed tokens.
  var canonical = ""
  for option in line.options {
    if !canonical.isEmpty { canonical += " " }
    canonical += option.key
    if let value = option.value { canonical += "=\"" + value + "\"" }
  }
  let again = KernelCommandLine.parse(canonical)
  require(again.options == line.options, "cmdline: options changed in a round trip")
  require(
    again.maxCPUs == line.maxCPUs && again.serviceMemory == line.serviceMemory
      && again.lwkCPUs == line.lwkCPUs && again.notStarted == line.notStarted
      && again.lwkMemory == line.lwkMemory && again.ringMemory == line.ringMemory
      && again.console == line.console && again.debug == line.debug
      && again.quiet == line.quiet,
    "cmdline: settings changed in a round trip")
  require(
    again.errors.count == line.errors.count - tokenErrors,
    "cmdline: value errors changed in a round trip")
  let repeated = KernelCommandLine.parse(text)
  require(
    repeated.options == line.options && repeated.errors == line.errors
      && repeated.warnings == line.warnings, "cmdline: not deterministic")
}

/// Errors about the token itself (it is not in `options`), not its value.
private func isTokenError(_ error: CommandLineError) -> Bool {
  error.message == "unterminated quote" || error.message.hasPrefix("invalid option name")
}

/// Whether `needle` occurs in `haystack` as consecutive bytes.
private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
  guard needle.count <= haystack.count else { return false }
  if needle.isEmpty { return true }
  for start in 0...(haystack.count - needle.count)
  where haystack[start..<(start + needle.count)].elementsEqual(needle) {
    return true
  }
  return false
}
