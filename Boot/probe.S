/* Kernel accesses that may fault and must not stop the CPU: `lwk poke`
 * makes a kernel instance touch an address that its page tables may not
 * map. The exception handler (Kernel/Arch/Exceptions.swift) recognizes a
 * fault at one of the two access instructions and resumes at the matching
 * fixup, which returns 1 instead of the 0 of a completed access. */

.section .text

/* uint64_t x86_probe_read(uint64_t address, uint64_t *value) */
.global x86_probe_read, probe_read_access, probe_read_fixup
x86_probe_read:
probe_read_access:
  movq (%rdi), %rax
  movq %rax, (%rsi)
  xorl %eax, %eax
  ret
probe_read_fixup:
  movl $1, %eax
  ret

/* uint64_t x86_probe_write(uint64_t address, uint64_t value) */
.global x86_probe_write, probe_write_access, probe_write_fixup
x86_probe_write:
probe_write_access:
  movq %rsi, (%rdi)
  xorl %eax, %eax
  ret
probe_write_fixup:
  movl $1, %eax
  ret
