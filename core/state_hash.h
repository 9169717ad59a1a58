// StateHasher: a 128-bit fingerprint of a state, fed one 64-bit word at a time.
//
// For drivers that visit states and must tell them apart without keeping them (the
// exhaustive explorer, harness/explore.h): Node::HashState and host::Host::HashState feed
// everything that decides a node's future behaviour, nothing else (no counters for logs).
// Two lanes mixed independently, so two different states share a fingerprint with
// probability about 2^-128 per pair, not 2^-64.
//
// A NodeRename maps every NodeIndex written into the hash (empty: the identity): two states
// that differ only by swapping interchangeable nodes then hash alike (symmetry reduction).
// Likewise MapCalls maps the client call ids (request ids) written with AddCall, so that
// states that differ only by swapping interchangeable clients hash alike (what a state keeps
// by call id is then hashed as a set, not in the ids' order).
//
// Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "core/scheme.h"
#include "core/token.h"

namespace token {

using NodeRename = std::span<const NodeIndex>;

class StateHasher {
 public:
  void Add(std::uint64_t x) {
    a_ = Mix(a_ ^ x, 0x9E3779B97F4A7C15ULL);
    b_ = Mix(b_ + x + 0x632BE59BD9B4E019ULL, 0xD6E8FEB86659FD93ULL);
  }
  void Add(std::string_view s) {
    Add(s.size());
    std::uint64_t word = 0;
    std::size_t n = 0;
    for (const char c : s) {
      word = (word << 8) | static_cast<unsigned char>(c);
      if (++n == 8) {
        Add(word);
        word = 0;
        n = 0;
      }
    }
    if (n > 0) Add(word);
  }
  void Add(const std::optional<HashPoint>& p) {
    Add(p ? 1 : 0);
    if (p) {
      Add(p->x);
      Add(p->hash);
    }
  }
  void Add(const RegisterValue& v) {
    Add(static_cast<std::uint64_t>(v.kind()));
    if (!v.has_data()) return;
    const TokenData& d = v.data();
    Add(d.domain.name);
    Add(d.domain.low);
    Add(d.domain.mid);
    Add(d.domain.high);
    Add(d.partial);
  }
  void Add(const VersionedValue& vv) {
    Add(vv.version);
    Add(vv.value);
  }

  // Call ids in 1..calls.size() are written as calls[id - 1]; others as they are.
  void MapCalls(std::span<const std::uint64_t> calls) { calls_ = calls; }
  std::uint64_t Call(std::uint64_t id) const {
    return id >= 1 && id <= calls_.size() ? calls_[id - 1] : id;
  }
  void AddCall(std::uint64_t id) { Add(Call(id)); }
  std::uint64_t low() const { return a_; }
  std::uint64_t high() const { return Mix(b_ ^ a_, 0xBF58476D1CE4E5B9ULL); }

  static NodeIndex Renamed(NodeRename rename, NodeIndex n) {
    return rename.empty() ? n : rename[n];
  }
  // The finalizer both lanes use (a splitmix64 round with multiplier `k`); for callers that
  // sum hashes of a multiset's members.
  static std::uint64_t Mix(std::uint64_t z, std::uint64_t k) {
    z = (z ^ (z >> 30)) * k;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t a_ = 0x243F6A8885A308D3ULL;
  std::uint64_t b_ = 0x13198A2E03707344ULL;
  std::span<const std::uint64_t> calls_;
};

}  // namespace token
