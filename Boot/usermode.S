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
 * the return address is canonical. */

#define SYSCALL_VECTOR 0x100
/* Where the saved RIP is in the frame: 15 registers, vector, error code. */
#define FRAME_RIP (17 * 8)
#define USER_CS (0x20 | 3)
#define USER_SS (0x18 | 3)

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
  movq %rsp, %rbx
  xorl %ebp, %ebp
  andq $-16, %rsp
  /* No fxsave: the kernel does not touch vector registers (it is built
   * without them); the switch saves a user thread's when another user
   * thread runs (CPUScheduler.switchVectorState). */
  sti
  call syscall_dispatch
  cli
  movq %rbx, %rsp
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
  POP_FRAME_REGISTERS
  addq $16, %rsp /* vector, error code */
  movq 0(%rsp), %rcx  /* RIP */
  movq 16(%rsp), %r11 /* RFLAGS */
  movq 24(%rsp), %rsp /* user RSP */
  swapgs
  sysretq
2:
  POP_FRAME_REGISTERS
  addq $16, %rsp
  swapgs
  iretq

