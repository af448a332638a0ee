// swift-tools-version: 6.1
// The host side of Tessera: the portable kernel core as a library (the same
// sources are compiled into the Embedded kernel by the Makefile), its tests,
// and the host tools that boot and drive the kernel under QEMU.
import PackageDescription

let package = Package(
  name: "Tessera",
  products: [
    .library(name: "TesseraCore", targets: ["TesseraCore"]),
    .executable(name: "tessera-scenario", targets: ["ScenarioRunner"]),
    .executable(name: "tessera-bench-collect", targets: ["tessera-bench-collect"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
  ],
  targets: [
    .target(name: "TesseraCore", path: "Kernel/Core"),
    .executableTarget(
      name: "ScenarioRunner",
      dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Tools/Scenario"
    ),
    .executableTarget(name: "tessera-bench", dependencies: ["TesseraCore"], path: "Tools/Bench"),
    // The make bench results collector: transcripts to bench/results.json,
    // RESULTS.md, plot data and the README's generated block.
    .target(name: "BenchResults", path: "Tools/BenchResults"),
    .executableTarget(
      name: "tessera-bench-collect",
      dependencies: [
        "BenchResults",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "Tools/BenchCollect"
    ),
    .testTarget(
      name: "ScenarioRunnerTests", dependencies: ["ScenarioRunner"], path: "Tests/ScenarioTests"),
    .testTarget(
      name: "TesseraCoreTests",
      dependencies: [
        "TesseraCore",
        .product(name: "PropertyBased", package: "swift-property-based"),
      ],
      path: "Tests/CoreTests"
    ),
    .testTarget(
      name: "BenchResultsTests",
      dependencies: ["BenchResults"],
      path: "Tests/BenchTests",
      resources: [.copy("Fixtures")]
    ),
  ]
)
