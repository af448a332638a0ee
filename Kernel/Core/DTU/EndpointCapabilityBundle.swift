// The unit of one kernel-to-kernel exchange about endpoint capabilities: a
// few EndpointCapabilityMessages, each with two words the sending kernel
// attaches (where the delegated channel is, how many credits the importer
// asked for; EndpointDelegation in the kernel gives them their meaning), and
// a flag that says the sender has more queued. One exchange carries a
// bundle each way, so a revoke that fans out to several children, and the
// answers it causes, travel in a few round trips instead of one per message.
//
// The bytes come from the other kernel instance: decoding checks the header
// and every message, and names the first problem (for a message, its index
// and the field), never trapping on any input.
//
// Layout, little-endian:
//
//   0   u32  magic "TEcb" (54 45 63 62)
//   4   u8   count, 0...maximum
//   5   u8   flags: bit 0 "more queued"; the other bits 0
//   6   u16  reserved: 0
//   8   count entries of 64 bytes: the message (48 bytes, the layout in
//       EndpointCapabilityMessage.swift), then extra0 and extra1 (u64)

/// One message and the two words its kernel attached.
public struct EndpointCapabilityEnvelope: Equatable, Hashable, Sendable {
  public var message: EndpointCapabilityMessage
  public var extra0: UInt64
  public var extra1: UInt64

  public init(_ message: EndpointCapabilityMessage, extra0: UInt64 = 0, extra1: UInt64 = 0) {
    self.message = message
    self.extra0 = extra0
    self.extra1 = extra1
  }
}

public struct EndpointCapabilityBundle: Equatable, Sendable {
  public static let magic: UInt32 = 0x6263_4554  // "TEcb"
  public static let maximum = 7
  public static let headerBytes = 8
  public static let entryBytes = 64
  /// The largest bundle: what a transport's slot must hold.
  public static let maximumBytes = headerBytes + maximum * entryBytes

  public var entries: [EndpointCapabilityEnvelope]
  /// The sender has more messages for this receiver than fit.
  public var more: Bool

  /// At most `maximum` entries (the rest are dropped: take them in turns).
  public init(_ entries: [EndpointCapabilityEnvelope] = [], more: Bool = false) {
    self.entries = Array(entries.prefix(Self.maximum))
    self.more = more
  }

  public var byteCount: Int { Self.headerBytes + entries.count * Self.entryBytes }

  /// Writes the bundle at the start of `buffer`; the byte count, or nil
  /// (nothing written) when the buffer is too short.
  public func encode(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
    guard buffer.count >= byteCount, let base = buffer.baseAddress else { return nil }
    base.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
    base.storeBytes(of: UInt8(entries.count), toByteOffset: 4, as: UInt8.self)
    base.storeBytes(of: UInt8(more ? 1 : 0), toByteOffset: 5, as: UInt8.self)
    base.storeBytes(of: UInt16(0), toByteOffset: 6, as: UInt16.self)
    for (index, entry) in entries.enumerated() {
      let offset = Self.headerBytes + index * Self.entryBytes
      let slot = UnsafeMutableRawBufferPointer(
        start: base + offset, count: EndpointCapabilityMessage.byteCount)
      _ = entry.message.encode(into: slot)
      base.storeBytes(of: entry.extra0.littleEndian, toByteOffset: offset + 48, as: UInt64.self)
      base.storeBytes(of: entry.extra1.littleEndian, toByteOffset: offset + 56, as: UInt64.self)
    }
    return byteCount
  }

  /// Decodes and checks a bundle; bytes after its last entry are ignored.
  public static func decode(_ view: ByteView) throws(EndpointCapabilityBundleError)
    -> EndpointCapabilityBundle
  {
    guard let magicValue = view.u32(0), let count = view.u8(4), let flags = view.u8(5),
      let reserved = view.u16(6)
    else { throw .truncated(needed: headerBytes, have: view.count) }
    guard magicValue == magic else { throw .badMagic(magicValue) }
    guard Int(count) <= maximum else { throw .tooMany(Int(count)) }
    guard flags & ~1 == 0, reserved == 0 else {
      throw .reservedNotZero(UInt64(flags & ~1) | UInt64(reserved) << 8)
    }
    let needed = headerBytes + Int(count) * entryBytes
    guard view.count >= needed, let base = view.base else {
      throw .truncated(needed: needed, have: view.count)
    }
    var entries: [EndpointCapabilityEnvelope] = []
    for index in 0..<Int(count) {
      let offset = headerBytes + index * entryBytes
      let message: EndpointCapabilityMessage
      do throws(EndpointCapabilityMessageError) {
        message = try EndpointCapabilityMessage.decode(
          ByteView(base: base + offset, count: EndpointCapabilityMessage.byteCount))
      } catch {
        throw .message(index: index, error)
      }
      // Inside the view: checked against `needed` above.
      let extra0 = view.u64(offset + 48) ?? 0
      let extra1 = view.u64(offset + 56) ?? 0
      entries.append(EndpointCapabilityEnvelope(message, extra0: extra0, extra1: extra1))
    }
    return EndpointCapabilityBundle(entries, more: flags & 1 != 0)
  }
}

/// Why bytes are not a bundle.
public enum EndpointCapabilityBundleError: Error, Equatable, Hashable, Sendable {
  case truncated(needed: Int, have: Int)
  case badMagic(UInt32)
  case tooMany(Int)
  /// Unused flag bits or the reserved field are set (this value).
  case reservedNotZero(UInt64)
  /// Entry `index` is not a valid message.
  case message(index: Int, EndpointCapabilityMessageError)

  public var description: String {
    switch self {
    case .truncated(let needed, let have):
      "capability bundle truncated: needs " + String(needed) + " bytes, has " + String(have)
    case .badMagic(let value): "capability bundle: bad magic " + hex(UInt64(value), digits: 8)
    case .tooMany(let count):
      "capability bundle: " + String(count) + " entries, at most "
        + String(EndpointCapabilityBundle.maximum)
    case .reservedNotZero(let value): "capability bundle: reserved bits set: " + hex(value)
    case .message(let index, let error):
      "capability bundle entry " + String(index) + ": " + error.description
    }
  }
}
