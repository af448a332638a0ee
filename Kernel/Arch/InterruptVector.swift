/// The kernel's interrupt vectors above the 32 exceptions.
enum InterruptVector {
  static let timer: UInt8 = 0x20
  /// ISA IRQ n arrives at legacyBase + n (COM1 is IRQ 4).
  static let legacyBase: UInt8 = 0x30
  static let serial: UInt8 = 0x34
  static let remoteCall: UInt8 = 0xF0
  /// "Look at your run queue": another CPU made a thread ready here.
  static let reschedule: UInt8 = 0xF1
  /// "A queue of yours went from empty to not empty": the doorbell one
  /// kernel instance rings on another's CPU (the mOS piggy-back rule).
  static let doorbell: UInt8 = 0xF2
  static let apicError: UInt8 = 0xFE
  static let spurious: UInt8 = 0xFF
}
