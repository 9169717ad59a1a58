// CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), the checksum of every
// frame the store writes (storage/wal.h).
//
// The SSE4.2 crc32 instruction when the processor has it (checked once), otherwise
// slicing-by-8 tables. Both give the same values: Crc32c("123456789") == 0xE3069283.
#pragma once

#include <cstdint>
#include <string_view>

namespace token::storage {

// Extends `crc` (the CRC-32C of some earlier bytes, 0 for none) over `bytes`:
// Crc32c(a + b) == Crc32cExtend(Crc32c(a), b).
std::uint32_t Crc32cExtend(std::uint32_t crc, std::string_view bytes);

inline std::uint32_t Crc32c(std::string_view bytes) { return Crc32cExtend(0, bytes); }

// The portable path alone (for tests comparing it with the hardware one).
std::uint32_t Crc32cExtendPortable(std::uint32_t crc, std::string_view bytes);

}  // namespace token::storage
