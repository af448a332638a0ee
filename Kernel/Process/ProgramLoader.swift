/// Turns a Multiboot2 module holding an ELF executable into a process: the
/// ELF is validated first (nothing is mapped for a bad one), then each
/// segment is copied into fresh service-partition frames and mapped with its
/// own permissions (W^X), and a stack with a guard page below it is mapped
/// at the top of user space.
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

  static func load(_ name: String, pid: Int, argument: String) -> Result<Process, LoadError> {
    guard let module = module(named: name) else { return .failure(.noSuchModule(name)) }
    guard let image = PhysicalMemory.view(UInt64(module.start), Int(module.size)) else {
      return .failure(.badELF("module outside memory"))
    }
    let plan: ELFLoadPlan
    switch ELFImage.validate(image, userSpace: UserSpace.lowest...UserSpace.highest) {
    case .success(let valid): plan = valid
    case .failure(let error): return .failure(.badELF(error.description))
    }
    guard let space = AddressSpace() else { return .failure(.outOfMemory) }
    let process = Process(pid: pid, name: name, space: space)
    if case .failure(let error) = mapSegments(plan, image: image, into: process) {
      process.destroy()
      return .failure(error)
    }
    // The stack, and the argument string at its top.
    let stackBase = UserSpace.stackTop - stackPages * 4096
    for page in 0..<stackPages {
      guard let frame = zeroedFrame(for: process) else {
        process.destroy()
        return .failure(.outOfMemory)
      }
      let mapped = space.map(
        stackBase + page * 4096, to: frame, size: .small,
        flags: [.present, .writable, .user, .noExecute])
      if case .failure(let error) = mapped {
        process.destroy()
        return .failure(.mapping(error.description))
      }
    }
    let bytes = Array(argument.utf8.prefix(255))
    let argumentAddress = UserSpace.stackTop - 256
    if let frame = space.translate(argumentAddress)?.physical,
      let pointer = PhysicalMemory.pointer(frame)
    {
      for (i, byte) in bytes.enumerated() {
        pointer.storeBytes(of: byte, toByteOffset: i, as: UInt8.self)
      }
    }
    // One memory capability per segment with the segment's own rights, and
    // one for the stack.
    var segments: [Rights] = []
    for segment in plan.segments {
      var rights: Rights = [.read]
      if segment.writable { rights.insert(.write) }
      if segment.executable { rights.insert(.execute) }
      segments.append(rights)
    }
    segments.append([.read, .write])
    if let refusal = ProcessCapabilities.populate(process, segments: segments) {
      process.destroy()
      return .failure(.mapping("no capabilities: " + refusal))
    }
    process.start = ProcessStart(
      entry: plan.entry, stackTop: argumentAddress - 16, argumentAddress: argumentAddress,
      argumentLength: UInt64(bytes.count))
    return .success(process)
  }

  static func zeroedFrame(for process: Process) -> UInt64? {
    guard let frame = memory.service?.allocate(order: 0), let page = PhysicalMemory.pointer(frame)
    else {
      return nil
    }
    page.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
    process.frames.append(frame)
    return frame
  }

  static func mapSegments(_ plan: ELFLoadPlan, image: ByteView, into process: Process) -> Result<
    Void, LoadError
  > {
    for segment in plan.segments {
      var flags: PageFlags = [.present, .user]
      if segment.writable { flags.insert(.writable) }
      if !segment.executable { flags.insert(.noExecute) }
      let first = segment.virtualAddress & ~0xFFF
      let end = (segment.virtualAddress + segment.memorySize + 0xFFF) & ~0xFFF
      var page = first
      while page < end {
        guard let frame = zeroedFrame(for: process), let destination = PhysicalMemory.pointer(frame)
        else {
          return .failure(.outOfMemory)
        }
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

/// Where a loaded program begins: entry point, stack, argument string.
struct ProcessStart {
  var entry: UInt64
  var stackTop: UInt64
  var argumentAddress: UInt64
  var argumentLength: UInt64
}
