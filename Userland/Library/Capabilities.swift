import UserSystem

/// The capability system calls (ABI in Kernel/Core/UserABI/SystemCall.swift): slots
/// of this process's capability space, results as raw codes (0 or positive:
/// success; negative: a SystemCallError).
enum Capabilities {
  @discardableResult
  static func copy(_ source: UInt64, to destination: UInt64, rights: UInt64 = SystemCallRights.same)
    -> Int64
  {
    System.call(.capabilityCopy, source, destination, rights)
  }

  @discardableResult
  static func mint(
    _ source: UInt64, to destination: UInt64, label: UInt64,
    rights: UInt64 = SystemCallRights.same
  ) -> Int64 {
    System.raw(SystemCallNumber.capabilityMint.rawValue, [source, destination, rights, label])
  }

  @discardableResult
  static func move(_ source: UInt64, to destination: UInt64) -> Int64 {
    System.call(.capabilityMove, source, destination)
  }

  @discardableResult
  static func delete(_ slot: UInt64) -> Int64 { System.call(.capabilityDelete, slot) }

  /// Returns how many capabilities were removed.
  @discardableResult
  static func revoke(_ slot: UInt64) -> Int64 { System.call(.capabilityRevoke, slot) }

  struct Info {
    var type: Int64
    var rights: UInt64
    var label: UInt64?
    var derivedFrom: UInt64
  }

  /// nil and the error code when the slot holds nothing inspectable.
  static func inspect(_ slot: UInt64) -> Result<Info, SystemCallError> {
    let (type, out) = System.callWithResults(.capabilityInspect, slot)
    guard type > 0 else { return .failure(SystemCallError(rawValue: type) ?? .invalidObject) }
    return .success(
      Info(type: type, rights: out.0, label: out.2 == 1 ? out.1 : nil, derivedFrom: out.3))
  }

  static func createMemory(_ slot: UInt64, pages: UInt64) -> Int64 {
    System.call(.memoryCreate, slot, pages)
  }

  static func map(_ slot: UInt64, at address: UInt64, rights: UInt64) -> Int64 {
    System.call(.memoryMap, slot, address, rights)
  }

  static func unmap(_ slot: UInt64, at address: UInt64) -> Int64 {
    System.call(.memoryUnmap, slot, address)
  }

  static func createEndpoint(_ slot: UInt64) -> Int64 { System.call(.endpointCreate, slot) }

  /// "rwxg" with "-" for what is missing.
  static func describe(rights: UInt64) -> String {
    var text = rights & SystemCallRights.read != 0 ? "r" : "-"
    text += rights & SystemCallRights.write != 0 ? "w" : "-"
    text += rights & SystemCallRights.execute != 0 ? "x" : "-"
    text += rights & SystemCallRights.grant != 0 ? "g" : "-"
    return text
  }

  static func typeName(_ type: Int64) -> String {
    switch type {
    case 1: "memory"
    case 2: "address space"
    case 3: "thread"
    case 4: "endpoint"
    case 5: "console"
    default: "type " + String(type)
    }
  }
}

/// An error code's name, or the number for a success.
func resultName(_ result: Int64) -> String {
  guard result < 0 else { return String(result) }
  return SystemCallError(rawValue: result)?.name ?? "error " + String(result)
}
