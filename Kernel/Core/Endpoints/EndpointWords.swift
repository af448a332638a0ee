// Access to the shared 64-bit words of a receive endpoint's memory (config
// page, status page, slot headers). Every word that two parties touch is an
// `Atomic<UInt64>` placed in that memory: on x86-64 a relaxed, acquire or
// release access is a plain `mov`, so this costs nothing, but it tells the
// compiler that another CPU (or another kernel) may change the word at any
// time, so a value is read once and never re-read behind the code's back.
// The orderings are spelled out at each use (the Synchronization API wants
// them as constants), so these helpers only find the word.

import Synchronization

enum EndpointWords {
  /// The word at `offset` bytes from `base` (8-byte aligned in every
  /// layout here). Read-only memory may be passed: only loads are made
  /// through a pointer into it.
  @inline(__always)
  static func word(_ base: UnsafeRawPointer, _ offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>>
  {
    UnsafeMutableRawPointer(mutating: base + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
  }

  @inline(__always)
  static func load(_ base: UnsafeRawPointer, _ offset: Int) -> UInt64 {
    word(base, offset).pointee.load(ordering: .relaxed)
  }

  @inline(__always)
  static func loadAcquiring(_ base: UnsafeRawPointer, _ offset: Int) -> UInt64 {
    word(base, offset).pointee.load(ordering: .acquiring)
  }

  @inline(__always)
  static func store(_ base: UnsafeMutableRawPointer, _ offset: Int, _ value: UInt64) {
    word(base, offset).pointee.store(value, ordering: .relaxed)
  }

  @inline(__always)
  static func storeReleasing(_ base: UnsafeMutableRawPointer, _ offset: Int, _ value: UInt64) {
    word(base, offset).pointee.store(value, ordering: .releasing)
  }
}
