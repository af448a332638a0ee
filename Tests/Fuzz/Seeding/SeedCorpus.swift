// Writes the seed inputs of every fuzz target into Tests/Fuzz/Corpus/NAME/
// (`Tools/fuzz.sh seed` compiles it with Kernel/Core, the real fixtures in
// Tests/CoreTests/Fixtures and the test builders). Seeds are real boot
// data where there is some (GRUB's boot information, QEMU's ACPI tables, a
// linked program) and small valid instances of everything else, so the
// fuzzer starts from inputs that get past the first checks.
#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

@main
struct SeedCorpus {
  static func main() {
    let root = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "Tests/Fuzz/Corpus"
    mkdir(root, 0o755)
    var written = 0
    for (target, seeds) in allSeeds() {
      let directory = root + "/" + target
      mkdir(directory, 0o755)
      for (name, bytes) in seeds {
        let path = directory + "/seed-" + name
        guard let file = fopen(path, "wb") else { fatalError("cannot write " + path) }
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
        written += 1
      }
    }
    print("seeded " + String(written) + " inputs under " + root)
  }

  static func allSeeds() -> [(String, [(String, [UInt8])])] {
    [
      ("multiboot2", multiboot2Seeds()), ("cmdline", commandLineSeeds()),
      ("rsdp", rsdpSeeds()), ("acpi-root", rootTableSeeds()),
      (
        "madt",
        [
          ("qemu-smp1", qemuSMP1MADT.bytes), ("qemu-smp4-numa2", qemuSMP4NUMA2MADT.bytes),
          ("qemu-smp8-numa4", qemuSMP8NUMA4MADT.bytes), ("qemu-at4g", qemuSMP2NUMA2At4GMADT.bytes),
          ("qemu-hotplug", qemuHotplugMADT.bytes),
        ]
      ),
      (
        "srat",
        [
          ("qemu-smp4-numa2", qemuSMP4NUMA2SRAT.bytes),
          ("qemu-smp8-numa4", qemuSMP8NUMA4SRAT.bytes),
          ("qemu-at4g", qemuSMP2NUMA2At4GSRAT.bytes),
        ]
      ),
      ("slit", [("qemu", qemuSLIT.bytes)]),
      ("poweroff", powerOffSeeds()), ("elf", elfSeeds()), ("handoff", handoffSeeds()),
      ("message-header", messageHeaderSeeds()), ("control-message", controlMessageSeeds()),
      ("shipped", shippedSeeds()), ("capability-message", capabilityMessageSeeds()),
      ("capability-bundle", capabilityBundleSeeds()), ("channel-ring", channelRingSeeds()),
      ("line-editor", lineEditorSeeds()), ("shell-command", shellCommandSeeds()),
      ("shipping-queue", shippingQueueSeeds()),
    ]
  }

  static func le(_ value: UInt64, _ width: Int) -> [UInt8] { FuzzACPI.le(value, width) }

  static func multiboot2Seeds() -> [(String, [UInt8])] {
    var full = Multiboot2Builder()
    full.commandLine("maxcpus=2 mem=64M lwkcpus=1")
    full.bootLoaderName("GRUB 2.06")
    full.module(start: 0x10_0000, end: 0x10_2000, commandLine: "hello")
    full.basicMemory(lowerKiB: 639, upperKiB: 129_920)
    full.memoryMap(qemu128MiBMemoryMap)
    full.oldRSDP(ACPITestTables.rsdp(rsdt: 0x7FE_1000))
    full.tag(type: 21, payload: le(0x10_0000, 4))
    var wideMap = Multiboot2Builder()
    wideMap.memoryMap(qemu4GiBMemoryMap, entrySize: 32)
    return [
      ("qemu-grub", qemuBootInformation), ("every-tag", full.build()),
      ("wide-map", wideMap.build()), ("empty", Multiboot2Builder().build()),
    ]
  }

  static func commandLineSeeds() -> [(String, [UInt8])] {
    [
      "maxcpus=2 mem=64M", "lwkcpus=1-3,6 nostart=2 lwkmem=0x4000000 ringmem=2M quiet",
      "console=\"ttyS0 115200\" debug", "mem=12Q maxcpus=x lwkcpus=3-1 console=",
      "Bad=1 unknown.opt=yes mem=1G mem=2G", "mem=\"unterminated quiet", "debug=1 quiet",
      "lwkcpus=0,,1 nostart=4096 mem=16EB lwkmem=18446744073709551615",
    ].enumerated().map { ("line" + String($0.offset), Array($0.element.utf8)) }
  }

  static func rsdpV2(xsdt: UInt64) -> [UInt8] {
    var bytes = Array("RSD PTR ".utf8) + [0] + Array("BOCHS ".utf8) + [2] + le(0x7FE_1000, 4)
    bytes += le(36, 4) + le(xsdt, 8) + [0, 0, 0, 0]
    bytes[8] = 0 &- bytes[0..<20].reduce(0, &+)
    bytes[32] = 0 &- bytes.reduce(0, &+)
    return bytes
  }

  static func rsdpSeeds() -> [(String, [UInt8])] {
    let grub = try! Multiboot2Builder.parse(qemuBootInformation).get()
    var searched = [UInt8](repeating: 0, count: 48) + rsdpV2(xsdt: 0x7FE_1100)
    searched += [UInt8](repeating: 0, count: 16 - searched.count % 16)
    return [
      ("qemu-grub-copy", grub.rsdp?.bytes ?? []), ("v1", ACPITestTables.rsdp(rsdt: 0x7FE_1000)),
      ("v2", rsdpV2(xsdt: 0x7FE_1100)), ("search", searched),
    ]
  }

  static func rootTableSeeds() -> [(String, [UInt8])] {
    let rsdt = FuzzACPI.table(.rsdt, body: le(0x7FE_2000, 4) + le(0x7FE_3000, 4) + le(0, 4))
    let xsdt = FuzzACPI.table(.xsdt, body: le(0x7FE_2000, 8) + le(0x1_0000_0000, 8) + le(1, 4))
    return [("rsdt", [0] + rsdt), ("xsdt", [1] + xsdt)]
  }

  /// FADT (ACPI 1.0 and 6.x lengths) and a DSDT with \_S5 as QEMU writes it.
  static func powerOffSeeds() -> [(String, [UInt8])] {
    func fadt(length: Int, xPM1a: Bool) -> [UInt8] {
      var bytes = [UInt8](repeating: 0, count: length)
      bytes.put(FuzzACPI.tableAddress, at: 40, width: 4)
      bytes.put(0xB2, at: 48, width: 4)
      bytes[52] = 0xF1
      bytes.put(xPM1a ? 0 : 0x604, at: 64, width: 4)
      if xPM1a && length >= 184 {
        bytes[172] = 1
        bytes.put(0x604, at: 176, width: 8)
      }
      return FuzzACPI.repaired(bytes, signature: .fadt)
    }
    func dsdt(_ s5: [UInt8]) -> [UInt8] {
      let before: [UInt8] = [0x10, 0x05] + Array("\\___".utf8) + [0x08] + Array("PICF".utf8) + [0]
      let after: [UInt8] = [0x14, 0x08] + Array("_PTS".utf8) + [0x01, 0xA4, 0x00]
      return FuzzACPI.table(.dsdt, body: before + s5 + after)
    }
    let qemuS5: [UInt8] = [0x08] + Array("_S5_".utf8) + [0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00]
    let rooted: [UInt8] =
      [0x08, 0x5C] + Array("_S5_".utf8) + [
        0x12, 0x0A, 0x04, 0x0A, 0x05, 0x0B, 0x07, 0x00, 0x00, 0x00,
      ]
    func seed(_ fadt: [UInt8], _ dsdt: [UInt8]) -> [UInt8] {
      le(UInt64(fadt.count), 2) + fadt + dsdt
    }
    return [
      ("acpi1", seed(fadt(length: 116, xPM1a: false), dsdt(qemuS5))),
      ("acpi6-extended", seed(fadt(length: 276, xPM1a: true), dsdt(rooted))),
      // Finding: a \_S5_ name that ends the DSDT was reported past its end.
      (
        "finding-s5-name-ends-table",
        seed(
          fadt(length: 116, xPM1a: false), FuzzACPI.table(.dsdt, body: [0x08] + Array("_S5_".utf8)))
      ),
    ]
  }

  static func elfSeeds() -> [(String, [UInt8])] {
    [
      ("hello-linked", helloELFFixture),
      ("two-segments", ELFBuilder.twoSegmentProgram().build()),
      ("low-half", ELFBuilder.twoSegmentProgram(base: 0x40_0000).build()),
    ]
  }

  static func handoffSeeds() -> [(String, [UInt8])] {
    let realistic = HandoffBlock(
      tscKHz: 2_400_000, apicTicksPerMillisecond: 62_500, localAPICBase: 0xFEE0_0000,
      cpus: [
        .init(index: 0, apicID: 0, node: 0, partition: .service),
        .init(index: 1, apicID: 1, node: 0, partition: .service),
        .init(index: 2, apicID: 2, node: 1, partition: .lwk),
        .init(index: 3, apicID: 3, node: 1, partition: .lwk),
      ],
      lwkMap: [
        .init(base: 0x1000_0000, length: 0x20_0000, type: 2, node: 1),
        .init(base: 0x1020_0000, length: 0xFE0_0000, type: 1, node: 1),
        .init(base: 0x2020_0000, length: 0x20_0000, type: 3, node: 1),
      ],
      lwkImage: PhysicalRange(base: 0x1000_0000, length: 0x10_0000),
      sharedRegion: PhysicalRange(base: 0xFC0_0000, length: 0x40_0000),
      kernelImage: PhysicalRange(base: 0x10_1000, length: 0x3_0000))
    var small = realistic
    small.cpus = [.init(index: 0, apicID: 7, node: 0, partition: .lwk)]
    small.lwkMap = [.init(base: 0x1000_0000, length: 0x20_0000, type: 2, node: 0)]
    return [("realistic", encode(realistic)), ("one-cpu", encode(small))]
  }

  static func encode(_ block: HandoffBlock) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: block.encodedByteCount)
    _ = bytes.withUnsafeMutableBytes { block.encode(into: $0) }
    return bytes
  }

  static func messageHeaderSeeds() -> [(String, [UInt8])] {
    let message = MessageHeader.word0(sequence: 1, length: 40, kind: .message)
    let reply = MessageHeader.word0(sequence: 0xFFFF_FFFF, length: 4000, kind: .reply)
    return [
      ("message", le(message, 8) + le(0x1234, 8) + le(240, 2)),
      ("reply", le(reply, 8) + le(0, 8) + le(4080, 2)),
    ]
  }

  static func controlMessageSeeds() -> [(String, [UInt8])] {
    let ping = ControlMessage(code: ControlMessage.Kind.ping.rawValue, tag: 7, words: (41, 0, 0, 0))
    var bytes = [UInt8](repeating: 0, count: ControlMessage.byteCount)
    _ = bytes.withUnsafeMutableBytes { ping.encode(into: $0) }
    return [("ping", bytes)]
  }

  static func shippedSeeds() -> [(String, [UInt8])] {
    let route = ShippingRoute(server: 1, queue: 2)
    let context = ShippingContext(instance: 1, process: 42, thread: 7, replyQueue: 3, tag: 99)
    let data: [UInt8] = Array("hello from the lwk\n".utf8)
    return data.withUnsafeBytes { buffer in
      let request = ShippedRequest(
        route: route, context: context, number: 1, arguments: ShippedArguments([1, 0x4000, 19])!,
        data: ByteView(buffer))
      let reply = ShippedReply(answering: request, result: 19, data: ByteView(buffer))
      var requestBytes = [UInt8](repeating: 0, count: request.encodedSize)
      _ = requestBytes.withUnsafeMutableBytes { request.encode(into: $0) }
      var replyBytes = [UInt8](repeating: 0, count: reply.encodedSize)
      _ = replyBytes.withUnsafeMutableBytes { reply.encode(into: $0) }
      return [("write-request", requestBytes), ("write-reply", replyBytes)]
    }
  }

  static func capabilityMessages() -> [EndpointCapabilityMessage] {
    let parent = EndpointCapabilityID(kernel: 0, index: 3, generation: 1)
    let child = EndpointCapabilityID(kernel: 1, index: 0, generation: 2)
    return [
      .delegateRequest(parent: parent, child: child),
      .delegateGranted(
        parent: parent, child: child,
        capability: EndpointCapability(endpoint: EndpointAddress(node: 1, endpoint: 7), label: 5)),
      .delegateRefused(parent: parent, child: child, reason: .noRoom),
      .delegateCancel(parent: parent, child: child),
      .revokeRequest(parent: parent, child: child),
      .revokeAck(parent: parent, child: child, unread: 3),
    ]
  }

  static func encode(_ message: EndpointCapabilityMessage) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: EndpointCapabilityMessage.byteCount)
    _ = bytes.withUnsafeMutableBytes { message.encode(into: $0) }
    return bytes
  }

  static func capabilityMessageSeeds() -> [(String, [UInt8])] {
    capabilityMessages().map { (String($0.kind.rawValue), encode($0)) }
  }

  static func capabilityBundleSeeds() -> [(String, [UInt8])] {
    let messages = capabilityMessages()
    func bundle(_ entries: [EndpointCapabilityEnvelope], more: Bool) -> [UInt8] {
      let value = EndpointCapabilityBundle(entries, more: more)
      var bytes = [UInt8](repeating: 0, count: value.byteCount)
      _ = bytes.withUnsafeMutableBytes { value.encode(into: $0) }
      return bytes
    }
    return [
      ("empty", bundle([], more: false)),
      ("revoke-fan-out", bundle(messages.map { .init($0, extra0: 0x1000, extra1: 2) }, more: true)),
    ]
  }

  /// Operation programs (see FuzzChannelRing.swift for the opcodes).
  static func channelRingSeeds() -> [(String, [UInt8])] {
    let sendFetchAck: [UInt8] = [0, 0, 10, 5, 7, 0x80, 4, 0x85, 0x87, 12, 10, 12]
    let fill: [UInt8] = [1] + [UInt8](repeating: 0, count: 20) + [5, 5, 9, 7, 7, 10, 10, 11]
    let hostile: [UInt8] = [0, 0, 3, 0x80, 3, 15, 1, 0x01, 0, 0, 0, 16, 0, 1, 0, 5, 5, 0x85, 7, 12]
    return [("send-fetch-ack", sendFetchAck), ("fill", fill), ("hostile", hostile)]
  }

  /// Keystrokes after three setup bytes (limit and history size, command
  /// and module masks; see FuzzLineEditor.swift).
  static func lineEditorSeeds() -> [(String, [UInt8])] {
    let up = "\u{1B}[A"
    let down = "\u{1B}[B"
    func keys(_ setup: [UInt8], _ text: String) -> [UInt8] { setup + Array(text.utf8) }
    return [
      ("lines-and-history", keys([0x5F, 0xFF, 0xFF], "help\r\nmem\rmem\n\(up)\(up)\(down)x\r")),
      ("completion", keys([0xFF, 0xFF, 0xFF], "me\t\tt\t\u{15}run b\tg\t\rlwk run -c 2 \t\r")),
      ("overflow", keys([0x24, 0x01, 0x00], "abcdefghij\u{8}\r\u{3}ab\u{7F}\u{15}q\n")),
      (
        "escapes",
        keys([0x3F, 0x00, 0x00], "a\u{1B}[1;5Cb\u{1B}OA\u{1B}OPc\u{1B}\u{1B}[3~\u{1B}x\r")
      ),
    ]
  }

  static func shellCommandSeeds() -> [(String, [UInt8])] {
    [
      "cap copy 3 4", "  mem   map\t0x1000  ", "echo \"a b\"c d \"\" x\"\"y",
      "echo \"unterminated", "18446744073709551615", "0xffffffffffffffff 0X10000000000000000",
      "run -c 007 hello 0x0 00 99999999999999999999", "say \"tab\tinside\" \u{e9}\"\u{1F600}\"",
    ].enumerated().map { ("line" + String($0.offset), Array($0.element.utf8)) }
  }

  /// Operation programs and corrupt regions (see FuzzShippingQueue.swift).
  static func shippingQueueSeeds() -> [(String, [UInt8])] {
    // Capacity 4, slot size 16: enqueue, take, drain, corrupt, claim.
    let program: [UInt8] = [
      0, 0x09, 0, 5, 1, 16, 2, 30, 9, 6, 8, 4, 0, 3, 11, 0, 10, 0x00, 5, 8, 0x01, 6, 6, 10, 0x90,
      12, 0x80, 4, 0x86, 7, 3, 9, 10, 0x10,
    ]
    // Capacity 2, slot 8: fill, refuse, nested enqueue and drain, hostile word.
    let full: [UInt8] =
      [0, 0x00, 0, 8, 0, 8, 0, 8, 4, 5, 2, 6, 6, 5, 1, 5, 2, 10, 0x00]
      + [15, 0x40, 0x01, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 6, 0, 3, 9, 10, 0x30, 12]
    // An honest queue's memory as the other kernel would see it.
    let bytes = 320 + 4 * 64
    var region = [UInt8](repeating: 0, count: bytes)
    region.put(0x0001_5150_4948_5354, at: 0, width: 8)
    region.put(4, at: 8, width: 4)
    region.put(16, at: 12, width: 4)
    region.put(2, at: 64, width: 8)
    region.put(1, at: 128, width: 8)
    region.put(1, at: 192, width: 8)
    for slot in 0..<4 {
      region.put(UInt64(slot < 2 ? slot + 4 : slot), at: 320 + 64 * slot, width: 8)
    }
    region.put(2, at: 320 + 64, width: 8)
    region.put(5, at: 320 + 64 + 8, width: 4)
    let attach = [1] + le(UInt64(bytes), 2) + region
    let repaired = [0x0F] + le(UInt64(bytes), 2) + [UInt8](repeating: 0x5A, count: bytes)
    return [
      ("program", program), ("full-nested-hostile", full), ("attach", attach),
      ("repaired", repaired),
    ]
  }
}
