import X86

/// What this CPU can do, from CPUID, read once at boot.
struct CPUFeatures {
  var noExecute = false
  var hugePages = false  // 1 GiB pages
  var vendor = ""

  static func detect() -> CPUFeatures {
    var features = CPUFeatures()
    let maxExtended = x86_cpuid(0x8000_0000, 0).eax
    if maxExtended >= 0x8000_0001 {
      let ext = x86_cpuid(0x8000_0001, 0)
      features.noExecute = ext.edx & (1 << 20) != 0
      features.hugePages = ext.edx & (1 << 26) != 0
    }
    let leaf0 = x86_cpuid(0, 0)
    var bytes: [UInt8] = []
    for word in [leaf0.ebx, leaf0.edx, leaf0.ecx] {
      for shift in stride(from: 0, to: 32, by: 8) {
        bytes.append(UInt8((word >> UInt32(shift)) & 0xFF))
      }
    }
    features.vendor = String(decoding: bytes, as: UTF8.self)
    return features
  }
}
