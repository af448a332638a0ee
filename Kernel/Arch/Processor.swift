import Synchronization
import X86

/// One CPU as a kernel instance tracks it: who it is, which partition it
/// belongs to, its state, and its remote-call mailbox. Each instance has a
/// record of every CPU of the machine but runs only its partition's. The GS
/// base of each CPU points at its PerCPUBlock, allocated by the instance
/// that runs the CPU.
final class Processor {
  enum State: UInt8 {
    case offline = 0
    case starting = 1
    case online = 2  // running its partition's kernel instance
    case parked = 3  // an LWK CPU that has no kernel instance to run
    case failed = 4  // did not report in after INIT-SIPI-SIPI

    var description: String {
      switch self {
      case .offline: "offline"
      case .starting: "starting"
      case .online: "online"
      case .parked: "parked"
      case .failed: "failed"
      }
    }
  }

  let index: Int
  let apicID: UInt32
  let node: Int
  let isService: Bool
  private let stateValue = Atomic<UInt8>(State.offline.rawValue)
  let ticks = Atomic<UInt64>(0)
  let mailbox = RemoteCallMailbox()
  var tscKHz: UInt64 = 0
  /// TSC cycles from the INIT IPI to the CPU reporting in.
  var bringUpCycles: UInt64 = 0
  /// Also published in the block (the address of TSS.RSP0), so a context
  /// switch sets the kernel stack without looking the CPU up.
  var tables: DescriptorTables? = nil {
    didSet {
      block.pointee.tssStackField = tables.map { UInt64(UInt(bitPattern: $0.tss)) + 4 } ?? 0
    }
  }
  var interruptStackTops: (doubleFault: UInt64, nmi: UInt64) = (0, 0)
  let block: UnsafeMutablePointer<PerCPUBlock>

  init(index: Int, apicID: UInt32, node: Int, isService: Bool) {
    self.index = index
    self.apicID = apicID
    self.node = node
    self.isService = isService
    block = PerCPUBlock.allocate(cpu: index)
  }

  /// An LWK CPU's state lives in the shared region, so the instance that
  /// starts it and the one that runs it (or watches it) see the same value.
  var state: State {
    get {
      if !isService, let byte = SharedRegion.cpuStateByte(index) {
        return State(rawValue: x86_load_byte_acquire(byte)) ?? .failed
      }
      return State(rawValue: stateValue.load(ordering: .acquiring)) ?? .failed
    }
    set {
      if !isService, let byte = SharedRegion.cpuStateByte(index) {
        x86_store_byte_release(byte, newValue.rawValue)
      }
      stateValue.store(newValue.rawValue, ordering: .releasing)
    }
  }

  var partitionName: String { isService ? "service" : "LWK" }

  /// Whether this kernel instance runs the CPU (remote calls, shootdowns and
  /// threads go only to those).
  var isLocal: Bool { KernelInstance.runs(isServiceCPU: isService) }

  /// Points this CPU's GS base at its block.
  func installPerCPUBlock() {
    x86_wrmsr(0xC000_0101, UInt64(UInt(bitPattern: block)))
    Processor.blocksInstalled = true
  }

  /// Set when the boot CPU has its block; APs install theirs before
  /// anything else, so from then on every CPU can read its own (no MSR
  /// read on this hot path: rdmsr is slow under emulation).
  nonisolated(unsafe) static var blocksInstalled = false

  /// The logical number of the calling CPU (0 before per-CPU blocks exist).
  static var currentIndex: Int {
    blocksInstalled ? Int(x86_read_gs_qword(UInt64(PERCPU_CPU))) : 0
  }

  /// Frame allocations and frees made on the calling CPU (see Frames):
  /// in the block, so that counting takes no reference to a Processor.
  static var frameOperationsHere: UInt64 {
    get { blocksInstalled ? x86_read_gs_qword(UInt64(PERCPU_FRAME_OPERATIONS)) : 0 }
    set { if blocksInstalled { x86_write_gs_qword(UInt64(PERCPU_FRAME_OPERATIONS), newValue) } }
  }
}

/// Every CPU of the machine by logical number, filled at boot before any AP
/// starts and never resized afterwards (APs read it without locks).
nonisolated(unsafe) var processors: [Processor] = []
