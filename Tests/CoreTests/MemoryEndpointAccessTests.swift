import PropertyBased
import Testing

@testable import TesseraCore

/// Accesses through memory endpoints (Kernel/Core/DTU/MemoryEndpointAccess.swift):
/// the bounds check at every edge, the rights, the order of the checks, and
/// which windows may be mapped directly.
struct MemoryEndpointAccessTests {
  func window(
    base: UInt64 = 0x1_0000, size: UInt64 = 100, rights: MemoryEndpointRights = .readWrite
  )
    -> MemoryEndpointConfiguration
  {
    MemoryEndpointConfiguration(node: 0, base: base, size: size, rights: rights, owner: 1)
  }

  @Test func boundsAtEveryEdge() {
    let w = window()
    #expect(w.check(offset: 0, length: 100, write: false) == .success(0x1_0000))
    #expect(w.check(offset: 99, length: 1, write: true) == .success(0x1_0063))
    // Exactly at the end: an empty access is fine, one byte is not.
    #expect(w.check(offset: 100, length: 0, write: false) == .success(0x1_0064))
    #expect(
      w.check(offset: 100, length: 1, write: false)
        == .failure(.outOfBounds(offset: 100, length: 1, size: 100)))
    #expect(
      w.check(offset: 0, length: 101, write: false)
        == .failure(.outOfBounds(offset: 0, length: 101, size: 100)))
    #expect(
      w.check(offset: 101, length: 0, write: false)
        == .failure(.outOfBounds(offset: 101, length: 0, size: 100)))
    // offset + length wraps: not "in bounds" by accident.
    #expect(
      w.check(offset: 50, length: .max, write: false)
        == .failure(.overflow(offset: 50, length: .max)))
    #expect(
      w.check(offset: .max, length: 1, write: true) == .failure(.overflow(offset: .max, length: 1)))
    #expect(
      w.check(offset: .max, length: 0, write: true)
        == .failure(.outOfBounds(offset: .max, length: 0, size: 100)))
  }

  @Test func rightsComeFirst() {
    let readOnly = window(rights: .read)
    #expect(readOnly.check(offset: 0, length: 1, write: true) == .failure(.readOnly))
    #expect(readOnly.check(offset: 0, length: 1, write: false) == .success(0x1_0000))
    // A write beyond the end of a read-only window is refused for the right.
    #expect(readOnly.check(offset: .max, length: 9, write: true) == .failure(.readOnly))
    let writeOnly = window(rights: .write)
    #expect(writeOnly.check(offset: 0, length: 1, write: false) == .failure(.writeOnly))
    #expect(writeOnly.check(offset: 0, length: 1, write: true) == .success(0x1_0000))
  }

  @Test func aWindowReachingTheTopOfTheAddressSpace() {
    // Not a valid configuration (beyond 52 bits), but the check alone must
    // still not wrap: base + offset never overflows for an allowed access.
    let top = window(base: .max - 9, size: 10)
    #expect(top.check(offset: 9, length: 1, write: false) == .success(.max))
    #expect(
      top.check(offset: 10, length: 1, write: false)
        == .failure(.outOfBounds(offset: 10, length: 1, size: 10)))
  }

  @Test func pageExactWindows() {
    #expect(
      window(base: 0x20_0000, size: 0x3000).pageExactWindow
        == PageExactWindow(base: 0x20_0000, pages: 3))
    #expect(window(base: 0x20_0000, size: 0x3001).pageExactWindow == nil)
    #expect(window(base: 0x20_0001, size: 0x3000).pageExactWindow == nil)
    #expect(window(base: 0x20_0000, size: 0xFFF).pageExactWindow == nil)
    #expect(window(base: 0, size: 0).pageExactWindow == nil)
  }

  @Test func matchesArithmeticWithoutOverflow() async {
    await propertyCheck(
      input: Gen.uint64(in: 0...300), Gen.uint64(in: 0...300), Gen.uint64(in: 0...200),
      Gen.bool, Gen.int(in: 1...3)
    ) { offset, length, size, write, bits in
      let rights = MemoryEndpointRights(rawValue: UInt8(bits))
      let w = window(base: 0x1000, size: size, rights: rights)
      let result = w.check(offset: offset, length: length, write: write)
      let allowedRight = write ? rights.contains(.write) : rights.contains(.read)
      if allowedRight && offset + length <= size {
        #expect(result == .success(0x1000 + offset))
      } else if case .success = result {
        Issue.record("allowed an access it should not")
      }
    }
  }

  @Test func everyErrorHasADescription() {
    let errors: [MemoryAccessError] = [
      .readOnly, .writeOnly, .overflow(offset: 1, length: 2),
      .outOfBounds(offset: 1, length: 2, size: 3),
    ]
    #expect(Set(errors.map(\.description)).count == errors.count)
  }
}
