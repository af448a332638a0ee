#include "include/frame.inc"
#include "include/layout.h"
/* The IPC fast path: `call` and `replyReceive` when nothing is unusual, from
 * the system-call entry to the partner's exit without a call into Swift.
 *
 * It runs the moves of Core's IPCRendezvous (send + delivered for a call;
 * answer + receive for a replyReceive) on the same plain records the Swift
 * IPC path uses, under the same kernel lock, and does everything else the
 * general path would: the same capability check through the space's slot
 * cache (CapabilitySlotCache: the entry must be current and carry the
 * right), the same message registers, the same switch (CPUScheduler's
 * prepareSwitch). It decides before it changes anything: every unusual case
 * goes to the general path (Kernel/IPC/IPC.swift), which is the one
 * implementation of every error and every other case:
 *   - the fast path is off on this CPU (an LWK CPU, `nofastpath`);
 *   - a switch is due, a dead thread waits to be retired, or the caller
 *     was asked to end;
 *   - a call transfers a capability (R9 not 0);
 *   - the kernel lock is held elsewhere (the general path waits for it
 *     with interrupts on, as a TLB shootdown may need this CPU meanwhile);
 *   - the slot cache has no current entry for the slot, or it lacks the
 *     right (write to call, read to receive);
 *   - no receiver waits (call), or the caller owed a reply is not waiting
 *     for it, or a sender waits already (replyReceive);
 *   - the partner is not blocked, was asked to end, or is a kernel thread;
 *   - the partner lives here and a thread of higher priority is ready; or
 *     it lives on another CPU and anything is ready here, that CPU's lock
 *     is held, or another hand-off waits there.
 *
 * A partner on this CPU runs at once. A partner on another CPU is handed
 * to it (fast_handoff): it becomes that CPU's next thread and the CPU gets
 * an IPI, while this CPU idles; an idle CPU takes the hand-off in the IPI's
 * entry (reschedule_interrupt, at the end of this file).
 *
 * Entered from syscall_entry (Boot/usermode.S) with RAX 19 to 21, the frame
 * built at RSP, interrupts off, and the user's registers still live (RDI the
 * slot, RSI, RDX, R10 and R8 the message words, R9 the transfer or receive
 * slot). R12 to R15 are the user's and stay untouched until the decision:
 * the general path and the exit rely on them.
 *
 * The caller parks (see Boot/usermode.S): its saved stack pointer names a
 * park area below its frame, so it later leaves through syscall_resume. The
 * partner is entered at its exit when it is parked too, else resumed where
 * it switched away (context_resume). */

/* The park area: six callee-saved registers and a return address. */
#define PARK_BYTES (7 * 8)

.section .text

/* The general path, with the kernel lock given back. */
.macro GIVE_UP_LOCKED
  movq %gs:PERCPU_KERNEL_LOCK, %rax
  movb $0, (%rax)
  jmp syscall_general
.endm

/* Takes the kernel lock if it is free (interrupts are off); else the
 * general path. Clobbers RAX and RCX. */
.macro TRY_LOCK
  movq %gs:PERCPU_KERNEL_LOCK, %rcx
  movl $1, %eax
  xchgb %al, (%rcx)
  testb %al, %al
  jnz syscall_general
.endm

/* RBP := the current slot cache entry of slot RDI whose capability has
 * `right`, else the general path. Clobbers RAX. */
.macro LOOK_UP right, fail
  movq TCB_SLOT_CACHE(%rbx), %rbp
  testq %rbp, %rbp /* none: the general path says what is wrong */
  jz \fail
  movl %edi, %eax
  andl $(CACHE_ENTRIES - 1), %eax
  leaq (%rax,%rax,2), %rax /* * 48: three times sixteen */
  shlq $4, %rax
  addq %rax, %rbp
  cmpq %rdi, CACHE_ENTRY_SLOT(%rbp)
  jne \fail
  movq %gs:PERCPU_REMOVALS, %rax
  movq (%rax), %rax
  cmpq %rax, CACHE_ENTRY_REMOVALS(%rbp)
  jne \fail
  testb $\right, CACHE_ENTRY_RIGHTS(%rbp)
  jz \fail
.endm

/* Whether the blocked partner (control block R11) may run at once, and
 * where. On this CPU (R12 := 0) when nothing of higher priority is ready
 * here (IPC.runsAtOnce). On its own CPU (R12 := that CPU's block, R13 :=
 * its scheduler lock, taken here) when nothing at all is ready here, so
 * this CPU will idle, and no other hand-off is pending there. Either way it
 * must be blocked, not asked to end, and a user thread (a kernel thread has
 * no vector registers to load and takes the general switch). Clobbers RAX
 * and RDI; R12 and R13 only once nothing can fail. */
.macro PARTNER fail
  cmpb $THREAD_BLOCKED, TCB_STATE(%r11)
  jne \fail
  cmpb $0, TCB_KILL_REQUESTED(%r11)
  jne \fail
  cmpq $0, TCB_VECTOR_STATE(%r11)
  je \fail
  movq %gs:PERCPU_HIGHEST_READY, %rax
  movq %gs:PERCPU_CPU, %rdi
  cmpq %rdi, TCB_CPU(%r11)
  je 50f
  cmpq $-1, %rax
  jne \fail
  movq TCB_CPU_BLOCK(%r11), %rax
  cmpq $0, PERCPU_HANDOFF(%rax)
  jne \fail
  movq PERCPU_SCHEDULER_LOCK(%rax), %rdi
  movl $1, %eax
  xchgb %al, (%rdi)
  testb %al, %al
  jnz \fail
  /* Again under that lock, which a wake there takes too. */
  movq TCB_CPU_BLOCK(%r11), %rax
  cmpq $0, PERCPU_HANDOFF(%rax)
  jne 52f
  cmpb $THREAD_BLOCKED, TCB_STATE(%r11)
  jne 52f
  movq %rax, %r12
  movq %rdi, %r13
  jmp 53f
52:
  movb $0, (%rdi)
  jmp \fail
50:
  cmpq %rax, TCB_PRIORITY(%r11)
  jl \fail
  xorl %r12d, %r12d
53:
.endm

/* The kernel stack (RAX) that entries from user mode take: the per-CPU
 * block's and the TSS's (UserMode.setKernelStack). Clobbers RCX. */
.macro SET_KERNEL_STACK
  movq %rax, %gs:PERCPU_KERNEL_STACK_TOP
  movq %gs:PERCPU_TSS_STACK_FIELD, %rcx
  movq %rax, (%rcx)
.endm

/* The FS base of the thread R11, when it is not the CPU's already.
 * Clobbers RAX, RCX and RDX. */
.macro SET_FS_BASE
  movq TCB_THREAD_POINTER(%r11), %rax
  cmpq %rax, %gs:PERCPU_FS_BASE
  je 54f
  movq %rax, %gs:PERCPU_FS_BASE
  movq %rax, %rdx
  shrq $32, %rdx
  movl $0xC0000100, %ecx
  wrmsr
54:
.endm

/* The vector registers of the user thread R11, when the CPU holds another
 * user thread's (CPUScheduler.switchVectorState). Clobbers RAX. */
.macro SWITCH_VECTOR_STATE
  cmpq %r11, %gs:PERCPU_VECTOR_OWNER
  je 55f
  movq %gs:PERCPU_VECTOR_OWNER, %rax
  testq %rax, %rax
  jz 56f
  movq TCB_VECTOR_STATE(%rax), %rax
  fxsave64 (%rax)
56:
  movq TCB_VECTOR_STATE(%r11), %rax
  fxrstor64 (%rax)
  movq %r11, %gs:PERCPU_VECTOR_OWNER
55:
.endm

/* Continues the user thread R11, whose frame is at RDI (RCX: the address
 * of syscall_resume). A parked one leaves through its frame at once: its
 * frame's RIP is the one its own syscall saved (nothing changes a parked
 * thread's), so syscall_exit's check has nothing to find. Any other was
 * switched away from by context_switch and resumes there. */
.macro ENTER
  movq TCB_SAVED_STACK_POINTER(%r11), %rsi
  leaq -PARK_BYTES(%rdi), %rax
  cmpq %rax, %rsi
  jne 57f
  cmpq %rcx, -8(%rdi)
  jne 57f
  movq %rdi, %rsp
  movq 0(%rsp), %r15
  movq 8(%rsp), %r14
  movq 16(%rsp), %r13
  movq 24(%rsp), %r12
  jmp syscall_sysret
57:
  jmp context_resume
.endm

/* This thread (control block RBX, frame at RSP) parks: a switch to it
 * resumes at syscall_resume. Leaves syscall_resume's address in RCX. */
.macro PARK
  leaq -PARK_BYTES(%rsp), %rax
  leaq syscall_resume(%rip), %rcx
  movq %rcx, 48(%rax)
  movq $0, 40(%rax) /* RBP: backtraces end here */
  movq %rax, TCB_SAVED_STACK_POINTER(%rbx)
.endm

/* The IPC wait of record REG ends (IPCThread.clearWait). */
.macro CLEAR_WAIT reg
  movb $IPC_WAIT_NONE, IPC_STATE(\reg)
  movq $0, IPC_ENDPOINT(\reg)
  movq $0, IPC_CAPABILITY(\reg)
  movq $0, IPC_LABEL(\reg)
  movq $0, IPC_RECEIVE_SLOT(\reg)
  movq $0, IPC_SERVER(\reg)
.endm

.global ipc_fast_entry
ipc_fast_entry:
  /* needsReschedule, retiring and ipcFastPathOff: four adjacent bytes */
  cmpl $0, %gs:PERCPU_NEEDS_RESCHEDULE
  jne syscall_general
  movq %gs:PERCPU_RUNNING, %rbx
  cmpb $0, TCB_KILL_REQUESTED(%rbx)
  jne syscall_general
  cmpq $SYSCALL_CALL, %rax
  je fast_call
  cmpq $SYSCALL_REPLY_RECEIVE, %rax
  jne syscall_general

/* replyReceive(slot, words...; receive slot R9): answer the caller this
 * thread owes a reply, then wait on the endpoint. */
fast_reply_receive:
  TRY_LOCK
  movq TCB_IPC(%rbx), %rcx /* mine */
  /* A thread names a server only while it awaits that server's reply. */
  movq IPC_REPLY_TO(%rcx), %rsi
  testq %rsi, %rsi
  jz 9f
  cmpq %rcx, IPC_SERVER(%rsi)
  jne 9f
  cmpb $IPC_WAIT_AWAITING_REPLY, IPC_STATE(%rsi)
  jne 9f
  LOOK_UP RIGHT_READ, 9f
  movq CACHE_ENTRY_OBJECT(%rbp), %r9 /* the endpoint's queues */
  cmpq $0, QUEUES_SENDERS_HEAD(%r9)
  jne 9f
  movq IPC_OWNER(%rsi), %r11
  PARTNER 9f
  /* Decided. IPCRendezvous.answer: the caller waits no more. */
  movq $0, IPC_REPLY_TO(%rcx)
  movq IPC_ENDPOINT(%rsi), %rax
  decq QUEUES_PENDING_CALLS(%rax)
  CLEAR_WAIT %rsi
  /* The reply into the caller's frame (IPC.answer). The user's RSI was
   * overwritten above: the words come from this thread's frame. */
  movq TCB_KERNEL_STACK_TOP(%r11), %rdi
  subq $FRAME_BYTES, %rdi
  movq $0, FRAME_RAX(%rdi)
  movq FRAME_RSI(%rsp), %rax
  movq %rax, FRAME_RDI(%rdi)
  movq %rdx, FRAME_RSI(%rdi)
  movq %r10, FRAME_RDX(%rdi)
  movq %r8, FRAME_R10(%rdi)
  /* IPCThread.arrive, then IPCRendezvous.receive with no sender: this
   * thread waits at the back of the receivers. */
  movq %r9, IPC_ENDPOINT(%rcx)
  movq CACHE_ENTRY_CAPABILITY(%rbp), %rax
  movq %rax, IPC_CAPABILITY(%rcx)
  movq CACHE_ENTRY_LABEL(%rbp), %rax
  movq %rax, IPC_LABEL(%rcx)
  movb $IPC_WAIT_RECEIVING, IPC_STATE(%rcx)
  movq FRAME_R9(%rsp), %rax
  movq %rax, IPC_RECEIVE_SLOT(%rcx)
  movq $0, IPC_NEXT(%rcx)
  movq QUEUES_RECEIVERS_TAIL(%r9), %rax
  testq %rax, %rax
  jz 1f
  movq %rcx, IPC_NEXT(%rax)
  jmp 2f
1:
  movq %rcx, QUEUES_RECEIVERS_HEAD(%r9)
2:
  movq %rcx, QUEUES_RECEIVERS_TAIL(%r9)
  testq %r12, %r12
  jnz fast_handoff
  jmp fast_switch
9:
  GIVE_UP_LOCKED

/* call(slot, words...; transfer slot R9): deliver to the oldest receiver
 * and wait for its reply. */
fast_call:
  testq %r9, %r9
  jnz syscall_general
  TRY_LOCK
  LOOK_UP RIGHT_WRITE, 9f
  movq CACHE_ENTRY_OBJECT(%rbp), %r9 /* the endpoint's queues */
  movq QUEUES_RECEIVERS_HEAD(%r9), %rcx /* the receiver's IPC record */
  testq %rcx, %rcx
  jz 9f
  movq IPC_OWNER(%rcx), %r11
  PARTNER 9f
  /* Decided. IPCRendezvous.send: the receiver leaves its queue. */
  movq IPC_NEXT(%rcx), %rax
  movq %rax, QUEUES_RECEIVERS_HEAD(%r9)
  testq %rax, %rax
  jnz 1f
  movq $0, QUEUES_RECEIVERS_TAIL(%r9)
1:
  movq $0, IPC_NEXT(%rcx)
  /* IPCRendezvous.delivered: the receiver waits no more, this thread
   * (arrived at the endpoint) awaits its reply. */
  CLEAR_WAIT %rcx
  movq TCB_IPC(%rbx), %rax /* mine */
  movq %r9, IPC_ENDPOINT(%rax)
  movq CACHE_ENTRY_CAPABILITY(%rbp), %rdi
  movq %rdi, IPC_CAPABILITY(%rax)
  movq CACHE_ENTRY_LABEL(%rbp), %rbp /* the label, from here on */
  movq %rbp, IPC_LABEL(%rax)
  incq QUEUES_PENDING_CALLS(%r9)
  movb $IPC_WAIT_AWAITING_REPLY, IPC_STATE(%rax)
  movq %rcx, IPC_SERVER(%rax)
  movq %rax, IPC_REPLY_TO(%rcx)
  /* The message into the receiver's frame (IPC.copyWords). */
  movq TCB_KERNEL_STACK_TOP(%r11), %rdi
  subq $FRAME_BYTES, %rdi
  movq $0, FRAME_RAX(%rdi)
  movq %rsi, FRAME_RDI(%rdi)
  movq %rdx, FRAME_RSI(%rdi)
  movq %r10, FRAME_RDX(%rdi)
  movq %r8, FRAME_R10(%rdi)
  movq $0, FRAME_R8(%rdi)
  movq %rbp, FRAME_R9(%rdi)
  testq %r12, %r12
  jz fast_switch
  jmp fast_handoff
9:
  GIVE_UP_LOCKED

/* This thread (control block RBX, frame at RSP) blocks, and the partner
 * (control block R11, frame at RDI) runs: CPUScheduler.prepareSwitch, then
 * the park and the partner's way out. The kernel lock is held on entry. */
fast_switch:
  movb $THREAD_BLOCKED, TCB_STATE(%rbx)
  movb $THREAD_RUNNING, TCB_STATE(%r11)
  movq $0, TCB_TICKS_IN_SLICE(%r11)
  movq %r11, %gs:PERCPU_RUNNING
  incq %gs:PERCPU_SWITCHES
  incq %gs:PERCPU_FAST_IPC
  /* Every IPC record is written: others may look at them now. */
  movq %gs:PERCPU_KERNEL_LOCK, %rax
  movb $0, (%rax)
  movq TCB_KERNEL_STACK_TOP(%r11), %rax
  SET_KERNEL_STACK
  /* The partner's page tables (it is a user thread: it has its own). */
  movq TCB_PAGE_TABLE_ROOT(%r11), %rax
  movq %cr3, %rcx
  cmpq %rax, %rcx
  je 1f
  movq %rax, %cr3
1:
  SET_FS_BASE
  SWITCH_VECTOR_STATE
  PARK
  ENTER

/* The partner runs on its own CPU: it becomes that CPU's hand-off, which
 * its next pick takes (as Scheduler.wake would queue it there), and that
 * CPU gets the reschedule IPI. This thread blocks, and this CPU, where
 * nothing else is ready, runs its idle thread. R12: the partner CPU's
 * block; R13: its scheduler lock; both locks held on entry. */
fast_handoff:
  movb $THREAD_BLOCKED, TCB_STATE(%rbx)
  movb $THREAD_READY, TCB_STATE(%r11)
  movq %r11, PERCPU_HANDOFF(%r12)
  movb $1, PERCPU_NEEDS_RESCHEDULE(%r12)
  movb $0, (%r13)
  incq %gs:PERCPU_FAST_IPC
  movq %gs:PERCPU_KERNEL_LOCK, %rax
  movb $0, (%rax)
  /* The IPI (LocalAPIC.send): an MSR write in x2APIC mode, else the two
   * halves of the xAPIC's command register (interrupts are off, so no
   * handler comes between them), then its send-pending bit. */
  movq PERCPU_APIC_ID(%r12), %rdx
  movq %gs:PERCPU_APIC_COMMAND, %rdi
  testq %rdi, %rdi
  jnz 1f
  movl $0x830, %ecx
  movl $RESCHEDULE_VECTOR, %eax
  wrmsr
  jmp 3f
1:
  shll $24, %edx
  movl %edx, 0x10(%rdi)
  movl $RESCHEDULE_VECTOR, (%rdi)
2:
  testl $0x1000, (%rdi)
  jz 3f
  pause
  jmp 2b
3:
  /* CPUScheduler.prepareSwitch to the idle (kernel) thread. */
  movq %gs:PERCPU_IDLE, %r11
  movb $THREAD_RUNNING, TCB_STATE(%r11)
  movq $0, TCB_TICKS_IN_SLICE(%r11)
  movq %r11, %gs:PERCPU_RUNNING
  incq %gs:PERCPU_SWITCHES
  movq TCB_KERNEL_STACK_TOP(%r11), %rax
  testq %rax, %rax
  jz 1f
  SET_KERNEL_STACK
1:
  /* The kernel's own tables: this process's may be freed meanwhile. */
  movq %gs:PERCPU_KERNEL_ROOT, %rax
  testq %rax, %rax
  jz 1f
  movq %rax, %cr3
1:
  SET_FS_BASE
  PARK
  movq TCB_SAVED_STACK_POINTER(%r11), %rsi
  jmp context_resume

/* The caller-saved registers but RAX, which the interrupted idle thread
 * keeps while it is switched away from. */
.macro PUSH_SCRATCH
  pushq %rcx
  pushq %rdx
  pushq %rsi
  pushq %rdi
  pushq %r8
  pushq %r9
  pushq %r10
  pushq %r11
.endm

.macro POP_SCRATCH
  popq %r11
  popq %r10
  popq %r9
  popq %r8
  popq %rdi
  popq %rsi
  popq %rdx
  popq %rcx
.endm

/* The reschedule IPI. On an idle CPU with a hand-off waiting (the other
 * half of fast_handoff, nothing else ready, nobody dying) it switches to
 * the handed-over thread here, as the Swift handler would through
 * Scheduler.preemptIfNeeded and CPUScheduler.reschedule. Every other case
 * takes the vector's ordinary stub with every register as it came.
 *
 * The idle thread is interrupted in its `sti; hlt`. It is switched away
 * from with its registers on its stack, laid out for context_resume, whose
 * return lands in idle_resume: that restores the rest and returns from the
 * interrupt into the idle loop. */
.if RESCHEDULE_VECTOR != 241
.error "reschedule_interrupt falls back to isr_stub_241"
.endif
.global reschedule_interrupt
reschedule_interrupt:
  testb $3, 8(%rsp) /* from user mode */
  jnz isr_stub_241
  pushq %rax
  movq %gs:PERCPU_RUNNING, %rax
  testq %rax, %rax
  jz 8f
  cmpq %rax, %gs:PERCPU_IDLE
  jne 8f
  cmpq $0, %gs:PERCPU_HANDOFF
  je 8f
  cmpq $-1, %gs:PERCPU_HIGHEST_READY
  jne 8f
  cmpb $0, %gs:PERCPU_RETIRING
  jne 8f
  PUSH_SCRATCH
  leaq idle_resume(%rip), %rax
  pushq %rax
  PUSH_SWITCH_REGISTERS
  /* CPUScheduler.pickNext: the hand-off, under this CPU's lock. */
  movq %gs:PERCPU_SCHEDULER_LOCK, %rcx
  movl $1, %eax
  xchgb %al, (%rcx)
  testb %al, %al
  jnz 7f
  movq %gs:PERCPU_HANDOFF, %r11
  testq %r11, %r11
  jz 6f
  cmpq $0, TCB_VECTOR_STATE(%r11) /* a user thread, as fast_handoff hands */
  je 6f
  movq $0, %gs:PERCPU_HANDOFF
  movb $0, %gs:PERCPU_NEEDS_RESCHEDULE
  movb $0, (%rcx)
  /* The interrupt ends here (LocalAPIC.endOfInterrupt). */
  movq %gs:PERCPU_APIC_END_OF_INTERRUPT, %rax
  testq %rax, %rax
  jz 1f
  movl $0, (%rax)
  jmp 2f
1:
  movl $0x80B, %ecx
  xorl %eax, %eax
  xorl %edx, %edx
  wrmsr
2:
  movq %gs:PERCPU_IDLE, %rax
  movq %rsp, TCB_SAVED_STACK_POINTER(%rax)
  /* CPUScheduler.prepareSwitch to the user thread R11. */
  movb $THREAD_RUNNING, TCB_STATE(%r11)
  movq $0, TCB_TICKS_IN_SLICE(%r11)
  movq %r11, %gs:PERCPU_RUNNING
  incq %gs:PERCPU_SWITCHES
  movq TCB_KERNEL_STACK_TOP(%r11), %rax
  SET_KERNEL_STACK
  movq TCB_PAGE_TABLE_ROOT(%r11), %rax
  movq %rax, %cr3 /* the idle thread ran on the kernel's tables */
  SET_FS_BASE
  SWITCH_VECTOR_STATE
  movq TCB_KERNEL_STACK_TOP(%r11), %rdi
  subq $FRAME_BYTES, %rdi
  leaq syscall_resume(%rip), %rcx
  /* Asked to end: through syscall_resumed, which ends it. */
  cmpb $0, TCB_KILL_REQUESTED(%r11)
  je 3f
  movq TCB_SAVED_STACK_POINTER(%r11), %rsi
  jmp context_resume
3:
  ENTER
6:
  movb $0, (%rcx)
7:
  addq $(7 * 8), %rsp /* six registers, unchanged, and idle_resume */
  POP_SCRATCH
8:
  popq %rax
  jmp isr_stub_241

/* The idle thread resumes after a hand-off (see above): context_resume has
 * restored its callee-saved registers. */
idle_resume:
  POP_SCRATCH
  popq %rax
  iretq
