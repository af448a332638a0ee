// x86-64 instructions Swift cannot express, as static inline C functions the
// kernel imports as the Clang module `X86`. Nothing here keeps state.
#ifndef TESSERA_X86_H
#define TESSERA_X86_H

#include <stdint.h>

static inline void x86_outb(uint16_t port, uint8_t value) {
  __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}
static inline uint8_t x86_inb(uint16_t port) {
  uint8_t value;
  __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}
static inline void x86_outw(uint16_t port, uint16_t value) {
  __asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port));
}
static inline uint16_t x86_inw(uint16_t port) {
  uint16_t value;
  __asm__ volatile("inw %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}
static inline void x86_outl(uint16_t port, uint32_t value) {
  __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port));
}
static inline uint32_t x86_inl(uint16_t port) {
  uint32_t value;
  __asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}

static inline void x86_pause(void) { __asm__ volatile("pause"); }
static inline void x86_hlt(void) { __asm__ volatile("hlt"); }
static inline void x86_cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void x86_sti(void) { __asm__ volatile("sti" ::: "memory"); }

// Enable interrupts and halt in one step: an interrupt that arrives between
// the two still wakes the hlt (sti takes effect after the next instruction).
static inline void x86_sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }

// Device registers: volatile so the compiler neither drops nor merges them.
static inline uint32_t x86_mmio_read32(uint64_t address) {
  return *(volatile uint32_t *)address;
}
static inline void x86_mmio_write32(uint64_t address, uint32_t value) {
  *(volatile uint32_t *)address = value;
}

// A test-and-set lock word for code that must not allocate (the heap lock).
static inline _Bool x86_try_lock(uint64_t *word) {
  return __atomic_exchange_n(word, 1, __ATOMIC_ACQUIRE) == 0;
}
static inline void x86_unlock(uint64_t *word) { __atomic_store_n(word, 0, __ATOMIC_RELEASE); }
static inline _Bool x86_compare_exchange(uint64_t *word, uint64_t expected, uint64_t desired) {
  return __atomic_compare_exchange_n(word, &expected, desired, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}
static inline uint64_t x86_load_relaxed(uint64_t *word) { return __atomic_load_n(word, __ATOMIC_RELAXED); }
static inline uint64_t x86_load_acquire(uint64_t *word) { return __atomic_load_n(word, __ATOMIC_ACQUIRE); }
static inline void x86_store_release(uint64_t *word, uint64_t value) {
  __atomic_store_n(word, value, __ATOMIC_RELEASE);
}
static inline uint8_t x86_load_byte_acquire(uint8_t *byte) { return __atomic_load_n(byte, __ATOMIC_ACQUIRE); }
static inline void x86_store_byte_release(uint8_t *byte, uint8_t value) {
  __atomic_store_n(byte, value, __ATOMIC_RELEASE);
}

// Per-CPU data: the GS base points at the CPU's block.
/* Through clang's GS address space rather than inline assembly, so a
 * constant offset becomes the instruction's displacement. */
static inline uint64_t x86_read_gs_qword(uint64_t offset) {
  return *(volatile uint64_t __seg_gs *)offset;
}

static inline void x86_write_gs_qword(uint64_t offset, uint64_t value) {
  *(volatile uint64_t __seg_gs *)offset = value;
  __asm__ volatile("" : : : "memory");
}

static inline uint64_t x86_rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t x86_rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}
static inline void x86_wrmsr(uint32_t msr, uint64_t value) {
  __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)));
}

typedef struct {
  uint32_t eax, ebx, ecx, edx;
} x86_cpuid_result;

static inline x86_cpuid_result x86_cpuid(uint32_t leaf, uint32_t subleaf) {
  x86_cpuid_result r;
  __asm__ volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
  return r;
}

static inline uint64_t x86_read_cr0(void) { uint64_t v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline uint64_t x86_read_cr2(void) { uint64_t v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline uint64_t x86_read_cr3(void) { uint64_t v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline uint64_t x86_read_cr4(void) { uint64_t v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }
static inline void x86_write_cr3(uint64_t v) { __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory"); }
static inline void x86_write_cr4(uint64_t v) { __asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory"); }
/* A user thread's vector registers (x87, MMX, SSE) to and from its 512-byte,
 * 16-aligned area; the kernel itself is built without them. */
static inline void x86_fxsave(void *area) { __asm__ volatile("fxsave64 (%0)" : : "r"(area) : "memory"); }
static inline void x86_fxrstor(const void *area) { __asm__ volatile("fxrstor64 (%0)" : : "r"(area) : "memory"); }
static inline void x86_invlpg(uint64_t address) {
  __asm__ volatile("invlpg (%0)" : : "r"(address) : "memory");
}

static inline uint64_t x86_read_rbp(void) { uint64_t v; __asm__ volatile("mov %%rbp, %0" : "=r"(v)); return v; }
static inline uint64_t x86_read_rsp(void) { uint64_t v; __asm__ volatile("mov %%rsp, %0" : "=r"(v)); return v; }
static inline uint64_t x86_read_rflags(void) {
  uint64_t v;
  __asm__ volatile("pushfq; popq %0" : "=r"(v));
  return v;
}

// Descriptor-table loads take a 10-byte pseudo-descriptor.
typedef struct __attribute__((packed)) {
  uint16_t limit;
  uint64_t base;
} x86_descriptor_pointer;

static inline void x86_lgdt(uint64_t base, uint16_t limit) {
  x86_descriptor_pointer p = {limit, base};
  __asm__ volatile("lgdt %0" : : "m"(p) : "memory");
}
static inline void x86_lidt(uint64_t base, uint16_t limit) {
  x86_descriptor_pointer p = {limit, base};
  __asm__ volatile("lidt %0" : : "m"(p) : "memory");
}
static inline void x86_ltr(uint16_t selector) { __asm__ volatile("ltr %0" : : "r"(selector)); }

// Reload CS with a far return and the data segment registers after lgdt.
static inline void x86_reload_segments(uint16_t code, uint16_t data) {
  __asm__ volatile(
      "pushq %q0\n\t"
      "leaq 1f(%%rip), %%rax\n\t"
      "pushq %%rax\n\t"
      "lretq\n"
      "1:\n\t"
      "movw %w1, %%ds\n\t"
      "movw %w1, %%es\n\t"
      "movw %w1, %%ss\n\t"
      "movw %w1, %%fs\n\t"
      "movw %w1, %%gs\n\t"
      :
      : "r"((uint64_t)code), "r"(data)
      : "rax", "memory");
}

// Deliberate faults for the shell's `fault` command.
static inline void x86_ud2(void) { __asm__ volatile("ud2"); }
static inline void x86_load_noncanonical(void) {
  __asm__ volatile("movq %0, %%rax; movq (%%rax), %%rax" : : "r"(0x8000000000000000ull) : "rax", "memory");
}
static inline void x86_divide_by_zero(void) {
  __asm__ volatile("xorl %%ecx, %%ecx; movl $1, %%eax; xorl %%edx, %%edx; divl %%ecx" : : : "eax", "ecx", "edx");
}

static inline void x86_call_address(uint64_t address) {
  __asm__ volatile("call *%0" : : "r"(address) : "memory");
}

// Boot/context.S: thread switches (enter_user is used by address only).
void context_switch(uint64_t *save, uint64_t next);

static inline void x86_write_fs_base(uint64_t value) { x86_wrmsr(0xC0000100, value); }

// Boot/faults.c: recurses until the stack guard page stops it.
uint64_t x86_overflow_stack(uint64_t depth);

// Boot/probe.S: accesses whose faults resume at a fixup (result 1).
uint64_t x86_probe_read(uint64_t address, uint64_t *value);
uint64_t x86_probe_write(uint64_t address, uint64_t value);

// Addresses from linker.ld and Boot/*.S. Swift cannot import incomplete
// arrays, so each gets an accessor: symbol_NAME() is its address.
#define LINKER_SYMBOL(name) \
  extern char name[];        \
  static inline uint64_t symbol_##name(void) { return (uint64_t)name; }

LINKER_SYMBOL(__kernel_phys_start)
LINKER_SYMBOL(__kernel_phys_end)
LINKER_SYMBOL(__kernel_end)
LINKER_SYMBOL(__text_start)
LINKER_SYMBOL(__text_end)
LINKER_SYMBOL(__rodata_start)
LINKER_SYMBOL(__rodata_end)
LINKER_SYMBOL(__data_start)
LINKER_SYMBOL(__data_end)
LINKER_SYMBOL(pristine_data)
LINKER_SYMBOL(kernel_entry_tsc)
LINKER_SYMBOL(__bss_start)
LINKER_SYMBOL(__bss_end)
LINKER_SYMBOL(boot_stack_guard)
LINKER_SYMBOL(boot_stack_top)
LINKER_SYMBOL(ist_df_stack_guard)
LINKER_SYMBOL(ist_df_stack_top)
LINKER_SYMBOL(ist_nmi_stack_guard)
LINKER_SYMBOL(ist_nmi_stack_top)
LINKER_SYMBOL(early_heap_start)
LINKER_SYMBOL(early_heap_end)
LINKER_SYMBOL(isr_stub_table)
LINKER_SYMBOL(trampoline_start)
LINKER_SYMBOL(syscall_entry)
LINKER_SYMBOL(thread_trampoline)
LINKER_SYMBOL(enter_user)
LINKER_SYMBOL(trampoline_end)
LINKER_SYMBOL(trampoline_data)
LINKER_SYMBOL(probe_read_access)
LINKER_SYMBOL(probe_read_fixup)
LINKER_SYMBOL(probe_write_access)
LINKER_SYMBOL(probe_write_fixup)

#endif
