// Accesses through a memory endpoint: the bounds and rights check, and
// whether the window can be mapped instead.
//
// A memory endpoint's window is byte-granular (M3's memory endpoints are),
// but the MMU only knows pages. When the window starts and ends on page
// boundaries (`pageExactWindow`), the kernel may map exactly those pages
// into the owner and let the MMU enforce the rights; otherwise mapping would
// expose the bytes around the window, so every access goes through a kernel
// command path that checks it here first. The check is exact: an access of
// `length` bytes at `offset` is allowed when the window grants the right and
// offset + length <= size without wrapping (an empty access at the very end
// is allowed; one byte past it is not).
//
// The checks run in M3's order (the TCU checks permissions, then bounds):
// rights, then wrap-around, then bounds.

/// Why an access through a memory endpoint was refused.
public enum MemoryAccessError: Error, Equatable, Hashable, Sendable {
  /// A write through a window without the write right.
  case readOnly
  /// A read through a window without the read right.
  case writeOnly
  /// offset + length does not fit in 64 bits.
  case overflow(offset: UInt64, length: UInt64)
  /// The access ends beyond the window.
  case outOfBounds(offset: UInt64, length: UInt64, size: UInt64)

  public var description: String {
    switch self {
    case .readOnly: "write through a read-only memory endpoint"
    case .writeOnly: "read through a write-only memory endpoint"
    case .overflow(let offset, let length):
      "offset " + hex(offset) + " + length " + hex(length) + " overflows"
    case .outOfBounds(let offset, let length, let size):
      String(length) + " bytes at offset " + String(offset) + " leave a window of "
        + String(size) + " bytes"
    }
  }
}

/// Whole pages: what a page-exact window maps.
public struct PageExactWindow: Equatable, Hashable, Sendable {
  /// Physical address of the first page.
  public var base: UInt64
  public var pages: UInt64
}

extension MemoryEndpointConfiguration {
  /// The physical address of the access's first byte, or why it is refused.
  public func check(offset: UInt64, length: UInt64, write: Bool)
    -> Result<UInt64, MemoryAccessError>
  {
    if write {
      guard rights.contains(.write) else { return .failure(.readOnly) }
    } else {
      guard rights.contains(.read) else { return .failure(.writeOnly) }
    }
    let (end, overflow) = offset.addingReportingOverflow(length)
    guard !overflow else { return .failure(.overflow(offset: offset, length: length)) }
    guard end <= size else {
      return .failure(.outOfBounds(offset: offset, length: length, size: size))
    }
    // base + size does not overflow (validate), and offset <= size.
    return .success(base &+ offset)
  }

  /// The pages of the window when it starts and ends on a page boundary
  /// (the kernel may then map them), nil when either end is inside a page.
  public var pageExactWindow: PageExactWindow? {
    let page = EndpointLimits.pageSize
    guard size != 0, base % page == 0, size % page == 0 else { return nil }
    return PageExactWindow(base: base, pages: size / page)
  }
}
