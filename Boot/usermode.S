#include "include/frame.inc"
/* Entering and leaving user mode.
 *
 * The per-CPU block behind the kernel GS base (Kernel/Arch/Processor.swift):
 *   gs:0 self, gs:8 CPU number, gs:16 scratch for the user RSP,
 *   gs:24 kernel stack top of the running thread.
 *
 * syscall_entry builds the same frame as the interrupt stubs (see
 * Kernel/Arch/InterruptFrame.swift) with vector 0x100, so the kernel sees one
 * shape of saved user state, and returns with sysretq after checking that
 * the return address is canonical. The stack needs no aligning: a user
 * thread's kernel stack top is page aligned and the frame is 22 words, so
 * RSP is 16-byte aligned at the call as it is.
 *
 * A thread that blocks in the IPC fast path is parked: its kernel call chain
 * is dropped (there is nothing left for it to do but return to user mode),
 * and its saved stack pointer names a park area just below its frame, laid
 * out like a context_switch save whose return address is syscall_resume. A
 * switch to it from anywhere (context_switch) so resumes it, and the fast
 * path switches to a parked partner straight into its exit (ipc_switch). */

#define SYSCALL_VECTOR 0x100
/* Where the saved RIP is in the frame: 15 registers, vector, error code. */
#define FRAME_RIP (17 * 8)
#define USER_CS (0x20 | 3)
#define USER_SS (0x18 | 3)
/* The park area: six callee-saved registers and a return address. */
#define PARK_BYTES (7 * 8)

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
  movq %rsp, %gs:16
  movq %gs:24, %rsp
  pushq $USER_SS
  pushq %gs:16 /* user RSP */
  pushq %r11   /* user RFLAGS */
  pushq $USER_CS
  pushq %rcx   /* user RIP */
  pushq $0
  pushq $SYSCALL_VECTOR
  PUSH_FRAME_REGISTERS
  cld
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
  jz 1f
  cmpq $-1, %rax
  jne 2f
1:
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

/* ipc_switch(save, frame, next, nextFrame): the IPC fast path's switch.
 * The running thread parks: its park area goes below `frame` and its saved
 * stack pointer (*save) names it. Then the CPU continues on `next`, a saved
 * stack pointer: when `nextFrame` is not 0, that thread is parked too and
 * leaves through its frame at once; else `next` is an ordinary
 * context_switch save and is returned into. The caller has done the rest of
 * the switch (CPUScheduler.parkAndSwitch) and holds no lock; interrupts are
 * off. Never returns. */
.global ipc_switch
ipc_switch:
  leaq -PARK_BYTES(%rsi), %rax
  movq %rdx, %rsp /* the running thread's stack is not used from here */
  leaq syscall_resume(%rip), %r8
  movq %r8, 48(%rax)
  movq $0, 40(%rax) /* RBP: backtraces end here */
  movq %rax, (%rdi)
  testq %rcx, %rcx
  jz 1f
  movq %rcx, %rsp
  jmp syscall_restore
1:
  movq %rdx, %rsi
  jmp context_resume
