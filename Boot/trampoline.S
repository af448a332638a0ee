/* The application-processor trampoline. The boot CPU copies the bytes from
 * trampoline_start to trampoline_end to physical TRAMPOLINE_BASE (a page
 * below 1 MiB reserved at boot), fills trampoline_data, and sends
 * INIT-SIPI-SIPI; the AP starts here in real mode with CS:IP = base:0, goes
 * through protected mode to long mode on the kernel's page tables (which
 * identity-map this page), and calls entry(cpu, argument) on its own stack. All
 * addresses are computed relative to the base, so the code runs wherever the
 * page is. */

#define TRAMPOLINE_BASE 0x8000
#define ADDR(x) (TRAMPOLINE_BASE + (x) - trampoline_start)

.section .rodata
.balign 16
.global trampoline_start, trampoline_end, trampoline_data

.code16
trampoline_start:
  cli
  cld
  xorw %ax, %ax
  movw %ax, %ds
  movw %ax, %es
  movw %ax, %ss
  lgdtl ADDR(trampoline_gdt_pointer)
  movl %cr0, %eax
  orl $1, %eax
  movl %eax, %cr0
  ljmpl $0x08, $ADDR(trampoline_32)

.code32
trampoline_32:
  movw $0x10, %ax
  movw %ax, %ds
  movw %ax, %es
  movw %ax, %ss
  /* PAE, OSFXSR, OSXMMEXCPT, as on the boot CPU. */
  movl %cr4, %eax
  orl $((1 << 5) | (1 << 9) | (1 << 10)), %eax
  movl %eax, %cr4
  movl ADDR(trampoline_cr3), %eax
  movl %eax, %cr3
  movl $0xC0000080, %ecx
  rdmsr
  orl ADDR(trampoline_efer), %eax
  wrmsr
  movl %cr0, %eax
  andl $~(1 << 2), %eax
  orl $((1 << 31) | (1 << 16) | (1 << 1)), %eax
  movl %eax, %cr0
  ljmpl $0x18, $ADDR(trampoline_64)

.code64
trampoline_64:
  xorl %eax, %eax
  movw %ax, %ds
  movw %ax, %es
  movw %ax, %ss
  movw %ax, %fs
  movw %ax, %gs
  movq ADDR(trampoline_stack), %rsp
  movq ADDR(trampoline_cpu), %rdi
  movq ADDR(trampoline_argument), %rsi
  movq ADDR(trampoline_entry), %rax
  xorl %ebp, %ebp
  callq *%rax
1:
  cli
  hlt
  jmp 1b

.balign 16
trampoline_gdt:
  .quad 0
  .quad 0x00CF9A000000FFFF /* 0x08: 32-bit code */
  .quad 0x00CF92000000FFFF /* 0x10: data */
  .quad 0x00AF9A000000FFFF /* 0x18: 64-bit code */
trampoline_gdt_pointer:
  .short trampoline_gdt_pointer - trampoline_gdt - 1
  .long ADDR(trampoline_gdt)

/* Filled by the boot CPU before each start (Kernel/Arch/SMP.swift). */
.balign 8
trampoline_data:
trampoline_cr3: .quad 0    /* +0 */
trampoline_stack: .quad 0  /* +8 */
trampoline_entry: .quad 0  /* +16 */
trampoline_cpu: .quad 0    /* +24 */
trampoline_efer: .quad 0   /* +32: EFER bits to set (LME, NXE) */
trampoline_argument: .quad 0 /* +40: the entry's second argument */
trampoline_end:
