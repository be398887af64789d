// CRC-32C with the SSE4.2 crc32 instruction where the CPU has it, else a table (slicing-by-1).
// Hardware path: 8 bytes per instruction; the three-way interleave is left for later (measured first).
#include "crc32c.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>
#endif
#include <cstring>

namespace tern {
namespace {

uint32_t table[256];

bool init_table() {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return true;
}
const bool table_ready = init_table();

bool detect_hw() {
#if defined(__x86_64__)
  unsigned int a, b, c, d;
  if (__get_cpuid(1, &a, &b, &c, &d)) return (c & bit_SSE4_2) != 0;
#endif
  return false;
}
const bool has_hw = detect_hw();

uint32_t crc_sw(uint32_t crc, const uint8_t* p, size_t n) {
  (void)table_ready;
  crc = ~crc;
  while (n--) crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc_hw(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = ~crc & 0xffffffffu;
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
    n--;
  }
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  while (n--) c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
  return ~static_cast<uint32_t>(c);
}
#endif

}  // namespace

uint32_t crc32c(uint32_t crc, const uint8_t* data, size_t len) {
#if defined(__x86_64__)
  if (has_hw) return crc_hw(crc, data, len);
#endif
  return crc_sw(crc, data, len);
}

bool crc32c_hardware() { return has_hw; }

}  // namespace tern
