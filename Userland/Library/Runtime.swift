import UserSystem

// What the Embedded Swift runtime needs from a user program's platform: a
// heap (the kernel's own heap code, over an arena in this program's bss),
// putchar (buffered into consoleWrite calls) and a hashing seed.

nonisolated(unsafe) var userHeap = KernelHeap()
nonisolated(unsafe) var userHeapReady = false

@_cdecl("tessera_posix_memalign")
func userPosixMemalign(
  _ result: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ alignment: Int, _ size: Int
) -> Int32 {
  if !userHeapReady {
    userHeapReady = userHeap.initialize(
      arena: UnsafeMutableRawPointer(bitPattern: UInt(user_heap_base()))!,
      size: Int(user_heap_size()))
  }
  guard let block = userHeap.allocate(size: size, alignment: max(alignment, 16)) else {
    let message: StaticString = "out of memory\n"
    System.write(UnsafeRawBufferPointer(start: message.utf8Start, count: message.utf8CodeUnitCount))
    System.exit(99)
  }
  result.pointee = block
  return 0
}

@_cdecl("tessera_free")
func userFree(_ pointer: UnsafeMutableRawPointer?) {
  guard let pointer else { return }
  _ = userHeap.free(pointer)
}

nonisolated(unsafe) var outputBuffer:
  (
    UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
    UInt64, UInt64, UInt64, UInt64
  ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
nonisolated(unsafe) var outputCount = 0

/// Flushes at a newline or when the 128-byte buffer is full.
@_cdecl("putchar")
func userPutchar(_ c: Int32) -> Int32 {
  withUnsafeMutableBytes(of: &outputBuffer) { buffer in
    buffer[outputCount] = UInt8(truncatingIfNeeded: c)
    outputCount += 1
    if c == 10 || outputCount == buffer.count {
      System.write(UnsafeRawBufferPointer(rebasing: buffer[0..<outputCount]))
      outputCount = 0
    }
  }
  return c
}

@_cdecl("arc4random_buf")
func userRandom(_ buffer: UnsafeMutableRawPointer, _ count: Int) {
  for i in 0..<count {
    buffer.storeBytes(of: UInt8(truncatingIfNeeded: i &* 131 &+ 7), toByteOffset: i, as: UInt8.self)
  }
}

/// Called by _start with the argument string; runs the program's `main`.
@_cdecl("tessera_user_start")
func userStart(_ address: UInt64, _ length: UInt64) -> Int64 {
  var argument = ""
  if let base = UnsafeRawPointer(bitPattern: UInt(address)), length > 0 {
    argument = String(
      decoding: UnsafeRawBufferPointer(start: base, count: Int(length)), as: UTF8.self)
  }
  return Program.main(argument: argument)
}
