// SimDisk: the modelled disk of a simulated node (sim/simulator.cc) and of the explorer's
// nodes (harness/explore.cc), so both give the host the same storage.
//
// Writes become durable when a sync covering them completes. One sync runs at a time and
// covers every write made before it started; writes made while it runs wait for the next
// (group commit, as the real store does). When the process dies, unsynced writes survive
// if the machine does (a prefix of them: the next record is torn and dropped); a lost disk
// keeps nothing, and the node comes back as a replacement until its first batch is synced
// (the catch-up marks: from then on a restart resumes the catch-up from the disk).
//
// The owner decides when a sync completes: StartSync, then later SyncDone.
//
// Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "base/fifo.h"
#include "core/messages.h"
#include "core/node.h"
#include "core/state_hash.h"
#include "host/world.h"

namespace sim {

class SimDisk {
 public:
  // A batch the host wrote. True when a sync should start now (none is running).
  bool Write(token::host::BatchId batch, std::vector<token::TokenRecord> records) {
    pending_.push_back(PendingWrite{batch, std::move(records)});
    return !syncing_;
  }
  // Starts a sync covering every write so far; returns the last batch it covers.
  // REQUIRES: no sync running, some write pending.
  token::host::BatchId StartSync() {
    syncing_ = true;
    ++syncs_started_;
    covers_ = pending_.back().batch;
    return covers_;
  }
  // The running sync completed: its writes are durable (the caller then tells the host).
  void SyncDone() {
    if (!pending_.empty() && pending_.front().batch <= covers_) replacement_pending_ = false;
    while (!pending_.empty() && pending_.front().batch <= covers_) {
      for (const token::TokenRecord& r : pending_.front().records) {
        disk_.insert_or_assign(r.token, r);
      }
      pending_.pop_front();
    }
    syncing_ = false;
  }
  // No sync runs and writes wait: the next one should start.
  bool SyncWanted() const { return !syncing_ && !pending_.empty(); }

  // The process dies: the first `keep_records` unsynced records survive, the rest is lost.
  void Die(std::size_t keep_records) {
    for (const PendingWrite& w : pending_) {
      for (const token::TokenRecord& r : w.records) {
        if (keep_records == 0) break;
        --keep_records;
        disk_[r.token] = r;
      }
    }
    pending_.clear();
    syncing_ = false;
  }
  std::size_t UnsyncedRecords() const {
    std::size_t n = 0;
    for (const PendingWrite& w : pending_) n += w.records.size();
    return n;
  }
  void LoseDisk() {
    disk_.clear();
    replacement_pending_ = true;
  }
  // How a new process starts from this disk, and with which records.
  token::StartMode BootMode() const {
    return replacement_pending_ ? token::StartMode::kReplacement : token::StartMode::kRestart;
  }
  std::vector<token::TokenRecord> BootRecords() const {
    std::vector<token::TokenRecord> records;
    if (BootMode() == token::StartMode::kRestart) {
      for (const auto& [t, r] : disk_) records.push_back(r);
    }
    return records;
  }

  bool syncing() const { return syncing_; }
  // The last batch the running sync covers.
  token::host::BatchId covers() const { return covers_; }
  // Syncs started, across restarts (scheduled runs name syncs by this count).
  std::uint64_t syncs_started() const { return syncs_started_; }

  // Everything that decides the disk's future (not the sync count).
  void HashInto(token::StateHasher& h) const {
    h.Add(pending_.size());
    for (const PendingWrite& w : pending_) {
      h.Add(w.batch);
      HashRecords(h, w.records);
    }
    h.Add((static_cast<std::uint64_t>(syncing_) << 1) |
          static_cast<std::uint64_t>(replacement_pending_));
    h.Add(covers_);
    h.Add(disk_.size());
    for (const auto& [t, r] : disk_) HashRecords(h, {r});
  }

 private:
  struct PendingWrite {
    token::host::BatchId batch;
    std::vector<token::TokenRecord> records;
  };
  static void HashRecords(token::StateHasher& h, const std::vector<token::TokenRecord>& records) {
    for (const token::TokenRecord& r : records) {
      h.Add(r.token);
      h.Add(r.stored);
      h.Add(r.reserved_through);
      h.Add((static_cast<std::uint64_t>(r.crashed) << 1) |
            static_cast<std::uint64_t>(r.catching_up));
    }
  }

  std::map<token::TokenIndex, token::TokenRecord> disk_;  // durable: each token's last record
  token::Fifo<PendingWrite> pending_;                     // written, not yet synced
  bool syncing_ = false;
  token::host::BatchId covers_ = 0;   // the last batch the running sync covers
  bool replacement_pending_ = false;  // the disk was lost; no catch-up mark synced yet
  std::uint64_t syncs_started_ = 0;
};

}  // namespace sim
