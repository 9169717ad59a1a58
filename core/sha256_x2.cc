#include "core/sha256_x2.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TOKEN_SHA_NI 1
#endif

namespace token {

#ifdef TOKEN_SHA_NI
namespace {

// The round constants, four per 128-bit lane (FIPS 180-4, 4.2.2).
alignas(16) constexpr std::uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

// One lane: the state as SHA-NI wants it (ABEF, CDGH) and the message schedule's last
// four groups of four words.
struct Lane {
  __m128i abef;
  __m128i cdgh;
  __m128i w[4];
};

__attribute__((target("sha,sse4.1"))) inline void Load(Lane& l, const std::uint32_t state[8],
                                                       const unsigned char* block) {
  // Message words are big-endian in the block.
  const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  const __m128i abcd =
      _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(state)), 0xB1);  // CDAB
  const __m128i efgh = _mm_shuffle_epi32(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(state + 4)), 0x1B);  // HGFE
  l.abef = _mm_alignr_epi8(abcd, efgh, 8);
  l.cdgh = _mm_blend_epi16(efgh, abcd, 0xF0);
  for (int i = 0; i < 4; ++i) {
    l.w[i] =
        _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * i)), swap);
  }
}

// Four rounds with the schedule's group `g` (0..15) of this lane.
__attribute__((target("sha,sse4.1"))) inline void Rounds(Lane& l, int g) {
  __m128i& w = l.w[g & 3];
  if (g >= 4) {
    // w[g] = sigma1 part (msg2) of (msg1(w[g-4], w[g-3]) + w[g-1..g-2] aligned (W[t-7])).
    const __m128i& w1 = l.w[(g + 1) & 3];  // w[g-3]
    const __m128i& w2 = l.w[(g + 2) & 3];  // w[g-2]
    const __m128i& w3 = l.w[(g + 3) & 3];  // w[g-1]
    w = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(w, w1), _mm_alignr_epi8(w3, w2, 4)),
                             w3);
  }
  __m128i m = _mm_add_epi32(w, _mm_load_si128(reinterpret_cast<const __m128i*>(kK + 4 * g)));
  l.cdgh = _mm_sha256rnds2_epu32(l.cdgh, l.abef, m);
  m = _mm_shuffle_epi32(m, 0x0E);
  l.abef = _mm_sha256rnds2_epu32(l.abef, l.cdgh, m);
}

__attribute__((target("sha,sse4.1"))) inline void Store(const Lane& l, const Lane& start,
                                                        std::uint32_t out[8]) {
  const __m128i abef = _mm_add_epi32(l.abef, start.abef);
  const __m128i cdgh = _mm_add_epi32(l.cdgh, start.cdgh);
  const __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
  const __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_blend_epi16(feba, dchg, 0xF0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 4), _mm_alignr_epi8(dchg, feba, 8));
}

}  // namespace

bool Sha256X2Available() {
  static const bool available = __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1");
  return available;
}

__attribute__((target("sha,sse4.1"))) void Sha256CompressX2(const std::uint32_t state[8],
                                                            const unsigned char* block_a,
                                                            const unsigned char* block_b,
                                                            std::uint32_t out_a[8],
                                                            std::uint32_t out_b[8]) {
  Lane a;
  Lane b;
  Load(a, state, block_a);
  Load(b, state, block_b);
  const Lane start = a;  // both lanes start from `state`
#pragma GCC unroll 16
  for (int g = 0; g < 16; ++g) {
    Rounds(a, g);
    Rounds(b, g);
  }
  Store(a, start, out_a);
  Store(b, start, out_b);
}

#else

bool Sha256X2Available() { return false; }

void Sha256CompressX2(const std::uint32_t*, const unsigned char*, const unsigned char*,
                      std::uint32_t*, std::uint32_t*) {
  __builtin_trap();  // REQUIRES: Sha256X2Available()
}

#endif

}  // namespace token
