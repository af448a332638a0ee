// Tests of the receive-endpoint geometry: sizes and offsets, every refusal
// of the calculator, and the checks made when a config page is read.
import Testing

@testable import TesseraCore

@Suite struct ReceiveEndpointLayoutTests {
  private func layoutError(_ k: Int, _ m: Int, _ channels: Int = 4) -> ReceiveEndpointLayoutError? {
    do throws(ReceiveEndpointLayoutError) {
      _ = try ReceiveEndpointLayout(slotCountLog2: k, slotSizeLog2: m, channelCount: channels)
      return nil
    } catch {
      return error
    }
  }

  @Test func sizesAndOffsets() throws {
    let layout = try ReceiveEndpointLayout(slotCountLog2: 7, slotSizeLog2: 8, channelCount: 4)
    #expect(layout.slotCount == 128 && layout.slotSize == 256 && layout.payloadCapacity == 240)
    #expect(layout.ringBytes == 32768 && layout.totalBytes == 8192 + 32768)
    #expect(layout.slotsPerPage == 16)
    #expect(ReceiveEndpointLayout.configOffset == 0)
    #expect(ReceiveEndpointLayout.statusOffset == 4096)
    #expect(ReceiveEndpointLayout.slotsOffset == 8192)
    #expect(ReceiveEndpointLayout.consumedOffset(channel: 3) == 64 + 3 * 64)
    #expect(ReceiveEndpointLayout.fetchedSnapshotOffset(channel: 31) == 64 + 31 * 64 + 8)
    #expect(ChannelRecord.offset(channel: 31) + 64 <= 4096)
    // The extremes: one page of 64-byte slots, 1 MiB of 4 KiB slots.
    #expect(layoutError(6, 6) == nil && layoutError(0, 12) == nil && layoutError(8, 12) == nil)
    #expect(layoutError(14, 6, 32) == nil && layoutError(6, 6, 1) == nil)
  }

  @Test func refusesBadGeometry() {
    #expect(layoutError(7, 5) == .slotSizeOutOfRange(log2: 5))
    #expect(layoutError(7, 13) == .slotSizeOutOfRange(log2: 13))
    #expect(layoutError(7, -1) == .slotSizeOutOfRange(log2: -1))
    // Smaller than a page, larger than 1 MiB, negative.
    #expect(layoutError(5, 6) == .ringSizeOutOfRange(slotCountLog2: 5, slotSizeLog2: 6))
    #expect(layoutError(9, 12) == .ringSizeOutOfRange(slotCountLog2: 9, slotSizeLog2: 12))
    #expect(layoutError(15, 6) == .ringSizeOutOfRange(slotCountLog2: 15, slotSizeLog2: 6))
    #expect(layoutError(-1, 12) == .ringSizeOutOfRange(slotCountLog2: -1, slotSizeLog2: 12))
    #expect(
      layoutError(Int.max, 12) == .ringSizeOutOfRange(slotCountLog2: Int.max, slotSizeLog2: 12))
    #expect(layoutError(7, 8, 0) == .channelCountOutOfRange(0))
    #expect(layoutError(7, 8, 33) == .channelCountOutOfRange(33))
    #expect(layoutError(7, 8, -3) == .channelCountOutOfRange(-3))
  }

  private func runError(_ firstSlot: Int, _ slotCount: Int) -> ReceiveEndpointLayoutError? {
    // 128 slots of 256 bytes: 16 slots per page.
    let layout = try! ReceiveEndpointLayout(slotCountLog2: 7, slotSizeLog2: 8, channelCount: 4)
    do throws(ReceiveEndpointLayoutError) {
      _ = try layout.run(channel: 2, firstSlot: firstSlot, slotCount: slotCount)
      return nil
    } catch {
      return error
    }
  }

  @Test func checksChannelRuns() throws {
    let layout = try ReceiveEndpointLayout(slotCountLog2: 7, slotSizeLog2: 8, channelCount: 4)
    let run = try layout.run(channel: 1, firstSlot: 32, slotCount: 32)
    #expect(
      run == ChannelRun(firstSlot: 32, slotCount: 32, byteOffset: 8192 + 8192, byteCount: 8192))
    #expect(run.pageCount == 2 && run.endSlot == 64)
    #expect(runError(0, 128) == nil && runError(112, 16) == nil && runError(16, 64) == nil)
    for count in [0, -16, 24, 48, 100] {
      #expect(runError(0, count) == .channelSlotsNotPowerOfTwo(channel: 2, slots: count))
    }
    #expect(runError(0, 8) == .channelNotWholePages(channel: 2, bytes: 2048))
    #expect(runError(0, 1) == .channelNotWholePages(channel: 2, bytes: 256))
    #expect(runError(8, 16) == .channelMisaligned(channel: 2, firstSlot: 8))
    #expect(runError(-16, 16) == .channelMisaligned(channel: 2, firstSlot: -16))
    #expect(runError(112, 32) == .channelOutsideRing(channel: 2, endSlot: 144, slots: 128))
    #expect(runError(128, 16) == .channelOutsideRing(channel: 2, endSlot: 144, slots: 128))
    #expect(runError(0, 256) == .channelOutsideRing(channel: 2, endSlot: 256, slots: 128))
    #expect(
      runError(1 << 40, 16) == .channelOutsideRing(channel: 2, endSlot: 1 << 40 + 16, slots: 128))
    #expect(runError(0, 1 << 62) == .channelOutsideRing(channel: 2, endSlot: 1 << 62, slots: 128))
  }

  @Test func placesChannelsOneAfterTheOther() throws {
    let layout = try ReceiveEndpointLayout(slotCountLog2: 7, slotSizeLog2: 8, channelCount: 4)
    let runs = try layout.placeChannels(slotCounts: [16, 64, 16, 32])
    #expect(runs.map(\.firstSlot) == [0, 16, 80, 96])
    #expect(runs.map(\.byteOffset) == [8192, 8192 + 4096, 8192 + 80 * 256, 8192 + 96 * 256])
    #expect(try layout.placeChannels(slotCounts: []) == [])
    func error(_ counts: [Int]) -> ReceiveEndpointLayoutError? {
      do throws(ReceiveEndpointLayoutError) {
        _ = try layout.placeChannels(slotCounts: counts)
        return nil
      } catch {
        return error
      }
    }
    #expect(error([16, 16, 16, 16, 16]) == .tooManyChannels(given: 5, limit: 4))
    #expect(error([64, 64, 16]) == .channelOutsideRing(channel: 2, endSlot: 144, slots: 128))
    #expect(error([16, 20]) == .channelSlotsNotPowerOfTwo(channel: 1, slots: 20))
    #expect(error([16, 8]) == .channelNotWholePages(channel: 1, bytes: 2048))
    let failures = [error([16, 8]), error([64, 64, 16]), error([16, 16, 16, 16, 16])]
    for failure in failures {
      #expect(failure?.description.isEmpty == false)
    }
    // The messages quote the numbers of the error: the channel at fault and
    // its size or end, or the counts.
    #expect(
      failures.map { $0?.description } == [
        "channel 1: 2048 bytes is not whole 4 KiB pages",
        "channel 2 ends at slot 144, the ring has 128",
        "5 channels given, the endpoint has 4",
      ])
  }

  @Test func readsWhatConfigureWrote() throws {
    let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 9, channelCount: 7)
    #expect(try ReceiveEndpointLayout.read(config: endpoint.config) == endpoint.layout)
    #expect(endpoint.config.load(as: UInt64.self) == 0x0001_4552_5554_4454)
    #expect(Array("TDTURE".utf8) == Array(UnsafeRawBufferPointer(start: endpoint.config, count: 6)))
    #expect(endpoint.config.load(fromByteOffset: 8, as: UInt64.self) == 6 | 9 << 8 | 7 << 16)
  }

  @Test func refusesAMalformedConfigPage() {
    func readError(_ patch: (UnsafeMutableRawPointer) -> Void) -> ReceiveEndpointError? {
      let endpoint = TestEndpoint(slotCountLog2: 6, slotSizeLog2: 9, channelCount: 7)
      patch(endpoint.config)
      return ReceiveEndpointError.from { () throws(ReceiveEndpointError) in
        try ReceiveEndpointLayout.read(config: endpoint.config)
      }
    }
    #expect(readError { $0.storeBytes(of: 0, as: UInt64.self) } == .badMagic(0))
    #expect(
      readError { $0.storeBytes(of: 0x0002_4552_5554_4454, as: UInt64.self) }
        == .badMagic(0x0002_4552_5554_4454))
    #expect(
      readError { $0.storeBytes(of: 1, toByteOffset: 12, as: UInt8.self) }
        == .reservedNotZero(offset: 12))
    for offset in [16, 40, 56] {
      #expect(
        readError { $0.storeBytes(of: 1, toByteOffset: offset, as: UInt8.self) }
          == .reservedNotZero(offset: offset))
    }
    #expect(
      readError { $0.storeBytes(of: 6 | 13 << 8 | 7 << 16, toByteOffset: 8, as: UInt64.self) }
        == .layout(.slotSizeOutOfRange(log2: 13)))
    #expect(
      readError { $0.storeBytes(of: 255 | 9 << 8 | 7 << 16, toByteOffset: 8, as: UInt64.self) }
        == .layout(.ringSizeOutOfRange(slotCountLog2: 255, slotSizeLog2: 9)))
    #expect(
      readError { $0.storeBytes(of: 6 | 9 << 8 | 40 << 16, toByteOffset: 8, as: UInt64.self) }
        == .layout(.channelCountOutOfRange(40)))
    #expect(readError { _ in } == nil)
    #expect(ReceiveEndpointError.badMagic(0x1F).description == "receive endpoint magic is 0x1f")
  }
}
