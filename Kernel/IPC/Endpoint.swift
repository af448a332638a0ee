/// A synchronous IPC endpoint of this kernel: the Core endpoint over kernel
/// threads (queues, wait states and moves in
/// Kernel/Core/IPC/IPCRendezvous.swift).
typealias Endpoint = IPCEndpoint<Thread>

extension Thread: IPCWaiter {}
