// Deliberate kernel stack overflow for the shell's `fault stack`. In C with a
// volatile frame so the compiler cannot turn the recursion into a loop (Swift's
// optimizer does exactly that).
#include "x86.h"

__attribute__((noinline)) uint64_t x86_overflow_stack(uint64_t depth) {
  volatile uint8_t frame[256];
  frame[0] = (uint8_t)depth;
  return x86_overflow_stack(depth + 1) + frame[0];
}
