// The system-call ABI, shared by the kernel and the user library (both
// compile this file). A program executes `syscall` with the number in RAX and
// up to six arguments in RDI, RSI, RDX, R10, R8, R9; the result comes back in
// RAX: zero or a positive value on success, a negative SystemCallError on
// failure. Every invalid argument has its own error code; no argument value
// can crash the kernel.

public enum SystemCallNumber: UInt64, CaseIterable {
  /// exit(code): ends the calling process; never returns.
  case exit = 0
  /// consoleWrite(address, length): writes bytes to the serial console;
  /// returns the count. At most `SystemCallLimits.consoleWrite` bytes.
  case consoleWrite = 1
  /// yield(): gives up the CPU (returns at once while there is no scheduler).
  case yield = 2
  /// setThreadPointer(address): sets the FS base (thread-local storage).
  case setThreadPointer = 3
  /// processInfo(): returns the process id.
  case processInfo = 4

  public var name: String {
    switch self {
    case .exit: "exit"
    case .consoleWrite: "consoleWrite"
    case .yield: "yield"
    case .setThreadPointer: "setThreadPointer"
    case .processInfo: "processInfo"
    }
  }
}

public enum SystemCallError: Int64, CaseIterable {
  case unknownSystemCall = -1
  /// A pointer argument is not mapped for the user, or not writable where written.
  case badAddress = -2
  /// A length or count argument is out of range.
  case badLength = -3
  /// An address argument is outside user space (non-canonical, kernel half).
  case notUserAddress = -4

  public var name: String {
    switch self {
    case .unknownSystemCall: "unknown system call"
    case .badAddress: "bad address"
    case .badLength: "bad length"
    case .notUserAddress: "not a user address"
    }
  }
}

public enum SystemCallLimits {
  public static let consoleWrite: UInt64 = 4096
}

/// Where user programs live: PML4 slots 1 to 127 (the kernel keeps slot 0
/// for its image and slots 128 and up for the direct map).
public enum UserSpace {
  public static let lowest: UInt64 = 0x0000_0080_0000_0000
  public static let highest: UInt64 = 0x0000_3FFF_FFFF_FFFF
  /// The top of the first thread's stack.
  public static let stackTop: UInt64 = 0x0000_3FFF_FFFF_0000

  public static func contains(_ address: UInt64, length: UInt64) -> Bool {
    guard address >= lowest, address <= highest else { return false }
    let (end, overflow) = address.addingReportingOverflow(length)
    return !overflow && end <= highest + 1
  }
}
