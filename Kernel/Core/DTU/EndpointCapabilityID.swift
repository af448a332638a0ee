// The names of endpoint capabilities across kernel instances, and what such
// a capability grants.
//
// SemperOS gives every capability a 64-bit ID that encodes its home, so any
// kernel can tell where to send a message about it (REFERENCES.md). Here the
// ID names the kernel instance that holds the capability's record, the
// record's index in that kernel's EndpointCapabilityDirectory, and the
// record's generation, bumped whenever the record is freed: an ID of a
// revoked or refused capability never names the record that reuses its
// index, so a late message about it finds nothing instead of the wrong
// capability.
//
// Layout: kernel << 48 | generation << 16 | index. Generation 0 is never
// used, so the zero word (and every ID with generation 0) names nothing.

public struct EndpointCapabilityID: Equatable, Hashable, Sendable {
  public let rawValue: UInt64

  public init(kernel: UInt16, index: UInt16, generation: UInt32) {
    rawValue = UInt64(kernel) << 48 | UInt64(generation) << 16 | UInt64(index)
  }

  /// nil for a word with generation 0 (no capability has it).
  public init?(rawValue: UInt64) {
    guard (rawValue >> 16) & 0xFFFF_FFFF != 0 else { return nil }
    self.rawValue = rawValue
  }

  /// The kernel instance holding the capability.
  public var kernel: UInt16 { UInt16(truncatingIfNeeded: rawValue >> 48) }
  public var generation: UInt32 { UInt32(truncatingIfNeeded: rawValue >> 16) }
  public var index: UInt16 { UInt16(truncatingIfNeeded: rawValue) }

  /// E.g. "k1:5.3" (kernel 1, record 5, generation 3).
  public var description: String {
    "k" + String(kernel) + ":" + String(index) + "." + String(generation)
  }
}

/// What an endpoint capability grants: sending to one receive endpoint
/// (held by the DTU of the capability's home kernel) under one label. It is
/// copied unchanged along every derivation, local or across kernels, so the
/// receiver can trust the label (DESIGN.md: chosen by whoever minted it).
public struct EndpointCapability: Equatable, Hashable, Sendable {
  public var endpoint: EndpointAddress
  public var label: UInt64

  public init(endpoint: EndpointAddress, label: UInt64) {
    self.endpoint = endpoint
    self.label = label
  }
}
