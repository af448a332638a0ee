/* Where the fields the assembly IPC fast path (Boot/ipcfast.S) reads and
 * writes lie in the kernel's plain structures. Swift decides those layouts,
 * so these numbers are claims, and they are checked: the kernel compares
 * every one with MemoryLayout.offset(of:) at boot and halts on a mismatch
 * (IPCFastPathLayout.verify), and the hosted tests compare the Core ones
 * (IPCLayoutTests). Plain #defines: the assembler and Swift both read them. */
#ifndef TESSERA_LAYOUT_H
#define TESSERA_LAYOUT_H

/* The per-CPU block behind the GS base (Kernel/Arch/PerCPUBlock.swift). */
#define PERCPU_SELF 0
#define PERCPU_CPU 8
#define PERCPU_USER_STACK 16
#define PERCPU_KERNEL_STACK_TOP 24
#define PERCPU_TSS_STACK_FIELD 32
#define PERCPU_FRAME_OPERATIONS 40
#define PERCPU_SCHEDULER 48
#define PERCPU_RUNNING 56
#define PERCPU_VECTOR_OWNER 64
#define PERCPU_FS_BASE 72
#define PERCPU_SWITCHES 80
#define PERCPU_FAST_IPC 88
#define PERCPU_HIGHEST_READY 96
#define PERCPU_REMOVALS 104
#define PERCPU_KERNEL_LOCK 112
/* Three flags in four bytes (two Bools and a UInt16), tested together. */
#define PERCPU_NEEDS_RESCHEDULE 120
#define PERCPU_RETIRING 121
#define PERCPU_IPC_FAST_PATH_OFF 122
#define PERCPU_IDLE 128
#define PERCPU_HANDOFF 136
#define PERCPU_SCHEDULER_LOCK 144
#define PERCPU_KERNEL_ROOT 152
#define PERCPU_APIC_ID 160
#define PERCPU_APIC_COMMAND 168
#define PERCPU_APIC_END_OF_INTERRUPT 176

/* A thread's control block (Kernel/Scheduler/ThreadControlBlock.swift). */
#define TCB_IPC 0
#define TCB_STATE 8
#define TCB_PRIORITY 16
#define TCB_CPU 24
#define TCB_KERNEL_STACK_TOP 32
#define TCB_SAVED_STACK_POINTER 40
#define TCB_PAGE_TABLE_ROOT 48
#define TCB_THREAD_POINTER 56
#define TCB_TICKS_IN_SLICE 64
#define TCB_KILL_REQUESTED 72
#define TCB_SLOT_CACHE 88
#define TCB_VECTOR_STATE 96
#define TCB_CPU_BLOCK 112
/* Thread.State as stored (case order). */
#define THREAD_READY 0
#define THREAD_RUNNING 1
#define THREAD_BLOCKED 2

/* A thread's IPC record and an endpoint's queues (Kernel/Core/IPC). */
#define IPC_STATE 0
#define IPC_ENDPOINT 8
#define IPC_CAPABILITY 16
#define IPC_LABEL 24
#define IPC_RECEIVE_SLOT 32
#define IPC_SERVER 40
#define IPC_REPLY_TO 48
#define IPC_NEXT 56
#define IPC_OWNER 64
/* IPCWaitState's raw values. */
#define IPC_WAIT_NONE 0
#define IPC_WAIT_RECEIVING 3
#define IPC_WAIT_AWAITING_REPLY 4
#define QUEUES_SENDERS_HEAD 0
#define QUEUES_RECEIVERS_HEAD 16
#define QUEUES_RECEIVERS_TAIL 24
#define QUEUES_PENDING_CALLS 32

/* A slot cache entry (Kernel/Core/Capabilities/CapabilitySlotCache.swift). */
#define CACHE_ENTRY_SLOT 0
#define CACHE_ENTRY_REMOVALS 8
#define CACHE_ENTRY_OBJECT 16
#define CACHE_ENTRY_CAPABILITY 24
#define CACHE_ENTRY_RIGHTS 32
#define CACHE_ENTRY_LABEL 40
#define CACHE_ENTRY_BYTES 48
#define CACHE_ENTRIES 32
/* Rights bits (Kernel/Core/Capabilities/Capability.swift). */
#define RIGHT_READ 1
#define RIGHT_WRITE 2

/* The saved user registers (Kernel/Arch/InterruptFrame.swift). */
#define FRAME_R10 40
#define FRAME_R9 48
#define FRAME_R8 56
#define FRAME_RDI 72
#define FRAME_RSI 80
#define FRAME_RDX 88
#define FRAME_RAX 112
#define FRAME_BYTES 176

/* System call numbers (Kernel/Core/UserABI/SystemCall.swift). */
#define SYSCALL_CALL 19
#define SYSCALL_REPLY_RECEIVE 21

/* The IPI that makes a CPU pick its next thread (Kernel/Arch/InterruptVector.swift). */
#define RESCHEDULE_VECTOR 0xF1

#endif
