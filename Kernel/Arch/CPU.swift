import X86

/// Spin-wait hint; every busy loop in the kernel goes through here.
@inline(__always) func x86Pause() { x86_pause() }
