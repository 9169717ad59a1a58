// Two SHA-256 compressions at once with the x86 SHA extensions (SHA-NI), for the argmin.
//
// One compression with SHA-NI is a chain of dependent sha256rnds2 instructions: the core
// waits on each one's latency. Two independent chains, interleaved instruction by
// instruction, fill those waits, so two points cost little more than one. Where the CPU
// lacks the extensions (or is not x86-64), Sha256X2Available() is false and callers use
// OpenSSL's one-at-a-time compression instead.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

namespace token {

// Whether this CPU runs Sha256CompressX2 (checked once).
bool Sha256X2Available();

// out_a = the SHA-256 compression of block_a (64 bytes) from `state`, and out_b of
// block_b from the same state: each is `state` plus the compression's result, as
// SHA256_Transform leaves a context's h[] (words in host order).
// REQUIRES: Sha256X2Available().
void Sha256CompressX2(const std::uint32_t state[8], const unsigned char* block_a,
                      const unsigned char* block_b, std::uint32_t out_a[8], std::uint32_t out_b[8]);

}  // namespace token
