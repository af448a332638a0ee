import UserSystem

/// Without an argument: starts one child per fault kind and checks that
/// each is reported and destroyed while this process goes on. With a kind
/// as argument: raises that fault in user mode.
enum Program {
  static func main(argument: String) -> Int64 {
    if argument.isEmpty { return parent() }
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
      print("usage: faults [pf|kernel|ud|gp|de|nx]")
      return 2
    }
    print("faults: still alive after \(argument)?!")
    return 1
  }

  static func parent() -> Int64 {
    var contained = 0
    func child(_ kind: String, _ pid: Int64) {
      guard pid > 0 else {
        print("faults: cannot start the \(kind) child: \(resultName(pid))")
        return
      }
      let ended = Children.wait(pid)
      if ended == SystemCallError.childFaulted.rawValue {
        contained += 1
        print("faults: child \(pid) (\(kind)) was destroyed by its fault")
      } else {
        print("faults: child \(pid) (\(kind)) ended with \(resultName(ended))")
      }
    }
    child("pf", Children.spawn("faults", argument: "pf"))
    child("kernel", Children.spawn("faults", argument: "kernel"))
    child("ud", Children.spawn("faults", argument: "ud"))
    child("gp", Children.spawn("faults", argument: "gp"))
    child("de", Children.spawn("faults", argument: "de"))
    child("nx", Children.spawn("faults", argument: "nx"))
    print("faults: \(contained) of 6 fault kinds contained; parent \(System.pid) still running")
    return contained == 6 ? 0 : 1
  }
}
