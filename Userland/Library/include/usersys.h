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
