/* The first instructions of every user program: the kernel enters at _start
 * with RSP at the top of the stack and the argument string in RDI (address)
 * and RSI (length). main's return value becomes the exit status. */
.section .text
.global _start
_start:
  xorl %ebp, %ebp
  andq $-16, %rsp
  call tessera_user_start
  movq %rax, %rdi
  movl $0, %eax /* exit */
  syscall
  ud2

/* A thread made by threadCreate: RSP points at the function and its
 * argument (Threads.start put them there); the thread ends when the
 * function returns. */
.global tessera_thread_start
tessera_thread_start:
  popq %rax /* function */
  popq %rdi /* argument */
  xorl %ebp, %ebp
  call *%rax
  movl $16, %eax /* threadExit */
  syscall
  ud2

/* The heap of the Embedded Swift runtime in this program. */
.section .bss
.balign 4096
.global user_heap_start, user_heap_end
user_heap_start: .skip 1024 * 1024
user_heap_end:
