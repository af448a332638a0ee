/// `vmtest`: builds a user address space, maps a 4 KiB and a 2 MiB page into
/// it, switches to it and checks the mappings against the direct map, unmaps
/// (with TLB invalidation), and destroys it. The service partition's frame
/// statistics must be the same before and after, unless another CPU used
/// the allocator meanwhile (then they are not compared).
enum AddressSpaceCommands {
  static let base: UInt64 = 0x0000_0100_0000_0000  // PML4 slot 2

  static func vmtest(_ arguments: [String]) {
    guard arguments.isEmpty else {
      print("usage: vmtest")
      return
    }
    guard let before = Frames.serviceSnapshot else {
      print("vmtest: no service frame allocator")
      return
    }
    let passed = run()
    let comparison = MemoryCommands.comparison(before: before, after: Frames.serviceSnapshot!)
    print("vmtest: \(passed ? "mappings ok" : "FAILED"); frame \(comparison)")
  }

  static func check(_ condition: Bool, _ what: String) -> Bool {
    if !condition { print("vmtest: \(what) failed") }
    return condition
  }

  static func run() -> Bool {
    guard let small = Frames.withServiceAllocator({ $0.allocate(order: 0) }) ?? nil else {
      return check(false, "4 KiB frame")
    }
    guard let large = Frames.withServiceAllocator({ $0.allocate(order: 9) }) ?? nil else {
      Frames.free(small)
      return check(false, "2 MiB frame")
    }
    defer {
      Frames.free(small)
      Frames.free(large)
    }
    guard let space = AddressSpace() else { return check(false, "creating the address space") }
    let data: PageFlags = [.present, .writable, .noExecute]
    var ok = true
    ok = check(space.map(base, to: small, size: .small, flags: data).isSuccess, "map 4 KiB") && ok
    ok =
      check(
        space.map(base + (2 << 20), to: large, size: .large, flags: data).isSuccess, "map 2 MiB")
      && ok
    ok =
      check(
        !space.map(base, to: small, size: .small, flags: data).isSuccess, "refusing a double map")
      && ok
    ok =
      check(
        !space.map(0x4000_0000, to: small, size: .small, flags: data).isSuccess,
        "refusing a kernel slot") && ok
    ok = check(space.translate(base + 0x123)?.physical == small + 0x123, "translate 4 KiB") && ok
    ok =
      check(
        space.translate(base + (2 << 20) + 0x12345)?.physical == large + 0x12345, "translate 2 MiB")
      && ok
    guard ok else { return false }

    PhysicalMemory.pointer(small)!.storeBytes(of: 0x1111_2222_3333_4444 as UInt64, as: UInt64.self)
    PhysicalMemory.pointer(large + 0x12345)!.storeBytes(of: 0x5555_6666 as UInt32, as: UInt32.self)
    space.activate()
    let seenSmall = UnsafePointer<UInt64>(bitPattern: UInt(base))!.pointee
    let seenLarge = UnsafeRawPointer(bitPattern: UInt(base + (2 << 20) + 0x12345))!.load(
      as: UInt32.self)
    UnsafeMutablePointer<UInt64>(bitPattern: UInt(base + 8))!.pointee = 0xABCD
    let unmapped = space.unmap(base)
    KernelAddressSpace.activate()
    ok =
      check(seenSmall == 0x1111_2222_3333_4444, "reading the 4 KiB page through the new space")
      && ok
    ok = check(seenLarge == 0x5555_6666, "reading the 2 MiB page through the new space") && ok
    ok =
      check(
        PhysicalMemory.pointer(small + 8)!.load(as: UInt64.self) == 0xABCD,
        "writing through the new space") && ok
    ok =
      check(unmapped == .success(Translation(physical: small, flags: data, size: .small)), "unmap")
      && ok
    ok = check(space.translate(base) == nil, "translate after unmap") && ok
    return ok
  }
}

extension Result {
  var isSuccess: Bool {
    if case .success = self { return true }
    return false
  }
}
