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
 * the return address is canonical. Two things make it shorter than the
 * interrupt path, and both matter to every system call:
 *   - R12 to R15 get their frame slots but are not stored: the kernel's code
 *     keeps callee-saved registers itself, and nothing reads or writes those
 *     slots of a system call's frame (a new thread's frame is built in full
 *     and left through enter_user).
 *   - The stack needs no aligning: a user thread's kernel stack top is page
 *     aligned and the frame is 22 words, so RSP is 16-byte aligned at the
 *     call as it is. */

#define SYSCALL_VECTOR 0x100
/* Where the saved RIP is in the frame: 15 registers, vector, error code. */
#define FRAME_RIP (17 * 8)
#define USER_CS (0x20 | 3)
#define USER_SS (0x18 | 3)

/* The registers syscall_entry stores, in POP_FRAME_REGISTERS's order. */
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
  pushq %rax
  pushq %rbx
  pushq %rcx
  pushq %rdx
  pushq %rsi
  pushq %rdi
  pushq %rbp
  pushq %r8
  pushq %r9
  pushq %r10
  pushq %r11
  subq $32, %rsp /* R12 to R15 */
  cld
  movq %rsp, %rdi
  xorl %ebp, %ebp
  /* No fxsave: the kernel does not touch vector registers (it is built
   * without them); the switch saves a user thread's when another user
   * thread runs (CPUScheduler.switchVectorState). */
  sti
  call syscall_dispatch
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
  addq $32, %rsp /* R12 to R15: never stored */
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

