#include "include/frame.inc"
#include "include/layout.h"
/* Entering and leaving user mode.
 *
 * The per-CPU block behind the kernel GS base (Kernel/Arch/PerCPUBlock.swift,
 * offsets in include/layout.h) gives syscall_entry a scratch word for the
 * user RSP and the kernel stack top of the running thread.
 *
 * syscall_entry builds the same frame as the interrupt stubs (see
 * Kernel/Arch/InterruptFrame.swift) with vector 0x100, so the kernel sees one
 * shape of saved user state, and returns with sysretq after checking that
 * the return address is canonical. The stack needs no aligning: a user
 * thread's kernel stack top is page aligned and the frame is 22 words, so
 * RSP is 16-byte aligned at the call as it is.
 *
 * call, reply and replyReceive (19 to 21) go to the IPC fast path first
 * (Boot/ipcfast.S), which hands every case it does not take to
 * syscall_general. A thread that blocks in the fast path is parked: it has
 * nothing left to do in the kernel but return to user mode, and its saved
 * stack pointer names a park area just below its frame, laid out like a
 * context_switch save whose return address is syscall_resume. A switch to
 * it from anywhere (context_switch) so resumes it, and the fast path enters
 * a parked partner straight at its exit (syscall_sysret). */

#define SYSCALL_VECTOR 0x100
/* Where the saved RIP is in the frame: 15 registers, vector, error code. */
#define FRAME_RIP (17 * 8)
#define USER_CS (0x20 | 3)
#define USER_SS (0x18 | 3)

/* The registers above R12 to R15 in the frame, in POP_FRAME_REGISTERS's order. */
.macro POP_SYSCALL_REGISTERS
  popq %r11
  popq %r10
  popq %r9
  popq %r8
  popq %rbp
  popq %rdi
  popq %rsi
  popq %rdx
  popq %rcx
  popq %rbx
  popq %rax
.endm

.section .text
.global syscall_entry
syscall_entry:
  swapgs
  movq %rsp, %gs:PERCPU_USER_STACK
  movq %gs:PERCPU_KERNEL_STACK_TOP, %rsp
  pushq $USER_SS
  pushq %gs:PERCPU_USER_STACK
  pushq %r11   /* user RFLAGS */
  pushq $USER_CS
  pushq %rcx   /* user RIP */
  pushq $0
  pushq $SYSCALL_VECTOR
  PUSH_FRAME_REGISTERS
  cld
  leaq -SYSCALL_CALL(%rax), %rcx
  cmpq $(SYSCALL_REPLY_RECEIVE - SYSCALL_CALL), %rcx
  jbe ipc_fast_entry
.global syscall_general
syscall_general:
  movq %rsp, %rdi
  xorl %ebp, %ebp
  /* No fxsave: the kernel does not touch vector registers (it is built
   * without them); the switch saves a user thread's when another user
   * thread runs (CPUScheduler.switchVectorState). */
  sti
  call syscall_dispatch
/* Leaves through the frame at RSP, with interrupts in any state. R12 to R15
 * are not reloaded: the kernel's code kept them in their registers (a parked
 * thread reloads them first, in syscall_restore). */
syscall_exit:
  cli
  /* The frame may have been changed by the kernel: take RIP, RFLAGS and RSP
   * from it. A non-canonical RIP would fault sysretq in ring 0, so check it
   * here, while no register holds a result yet (RDX, R10, R8 and R9 carry
   * results of IPC), and fall back to iretq, which faults in user mode. */
  movq FRAME_RIP(%rsp), %rax
  sarq $47, %rax
  jz syscall_sysret
  cmpq $-1, %rax
  jne 2f
/* Leaves through the frame at RSP by sysretq: interrupts off, RIP checked. */
.global syscall_sysret
syscall_sysret:
  addq $32, %rsp /* R12 to R15 */
  POP_SYSCALL_REGISTERS
  addq $16, %rsp /* vector, error code */
  movq 0(%rsp), %rcx  /* RIP */
  movq 16(%rsp), %r11 /* RFLAGS */
  movq 24(%rsp), %rsp /* user RSP */
  swapgs
  sysretq
2:
  addq $32, %rsp
  POP_SYSCALL_REGISTERS
  addq $16, %rsp
  swapgs
  iretq

/* A parked thread that was switched to: its frame is at RSP. The checks of
 * the way out (a reschedule, a kill) run in syscall_resumed. */
.global syscall_resume
syscall_resume:
  movq %rsp, %rdi
  call syscall_resumed
syscall_restore:
  movq 0(%rsp), %r15
  movq 8(%rsp), %r14
  movq 16(%rsp), %r13
  movq 24(%rsp), %r12
  jmp syscall_exit
