#include "storage/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "storage/store_files.h"

namespace token::storage {
namespace {

constexpr std::string_view kIdentityFile = "IDENTITY";

// The file primitives (storage/store_files.h).
using store_files::CreateLog;
using store_files::DirListing;
using store_files::IoError;
using store_files::ListDir;
using store_files::LockDir;
using store_files::LogName;
using store_files::Remove;
using store_files::SnapshotName;
using store_files::SyncFd;
using store_files::WriteAt;
using store_files::WriteFileAtomically;

Status CheckOptions(const StoreOptions& o) {
  if (o.dir.empty()) return Status::InvalidArgument("the store needs a directory");
  if (o.scheme == nullptr) return Status::InvalidArgument("the store needs the scheme");
  for (const std::string* s : {&o.node, &o.scheme_fingerprint}) {
    if (s->empty() || s->find_first_of("\r\n") != std::string::npos) {
      return Status::InvalidArgument(fmt::format(
          "the store's node and scheme fingerprint must be one non-empty line each, got '{}'", *s));
    }
  }
  if (o.preallocate_bytes > (std::uint64_t{1} << 30)) {
    return Status::InvalidArgument("preallocate_bytes must be at most 1 GiB");
  }
  if (o.max_queued_records == 0) {
    return Status::InvalidArgument("max_queued_records must be at least 1");
  }
  return Status::Ok();
}

// The directory's identity names this program's format, this node and its scheme.
Status CheckIdentity(const Identity& identity, const StoreOptions& options,
                     const std::string& identity_path) {
  if (identity.format_version != kFormatVersion) {
    return Status::FailedPrecondition(
        fmt::format("{} has store format version {}; this program reads version {}", identity_path,
                    identity.format_version, kFormatVersion));
  }
  if (identity.node != options.node) {
    return Status::FailedPrecondition(fmt::format("{} was written for node '{}'; this node is '{}'",
                                                  identity_path, identity.node, options.node));
  }
  if (identity.scheme_fingerprint != options.scheme_fingerprint) {
    return Status::FailedPrecondition(fmt::format(
        "{} was written for scheme fingerprint '{}'; this node's scheme has fingerprint '{}'",
        identity_path, identity.scheme_fingerprint, options.scheme_fingerprint));
  }
  return Status::Ok();
}

// Removes the files of generations before `generation` and the temporaries of interrupted
// writes, then syncs the directory when it removed any (`syncs` counts it).
Status RemoveLeftovers(int dir_fd, const std::string& dir, const DirListing& listing,
                       std::uint64_t generation, std::uint64_t* syncs) {
  bool removed = false;
  for (const auto& [g, name] : listing.logs) {
    if (g < generation) {
      if (Status s = Remove(dir, name); !s.ok()) return s;
      removed = true;
    }
  }
  for (const auto& [g, name] : listing.snapshots) {
    if (g < generation) {
      if (Status s = Remove(dir, name); !s.ok()) return s;
      removed = true;
    }
  }
  for (const std::string& name : listing.temporaries) {
    if (Status s = Remove(dir, name); !s.ok()) return s;
    removed = true;
  }
  if (removed) {
    if (Status s = SyncFd(dir_fd, dir, false); !s.ok()) return s;
    ++*syncs;
  }
  return Status::Ok();
}

}  // namespace

std::string DescribeRecovery(const std::string& dir, const Recovery& r) {
  std::string out = fmt::format("recovered {} tokens from {} (", r.records.size(), dir);
  if (r.snapshot_records > 0 || r.generation > 1) {
    out += fmt::format("snapshot {}: {} records; ", r.generation, r.snapshot_records);
  }
  out += fmt::format("{}: {} commits, {} batches, {} records)", r.log_file, r.log_commits,
                     r.log_batches, r.log_records);
  if (r.torn) {
    out += fmt::format("; dropped a torn last commit: {} bytes at offset {} ({})", r.torn->bytes,
                       r.torn->offset, r.torn->reason);
  }
  return out;
}

Store::Store(StoreOptions options) : options_(std::move(options)) {
  last_.resize(options_.scheme->tokens().size());
}

Store::~Store() { (void)Close(); }

Result<Store::Opened> Store::Open(StoreOptions options) {
  if (Status s = CheckOptions(options); !s.ok()) return s;
  const std::string dir = options.dir;  // (options move into the store below)
  auto locked = LockDir(dir);
  if (!locked.ok()) {
    if (locked.status().code() == StatusCode::kNotFound) return Opened{};
    return locked.status();
  }
  const std::string identity_path = dir + "/" + std::string(kIdentityFile);
  auto identity_text = ReadFile(identity_path, "store identity file");
  if (!identity_text.ok()) {
    if (identity_text.status().code() == StatusCode::kNotFound) return Opened{};
    return identity_text.status();
  }
  auto identity = ParseIdentity(*identity_text, identity_path);
  if (!identity.ok()) return identity.status();
  if (Status s = CheckIdentity(*identity, options, identity_path); !s.ok()) return s;

  auto listing = ListDir(dir);
  if (!listing.ok()) return listing.status();
  std::unique_ptr<Store> store(new Store(std::move(options)));
  const ReplicationScheme& scheme = *store->options_.scheme;
  Recovery recovery;
  std::vector<std::optional<TokenRecord>> state(scheme.tokens().size());
  // Takes `records` of `file` into the state (and the store's encoded copies).
  auto load = [&](const std::vector<FileRecord>& records, const std::string& file) -> Status {
    for (const FileRecord& r : records) {
      const auto index = scheme.FindToken(r.decoded.token_id);
      if (!index) {
        return Status::InvalidArgument(fmt::format(
            "{}: record at byte offset {} names token '{}', which the scheme does not have", file,
            r.offset, r.decoded.token_id));
      }
      TokenRecord record = r.decoded.record;
      record.token = *index;
      store->last_[*index].clear();
      EncodeRecord(r.decoded.token_id, record, store->last_[*index]);
      state[*index] = std::move(record);
    }
    return Status::Ok();
  };

  // The newest snapshot is the base; without one, the log of generation 1 is everything.
  std::uint64_t generation = 1;
  if (!listing->snapshots.empty()) {
    generation = listing->snapshots.rbegin()->first;
    const std::string path = dir + "/" + listing->snapshots.rbegin()->second;
    auto bytes = ReadFile(path, "store snapshot");
    if (!bytes.ok()) return bytes.status();
    auto records = ParseSnapshot(*bytes, generation, path);
    if (!records.ok()) return records.status();
    if (Status s = load(*records, path); !s.ok()) return s;
    recovery.snapshot_records = records->size();
    store->stats_.snapshot_bytes = bytes->size();
  }
  if (!listing->logs.empty() && listing->logs.rbegin()->first > generation) {
    return Status::InvalidArgument(fmt::format(
        "{}: {} is newer than the newest snapshot ({}): the store's files are inconsistent", dir,
        listing->logs.rbegin()->second,
        listing->snapshots.empty() ? "none" : listing->snapshots.rbegin()->second));
  }
  const std::string log_name = LogName(generation);
  const std::string log_path = dir + "/" + log_name;
  recovery.generation = generation;
  recovery.log_file = log_name;
  std::uint64_t syncs = 0;
  if (!listing->logs.contains(generation)) {
    // A compaction renamed its snapshot into place and stopped before the new log existed.
    if (listing->snapshots.empty()) {
      return Status::InvalidArgument(fmt::format(
          "{}: has an identity but neither a snapshot nor {}: the store's files are missing", dir,
          log_name));
    }
    auto fd = CreateLog(locked->get(), dir, generation, &syncs);
    if (!fd.ok()) return fd.status();
    store->log_fd_ = std::move(fd).value();
    store->SetLogSize(kLogHeaderBytes, kLogHeaderBytes);
  } else {
    auto bytes = ReadFile(log_path, "store log");
    if (!bytes.ok()) return bytes.status();
    auto log = ParseLog(*bytes, generation, log_path);
    if (!log.ok()) return log.status();
    if (Status s = load(log->records, log_path); !s.ok()) return s;
    recovery.log_commits = log->commits;
    recovery.log_batches = log->batches;
    recovery.log_records = log->records.size();
    recovery.torn = log->torn;
    if (log->valid_bytes < kLogHeaderBytes) {
      auto fd = CreateLog(locked->get(), dir, generation, &syncs);
      if (!fd.ok()) return fd.status();
      store->log_fd_ = std::move(fd).value();
      store->SetLogSize(kLogHeaderBytes, kLogHeaderBytes);
    } else {
      UniqueFd fd(::open(log_path.c_str(), O_WRONLY | O_CLOEXEC));
      if (!fd.valid()) return IoError("open", log_path, errno);
      std::uint64_t file_bytes = bytes->size();
      if (log->torn) {
        // The torn bytes go: the next commit follows the last whole one, and a later
        // recovery must not see them after it.
        if (::ftruncate(fd.get(), static_cast<off_t>(log->valid_bytes)) != 0) {
          return IoError("truncate", log_path, errno);
        }
        if (Status s = SyncFd(fd.get(), log_path, false); !s.ok()) return s;
        ++syncs;
        file_bytes = log->valid_bytes;
      }
      store->log_fd_ = std::move(fd);
      store->SetLogSize(log->valid_bytes, file_bytes);
    }
    store->next_sequence_ = log->commits + 1;
  }

  // What earlier generations and interrupted writes left.
  if (Status s = RemoveLeftovers(locked->get(), dir, *listing, generation, &syncs); !s.ok()) {
    return s;
  }

  for (auto& r : state) {
    if (r) recovery.records.push_back(std::move(*r));
  }
  store->dir_fd_ = std::move(locked).value();
  store->generation_ = generation;
  store->stats_.other_syncs = syncs;
  store->thread_ = std::thread([s = store.get()] { s->Run(); });
  return Opened{DirState::kExisting, std::move(store), std::move(recovery)};
}

Result<std::unique_ptr<Store>> Store::Create(StoreOptions options) {
  if (Status s = CheckOptions(options); !s.ok()) return s;
  const std::string dir = options.dir;  // (options move into the store below)
  std::error_code ec;
  if (std::filesystem::create_directories(dir, ec)) {
    // The new directory's entry must be durable too, or a power cut could lose the store
    // whole after it acknowledged batches.
    std::filesystem::path path = std::filesystem::path(dir).lexically_normal();
    if (!path.has_filename()) path = path.parent_path();  // "a/b/" names b
    std::string parent = path.parent_path().string();
    if (parent.empty()) parent = ".";
    const UniqueFd parent_fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!parent_fd.valid()) return IoError("open", parent, errno);
    if (Status s = SyncFd(parent_fd.get(), parent, false); !s.ok()) return s;
  }
  if (ec) {
    return Status::Internal(fmt::format("cannot create directory {}: {}", dir, ec.message()));
  }
  auto locked = LockDir(dir);
  if (!locked.ok()) return locked.status();
  const std::string identity_path = dir + "/" + std::string(kIdentityFile);
  struct stat st {};
  if (::stat(identity_path.c_str(), &st) == 0) {
    return Status::FailedPrecondition(
        fmt::format("{} exists: {} already holds a store", identity_path, dir));
  }
  if (errno != ENOENT) return IoError("look for", identity_path, errno);
  auto listing = ListDir(dir);
  if (!listing.ok()) return listing.status();
  for (const auto* names : {&listing->logs, &listing->snapshots}) {
    for (const auto& [g, name] : *names) {
      if (Status s = Remove(dir, name); !s.ok()) return s;
    }
  }
  for (const std::string& name : listing->temporaries) {
    if (Status s = Remove(dir, name); !s.ok()) return s;
  }
  std::unique_ptr<Store> store(new Store(std::move(options)));
  std::uint64_t syncs = 0;
  auto fd = CreateLog(locked->get(), dir, 1, &syncs);
  if (!fd.ok()) return fd.status();
  store->log_fd_ = std::move(fd).value();
  store->dir_fd_ = std::move(locked).value();
  store->identity_pending_ = true;
  store->SetLogSize(kLogHeaderBytes, kLogHeaderBytes);
  store->stats_.other_syncs = syncs;
  store->thread_ = std::thread([s = store.get()] { s->Run(); });
  return store;
}

Status Store::Append(BatchId batch, std::vector<TokenRecord> records, bool allow_inline) {
  const std::size_t tokens = options_.scheme->tokens().size();
  for (const TokenRecord& r : records) {
    if (r.token >= tokens) {
      return Status::InvalidArgument(
          fmt::format("batch {}: a record names token index {}; the scheme has {} tokens", batch,
                      r.token, tokens));
    }
  }
  std::unique_lock lock(mu_);
  TOKEN_ASSERT(batch > last_appended_, "storage batch ids strictly increase");
  if (!failure_.ok()) return failure_;
  if (closing_) return Status::FailedPrecondition(fmt::format("store {} is closed", options_.dir));
  room_cv_.wait(lock, [&] {
    return queued_records_ == 0 ||
           queued_records_ + records.size() <= options_.max_queued_records || !failure_.ok() ||
           closing_;
  });
  if (!failure_.ok()) return failure_;
  if (closing_) return Status::FailedPrecondition(fmt::format("store {} is closed", options_.dir));
  queued_records_ += records.size();
  last_appended_ = batch;
  queue_.push_back(Batch{batch, std::move(records)});
  const bool inline_commit = allow_inline && !committing_ && !identity_pending_ &&
                             commit_ns_avg_ < options_.inline_commit_below.count();
  if (!inline_commit) {
    work_cv_.notify_one();
    return Status::Ok();
  }
  // An inline commit (StoreOptions::inline_commit_below): this thread owns the log until
  // it is done; the sync thread waits meanwhile.
  committing_ = true;
  std::vector<Batch> work;
  work.swap(queue_);
  queued_records_ = 0;
  lock.unlock();
  const Status s = Commit(work);
  lock.lock();
  committing_ = false;
  // What arrived meanwhile, or a Close waiting, is the sync thread's.
  const bool wake = !queue_.empty() || closing_;
  lock.unlock();
  room_cv_.notify_all();
  if (wake) work_cv_.notify_one();
  if (!s.ok()) Fail(s);
  return Status::Ok();  // a failed commit is reported through on_failed, as the thread's
}

Status Store::Close() {
  {
    std::unique_lock lock(mu_);
    if (closed_) return failure_;
    closing_ = true;
    closed_ = true;
  }
  work_cv_.notify_all();
  room_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  Status status = this->status();
  if (status.ok() && identity_pending_) {
    status = WriteIdentity();
    if (!status.ok()) Fail(status);
  }
  log_fd_.reset();
  dir_fd_.reset();  // releases the lock
  return status;
}

Status Store::status() const {
  std::lock_guard lock(mu_);
  return failure_;
}

StoreStats Store::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Store::Fail(const Status& status) {
  {
    std::lock_guard lock(mu_);
    if (!failure_.ok()) return;
    failure_ = status;
  }
  room_cv_.notify_all();
  if (options_.on_failed) options_.on_failed(status);
}

void Store::Run() {
  std::vector<Batch> work;
  while (true) {
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return (!queue_.empty() || closing_) && !committing_; });
      if (queue_.empty()) return;  // closing, everything written
      work.swap(queue_);
      queue_.clear();
      queued_records_ = 0;
      committing_ = true;
    }
    room_cv_.notify_all();
    const Status s = Commit(work);
    {
      std::lock_guard lock(mu_);
      committing_ = false;
    }
    if (!s.ok()) {
      Fail(s);
      return;
    }
    work.clear();
  }
}

Status Store::Commit(const std::vector<Batch>& work) {
  const auto started = std::chrono::steady_clock::now();
  if (Status s = WriteCommit(work); !s.ok()) return s;
  const std::int64_t took = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now() - started)
                                .count();
  if (identity_pending_) {
    if (Status s = WriteIdentity(); !s.ok()) return s;
  }
  const BatchId up_to = work.back().id;
  std::uint64_t snapshot_bytes = 0;
  {
    std::lock_guard lock(mu_);
    stats_.batches += work.size();
    for (const Batch& b : work) stats_.records += b.records.size();
    // An average over about the last 8 commits.
    commit_ns_avg_ = stats_.commits <= 1 ? took : commit_ns_avg_ + (took - commit_ns_avg_) / 8;
    snapshot_bytes = stats_.snapshot_bytes;
  }
  if (options_.on_durable) options_.on_durable(up_to);
  if (log_end_ > std::max(options_.compact_log_bytes, snapshot_bytes)) return Compact();
  return Status::Ok();
}

Status Store::WriteCommit(const std::vector<Batch>& work) {
  const auto& tokens = options_.scheme->tokens();
  buffer_.clear();
  CommitBuilder commit;
  commit.Start(&buffer_, next_sequence_);
  for (const Batch& b : work) {
    commit.StartBatch(b.id);
    for (const TokenRecord& r : b.records) {
      std::string& encoded = last_[r.token];
      encoded.clear();
      EncodeRecord(tokens[r.token].id, r, encoded);
      commit.AddRecord(encoded);
    }
  }
  commit.Finish();
  const std::string path = options_.dir + "/" + LogName(generation_);
  const std::uint64_t end = log_end_ + buffer_.size();
  std::uint64_t zeros = 0;
  if (end > log_file_bytes_ && options_.preallocate_bytes > 0) {
    // Zeros up to the next multiple of preallocate_bytes past the commit: later commits
    // overwrite written blocks, and their syncs need not commit a new file size.
    const std::uint64_t step = options_.preallocate_bytes;
    const std::uint64_t target = (end / step + 1) * step;
    static const std::string kZeros(1 << 16, '\0');
    for (std::uint64_t at = log_file_bytes_; at < target; at += kZeros.size()) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(kZeros.size(), target - at));
      if (Status s = WriteAt(log_fd_.get(), std::string_view(kZeros).substr(0, n), at, path);
          !s.ok()) {
        return s;
      }
    }
    zeros = target - log_file_bytes_;
  }
  if (Status s = WriteAt(log_fd_.get(), buffer_, log_end_, path); !s.ok()) return s;
  if (Status s = SyncLog(); !s.ok()) return s;
  ++next_sequence_;
  SetLogSize(end, std::max(log_file_bytes_ + zeros, end));
  std::lock_guard lock(mu_);
  ++stats_.commits;
  stats_.bytes_written += buffer_.size() + zeros;
  return Status::Ok();
}

void Store::SetLogSize(std::uint64_t end, std::uint64_t file_bytes) {
  log_end_ = end;
  log_file_bytes_ = file_bytes;
  std::lock_guard lock(mu_);
  stats_.log_bytes = end;
  stats_.log_file_bytes = file_bytes;
}

Status Store::SyncLog() {
  const std::string path = options_.dir + "/" + LogName(generation_);
  if (options_.before_sync_for_testing) {
    if (Status s = options_.before_sync_for_testing(); !s.ok()) {
      return Status::Internal(fmt::format("cannot sync {}: {}", path, s.message()));
    }
  }
  Status s = SyncFd(log_fd_.get(), path, true);
  std::lock_guard lock(mu_);
  ++stats_.log_syncs;
  return s;
}

Status Store::WriteIdentity() {
  const Identity identity{kFormatVersion, options_.node, options_.scheme_fingerprint};
  std::uint64_t syncs = 0;
  Status s = WriteFileAtomically(dir_fd_.get(), options_.dir, std::string(kIdentityFile),
                                 EncodeIdentity(identity), &syncs);
  if (s.ok()) identity_pending_ = false;
  std::lock_guard lock(mu_);
  stats_.other_syncs += syncs;
  return s;
}

Status Store::Compact() {
  const std::uint64_t next = generation_ + 1;
  std::vector<std::string_view> records;
  for (const std::string& r : last_) {
    if (!r.empty()) records.push_back(r);
  }
  const std::string snapshot = EncodeSnapshot(next, records);
  std::uint64_t syncs = 0;
  Status s = WriteFileAtomically(dir_fd_.get(), options_.dir, SnapshotName(next), snapshot, &syncs);
  Result<UniqueFd> log =
      s.ok() ? CreateLog(dir_fd_.get(), options_.dir, next, &syncs) : Result<UniqueFd>(s);
  if (log.ok()) {
    log_fd_ = std::move(log).value();
    SetLogSize(kLogHeaderBytes, kLogHeaderBytes);
    // The old generation is now redundant; a crash before these removals leaves files
    // the next Open removes.
    s = Remove(options_.dir, LogName(generation_));
    if (s.ok()) s = Remove(options_.dir, SnapshotName(generation_));
    generation_ = next;
    next_sequence_ = 1;
  } else {
    s = log.status();
  }
  std::lock_guard lock(mu_);
  stats_.other_syncs += syncs;
  if (s.ok()) {
    ++stats_.compactions;
    stats_.bytes_written += snapshot.size() + kLogHeaderBytes;
    stats_.snapshot_bytes = snapshot.size();
  }
  return s;
}

}  // namespace token::storage
