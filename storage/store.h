// The durable store of one node's TokenRecords (core/messages.h) in a directory: what
// `tokenserver --data-dir DIR` keeps across restarts.
//
// The host hands the store batches of records; the store makes them durable in order and
// says so; after a restart it gives back the last record of every token. Files in DIR
// (formats and recovery rules in storage/format.h and docs/STORAGE.md):
//   IDENTITY                      format version, node address, scheme fingerprint
//   wal-<generation>.log          the write-ahead log: one checksummed commit per sync
//   snapshot-<generation>.snap    every token's last record as of the start of that log
//
// Opening. Open() tells a directory without an identity (missing, empty, or left by a
// creation a crash cut short: the caller decides whether that is a first start or a
// replacement, and then calls Create()) from one with data (the store and what it recovered).
// A directory written for another node or another scheme fingerprint is refused, naming the
// file and both values. Recovery drops a torn last commit (what a crash leaves at the end of
// the log) and reports it; any other damage (a checksum or a length wrong anywhere else, a
// corrupt snapshot or identity, a missing log) is an error naming the file and the byte
// offset: partial state is never loaded.
//
// Create() writes the identity only once the first batch is durable (or at Close() when no
// batch was appended): a directory that has an identity always holds the records the node
// started with, so a replacement that crashes before its catch-up marks are durable is
// again a directory without an identity, never a node that restarts with empty state.
//
// Group commit. Append() only queues. One sync thread takes everything queued, writes it
// as one commit, syncs the log once (fdatasync) and calls on_durable(the last batch id):
// the batches that arrived while a sync ran share the next one. The log file grows by
// preallocate_bytes of zeros at a time, so that most syncs flush data only. When the log
// passes max(compact_log_bytes, the last snapshot's size) the thread writes a snapshot
// (temporary file, fsync, rename, fsync of the directory) and starts a new log; the old
// files are then removed, so the directory holds about one snapshot and one log.
//
// Inline commits (StoreOptions::inline_commit_below, off by default): where commits are
// fast (tmpfs), Append() itself writes and syncs what is queued when no commit is running,
// and calls on_durable before it returns; commits still never overlap, and batches still
// become durable in order. Slow storage keeps every commit on the sync thread.
//
// Failure is fatal. When a write or a sync fails the store stops: the thread calls
// on_failed(status) once and exits, on_durable is never called again, and Append() and
// Close() return that status. After a failed fsync Linux may have dropped the dirty pages
// and a retry could report success for data that is not on disk, so the store never
// retries: the node must stop acknowledging and restart, recovering from what is on disk.
//
// Thread-safety: Append(), Close(), status() and stats() may be called from any thread.
// on_durable and on_failed run on the sync thread, or inside Append() for an inline commit;
// they must not call Close(), Append() or block on the thread that calls Append() (post to
// it instead): a full queue makes Append() wait for the sync thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "core/file.h"
#include "core/messages.h"
#include "core/scheme.h"
#include "storage/format.h"

namespace token::storage {

// The host's storage batch (host/world.h: numbered 1, 2, 3, ... by each host).
using BatchId = std::uint64_t;

struct StoreOptions {
  std::string dir;
  // Written in IDENTITY by Create, checked by Open. Neither may hold a line break.
  std::string node;
  std::string scheme_fingerprint;
  // Token ids <-> TokenIndex: records name tokens by id on disk.
  std::shared_ptr<const ReplicationScheme> scheme;
  // Compaction threshold (see above).
  std::uint64_t compact_log_bytes = std::uint64_t{64} << 20;
  // The log grows by this many bytes of zeros at a time (0: by each commit alone), so that
  // a commit overwrites blocks already written and its fdatasync need not also commit the
  // file's new size (on ext4 that saves a journal commit per sync). At most 1 GiB.
  std::uint64_t preallocate_bytes = std::uint64_t{1} << 20;
  // Back-pressure: Append waits while this many records are queued and not yet being
  // written (a batch larger than this is taken alone).
  std::size_t max_queued_records = 1 << 16;
  // Inline commits: while the log's recent commits (write and fdatasync, a moving average
  // measured on every commit) took less than this, Append writes and syncs the queue
  // itself on its caller's thread when no commit is running, instead of waking the sync
  // thread and waiting for it to report back: on tmpfs a commit takes microseconds, less
  // than those two thread wake-ups (docs/STORAGE.md, "Inline commits"). Zero: never (every
  // commit on the sync thread). The first commit after Open is tried inline and measured
  // (a new store's first one, which also writes the identity, runs on the sync thread).
  std::chrono::nanoseconds inline_commit_below{0};
  // Called on the sync thread, or inside Append on its caller's thread for an inline
  // commit (see above). Either may be empty.
  std::function<void(BatchId up_to)> on_durable;
  std::function<void(const Status&)> on_failed;
  // Tests and benchmarks only: called on the sync thread before each sync of the log. It
  // may sleep (a slow disk); a non-ok Status is taken as that sync's failure.
  std::function<Status()> before_sync_for_testing;
};

enum class DirState : std::uint8_t {
  kNoIdentity,  // no IDENTITY: a first start or a replacement, the caller decides
  kExisting,    // a store with data, opened
};

struct Recovery {
  // The last record of every token that has one, in TokenIndex order.
  std::vector<TokenRecord> records;
  std::uint64_t generation = 0;
  std::uint64_t snapshot_records = 0;  // 0 when the generation has no snapshot
  std::string log_file;
  std::uint64_t log_commits = 0;
  std::uint64_t log_batches = 0;
  std::uint64_t log_records = 0;
  // A torn last commit in log_file, dropped (the file was truncated to its offset).
  std::optional<TornTail> torn;
};

// "recovered 12 tokens from /d (snapshot 3: 10 records; wal-00000003.log: 5 commits, 7
// batches, 9 records); dropped a torn last commit: 37 bytes at offset 1234 (...)".
std::string DescribeRecovery(const std::string& dir, const Recovery& recovery);

struct StoreStats {
  std::uint64_t batches = 0;  // made durable
  std::uint64_t records = 0;
  std::uint64_t commits = 0;      // one per sync of the log
  std::uint64_t log_syncs = 0;    // fdatasync calls on the log (== commits)
  std::uint64_t other_syncs = 0;  // fsyncs of snapshots, new logs, the directory, IDENTITY
  std::uint64_t bytes_written = 0;
  std::uint64_t compactions = 0;
  std::uint64_t log_bytes = 0;       // the current log up to the end of its last commit
  std::uint64_t log_file_bytes = 0;  // the current log's file, with preallocated zeros
  std::uint64_t snapshot_bytes = 0;  // the current snapshot's size (0: none)
};

class Store {
 public:
  struct Opened {
    DirState state = DirState::kNoIdentity;
    std::unique_ptr<Store> store;  // kExisting only: running
    Recovery recovery;             // kExisting only
  };

  // Opens options.dir (see above). Errors: INVALID_ARGUMENT for damaged files (naming the
  // file and offset) or bad options, FAILED_PRECONDITION for another node's or scheme's
  // directory, an unknown format version or a directory in use by another store,
  // INTERNAL for I/O errors.
  static Result<Opened> Open(StoreOptions options);
  // Makes a new store in options.dir (created when missing); FAILED_PRECONDITION when it
  // already has an identity. Leftover store files of a creation a crash cut short are
  // removed.
  static Result<std::unique_ptr<Store>> Create(StoreOptions options);

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  // Close(), ignoring its status.
  ~Store();

  // Queues `records` as batch `batch`; waits while the queue is full. Returns the store's
  // failure once it failed, FAILED_PRECONDITION after Close, INVALID_ARGUMENT for a record
  // naming no token of the scheme (nothing queued then).
  // REQUIRES: batch ids strictly increase across calls. allow_inline false: queue for the
  // sync thread even where an inline commit would run (a busy caller: with many batches
  // coming, group commit on the sync thread serves it better).
  Status Append(BatchId batch, std::vector<TokenRecord> records, bool allow_inline = true);
  // Writes and syncs what is queued, stops the sync thread and closes the files. Returns
  // the store's failure, if any. Idempotent.
  Status Close();

  Status status() const;
  StoreStats stats() const;

 private:
  struct Batch {
    BatchId id = 0;
    std::vector<TokenRecord> records;
  };

  explicit Store(StoreOptions options);
  void Run();  // the sync thread
  // Writes `work` as one commit, reports it durable and compacts when due. Run by the one
  // thread that set committing_ (the sync thread or an inline Append).
  Status Commit(const std::vector<Batch>& work);
  Status WriteCommit(const std::vector<Batch>& work);
  Status WriteIdentity();
  Status Compact();
  Status SyncLog();
  // The sync thread's view of the log (and the stats' copy).
  void SetLogSize(std::uint64_t end, std::uint64_t file_bytes);
  void Fail(const Status& status);

  const StoreOptions options_;
  UniqueFd dir_fd_;  // holds the directory's lock
  UniqueFd log_fd_;
  std::uint64_t generation_ = 1;
  std::uint64_t next_sequence_ = 1;
  std::uint64_t log_end_ = 0;         // where the next commit goes
  std::uint64_t log_file_bytes_ = 0;  // the log file's size
  bool identity_pending_ = false;
  // The sync thread's own: the last encoded record per TokenIndex ("" for none), the
  // commit being built.
  std::vector<std::string> last_;
  std::string buffer_;
  std::string scratch_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // the sync thread waits for batches
  std::condition_variable room_cv_;  // Append waits for room
  std::vector<Batch> queue_;
  std::size_t queued_records_ = 0;
  BatchId last_appended_ = 0;
  bool committing_ = false;  // a thread is in Commit (it owns the log meanwhile)
  // Moving average of a commit's write and sync, in ns. It starts at zero: the first
  // commit a caller may run inline is tried inline, and measured.
  std::int64_t commit_ns_avg_ = 0;
  bool closing_ = false;
  bool closed_ = false;
  Status failure_;
  StoreStats stats_;
  std::thread thread_;
};

}  // namespace token::storage
