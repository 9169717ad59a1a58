// Token semantics: the hash H(name, x) and the chunked, cancellable argmin over a range.
//
// H(name, x) = the first 8 bytes, read big-endian, of SHA-256 over the UTF-8 bytes of
// name + " " + decimal(x). The argmin of H over a half-open range [from, to) is the point
// with the smallest hash; ties go to the smaller x. A token's `partial` is the argmin over
// [low, mid) and its `final` the argmin over [low, high) (core/token.h).
//
// Speed: the constant prefix `name + " "` is hashed once per TokenHasher, the decimal is
// kept as an in-place counter (no allocation, no formatting per point). ArgminTask goes
// further: the message's last block(s), padding included, are laid out once and each point
// costs writing its digits and SHA-256's compression of those block(s) (bench/argmin_bench
// compares it with the bare compression's rate). ArgminTask does the work in chunks so that a
// driver can bound each slice of work, run it off the protocol thread, and cancel it by dropping
// the task.
//
// Thread-safety: TokenHasher is immutable after construction and may be shared. An
// ArgminTask is a plain value owned by one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <openssl/sha.h>

namespace token {

// One evaluated point of H.
struct HashPoint {
  std::uint64_t x = 0;
  std::uint64_t hash = 0;
  friend bool operator==(const HashPoint&, const HashPoint&) = default;
};

// True when `a` wins the argmin against `b`: smaller hash, ties to the smaller x.
constexpr bool Beats(const HashPoint& a, const HashPoint& b) {
  return a.hash < b.hash || (a.hash == b.hash && a.x < b.x);
}

// The better of two optional points (an absent point always loses).
std::optional<HashPoint> BetterOf(const std::optional<HashPoint>& a,
                                  const std::optional<HashPoint>& b);

// H(name, ·) for one fixed name.
class TokenHasher {
 public:
  explicit TokenHasher(std::string_view name);

  // H(name, x) for any x, including UINT64_MAX.
  std::uint64_t Hash(std::uint64_t x) const;

  // H(name, x) where `decimal` already holds decimal(x).
  std::uint64_t HashDecimal(const char* decimal, std::size_t length) const;

 private:
  SHA256_CTX prefix_;  // state after absorbing name + " "
};

// H(name, x) without keeping a hasher around (hashes the prefix every call).
std::uint64_t TokenHash(std::string_view name, std::uint64_t x);

// The argmin of H(name, ·) over [from, to), computed in bounded slices.
//
// REQUIRES: from <= to. An empty range (from == to) is done at once with no best point.
class ArgminTask {
 public:
  ArgminTask(std::string_view name, std::uint64_t from, std::uint64_t to);

  // Evaluates at most `max_points` more points. Returns true once the range is exhausted.
  bool Step(std::uint64_t max_points);

  // Runs to the end. Returns the argmin (nullopt for an empty range).
  std::optional<HashPoint> RunToEnd();

  bool done() const { return next_ == to_; }
  std::uint64_t remaining() const { return to_ - next_; }
  std::uint64_t evaluated() const { return next_ - from_; }
  // The best point among those evaluated so far; the argmin once done().
  const std::optional<HashPoint>& best() const { return best_; }

 private:
  // Decimal digits of next_, right-aligned in digits_[kDigits - length_, kDigits).
  static constexpr int kDigits = 20;
  void SetDecimal(std::uint64_t x);
  void IncrementDecimal();
  // Lays out the message's last block(s) for the current number of digits.
  void BuildTail();

  // The message is name + " " + decimal. Its whole 64-byte blocks before the decimal are
  // the same for every point: their state is `base_`. The rest (what is left of the
  // prefix, the digits, SHA-256's padding and length) is `tail_`, one or two blocks, laid
  // out once per number of digits; a point costs writing its digits there and compressing
  // the tail from `base_`: the SHA-256 compression itself and almost nothing else.
  SHA256_CTX base_;
  unsigned char tail_[2 * SHA256_CBLOCK] = {};
  int tail_prefix_ = 0;  // bytes of name + " " at the start of tail_
  int tail_blocks_ = 1;  // 1 or 2
  std::uint64_t prefix_length_ = 0;
  int tail_length_ = -1;     // the digit count tail_ is laid out for
  std::string prefix_rest_;  // the prefix's bytes after its whole blocks

  std::uint64_t from_;
  std::uint64_t next_;
  std::uint64_t to_;
  std::optional<HashPoint> best_;
  char digits_[kDigits] = {};
  int length_ = 0;
};

// The argmin of H(name, ·) over [from, to) in one call. REQUIRES: from <= to.
std::optional<HashPoint> Argmin(std::string_view name, std::uint64_t from, std::uint64_t to);

}  // namespace token
