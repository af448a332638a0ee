/// Turns an ELF executable into a process: a Multiboot2 module on the
/// service instance, an image staged in the shared region on the LWK
/// instance. The ELF is validated first (nothing is mapped for a bad one),
/// then each segment is copied into fresh frames of this instance and mapped
/// with its own permissions (W^X), and a stack with a guard page below it is
/// mapped at the top of user space. On the LWK instance all of a program's
/// frames (segments and stack) are one physically contiguous run from the
/// node of its CPU (mOS: no page-by-page allocation, no fragmentation of a
/// program's memory); on the service instance they come one at a time.
enum ProgramLoader {
  static let stackPages: UInt64 = 16

  enum LoadError: Error {
    case noSuchModule(String)
    case badELF(String)
    case outOfMemory
    case mapping(String)

    var description: String {
      switch self {
      case .noSuchModule(let name): "no module named \"\(name)\" (see lsmod)"
      case .badELF(let why): "not a valid program: \(why)"
      case .outOfMemory: "out of memory"
      case .mapping(let why): "cannot map the program: \(why)"
      }
    }
  }

  static func module(named name: String) -> BootModule? {
    boot.bootInfo?.modules.first { $0.commandLine == name || $0.commandLine.hasPrefix(name + " ") }
  }

  static func load(_ name: String, pid: Int, argument: String) -> Result<LoadedProgram, LoadError> {
    guard let module = module(named: name) else { return .failure(.noSuchModule(name)) }
    guard let image = PhysicalMemory.view(UInt64(module.start), Int(module.size)) else {
      return .failure(.badELF("module outside memory"))
    }
    return load(image: image, name: name, pid: pid, argument: argument)
  }

  static func load(image: ByteView, name: String, pid: Int, argument: String) -> Result<
    LoadedProgram, LoadError
  > {
    let plan: ELFLoadPlan
    switch ELFImage.validate(image, userSpace: UserSpace.lowest...UserSpace.highest) {
    case .success(let valid): plan = valid
    case .failure(let error): return .failure(.badELF(error.description))
    }
    guard let space = AddressSpace() else { return .failure(.outOfMemory) }
    let process = Process(pid: pid, name: name, space: space)
    var frames = ProgramFrames()
    if KernelInstance.kind == .lwk {
      guard let run = ProgramFrames.contiguous(pages: pages(of: plan) + Int(stackPages)) else {
        process.destroy()
        return .failure(.outOfMemory)
      }
      frames = run
      process.frames.append(run.base)  // freed as one run
    }
    var segments: [SegmentMemory] = []
    if case .failure(let error) = mapSegments(
      plan, image: image, into: process, from: &frames, recording: &segments)
    {
      process.destroy()
      return .failure(error)
    }
    // The stack, and the argument string at its top.
    let stackBase = UserSpace.stackTop - stackPages * 4096
    var stack = SegmentMemory(rights: [.read, .write], base: stackBase, frames: [])
    for page in 0..<stackPages {
      guard let frame = frames.take(for: process) else {
        process.destroy()
        return .failure(.outOfMemory)
      }
      stack.frames.append(frame)
      let mapped = space.map(
        stackBase + page * 4096, to: frame, size: .small,
        flags: [.present, .writable, .user, .noExecute])
      if case .failure(let error) = mapped {
        process.destroy()
        return .failure(.mapping(error.description))
      }
    }
    segments.append(stack)
    let bytes = Array(argument.utf8.prefix(Int(SystemCallLimits.argumentLength)))
    let argumentAddress = UserSpace.stackTop - 256
    if let frame = space.translate(argumentAddress)?.physical,
      let pointer = PhysicalMemory.pointer(frame)
    {
      for (i, byte) in bytes.enumerated() {
        pointer.storeBytes(of: byte, toByteOffset: i, as: UInt8.self)
      }
    }
    let start = ProcessStart(
      entry: plan.entry, stackTop: argumentAddress - 16, argumentAddress: argumentAddress,
      argumentLength: UInt64(bytes.count))
    return .success(LoadedProgram(process: process, start: start, segments: segments))
  }

  /// Pages the segments of `plan` occupy (validated: they do not overlap).
  static func pages(of plan: ELFLoadPlan) -> Int {
    var total: UInt64 = 0
    for segment in plan.segments {
      let first = segment.virtualAddress & ~0xFFF
      let end = (segment.virtualAddress + segment.memorySize + 0xFFF) & ~0xFFF
      total += (end - first) / 4096
    }
    return Int(total)
  }

  static func mapSegments(
    _ plan: ELFLoadPlan, image: ByteView, into process: Process, from frames: inout ProgramFrames,
    recording segments: inout [SegmentMemory]
  ) -> Result<Void, LoadError> {
    for segment in plan.segments {
      var flags: PageFlags = [.present, .user]
      var rights: Rights = [.read]
      if segment.writable {
        flags.insert(.writable)
        rights.insert(.write)
      }
      if segment.executable {
        rights.insert(.execute)
      } else {
        flags.insert(.noExecute)
      }
      let first = segment.virtualAddress & ~0xFFF
      let end = (segment.virtualAddress + segment.memorySize + 0xFFF) & ~0xFFF
      var memory = SegmentMemory(rights: rights, base: first, frames: [])
      defer { segments.append(memory) }
      var page = first
      while page < end {
        guard let frame = frames.take(for: process), let destination = PhysicalMemory.pointer(frame)
        else {
          return .failure(.outOfMemory)
        }
        memory.frames.append(frame)
        // The part of the file image that lands in this page.
        let fileStart = segment.virtualAddress
        let fileEnd = segment.virtualAddress + segment.fileSize
        let copyStart = max(page, fileStart)
        let copyEnd = min(page + 4096, fileEnd)
        if copyStart < copyEnd {
          let sourceOffset = Int(segment.fileOffset + (copyStart - fileStart))
          guard let source = image.slice(sourceOffset, Int(copyEnd - copyStart)) else {
            return .failure(.badELF("segment bytes outside the file"))
          }
          for i in 0..<source.count {
            destination.storeBytes(
              of: source.u8(i)!, toByteOffset: Int(copyStart - page) + i, as: UInt8.self)
          }
        }
        if case .failure(let error) = process.space.map(page, to: frame, size: .small, flags: flags)
        {
          return .failure(.mapping(error.description))
        }
        page += 4096
      }
    }
    return .success(())
  }
}

/// Where a loading program's frames come from: zeroed frames one at a time
/// (recorded in the process, each freed alone), or the next frame of one
/// zeroed contiguous run that the process frees whole.
struct ProgramFrames {
  private(set) var base: UInt64 = 0
  private(set) var count = 0
  private var used = 0

  static func contiguous(pages: Int) -> ProgramFrames? {
    guard pages > 0, let base = Frames.zeroedRun(pages) else { return nil }
    var run = ProgramFrames()
    run.base = base
    run.count = pages
    return run
  }

  mutating func take(for process: Process) -> UInt64? {
    guard count > 0 else {
      guard let frame = Frames.zeroed() else { return nil }
      process.frames.append(frame)
      return frame
    }
    guard used < count else { return nil }
    used += 1
    return base + UInt64(used - 1) * 4096
  }
}

/// A program loaded into a fresh address space, not yet running.
struct LoadedProgram {
  let process: Process
  let start: ProcessStart
  /// Its segments and stack, for the memory capabilities it gets.
  let segments: [SegmentMemory]
}

/// The frames of one segment (or the stack), mapped from `base` on.
struct SegmentMemory {
  var rights: Rights
  var base: UInt64
  var frames: [UInt64]
}

/// Where a loaded program begins: entry point, stack, argument string.
struct ProcessStart {
  var entry: UInt64
  var stackTop: UInt64
  var argumentAddress: UInt64
  var argumentLength: UInt64
}
