import UserSystem

/// Raises one fault in user mode, named by its argument; the kernel reports
/// it and destroys this process, and everything else goes on.
enum Program {
  static func main(argument: String) -> Int64 {
    print("faults: raising \(argument)")
    switch argument {
    case "pf": UnsafeMutablePointer<UInt64>(bitPattern: 0x0000_0200_0000_0000)!.pointee = 1
    case "kernel": UnsafeMutablePointer<UInt64>(bitPattern: 0x4010_0000)!.pointee = 1  // kernel memory
    case "ud": user_ud2()
    case "gp": user_privileged()
    case "de": user_divide_by_zero()
    case "nx":
      user_call(UInt64(UInt(bitPattern: UnsafeRawPointer(bitPattern: UInt(user_heap_base()))!)))
    default:
      print("usage: faults pf|kernel|ud|gp|de|nx")
      return 2
    }
    print("faults: still alive after \(argument)?!")
    return 1
  }
}
