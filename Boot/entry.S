/* Tessera boot path: the Multiboot2 header and the 32-bit entry that GRUB
 * jumps to. It checks the loader, builds the first page tables (identity and
 * direct map of the low 4 GiB with 2 MiB pages, the kernel image in the top
 * 2 GiB with 4 KiB pages so stacks can have unmapped guard pages), enables
 * long mode, SSE and NX, and calls kmain(magic, boot_info_phys) on the boot
 * stack. */

/* Why not the higher half: Embedded Swift's String keeps flags in the top
 * bits of its object pointer, so every address Swift may see (heap, string
 * literals in .rodata) must have them clear. The kernel therefore lives at
 * 1 GiB in the lower half (user programs get PML4 slots 1-127) and the
 * direct map of physical memory sits at DIRECT_MAP_BASE. */
#define KERNEL_VMA 0x40000000
#define PHYS(x) ((x) - KERNEL_VMA)

#define MB2_MAGIC 0xE85250D6
#define MB2_LOADER_MAGIC 0x36D76289

#define COM1 0x3F8
#define KERNEL_PT_COUNT 16 /* 4 KiB-page tables for the kernel image: 32 MiB */

/* Clear the kernel page-table entry of one guard page. */
.macro UNMAP_GUARD symbol
  mov $PHYS(\symbol), %eax
  shr $12, %eax
  movl $0, PHYS(boot_pt_kernel)(, %eax, 8)
.endm

/* ---------------------------------------------------------------- header */
.section .multiboot2, "a"
.balign 8
mb2_header:
  .long MB2_MAGIC
  .long 0 /* i386 protected mode */
  .long mb2_header_end - mb2_header
  .long -(MB2_MAGIC + 0 + (mb2_header_end - mb2_header))

  /* Information request: command line, loader name, modules, memory map,
   * ACPI old and new RSDP. Optional, so a loader without ACPI still boots. */
.balign 8
mb2_info_request:
  .short 1, 1
  .long mb2_info_request_end - mb2_info_request
  .long 1, 2, 3, 6, 14, 15
mb2_info_request_end:

  /* Page-align modules: user programs are mapped straight from them later. */
.balign 8
  .short 6, 0
  .long 8

.balign 8
  .short 0, 0
  .long 8
mb2_header_end:

/* ---------------------------------------------------------- 32-bit entry */
.section .boot.text, "ax"
.code32
.global _start
_start:
  cli
  cld
  mov $PHYS(boot_stack_top), %esp
  mov %eax, %edi /* magic: first argument of kmain */
  mov %ebx, %esi /* boot information: second argument */

  cmp $MB2_LOADER_MAGIC, %eax
  jne .Lnot_multiboot2

  /* The TSC at kernel entry: the kernel's own share of the boot time is
   * measured from here to the first prompt (the rest is firmware and loader). */
  rdtsc
  mov %eax, kernel_entry_tsc
  mov %edx, kernel_entry_tsc + 4

  /* Long mode present? */
  mov $0x80000000, %eax
  cpuid
  cmp $0x80000001, %eax
  jb .Lno_long_mode
  mov $0x80000001, %eax
  cpuid
  test $(1 << 29), %edx
  jz .Lno_long_mode
  mov %edx, %ebp /* keep the extended feature bits: NX is bit 20 */

  /* Zero .bss: page tables, stacks and Swift globals live there (and so
   * does the stack we are on, which is still empty). */
  mov $PHYS(__bss_start), %edi
  mov $PHYS(__bss_end), %ecx
  sub %edi, %ecx
  xor %eax, %eax
  rep stosb

  /* Keep .data as the loader placed it, before any Swift code writes to
   * it: every later kernel instance (the LWK's) starts from this copy. */
  push %esi
  mov $PHYS(__data_start), %esi
  mov $PHYS(pristine_data), %edi
  mov $PHYS(__data_end), %ecx
  sub %esi, %ecx
  rep movsb
  pop %esi
  mov $MB2_LOADER_MAGIC, %edi

  /* PML4[0] -> PDPT[0]: identity map of the first GiB with 2 MiB pages, for
   * the switch to long mode and the low memory the loader left us.
   * PML4[0] -> PDPT[1]: the kernel image at KERNEL_VMA, 4 KiB pages.
   * PML4[128]: the direct map of the low 4 GiB at DIRECT_MAP_BASE. */
  mov $PHYS(boot_pdpt_low), %eax
  or $3, %eax
  mov %eax, PHYS(boot_pml4)
  mov $PHYS(boot_pdpt_direct), %eax
  or $3, %eax
  mov %eax, PHYS(boot_pml4) + 128 * 8
  mov $PHYS(boot_pd_identity), %eax
  or $3, %eax
  mov %eax, PHYS(boot_pdpt_low)
  mov $PHYS(boot_pd_kernel), %eax
  or $3, %eax
  mov %eax, PHYS(boot_pdpt_low) + 8
  mov $PHYS(boot_pd_identity), %ebx
  xor %ecx, %ecx
1:
  mov %ecx, %eax
  shl $21, %eax
  or $0x83, %eax /* present, writable, 2 MiB */
  mov %eax, (%ebx, %ecx, 8)
  inc %ecx
  cmp $512, %ecx
  jb 1b

  mov $PHYS(boot_pd_direct), %eax
  or $3, %eax
  mov $PHYS(boot_pdpt_direct), %ebx
  mov $4, %ecx
1:
  mov %eax, (%ebx)
  add $4096, %eax
  add $8, %ebx
  loop 1b
  mov $PHYS(boot_pd_direct), %ebx
  xor %ecx, %ecx
1:
  mov %ecx, %eax
  shl $21, %eax
  or $0x83, %eax
  mov %eax, (%ebx, %ecx, 8)
  mov %ecx, %eax
  shr $11, %eax /* high dword: (index * 2 MiB) >> 32 */
  mov %eax, 4(%ebx, %ecx, 8)
  inc %ecx
  cmp $2048, %ecx
  jb 1b

  /* The kernel image at KERNEL_VMA + physical address, one 4 KiB page each. */
  mov $PHYS(boot_pt_kernel), %eax
  or $3, %eax
  mov $PHYS(boot_pd_kernel), %ebx
  mov $KERNEL_PT_COUNT, %ecx
1:
  mov %eax, (%ebx)
  add $4096, %eax
  add $8, %ebx
  loop 1b
  mov $PHYS(boot_pt_kernel), %ebx
  xor %ecx, %ecx
1:
  mov %ecx, %eax
  shl $12, %eax
  cmp $PHYS(__kernel_end), %eax
  jae 2f
  or $3, %eax
  mov %eax, (%ebx, %ecx, 8)
  inc %ecx
  jmp 1b
2:
  /* Guard pages stay unmapped so a stack overflow faults. */
  UNMAP_GUARD boot_stack_guard
  UNMAP_GUARD ist_df_stack_guard
  UNMAP_GUARD ist_nmi_stack_guard

  /* CR4: PAE, OSFXSR, OSXMMEXCPT (SSE with exceptions reported). */
  mov %cr4, %eax
  or $((1 << 5) | (1 << 9) | (1 << 10)), %eax
  mov %eax, %cr4
  mov $PHYS(boot_pml4), %eax
  mov %eax, %cr3

  /* EFER: long mode, and no-execute when the CPU has it. */
  mov $0xC0000080, %ecx
  rdmsr
  or $(1 << 8), %eax
  test $(1 << 20), %ebp
  jz 1f
  or $(1 << 11), %eax
1:
  wrmsr

  /* CR0: paging, write-protect in ring 0, FPU monitoring, no emulation. */
  mov %cr0, %eax
  and $~(1 << 2), %eax
  or $((1 << 31) | (1 << 16) | (1 << 1) | 1), %eax
  mov %eax, %cr0

  lgdt boot_gdt_pointer
  ljmp $0x08, $.Llong_mode

.Lnot_multiboot2:
  mov $msg_not_multiboot2, %esi
  jmp .Lfail
.Lno_long_mode:
  mov $msg_no_long_mode, %esi
.Lfail:
  /* COM1 at 115200 8N1, then the message, then halt for good. */
  mov $(COM1 + 1), %dx; mov $0x00, %al; out %al, %dx
  mov $(COM1 + 3), %dx; mov $0x80, %al; out %al, %dx
  mov $(COM1 + 0), %dx; mov $0x01, %al; out %al, %dx
  mov $(COM1 + 1), %dx; mov $0x00, %al; out %al, %dx
  mov $(COM1 + 3), %dx; mov $0x03, %al; out %al, %dx
1:
  lodsb
  test %al, %al
  jz 3f
  mov %al, %ah
  mov $(COM1 + 5), %dx
2:
  in %dx, %al
  test $0x20, %al
  jz 2b
  mov $COM1, %dx
  mov %ah, %al
  out %al, %dx
  jmp 1b
3:
  cli
  hlt
  jmp 3b

/* ---------------------------------------------------------- 64-bit entry */
.code64
.Llong_mode:
  xor %eax, %eax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov %ax, %fs
  mov %ax, %gs
  movabs $.Lhigher_half, %rax
  jmp *%rax

.section .text
.Lhigher_half:
  movabs $boot_stack_top, %rsp
  xor %ebp, %ebp
  mov %edi, %edi /* zero-extend magic and boot-information address */
  mov %esi, %esi
  call kmain
1:
  cli
  hlt
  jmp 1b

/* ------------------------------------------------------------ boot data */
.section .boot.data, "aw"
.balign 16
.global kernel_entry_tsc
kernel_entry_tsc:
  .quad 0
boot_gdt:
  .quad 0
  .quad 0x00AF9A000000FFFF /* 0x08: 64-bit code, ring 0 */
  .quad 0x00CF92000000FFFF /* 0x10: data, ring 0 */
boot_gdt_end:
boot_gdt_pointer:
  .short boot_gdt_end - boot_gdt - 1
  .long boot_gdt

msg_not_multiboot2:
  .asciz "Tessera: not started by a Multiboot2 loader (bad magic in EAX); halting.\r\n"
msg_no_long_mode:
  .asciz "Tessera: this CPU has no 64-bit long mode; halting.\r\n"

/* ------------------------------------------------- page tables and stacks */
.section .bss
.balign 4096
.global boot_pml4
boot_pml4: .skip 4096
boot_pdpt_low: .skip 4096
boot_pd_identity: .skip 4096
boot_pdpt_direct: .skip 4096
boot_pd_direct: .skip 4096 * 4
boot_pd_kernel: .skip 4096
boot_pt_kernel: .skip 4096 * KERNEL_PT_COUNT

.global boot_stack_guard, boot_stack_top
boot_stack_guard: .skip 4096
  .skip 65536
boot_stack_top:

.global ist_df_stack_guard, ist_df_stack_top
ist_df_stack_guard: .skip 4096
  .skip 16384
ist_df_stack_top:

.global ist_nmi_stack_guard, ist_nmi_stack_top
ist_nmi_stack_guard: .skip 4096
  .skip 16384
ist_nmi_stack_top:

/* .data as loaded (see _start); linker.ld checks that it fits. */
.global pristine_data
.balign 16
pristine_data: .skip 16384

/* The early kernel heap behind the Embedded Swift runtime. */
.global early_heap_start, early_heap_end
.balign 4096
early_heap_start: .skip 8 * 1024 * 1024
early_heap_end:
