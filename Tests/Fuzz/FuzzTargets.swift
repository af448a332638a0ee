// The list of fuzz targets: a name (what TESSERA_FUZZ_TARGET and the corpus
// directory Tests/Fuzz/Corpus/NAME are called), the largest input worth
// trying, and the function that checks one input. Adding a target is one
// line here, one file with its function, and a seeded corpus directory.

struct FuzzTarget {
  let name: String
  /// libFuzzer's -max_len for this target (Tools/fuzz.sh reads it from
  /// the listing TESSERA_FUZZ_LIST=1 prints).
  let maximumLength: Int
  let run: ([UInt8]) -> Void

  static let all: [FuzzTarget] = [
    FuzzTarget(name: "multiboot2", maximumLength: 4096, run: fuzzMultiboot2),
    FuzzTarget(name: "cmdline", maximumLength: 512, run: fuzzCommandLine),
    FuzzTarget(name: "rsdp", maximumLength: 256, run: fuzzRSDP),
    FuzzTarget(name: "acpi-root", maximumLength: 512, run: fuzzACPIDirectory),
    FuzzTarget(name: "madt", maximumLength: 1024, run: fuzzMADT),
    FuzzTarget(name: "srat", maximumLength: 1024, run: fuzzSRAT),
    FuzzTarget(name: "slit", maximumLength: 512, run: fuzzSLIT),
    FuzzTarget(name: "poweroff", maximumLength: 2048, run: fuzzACPIPowerOff),
    FuzzTarget(name: "elf", maximumLength: 8192, run: fuzzELF),
    FuzzTarget(name: "handoff", maximumLength: 2048, run: fuzzHandoffBlock),
    FuzzTarget(name: "message-header", maximumLength: 18, run: fuzzMessageHeader),
    FuzzTarget(name: "control-message", maximumLength: 64, run: fuzzControlMessage),
    FuzzTarget(name: "shipped", maximumLength: 512, run: fuzzShipped),
    FuzzTarget(name: "capability-message", maximumLength: 64, run: fuzzCapabilityMessage),
    FuzzTarget(name: "capability-bundle", maximumLength: 512, run: fuzzCapabilityBundle),
    FuzzTarget(name: "channel-ring", maximumLength: 1024, run: fuzzChannelRing),
    FuzzTarget(name: "line-editor", maximumLength: 1024, run: fuzzLineEditor),
    FuzzTarget(name: "shell-command", maximumLength: 512, run: fuzzShellCommand),
    FuzzTarget(name: "shipping-queue", maximumLength: 2048, run: fuzzShippingQueue),
  ]

  static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}
