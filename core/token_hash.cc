// OpenSSL 3 marks the low-level SHA256_* calls deprecated; they remain supported and are
// the fastest route here because a SHA256_CTX can be copied as a plain struct.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "core/token_hash.h"

#include <charconv>
#include <cstring>

#include "base/assert.h"
#include "core/sha256_x2.h"

namespace token {
namespace {

std::uint64_t FirstEightBytesBigEndian(const unsigned char* digest) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | digest[i];
  return v;
}

}  // namespace

std::optional<HashPoint> BetterOf(const std::optional<HashPoint>& a,
                                  const std::optional<HashPoint>& b) {
  if (!a) return b;
  if (!b) return a;
  return Beats(*b, *a) ? b : a;
}

TokenHasher::TokenHasher(std::string_view name) {
  SHA256_Init(&prefix_);
  SHA256_Update(&prefix_, name.data(), name.size());
  SHA256_Update(&prefix_, " ", 1);
}

std::uint64_t TokenHasher::HashDecimal(const char* decimal, std::size_t length) const {
  SHA256_CTX ctx = prefix_;
  SHA256_Update(&ctx, decimal, length);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256_Final(digest, &ctx);
  return FirstEightBytesBigEndian(digest);
}

std::uint64_t TokenHasher::Hash(std::uint64_t x) const {
  char buf[20];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
  TOKEN_ASSERT(ec == std::errc(), "20 characters hold any uint64 in decimal");
  return HashDecimal(buf, static_cast<std::size_t>(end - buf));
}

std::uint64_t TokenHash(std::string_view name, std::uint64_t x) {
  return TokenHasher(name).Hash(x);
}

ArgminTask::ArgminTask(std::string_view name, std::uint64_t from, std::uint64_t to)
    : from_(from), next_(from), to_(to) {
  TOKEN_ASSERT(from <= to, "argmin range must satisfy from <= to");
  // The prefix's whole blocks, absorbed once.
  prefix_length_ = name.size() + 1;
  const std::size_t whole = prefix_length_ / SHA256_CBLOCK * SHA256_CBLOCK;
  std::string prefix(name);
  prefix += ' ';
  SHA256_Init(&base_);
  SHA256_Update(&base_, prefix.data(), whole);
  prefix_rest_ = prefix.substr(whole);
  SetDecimal(from);
}

void ArgminTask::BuildTail() {
  // tail_: the rest of the prefix, the digits, 0x80, zeros, the message's length in bits
  // (big-endian) in the last 8 bytes of the last block.
  std::memset(tail_, 0, sizeof tail_);
  tail_prefix_ = static_cast<int>(prefix_rest_.size());
  std::memcpy(tail_, prefix_rest_.data(), prefix_rest_.size());
  const int used = tail_prefix_ + length_;
  tail_[used] = 0x80;
  tail_blocks_ = used + 1 + 8 <= SHA256_CBLOCK ? 1 : 2;
  const std::uint64_t bits = (prefix_length_ + static_cast<std::uint64_t>(length_)) * 8;
  unsigned char* end = tail_ + tail_blocks_ * SHA256_CBLOCK;
  for (int i = 1; i <= 8; ++i) end[-i] = static_cast<unsigned char>(bits >> (8 * (i - 1)));
  tail_length_ = length_;
}

void ArgminTask::SetDecimal(std::uint64_t x) {
  char buf[kDigits];
  auto [end, ec] = std::to_chars(buf, buf + kDigits, x);
  TOKEN_ASSERT(ec == std::errc(), "20 characters hold any uint64 in decimal");
  length_ = static_cast<int>(end - buf);
  std::memcpy(digits_ + kDigits - length_, buf, static_cast<std::size_t>(length_));
}

void ArgminTask::IncrementDecimal() {
  int i = kDigits - 1;
  while (i >= kDigits - length_ && digits_[i] == '9') {
    digits_[i] = '0';
    --i;
  }
  if (i < kDigits - length_) {
    // All nines: grow by one digit. Never past 20 digits, because next_ < to_ <= UINT64_MAX.
    TOKEN_ASSERT(length_ < kDigits, "decimal counter overflow");
    ++length_;
    digits_[i] = '1';
  } else {
    ++digits_[i];
  }
}

bool ArgminTask::Step(std::uint64_t max_points) {
  std::uint64_t budget = max_points < remaining() ? max_points : remaining();
  HashPoint best = best_.value_or(HashPoint{0, UINT64_MAX});
  bool have_best = best_.has_value();
  // Points arrive in increasing x, so a strictly smaller hash is the only way to win. The
  // digest's first eight bytes, big-endian, are its first two state words.
  auto consider = [&](std::uint64_t x, const std::uint32_t* h) {
    const std::uint64_t hash = (std::uint64_t{h[0]} << 32) | h[1];
    if (!have_best || hash < best.hash) {
      best = HashPoint{x, hash};
      have_best = true;
    }
  };
  auto advance = [&] {
    ++next_;
    if (next_ != to_) IncrementDecimal();
  };
  const bool x2 = Sha256X2Available();
  SHA256_CTX ctx = base_;
  while (budget > 0) {
    if (length_ != tail_length_) BuildTail();
    std::memcpy(tail_ + tail_prefix_, digits_ + kDigits - length_,
                static_cast<std::size_t>(length_));
    const std::uint64_t x = next_;
    if (x2 && tail_blocks_ == 1 && budget >= 2) {
      advance();
      if (length_ == tail_length_) {
        // Two points of one length: their blocks differ in the digits only.
        unsigned char second[SHA256_CBLOCK];
        std::memcpy(second, tail_, SHA256_CBLOCK);
        std::memcpy(second + tail_prefix_, digits_ + kDigits - length_,
                    static_cast<std::size_t>(length_));
        std::uint32_t ha[8];
        std::uint32_t hb[8];
        Sha256CompressX2(base_.h, tail_, second, ha, hb);
        consider(x, ha);
        consider(next_, hb);
        advance();
        budget -= 2;
        continue;
      }
      // The next point has one more digit: this one alone (tail_ still holds its digits).
      std::memcpy(ctx.h, base_.h, sizeof ctx.h);
      SHA256_Transform(&ctx, tail_);
      consider(x, ctx.h);
      budget -= 1;
      continue;
    }
    std::memcpy(ctx.h, base_.h, sizeof ctx.h);
    SHA256_Transform(&ctx, tail_);
    if (tail_blocks_ == 2) SHA256_Transform(&ctx, tail_ + SHA256_CBLOCK);
    consider(x, ctx.h);
    advance();
    budget -= 1;
  }
  if (have_best) best_ = best;
  return done();
}

std::optional<HashPoint> ArgminTask::RunToEnd() {
  while (!Step(UINT64_MAX)) {
  }
  return best_;
}

std::optional<HashPoint> Argmin(std::string_view name, std::uint64_t from, std::uint64_t to) {
  return ArgminTask(name, from, to).RunToEnd();
}

}  // namespace token
