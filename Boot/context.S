#include "include/frame.inc"
/* Switching between threads' kernel stacks.
 *
 * context_switch(save, next): pushes the callee-saved registers, stores the
 * stack pointer in *save, loads `next` (a stack saved the same way) and pops
 * them from there: the call returns in the other thread.
 *
 * A new thread's stack is laid out as if it had called context_switch:
 * r15, r14, r13, r12, rbx, rbp, then the return address thread_trampoline,
 * which calls r12(r13). */

.section .text
.global context_switch
context_switch:
  PUSH_SWITCH_REGISTERS
  movq %rsp, (%rdi)
/* context_resume(_, next): the second half, also entered on its own by
 * the IPC fast path (Boot/ipcfast.S): continues the thread whose stack
 * `next` was saved by context_switch. */
.global context_resume
context_resume:
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret

.global thread_trampoline
thread_trampoline:
  movq %r13, %rdi
  xorl %ebp, %ebp
  callq *%r12
  ud2

/* enter_user(frame): leaves the kernel through an InterruptFrame (the layout
 * of Kernel/Arch/InterruptFrame.swift) into ring 3. */
.global enter_user
enter_user:
  movq %rdi, %rsp
  POP_FRAME_REGISTERS
  addq $16, %rsp
  swapgs
  iretq
