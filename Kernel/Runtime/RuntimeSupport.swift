import X86

// The C entry points the Embedded Swift runtime expects from its platform.

/// The heap behind every Swift allocation of this kernel instance (each
/// instance has its own copy of this global, see KernelInstance.swift).
/// Boot hands it the early arena reserved in Boot/entry.S.
nonisolated(unsafe) var kernelHeap = KernelHeap()
/// Every CPU allocates; the heap itself is single-threaded. A raw atomic word
/// (not a class) so that taking it never allocates.
nonisolated(unsafe) var kernelHeapLockWord: UInt64 = 0

func initializeKernelHeap() {
  let start = UnsafeMutableRawPointer(bitPattern: UInt(symbol_early_heap_start()))!
  let size = Int(symbol_early_heap_end() - symbol_early_heap_start())
  if !kernelHeap.initialize(arena: start, size: size) {
    Panic.halt(because: "the early kernel heap arena is unusable")
  }
}

// Boot/libc.c forwards posix_memalign and free here (Swift may not define
// runtime-reserved symbols itself).
@_cdecl("tessera_posix_memalign")
func tesseraPosixMemalign(
  _ result: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ alignment: Int, _ size: Int
) -> Int32 {
  // POSIX: a power of two, a multiple of the pointer size; the heap aligns to
  // at most a page.
  guard alignment >= MemoryLayout<UInt>.size, alignment & (alignment - 1) == 0,
    alignment <= KernelHeap.pageSize
  else { return 22 }  // EINVAL
  let interrupts = HeapLock.lock()
  let allocated = kernelHeap.allocate(size: size, alignment: alignment)
  HeapLock.unlock(interrupts)
  guard let block = allocated else {
    // The Swift runtime cannot recover from a failed allocation; say why we stop.
    Panic.halt(because: "kernel heap exhausted: no memory left for a Swift runtime allocation")
  }
  result.pointee = block
  return 0
}

@_cdecl("tessera_free")
func tesseraFree(_ pointer: UnsafeMutableRawPointer?) {
  guard let pointer else { return }
  let address = UInt64(UInt(bitPattern: pointer))
  if address >= PhysicalMemory.directMapBase,
    !KernelInstance.owns(physical: address - PhysicalMemory.directMapBase)
  {
    // Instances share no heap: such a pointer can only come from a bug.
    Panic.halt(
      because:
        "kernel heap: the \(KernelInstance.kind.name) instance was asked to free \(hex(address)), memory of the \(KernelInstance.other.name) instance"
    )
  }
  let interrupts = HeapLock.lock()
  let result = kernelHeap.free(pointer)
  HeapLock.unlock(interrupts)
  if case .failure(let error) = result {
    Panic.halt(because: "kernel heap: " + error.description)
  }
}

@_cdecl("putchar")
func putchar(_ c: Int32) -> Int32 {
  ConsoleLock.acquire()
  Console.put(UInt8(truncatingIfNeeded: c))
  if c == 10 { ConsoleLock.release() }
  return c
}

/// Seeds for Swift's hashing. Not cryptographic: mixes the TSC.
@_cdecl("arc4random_buf")
func arc4random_buf(_ buffer: UnsafeMutableRawPointer, _ count: Int) {
  var state = x86_rdtsc() | 1
  for i in 0..<count {
    // xorshift64*
    state ^= state >> 12
    state ^= state << 25
    state ^= state >> 27
    buffer.storeBytes(
      of: UInt8(truncatingIfNeeded: (state &* 0x2545_F491_4F6C_DD1D) >> 56), toByteOffset: i,
      as: UInt8.self)
  }
}

/// The heap's lock: a spin lock on a plain word through the C atomics, with
/// interrupts off while held (an interrupt handler that allocated on a CPU
/// holding it would otherwise spin forever).
enum HeapLock {
  static func lock() -> Bool {
    let interruptsWereOn = x86_read_rflags() & (1 << 9) != 0
    x86_cli()
    withUnsafeMutablePointer(to: &kernelHeapLockWord) { word in
      while !x86_try_lock(word) { x86_pause() }
    }
    return interruptsWereOn
  }

  static func unlock(_ interruptsWereOn: Bool) {
    withUnsafeMutablePointer(to: &kernelHeapLockWord) { x86_unlock($0) }
    if interruptsWereOn { x86_sti() }
  }
}
