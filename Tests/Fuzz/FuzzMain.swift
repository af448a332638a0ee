// The entry point of the one fuzz executable that holds every target
// (compiled once by Tools/fuzz.sh with -sanitize=fuzzer,address): libFuzzer
// calls LLVMFuzzerTestOneInput for each input, and the environment variable
// TESSERA_FUZZ_TARGET says which target gets it. One binary keeps the build
// to a single compile of Kernel/Core; the targets themselves are listed in
// FuzzTargets.swift.
#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The target chosen for this process, looked up once.
nonisolated(unsafe) private var chosenTarget: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(
  _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
) -> CInt {
  // TESSERA_FUZZ_LIST=1: print "NAME MAX_LEN" per target and stop.
  if getenv("TESSERA_FUZZ_LIST") != nil {
    for target in FuzzTarget.all { print(target.name + " " + String(target.maximumLength)) }
    exit(0)
  }
  let name = getenv("TESSERA_FUZZ_TARGET").map { String(cString: $0) } ?? ""
  guard let target = FuzzTarget.named(name) else {
    var names = ""
    for target in FuzzTarget.all { names += " " + target.name }
    fatalError("set TESSERA_FUZZ_TARGET to one of:" + names + " (got \"" + name + "\")")
  }
  chosenTarget = target
  return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  guard let target = chosenTarget else { fatalError("LLVMFuzzerInitialize did not run") }
  let bytes = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
  target.run(bytes)
  return 0
}
