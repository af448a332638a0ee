/// Reading transcripts: line endings, shell prompts, and which `# qemu:`
/// header (topology, mode, CPU model) each line falls under.
import Testing

@testable import BenchResults

@Suite struct TranscriptTests {
  @Test func stripsCarriageReturnsAndPrompts() {
    let transcript = Transcript(
      path: "t.log", text: "a\r\ntessera> b\r\ntessera> tessera> c: trace 1\nd\r\r\n")
    #expect(transcript.lines.map(\.text) == ["a", "b", "c: trace 1", "d"])
    #expect(transcript.lines.map(\.number) == [1, 2, 3, 4])
  }

  @Test func aLastLineWithoutNewlineCounts() {
    let transcript = Transcript(path: "t.log", text: "a\nb: median 1")
    #expect(transcript.lines.count == 2)
    #expect(transcript.lines[1].text == "b: median 1")
  }

  @Test func eachLineKnowsTheNearestHeaderAbove() {
    let transcript = Transcript(
      path: "t.log",
      text: """
        before
        # qemu: Tools/qemu.sh /x/y.iso 1 128M 0
        one
        # qemu: Tools/qemu.sh /x/y.iso 8 512M 2 -icount shift=0 -cpu max
        two
        """)
    #expect(transcript.lines[0].header == nil)
    #expect(transcript.lines[2].header?.number == 2)
    #expect(transcript.lines[2].header?.configuration?.smp == 1)
    let second = transcript.lines[4].header?.configuration
    #expect(transcript.lines[4].header?.number == 4)
    #expect(
      second
        == QEMUConfiguration(
          smp: 8, memory: "512M", numa: 2, extra: ["-icount", "shift=0", "-cpu", "max"]))
  }

  @Test func aMalformedHeaderIsKeptButHasNoConfiguration() {
    let transcript = Transcript(
      path: "t.log", text: "# qemu: Tools/qemu.sh /x/y.iso two 128M 0\nx\n")
    #expect(transcript.lines[1].header?.number == 1)
    #expect(transcript.lines[1].header?.configuration == nil)
  }

  @Test func configurationModeCPUAndSummary() {
    let icount = QEMUConfiguration(
      headerArguments: "Tools/qemu.sh /x/y.iso 2 256M 0 -icount shift=0")!
    #expect(icount.mode == .icount)
    #expect(icount.cpu == "qemu64")
    #expect(icount.arguments == "2 256M 0 -icount shift=0")
    #expect(icount.summary == "-icount shift=0, -smp 2 -m 256M, qemu64")

    let tcg = QEMUConfiguration(
      headerArguments: "Tools/qemu.sh /x/y.iso 4 512M 2 -cpu Skylake-Client")!
    #expect(tcg.mode == .tcg)
    #expect(tcg.cpu == "Skylake-Client")
    #expect(tcg.summary == "plain TCG, -smp 4 -m 512M, 2 nodes, Skylake-Client")

    #expect(QEMUConfiguration(headerArguments: "Tools/qemu.sh /x/y.iso 2 256M") == nil)
  }
}
