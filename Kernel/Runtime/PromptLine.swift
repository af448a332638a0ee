import X86

/// The shell's prompt line, as every console writer of both instances sees
/// it, so that asynchronous output (a background program, init, the other
/// instance, the watchdog) never leaves the user without a prompt. While
/// the shell waits for input its line is "open": the first other writer to
/// take the console ends that line first ("broken"), and once nobody holds
/// the console the service's timer tick writes the prompt and the line
/// typed so far again, once per burst of output (or the shell does, before
/// it echoes the next key). The flags and a copy of the line live in the
/// shared region's status page (+0xB00: flags, +0xB08: length, +0xB10: up
/// to 256 bytes), since the LWK writes to the same console; without a
/// shared region, in memory of this instance.
enum PromptLine {
  static let open: UInt64 = 1
  static let broken: UInt64 = 2
  static let statusOffset: UInt64 = 0xB00
  static let capacity = 256

  nonisolated(unsafe) static var local: UnsafeMutableRawPointer? = nil

  static var storage: UnsafeMutableRawPointer? {
    if let shared = SharedRegion.pointer(SharedRegion.statusOffset + statusOffset) {
      return shared
    }
    if local == nil {
      local = UnsafeMutableRawPointer.allocate(byteCount: 16 + capacity, alignment: 8)
      local!.initializeMemory(as: UInt8.self, repeating: 0, count: 16 + capacity)
    }
    return local
  }

  static var flags: UnsafeMutablePointer<UInt64>? {
    storage?.assumingMemoryBound(to: UInt64.self)
  }

  /// The shell: its prompt is written and it waits with `line` typed.
  static func opened(with line: [UInt8]) {
    guard let base = storage, let flags else { return }
    let length = min(line.count, capacity)
    for index in 0..<length {
      base.storeBytes(of: line[index], toByteOffset: 16 + index, as: UInt8.self)
    }
    base.storeBytes(of: UInt64(length), toByteOffset: 8, as: UInt64.self)
    x86_store_release(flags, open | (x86_load_relaxed(flags) & broken))
  }

  /// The shell: Enter (or a command's own output) closes the line.
  static func closed() {
    guard let flags else { return }
    x86_store_release(flags, 0)
  }

  /// A writer other than the shell's echo has just taken the console: the
  /// open prompt line is ended first. The caller owns the console.
  static func breakIfOpen() {
    guard let flags else { return }
    let value = x86_load_acquire(flags)
    guard value == open else { return }
    x86_store_release(flags, open | broken)
    Console.put(0x0A)  // the console writes CR LF
  }

  /// Writes the prompt and the copied line again if output broke it. The
  /// caller owns the console.
  static func redrawIfBroken() {
    guard let base = storage, let flags, x86_load_acquire(flags) == open | broken else { return }
    x86_store_release(flags, open)
    Console.write(Shell.prompt)
    let length = min(Int(base.load(fromByteOffset: 8, as: UInt64.self)), capacity)
    for index in 0..<length { Console.put(base.load(fromByteOffset: 16 + index, as: UInt8.self)) }
  }

  /// The service's boot CPU, each tick: once a burst of output is over
  /// (nobody holds the console), the prompt comes back.
  static func tick() {
    guard let flags, x86_load_relaxed(flags) == open | broken else { return }
    guard ConsoleLock.tryAcquire() else { return }
    redrawIfBroken()
    ConsoleLock.release()
  }
}
