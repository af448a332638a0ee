#include "include/frame.inc"
#include "include/layout.h"
/* Interrupt and exception entry. Every vector's stub pushes a uniform frame
 * (a zero error code where the CPU pushes none, then the vector number), the
 * common path saves the general registers (not the vector registers: the
 * kernel is built without them) and calls the Swift dispatcher with a
 * pointer to the frame (Kernel/Arch/InterruptFrame.swift mirrors this
 * layout). The reschedule IPI enters Boot/ipcfast.S first. */

.macro STUB vector, has_error_code
.balign 16
.if \vector == RESCHEDULE_VECTOR
.global isr_stub_\vector /* reschedule_interrupt's way to the handler */
.endif
isr_stub_\vector:
  .if \has_error_code == 0
  pushq $0
  .endif
  pushq $\vector
  jmp isr_common
.endm

.section .text
STUB 0, 0
STUB 1, 0
STUB 2, 0
STUB 3, 0
STUB 4, 0
STUB 5, 0
STUB 6, 0
STUB 7, 0
STUB 8, 1
STUB 9, 0
STUB 10, 1
STUB 11, 1
STUB 12, 1
STUB 13, 1
STUB 14, 1
STUB 15, 0
STUB 16, 0
STUB 17, 1
STUB 18, 0
STUB 19, 0
STUB 20, 0
STUB 21, 1
STUB 22, 0
STUB 23, 0
STUB 24, 0
STUB 25, 0
STUB 26, 0
STUB 27, 0
STUB 28, 0
STUB 29, 1
STUB 30, 1
STUB 31, 0
/* Device interrupts and IPIs: the CPU pushes no error code. */
.altmacro
.set vector, 32
.rept 224
  STUB %vector, 0
  .set vector, vector + 1
.endr

isr_common:
  /* From user mode the GS base is the user's: switch to the kernel's. */
  testb $3, 24(%rsp)
  jz 1f
  swapgs
1:
  PUSH_FRAME_REGISTERS
  cld
  mov %rsp, %rdi /* argument: the frame */
  mov %rsp, %rbx /* callee-saved: the frame, to come back to */
  /* A frame record linking to the interrupted code, so backtraces continue
   * through the interrupt into the code it interrupted. */
  pushq 17 * 8(%rbx) /* interrupted RIP */
  pushq 8 * 8(%rbx)  /* interrupted RBP */
  mov %rsp, %rbp
  and $-16, %rsp
  /* The vector registers stay as they are (see usermode.S). */
  call interrupt_dispatch
  mov %rbx, %rsp
  POP_FRAME_REGISTERS
  add $16, %rsp /* vector and error code */
  testb $3, 8(%rsp)
  jz 1f
  swapgs
1:
  iretq

/* The stubs' addresses, for building the IDT. The reschedule IPI enters
 * reschedule_interrupt (Boot/ipcfast.S) first, which takes its stub when it
 * does not finish a hand-off itself. */
.section .rodata
.balign 8
.global isr_stub_table
isr_stub_table:
.macro STUB_ADDRESS vector
  .if \vector == RESCHEDULE_VECTOR
  .quad reschedule_interrupt
  .else
  .quad isr_stub_\vector
  .endif
.endm
.set vector, 0
.rept 256
  STUB_ADDRESS %vector
  .set vector, vector + 1
.endr
