import Foundation
import Testing

@testable import TesseraCore

/// Boot/include/layout.h tells the assembly IPC fast path where Core's
/// records keep their fields. The kernel checks every number at boot
/// (IPCFastPathLayout); these tests check the Core ones on the host, so a
/// reordered field fails here before anything boots.
struct IPCLayoutTests {
  /// The header's `#define NAME number` lines.
  static let header: [String: Int] = {
    let url = URL(fileURLWithPath: #filePath)
      .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Boot/include/layout.h")
    let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    var values: [String: Int] = [:]
    for line in text.split(separator: "\n") {
      let words = line.split(separator: " ")
      guard words.count == 3, words[0] == "#define", let value = Int(words[2]) else { continue }
      values[String(words[1])] = value
    }
    return values
  }()

  static func claimed(_ name: String) -> Int? { header[name] }

  @Test func theHeaderIsRead() {
    #expect(Self.header.count > 40)
  }

  @Test func ipcThreadFields() {
    typealias T = IPCThread
    #expect(Self.claimed("IPC_STATE") == MemoryLayout<T>.offset(of: \.state))
    #expect(Self.claimed("IPC_ENDPOINT") == MemoryLayout<T>.offset(of: \.endpoint))
    #expect(Self.claimed("IPC_CAPABILITY") == MemoryLayout<T>.offset(of: \.capability))
    #expect(Self.claimed("IPC_LABEL") == MemoryLayout<T>.offset(of: \.label))
    #expect(Self.claimed("IPC_RECEIVE_SLOT") == MemoryLayout<T>.offset(of: \.receiveSlot))
    #expect(Self.claimed("IPC_SERVER") == MemoryLayout<T>.offset(of: \.server))
    #expect(Self.claimed("IPC_REPLY_TO") == MemoryLayout<T>.offset(of: \.replyTo))
    #expect(Self.claimed("IPC_NEXT") == MemoryLayout<T>.offset(of: \.next))
    #expect(Self.claimed("IPC_OWNER") == MemoryLayout<T>.offset(of: \.owner))
    #expect(Self.claimed("IPC_WAIT_NONE") == Int(IPCWaitState.none.rawValue))
    #expect(Self.claimed("IPC_WAIT_RECEIVING") == Int(IPCWaitState.receiving.rawValue))
    #expect(Self.claimed("IPC_WAIT_AWAITING_REPLY") == Int(IPCWaitState.awaitingReply.rawValue))
  }

  /// The stored byte of each wait state is its raw value: the assembly
  /// writes raw values into `state`.
  @Test func waitStatesAreStoredAsTheirRawValues() {
    for state in [IPCWaitState.none, .sending, .calling, .receiving, .awaitingReply] {
      var copy = state
      let byte = withUnsafeBytes(of: &copy) { $0[0] }
      #expect(byte == state.rawValue)
    }
  }

  @Test func endpointQueueFields() {
    typealias Q = IPCEndpointQueues
    #expect(
      Self.claimed("QUEUES_SENDERS_HEAD")
        == MemoryLayout<Q>.offset(of: \.senders).map { $0 + IPCQueue.headOffset })
    #expect(
      Self.claimed("QUEUES_RECEIVERS_HEAD")
        == MemoryLayout<Q>.offset(of: \.receivers).map { $0 + IPCQueue.headOffset })
    #expect(
      Self.claimed("QUEUES_RECEIVERS_TAIL")
        == MemoryLayout<Q>.offset(of: \.receivers).map { $0 + IPCQueue.tailOffset })
    #expect(Self.claimed("QUEUES_PENDING_CALLS") == MemoryLayout<Q>.offset(of: \.pendingCalls))
  }

  /// The offsets are where the queue moves really write: a receiver queued
  /// through IPCRendezvous is at the claimed head and tail.
  @Test func aQueuedReceiverIsWhereTheHeaderSays() throws {
    let queues = IPCEndpointPointer.allocate(capacity: 1)
    queues.initialize(to: IPCEndpointQueues())
    let thread = IPCThreadPointer.allocate(capacity: 1)
    thread.initialize(to: IPCThread())
    defer {
      queues.deallocate()
      thread.deallocate()
    }
    thread.pointee.arrive(at: queues, capability: CapabilityID(rawValue: 7), label: 9)
    #expect(IPCRendezvous.receive(thread, receiveSlot: 3) == nil)
    let raw = UnsafeRawPointer(queues)
    let head = try #require(Self.claimed("QUEUES_RECEIVERS_HEAD"))
    let tail = try #require(Self.claimed("QUEUES_RECEIVERS_TAIL"))
    #expect(raw.load(fromByteOffset: head, as: UInt.self) == UInt(bitPattern: thread))
    #expect(raw.load(fromByteOffset: tail, as: UInt.self) == UInt(bitPattern: thread))
    let record = UnsafeRawPointer(thread)
    let state = try #require(Self.claimed("IPC_STATE"))
    let slot = try #require(Self.claimed("IPC_RECEIVE_SLOT"))
    #expect(
      record.load(fromByteOffset: state, as: UInt8.self)
        == UInt8(try #require(Self.claimed("IPC_WAIT_RECEIVING"))))
    #expect(record.load(fromByteOffset: slot, as: UInt64.self) == 3)
  }

  @Test func slotCacheEntryFields() {
    typealias E = CapabilitySlotCacheEntry
    #expect(Self.claimed("CACHE_ENTRY_SLOT") == MemoryLayout<E>.offset(of: \.slot))
    #expect(Self.claimed("CACHE_ENTRY_REMOVALS") == MemoryLayout<E>.offset(of: \.removals))
    #expect(Self.claimed("CACHE_ENTRY_OBJECT") == MemoryLayout<E>.offset(of: \.object))
    #expect(Self.claimed("CACHE_ENTRY_CAPABILITY") == MemoryLayout<E>.offset(of: \.capability))
    #expect(Self.claimed("CACHE_ENTRY_RIGHTS") == MemoryLayout<E>.offset(of: \.rights))
    #expect(Self.claimed("CACHE_ENTRY_LABEL") == MemoryLayout<E>.offset(of: \.label))
    #expect(Self.claimed("CACHE_ENTRY_BYTES") == MemoryLayout<E>.stride)
    #expect(Self.claimed("CACHE_ENTRIES") == CapabilitySlotCache.size)
    #expect(Self.claimed("RIGHT_READ") == Int(Rights.read.rawValue))
    #expect(Self.claimed("RIGHT_WRITE") == Int(Rights.write.rawValue))
  }

  @Test func systemCallNumbers() {
    #expect(Self.claimed("SYSCALL_CALL") == Int(SystemCallNumber.call.rawValue))
    #expect(Self.claimed("SYSCALL_REPLY_RECEIVE") == Int(SystemCallNumber.replyReceive.rawValue))
    // syscall_entry sends the range between them to the fast path.
    #expect(SystemCallNumber.replyReceive.rawValue - SystemCallNumber.call.rawValue == 2)
  }
}
