// Hosted micro-benchmarks of the kernel's allocators (Kernel/Core compiled for
// the host): the buddy frame allocator and the kernel heap. Build and run in
// release mode:
//
//   swift build -c release --product tessera-bench && .build/release/tessera-bench
//
// The buddy allocator keeps its free-list links in the free frames. The kernel
// reaches them through its direct map; here a sparse anonymous mapping as
// large as the physical address space stands in for it (MAP_NORESERVE: only
// the pages the lists touch get memory), and the allocator uses the kernel's
// own DirectMapLinkStorage over it. Times come from ContinuousClock; each
// figure is the median of several runs (min and max alongside). No benchmark
// library: a loop, a clock and a median are all this needs.

import Glibc
import TesseraCore

let clock = ContinuousClock()

func nanoseconds(_ duration: Duration) -> Double {
  let parts = duration.components
  return Double(parts.seconds) * 1e9 + Double(parts.attoseconds) / 1e9
}

/// Median, min and max of `runs` measurements of `body`, which returns the
/// nanoseconds of one operation.
func measure(runs: Int, _ body: () -> Double) -> (median: Double, min: Double, max: Double) {
  var samples = (0..<runs).map { _ in body() }
  samples.sort()
  return (samples[samples.count / 2], samples.first!, samples.last!)
}

/// Keeps results alive so the optimizer cannot drop the work.
var checksum: UInt64 = 0

let gib: UInt64 = 1 << 30
let mib: UInt64 = 1 << 20

/// A QEMU `-m 64G` machine (pc): conventional memory, RAM up to 3 GiB less
/// the firmware's top 128 KiB, then the rest above the 4 GiB hole.
let map64G = [
  PhysicalRange(base: 0, end: 0x9_FC00),
  PhysicalRange(base: 0x10_0000, end: 0xBFFE_0000),
  PhysicalRange(base: 4 * gib, end: 65 * gib),
]

/// The stand-in for the direct map: physical address p lives at base + p.
func reserveDirectMap(bytes: UInt64) -> UnsafeMutableRawPointer {
  let region = mmap(
    nil, Int(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
  guard let region, region != MAP_FAILED else {
    print("mmap of \(bytes) bytes failed")
    exit(1)
  }
  return region
}

// Each allocator below gets its own region: two allocators over the same
// memory would write each other's links.
let storage = DirectMapLinkStorage(base: reserveDirectMap(bytes: 65 * gib))

// MARK: Buddy allocator

/// One allocate+free pair of `order`, repeated on the same allocator: the
/// steady state of a hot path.
@MainActor func pairs(
  _ allocator: inout BuddyAllocator<DirectMapLinkStorage>, order: Int, iterations: Int
) -> Double {
  let start = clock.now
  for _ in 0..<iterations {
    guard let address = allocator.allocate(order: order) else { fatalError("out of memory") }
    checksum &+= address
    _ = allocator.free(address)
  }
  return nanoseconds(clock.now - start) / Double(iterations)
}

/// `batch` allocations of `order`, then their frees in allocation order, per pair.
@MainActor func batches(
  _ allocator: inout BuddyAllocator<DirectMapLinkStorage>, order: Int, batch: Int, rounds: Int
) -> Double {
  var addresses = [UInt64](repeating: 0, count: batch)
  let start = clock.now
  for _ in 0..<rounds {
    for i in 0..<batch {
      guard let address = allocator.allocate(order: order) else { fatalError("out of memory") }
      addresses[i] = address
    }
    for address in addresses {
      checksum &+= address
      _ = allocator.free(address)
    }
  }
  return nanoseconds(clock.now - start) / Double(batch * rounds)
}

var rows: [(String, (median: Double, min: Double, max: Double), String)] = []
let runs = 7

// Construction: a new allocator over the whole 64 GiB map. The first build
// is cold: its 8 MiB state map and the pages the links go to are fresh from
// the host kernel (page faults). Later builds reuse that memory, like a kernel
// whose early heap and direct map are already mapped; then clearing the state
// map in cache is most of the time.
var metadata = 0
var blockCount = 0
var builds: [Double] = []
for _ in 0..<(runs + 1) {
  let start = clock.now
  let allocator = BuddyAllocator(ranges: map64G, storage: storage)
  builds.append(nanoseconds(clock.now - start))
  metadata = allocator.metadataBytes
  blockCount = allocator.freeBlocks.reduce(0, +)
  checksum &+= UInt64(allocator.freeFrames)
}
rows.append(
  ("build buddy, 64 GiB map, cold (first build)", (builds[0], builds[0], builds[0]), "per build"))
let warmBuilds = builds.dropFirst().sorted()
rows.append(
  (
    "build buddy, 64 GiB map, warm (\(blockCount) blocks)",
    (warmBuilds[warmBuilds.count / 2], warmBuilds.first!, warmBuilds.last!), "per build"
  ))

// Pairs on the realistic map as built: small free blocks exist (the tail of
// conventional memory), so a 4 KiB pair splits and merges nothing.
var realistic = BuddyAllocator(
  ranges: map64G, storage: DirectMapLinkStorage(base: reserveDirectMap(bytes: 65 * gib)))
rows.append(
  (
    "4 KiB alloc+free, 64 GiB map as built",
    measure(runs: runs) { pairs(&realistic, order: 0, iterations: 1_000_000) }, "per pair"
  ))
rows.append(
  (
    "2 MiB alloc+free, 64 GiB map as built",
    measure(runs: runs) { pairs(&realistic, order: 9, iterations: 1_000_000) }, "per pair"
  ))

// The worst case: only 1 GiB blocks are free, so every allocation splits down
// from order 18 and every free merges back up.
var coalesced = BuddyAllocator(
  ranges: [PhysicalRange(base: 4 * gib, end: 8 * gib)],
  storage: DirectMapLinkStorage(base: reserveDirectMap(bytes: 8 * gib)))
rows.append(
  (
    "4 KiB alloc+free, only 1 GiB blocks free",
    measure(runs: runs) { pairs(&coalesced, order: 0, iterations: 1_000_000) }, "per pair"
  ))
rows.append(
  (
    "2 MiB alloc+free, only 1 GiB blocks free",
    measure(runs: runs) { pairs(&coalesced, order: 9, iterations: 1_000_000) }, "per pair"
  ))

// Batches: 4096 frames out, then back (splits and merges amortized).
rows.append(
  (
    "4 KiB alloc+free, batches of 4096",
    measure(runs: runs) { batches(&realistic, order: 0, batch: 4096, rounds: 250) }, "per pair"
  ))
rows.append(
  (
    "2 MiB alloc+free, batches of 4096 (8 GiB)",
    measure(runs: runs) { batches(&realistic, order: 9, batch: 4096, rounds: 25) }, "per pair"
  ))

// MARK: Kernel heap

let arenaSize = 16 << 20
let arena = UnsafeMutableRawPointer.allocate(byteCount: arenaSize, alignment: KernelHeap.pageSize)
var heap = KernelHeap()
guard heap.initialize(arena: arena, size: arenaSize) else {
  print("kernel heap initialization failed")
  exit(1)
}
let heapPairs = measure(runs: runs) {
  let iterations = 2_000_000
  let start = clock.now
  for _ in 0..<iterations {
    guard let block = heap.allocate(size: 64) else { fatalError("heap exhausted") }
    checksum &+= UInt64(UInt(bitPattern: block))
    _ = heap.free(block)
  }
  return nanoseconds(clock.now - start) / Double(iterations)
}
rows.append(("kernel heap 64 B alloc+free", heapPairs, "per pair"))
let heapBatches = measure(runs: runs) {
  let batch = 4096
  let rounds = 250
  var blocks = [UnsafeMutableRawPointer?](repeating: nil, count: batch)
  let start = clock.now
  for _ in 0..<rounds {
    for i in 0..<batch { blocks[i] = heap.allocate(size: 64) }
    for block in blocks {
      guard let block else { fatalError("heap exhausted") }
      _ = heap.free(block)
    }
  }
  return nanoseconds(clock.now - start) / Double(batch * rounds)
}
rows.append(("kernel heap 64 B alloc+free, batches of 4096", heapBatches, "per pair"))

// MARK: Report

/// `text` left-aligned in `width` characters ("µ" is one character but two
/// bytes, so String.padded(to:), which counts bytes, would misalign).
func column(_ text: String, _ width: Int) -> String {
  text + String(repeating: " ", count: max(1, width - text.count))
}

/// "35 ns", "64.1 µs", "3.3 ms".
func figure(_ ns: Double) -> String {
  func oneDecimal(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return String(tenths / 10) + "." + String(tenths % 10)
  }
  if ns < 10_000 { return String(Int(ns.rounded())) + " ns" }
  if ns < 1_000_000 { return oneDecimal(ns / 1000) + " µs" }
  return oneDecimal(ns / 1_000_000) + " ms"
}

print("tessera-bench: hosted allocator figures (release build, median of \(runs) runs)")
print(
  "buddy metadata for the 64 GiB map: " + formatSize(UInt64(metadata)) + " ("
    + formatSize(UInt64(metadata) * gib / (65 * gib)) + " per GiB of span)")
print(column("figure", 48) + column("median", 10) + column("min", 10) + column("max", 10))
for (name, result, unit) in rows {
  print(
    column(name, 48) + column(figure(result.median), 10) + column(figure(result.min), 10)
      + column(figure(result.max), 10) + unit)
}
print("(checksum \(checksum & 0xFFFF))")
print("command: swift build -c release --product tessera-bench && .build/release/tessera-bench")
