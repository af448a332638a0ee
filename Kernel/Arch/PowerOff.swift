import X86

/// ACPI soft-off (S5). Placeholder until the ACPI parser lands.
enum PowerOff {
  static func run() {
    print("poweroff: not available yet")
  }
}
