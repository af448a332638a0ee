// The few C library functions the Embedded Swift runtime and compiler-emitted
// code call. String instructions keep them short and stop the compiler from
// recognising the loops and calling these functions from themselves. Whole
// 8-byte words go with the quadword forms: QEMU counts (and executes) every
// iteration of a rep instruction, so words are eight times cheaper than
// bytes for message slots and pages.
#include <stddef.h>
#include <stdint.h>

void *memset(void *dest, int value, size_t count) {
  void *d = dest;
  size_t words = count / 8, rest = count % 8;
  uint64_t pattern = (uint8_t)value * 0x0101010101010101ULL;
  __asm__ volatile("rep stosq" : "+D"(d), "+c"(words) : "a"(pattern) : "memory");
  __asm__ volatile("rep stosb" : "+D"(d), "+c"(rest) : "a"(value) : "memory");
  return dest;
}

void *memcpy(void *dest, const void *src, size_t count) {
  void *d = dest;
  if (count % 8 == 0) {
    count /= 8;
    __asm__ volatile("rep movsq" : "+D"(d), "+S"(src), "+c"(count) : : "memory");
  } else {
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(count) : : "memory");
  }
  return dest;
}

void *memmove(void *dest, const void *src, size_t count) {
  if ((uintptr_t)dest <= (uintptr_t)src || (uintptr_t)dest >= (uintptr_t)src + count)
    return memcpy(dest, src, count);
  // Overlapping with dest above src: copy backwards.
  char *d = (char *)dest + count - 1;
  const char *s = (const char *)src + count - 1;
  __asm__ volatile("std; rep movsb; cld" : "+D"(d), "+S"(s), "+c"(count) : : "memory");
  return dest;
}

int memcmp(const void *a, const void *b, size_t count) {
  const unsigned char *x = a, *y = b;
  for (size_t i = 0; i < count; i++)
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

// The allocator is the kernel heap in Swift (Kernel/Runtime/RuntimeSupport.swift).
int tessera_posix_memalign(void **result, size_t alignment, size_t size);
void tessera_free(void *pointer);

int posix_memalign(void **result, size_t alignment, size_t size) {
  return tessera_posix_memalign(result, alignment, size);
}

void free(void *pointer) { tessera_free(pointer); }
