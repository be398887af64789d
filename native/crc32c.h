// CRC-32C (Castagnoli), the checksum of Kafka record batch v2.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tern {
// Continues a CRC-32C over [data, data+len). Pass crc=0 for a fresh checksum.
uint32_t crc32c(uint32_t crc, const uint8_t* data, size_t len);
// True when the SSE4.2 crc32 instruction is in use.
bool crc32c_hardware();
}  // namespace tern
