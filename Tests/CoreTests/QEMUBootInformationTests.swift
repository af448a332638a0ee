import Testing

@testable import TesseraCore

/// The parser against a real block from GRUB under QEMU.
@Suite struct QEMUBootInformationTests {
  func parse(_ bytes: [UInt8]) -> Result<BootInformation, Multiboot2Error> {
    bytes.withUnsafeBytes { Multiboot2.parse(ByteView($0)) }
  }

  @Test func decodesEveryTagGRUBGave() throws {
    let info = try parse(qemuBootInformation).get()
    #expect(info.totalSize == 1752)
    #expect(info.bootLoaderName == "GRUB 2.06-13+deb12u2")
    #expect(info.commandLine == "maxcpus=2 mem=64M")
    #expect(info.modules.count == 1)
    #expect(info.modules.first?.commandLine == "hello.txt")
    #expect(info.modules.first?.size == 23)
    #expect(info.modules.first.map { $0.start % 4096 } == 0)  // the header asks for page alignment
    #expect(info.oldRSDP?.length == 20)
    #expect(info.oldRSDP.map { Array($0.bytes.prefix(8)) } == Array("RSD PTR ".utf8))
    #expect(info.newRSDP == nil)  // QEMU's SeaBIOS offers ACPI 1.0 tables
  }

  @Test func memoryMapMatchesQEMUs128MiBMachine() throws {
    let info = try parse(qemuBootInformation).get()
    let map = info.memoryMap
    #expect(map.count == 7)
    #expect(map.first == MemoryMapEntry(base: 0, length: 0x9FC00, type: .available))
    #expect(map.contains(MemoryMapEntry(base: 0x100000, length: 0x7EE0000, type: .available)))
    let usable = map.filter { $0.type == .available }.reduce(UInt64(0)) { $0 + $1.length }
    #expect(usable == 130559 * 1024)
  }

  @Test func everyTruncationIsAnErrorNotATrap() {
    for length in 0..<qemuBootInformation.count {
      let prefix = Array(qemuBootInformation.prefix(length))
      if case .success = parse(prefix) {
        Issue.record("a block cut to \(length) bytes parsed as valid")
      }
    }
  }
}
