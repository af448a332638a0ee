// The `syscall` instruction for user programs (Swift has no inline assembly).
#ifndef TESSERA_USERSYS_H
#define TESSERA_USERSYS_H
#include <stdint.h>

static inline int64_t user_syscall(uint64_t number, uint64_t a0, uint64_t a1, uint64_t a2,
                                   uint64_t a3, uint64_t a4, uint64_t a5) {
  int64_t result;
  register uint64_t r10 __asm__("r10") = a3;
  register uint64_t r8 __asm__("r8") = a4;
  register uint64_t r9 __asm__("r9") = a5;
  __asm__ volatile("syscall"
                   : "=a"(result)
                   : "a"(number), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return result;
}

// A system call whose results come back in RAX and in the argument
// registers (inspect, receive, call): out[0..5] = RDI, RSI, RDX, R10, R8, R9.
static inline int64_t user_syscall_out(uint64_t number, uint64_t a0, uint64_t a1, uint64_t a2,
                                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t *out) {
  int64_t result;
  register uint64_t r10 __asm__("r10") = a3;
  register uint64_t r8 __asm__("r8") = a4;
  register uint64_t r9 __asm__("r9") = a5;
  __asm__ volatile("syscall"
                   : "=a"(result), "+D"(a0), "+S"(a1), "+d"(a2), "+r"(r10), "+r"(r8), "+r"(r9)
                   : "a"(number)
                   : "rcx", "r11", "memory");
  out[0] = a0;
  out[1] = a1;
  out[2] = a2;
  out[3] = r10;
  out[4] = r8;
  out[5] = r9;
  return result;
}

// For the vectors program: a system call made with XMM0-XMM15 and MXCSR
// loaded from `before` (16 pairs of words, then MXCSR in word 32) and stored
// into `after` as soon as it returns, in one asm statement, so no compiled
// code touches them in between; `after` word 33 gets the call's RDI result.
static inline int64_t user_syscall_vectors(uint64_t number, uint64_t a0, uint64_t a1, uint64_t a2,
                                           uint64_t a3, uint64_t a4, uint64_t a5,
                                           const uint64_t *before, uint64_t *after) {
  int64_t result;
  register uint64_t r10 __asm__("r10") = a3;
  register uint64_t r8 __asm__("r8") = a4;
  register uint64_t r9 __asm__("r9") = a5;
  __asm__ volatile(
      "movdqu 0(%[before]), %%xmm0\n"
      "movdqu 16(%[before]), %%xmm1\n"
      "movdqu 32(%[before]), %%xmm2\n"
      "movdqu 48(%[before]), %%xmm3\n"
      "movdqu 64(%[before]), %%xmm4\n"
      "movdqu 80(%[before]), %%xmm5\n"
      "movdqu 96(%[before]), %%xmm6\n"
      "movdqu 112(%[before]), %%xmm7\n"
      "movdqu 128(%[before]), %%xmm8\n"
      "movdqu 144(%[before]), %%xmm9\n"
      "movdqu 160(%[before]), %%xmm10\n"
      "movdqu 176(%[before]), %%xmm11\n"
      "movdqu 192(%[before]), %%xmm12\n"
      "movdqu 208(%[before]), %%xmm13\n"
      "movdqu 224(%[before]), %%xmm14\n"
      "movdqu 240(%[before]), %%xmm15\n"
      "ldmxcsr 256(%[before])\n"
      "syscall\n"
      "movdqu %%xmm0, 0(%[after])\n"
      "movdqu %%xmm1, 16(%[after])\n"
      "movdqu %%xmm2, 32(%[after])\n"
      "movdqu %%xmm3, 48(%[after])\n"
      "movdqu %%xmm4, 64(%[after])\n"
      "movdqu %%xmm5, 80(%[after])\n"
      "movdqu %%xmm6, 96(%[after])\n"
      "movdqu %%xmm7, 112(%[after])\n"
      "movdqu %%xmm8, 128(%[after])\n"
      "movdqu %%xmm9, 144(%[after])\n"
      "movdqu %%xmm10, 160(%[after])\n"
      "movdqu %%xmm11, 176(%[after])\n"
      "movdqu %%xmm12, 192(%[after])\n"
      "movdqu %%xmm13, 208(%[after])\n"
      "movdqu %%xmm14, 224(%[after])\n"
      "movdqu %%xmm15, 240(%[after])\n"
      "stmxcsr 256(%[after])\n"
      "movq %%rdi, 264(%[after])\n"
      : "=a"(result), "+D"(a0), "+S"(a1), "+d"(a2), "+r"(r10), "+r"(r8), "+r"(r9)
      : "a"(number), [before] "r"(before), [after] "r"(after)
      : "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
  return result;
}

// MXCSR back to its start value (all SSE exceptions masked, round to nearest).
static inline void user_reset_mxcsr(void) {
  uint32_t value = 0x1F80;
  __asm__ volatile("ldmxcsr %0" : : "m"(value));
}

static inline uint64_t user_rdtsc(void) {
  uint32_t low, high;
  __asm__ volatile("rdtsc" : "=a"(low), "=d"(high));
  return ((uint64_t)high << 32) | low;
}

// New threads start here (start.S) with the function and its argument on
// their stack.
extern char tessera_thread_start[];
static inline uint64_t user_thread_start(void) { return (uint64_t)tessera_thread_start; }

extern char user_heap_start[], user_heap_end[];
static inline uint64_t user_heap_base(void) { return (uint64_t)user_heap_start; }
static inline uint64_t user_heap_size(void) { return (uint64_t)(user_heap_end - user_heap_start); }

// For the faults program: one instruction per fault kind.
static inline void user_ud2(void) { __asm__ volatile("ud2"); }
static inline void user_privileged(void) { __asm__ volatile("hlt"); }
static inline void user_divide_by_zero(void) {
  __asm__ volatile("xorl %%ecx, %%ecx; movl $1, %%eax; xorl %%edx, %%edx; divl %%ecx" ::: "eax", "ecx", "edx");
}
static inline void user_call(uint64_t address) { __asm__ volatile("call *%0" : : "r"(address) : "memory"); }
// A busy loop the compiler cannot fold away (spin uses it to burn CPU).
static inline void user_busy_loop(uint64_t iterations) {
  if (iterations == 0) return;
  __asm__ volatile("1: decq %0; jnz 1b" : "+r"(iterations));
}
#endif
