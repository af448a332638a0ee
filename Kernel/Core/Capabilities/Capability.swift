// Capabilities: what a protection domain may do with one kernel object.
//
// A capability names a kernel object by an opaque ObjectID and carries the
// rights its holder has over it and an optional label. Core does not own the
// objects (their data lives in the kernel); it only tracks which capabilities
// refer to which object, so it can tell the kernel when the last one went and
// the object must be destroyed (see CapabilitySystem).

/// The kinds of kernel object a capability can name. The raw values are the
/// system-call ABI's. Later kinds (DTU endpoints, partitions, kernel memory)
/// take the next free raw values; an unknown raw value decodes to an error.
public enum ObjectType: UInt8, Equatable, Hashable, Sendable, CaseIterable {
  /// A range of physical frames that can be mapped into address spaces.
  case memory = 1
  /// A user address space (a page-table tree).
  case addressSpace = 2
  /// A thread: registers, state, affinity, priority.
  case thread = 3
  /// A synchronous IPC endpoint. `write` is the right to send, `read` to receive.
  case endpoint = 4
  /// Serial console I/O. `write` prints, `read` takes input.
  case console = 5
  /// A DTU receive endpoint: a ring on a NUMA node. `read` fetches (and
  /// activates it for receiving), `write` mints send endpoints to it.
  case receiveEndpoint = 6
  /// A DTU send endpoint: one channel of a receive endpoint, with the label
  /// and credits its minter chose. `write` sends (and activates it).
  case sendEndpoint = 7
  /// A DTU memory endpoint: a byte window into a memory object. `read` and
  /// `write` as the window allows.
  case memoryEndpoint = 8

  /// The type a system-call argument names, or `unknownObjectType`.
  public static func decode(_ raw: UInt64) -> Result<ObjectType, CapabilityError> {
    guard raw <= UInt64(UInt8.max), let type = ObjectType(rawValue: UInt8(raw)) else {
      return .failure(.unknownObjectType(raw))
    }
    return .success(type)
  }

  /// The rights the original capability to a new object of this type gets
  /// when its creator does not ask for fewer.
  public var defaultRights: Rights {
    switch self {
    case .memory: [.read, .write, .execute, .grant]
    case .addressSpace, .thread, .endpoint, .console, .receiveEndpoint, .sendEndpoint,
      .memoryEndpoint:
      [.read, .write, .grant]
    }
  }

  public var description: String {
    switch self {
    case .memory: "memory"
    case .addressSpace: "address space"
    case .thread: "thread"
    case .endpoint: "endpoint"
    case .console: "console"
    case .receiveEndpoint: "receive endpoint"
    case .sendEndpoint: "send endpoint"
    case .memoryEndpoint: "memory endpoint"
    }
  }
}

/// What the holder of a capability may do. Bits 0-3 are the generic rights;
/// bits 8-15 are object-specific rights whose meaning the kernel assigns per
/// object type (Core only keeps them monotonic along derivation). Every other
/// bit names nothing and is refused as `undefinedRights`.
public struct Rights: OptionSet, Equatable, Hashable, Sendable {
  public let rawValue: UInt64
  public init(rawValue: UInt64) { self.rawValue = rawValue }

  public static let read = Rights(rawValue: 1 << 0)
  public static let write = Rights(rawValue: 1 << 1)
  /// Execute for memory (map executable); the kernel may give it other
  /// meanings for other types.
  public static let execute = Rights(rawValue: 1 << 2)
  /// The right to hand the capability to another capability space (copy,
  /// mint or move across spaces: the IPC grant path).
  public static let grant = Rights(rawValue: 1 << 3)

  /// The object-specific bits 8-15.
  public static let objectSpecificMask = Rights(rawValue: 0xFF00)
  /// Every bit that names a right.
  public static let defined = Rights(rawValue: 0xFF0F)

  /// Object-specific right number `index` (0...7); empty for any other index.
  public static func objectSpecific(_ index: Int) -> Rights {
    guard index >= 0, index < 8 else { return [] }
    return Rights(rawValue: 1 << UInt64(8 + index))
  }

  /// "rwxg" with "-" for each generic right missing, then the object-specific
  /// rights by number, e.g. "rw-g" or "r--- s0,3".
  public var description: String {
    var text = contains(.read) ? "r" : "-"
    text += contains(.write) ? "w" : "-"
    text += contains(.execute) ? "x" : "-"
    text += contains(.grant) ? "g" : "-"
    var specific: [String] = []
    for index in 0..<8 where contains(.objectSpecific(index)) { specific.append(String(index)) }
    if !specific.isEmpty {
      text += " s"
      for (position, number) in specific.enumerated() {
        text += (position == 0 ? "" : ",") + number
      }
    }
    let undefined = rawValue & ~Rights.defined.rawValue
    if undefined != 0 { text += " ?" + hex(undefined) }
    return text
  }
}

/// A kernel object's identity: an index into the object table and the
/// generation of that entry, so a stale ID of a destroyed object never names
/// the object that reuses its entry. The kernel indexes its own object data
/// with `index`.
public struct ObjectID: Equatable, Hashable, Sendable {
  public let rawValue: UInt64
  public init(rawValue: UInt64) { self.rawValue = rawValue }
  init(index: UInt32, generation: UInt32) {
    rawValue = UInt64(generation) << 32 | UInt64(index)
  }
  public var index: UInt32 { UInt32(truncatingIfNeeded: rawValue) }
  public var generation: UInt32 { UInt32(truncatingIfNeeded: rawValue >> 32) }
  public var description: String { "object " + String(index) + "." + String(generation) }
}

/// One capability's identity, stable while it exists (a move keeps it), so
/// the kernel can remember which capability a mapping was made through and
/// undo it when that capability is removed.
public struct CapabilityID: Equatable, Hashable, Sendable {
  public let rawValue: UInt64
  public init(rawValue: UInt64) { self.rawValue = rawValue }
  init(index: UInt32, generation: UInt32) {
    rawValue = UInt64(generation) << 32 | UInt64(index)
  }
  var index: UInt32 { UInt32(truncatingIfNeeded: rawValue) }
  var generation: UInt32 { UInt32(truncatingIfNeeded: rawValue >> 32) }
  public var description: String { "cap " + String(index) + "." + String(generation) }
}

/// Where a capability lives: a slot of a capability space. Slot numbers come
/// straight from system-call registers, hence UInt64; Core validates them.
public struct CapabilityAddress: Equatable, Hashable, Sendable {
  public var space: SpaceID
  public var slot: UInt64
  public init(space: SpaceID, slot: UInt64) {
    self.space = space
    self.slot = slot
  }
  public var description: String { space.description + " slot " + String(slot) }
}

/// The contents of one slot.
public struct Capability: Equatable, Hashable, Sendable {
  public var object: ObjectID
  public var type: ObjectType
  public var rights: Rights
  /// Chosen by whoever minted the capability (e.g. so an endpoint receiver
  /// knows who sent); nil for an unlabelled capability. Set at most once.
  public var label: UInt64?

  public init(object: ObjectID, type: ObjectType, rights: Rights, label: UInt64? = nil) {
    self.object = object
    self.type = type
    self.rights = rights
    self.label = label
  }

  /// E.g. "endpoint object 3.1 rw-g label 0x2a".
  public var description: String {
    var text = type.description + " " + object.description + " " + rights.description
    if let label { text += " label 0x" + String(label, radix: 16) }
    return text
  }
}
