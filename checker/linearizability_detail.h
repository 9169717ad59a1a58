// The linearizability checker's shared pieces (checker/linearizability.h), used by its
// files: linearizability.cc (the search and the choice of method), linearizability_zones.cc
// (the zone method) and linearizability_versions.cc (relabelling by versions, the version
// order). Not for use outside the checker.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "checker/history.h"
#include "checker/linearizability.h"

namespace checker::lin_detail {

constexpr std::int64_t kBeforeEverything = std::numeric_limits<std::int64_t>::min();

const char* OpName(const Operation& op);

// "the read at line 12" / "the initial value" (virtual write: nullptr).
std::string Describe(const Operation* op);

TokenVerdict Violation(const TokenHistory& token, Rule rule, std::string explanation,
                       std::vector<const Operation*> ops);

TokenVerdict Ok(const TokenHistory& token);

// A map from ValueId to a small integer, backed by a vector sized to the history's values
// and cleared entry by entry, so checking many tokens costs no rehashing or reallocation.
class ValueSlots {
 public:
  explicit ValueSlots(std::size_t values) {
    thread_local std::vector<std::int32_t> storage;
    if (storage.size() < values + 1) storage.assign(values + 1, -1);
    slots_ = &storage;
  }
  ~ValueSlots() {
    for (ValueId v : touched_) (*slots_)[Index(v)] = -1;
  }
  ValueSlots(const ValueSlots&) = delete;
  ValueSlots& operator=(const ValueSlots&) = delete;

  std::int32_t Get(ValueId v) const { return (*slots_)[Index(v)]; }
  void Set(ValueId v, std::int32_t x) {
    if ((*slots_)[Index(v)] == -1) touched_.push_back(v);
    (*slots_)[Index(v)] = x;
  }

 private:
  static std::size_t Index(ValueId v) { return static_cast<std::size_t>(v + 1); }  // null -> 0
  std::vector<std::int32_t>* slots_;
  std::vector<ValueId> touched_;
};

// The write of each version: an open-addressing map from version to operation, sized
// once for `capacity` entries (no allocation per entry, unlike a node-based map; a token
// of a million writes fills it in a few milliseconds). A slot holds only the operation's
// index in `ops` (4 bytes instead of 16 with the version beside it: fresh memory costs a
// page fault per 2 MiB on this checker's machine, docs/CHECKER.md "Speed"); a probe reads
// the version from the operation, which for versions counting up with the writes is near
// the last one read.
class WritesByVersion {
 public:
  WritesByVersion(const std::vector<Operation>& ops, std::size_t capacity) : ops_(ops) {
    std::size_t slots = 16;
    while (slots < capacity + capacity / 2 + 1) slots *= 2;
    slots_.resize(slots);
  }
  // Adds `op` (one of `ops`) under its version; when a write of that version is there
  // already, returns it and adds nothing.
  const Operation* Insert(const Operation& op) {
    std::uint32_t& s = Probe(op.version);
    if (s != 0) return &ops_[s - 1];
    s = static_cast<std::uint32_t>(&op - ops_.data()) + 1;
    return nullptr;
  }
  // The operation of `version`, or nullptr.
  const Operation* Find(std::uint64_t version) const {
    const std::uint32_t s = const_cast<WritesByVersion*>(this)->Probe(version);
    return s == 0 ? nullptr : &ops_[s - 1];
  }

 private:
  std::uint32_t& Probe(std::uint64_t version) {
    const std::size_t mask = slots_.size() - 1;
    // Versions mostly count up: their low bits as they are keep neighbours in neighbouring
    // slots (a scattering hash made every probe a cache miss, 40% of the version check's
    // time on a million operations); the high bits folded in spread versions far apart.
    std::size_t i = static_cast<std::size_t>(version ^ (version >> 21) ^ (version >> 42)) & mask;
    while (slots_[i] != 0 && ops_[slots_[i] - 1].version != version) i = (i + 1) & mask;
    return slots_[i];
  }
  const std::vector<Operation>& ops_;
  std::vector<std::uint32_t> slots_;  // 0: empty; else 1 + the index of the write in ops_
};

}  // namespace checker::lin_detail
