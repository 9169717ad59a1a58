// The durable store (storage/store.h) against SQLite, measured the same way: batches per
// second and fsyncs per second with 1, 8 and 64 concurrent appenders, on a disk directory
// and on /dev/shm.
//
//   ./build/bench/storage_bench --benchmark_counters_tabular=true [--disk_dir=/var/tmp]
//
// An appender is a closed loop: it appends a batch and waits until it is durable, like a
// client whose write needs its replica's record on disk before the answer. Batch ids are
// handed out in Append order under one lock, as the host's one thread does. A batch is one
// record (a replica adopting an Update writes one) of one of 1,000 tokens, holding data
// (a 16-character name, a domain, a partial point): about 70 bytes encoded.
//
// Counters: batches_per_s, fsyncs_per_s, batches_per_round and fsyncs_per_round (a round
// is one group commit), bytes_per_batch (everything written to files: preallocated zeros
// and SQLite's pages included).
//
// Both back ends group-commit on one background thread: everything queued when a round
// starts is written, synced once, and reported durable with one callback.
//   ourlog: the store itself (one CRC-framed commit written to the log, one fdatasync),
//           the log preallocated by 1 MiB of zeros at a time (the default).
//   ourlog-grow: the same without preallocation: every commit grows the file.
//   sqlite: a table (token TEXT PRIMARY KEY, record BLOB), journal_mode=WAL,
//           synchronous=FULL, one transaction per round with an upsert per record, the
//           same encoded record as the blob. Its fsyncs are counted by a VFS shim around
//           the default VFS (every xSync call: the WAL's, and the checkpoints').
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "storage/record.h"
#include "storage/store.h"

namespace {

using token::ReplicationScheme;
using token::Status;
using token::TokenRecord;
using token::storage::BatchId;

constexpr int kTokens = 1000;

std::shared_ptr<const ReplicationScheme> BenchScheme() {
  std::vector<token::TokenEntry> entries;
  for (int i = 0; i < kTokens; ++i) {
    token::TokenEntry e;
    e.token = "token-" + std::to_string(i);
    e.writer = "127.0.0.1:1";
    e.readers = {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"};
    entries.push_back(std::move(e));
  }
  auto scheme = ReplicationScheme::Create(std::move(entries));
  TOKEN_ASSERT(scheme.ok(), "bench scheme");
  return std::make_shared<const ReplicationScheme>(std::move(scheme).value());
}

TokenRecord BenchRecord(BatchId i) {
  TokenRecord r;
  r.token = static_cast<token::TokenIndex>(i % kTokens);
  token::TokenData data;
  data.domain = token::Domain{"name-0123456789ab", i, i + 1000, i + 5000};
  data.partial = token::HashPoint{i + 7, ~i};
  r.stored = token::VersionedValue{i, token::RegisterValue::Data(std::move(data))};
  r.reserved_through = (i / 1024 + 1) * 1024;
  return r;
}

// ---- SQLite's fsyncs, counted by a VFS that forwards to the default one -------------------

std::atomic<std::uint64_t> g_sqlite_syncs{0};
std::atomic<std::uint64_t> g_sqlite_bytes{0};
sqlite3_vfs* g_real_vfs = nullptr;

struct CountingFile {
  sqlite3_file base;
  sqlite3_file* real;  // the default VFS's file, allocated right after this struct
};

sqlite3_file* Real(sqlite3_file* f) { return reinterpret_cast<CountingFile*>(f)->real; }

int CClose(sqlite3_file* f) { return Real(f)->pMethods->xClose(Real(f)); }
int CRead(sqlite3_file* f, void* b, int n, sqlite3_int64 o) {
  return Real(f)->pMethods->xRead(Real(f), b, n, o);
}
int CWrite(sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
  g_sqlite_bytes += static_cast<std::uint64_t>(n);
  return Real(f)->pMethods->xWrite(Real(f), b, n, o);
}
int CTruncate(sqlite3_file* f, sqlite3_int64 n) { return Real(f)->pMethods->xTruncate(Real(f), n); }
int CSync(sqlite3_file* f, int flags) {
  ++g_sqlite_syncs;
  return Real(f)->pMethods->xSync(Real(f), flags);
}
int CFileSize(sqlite3_file* f, sqlite3_int64* n) {
  return Real(f)->pMethods->xFileSize(Real(f), n);
}
int CLock(sqlite3_file* f, int l) { return Real(f)->pMethods->xLock(Real(f), l); }
int CUnlock(sqlite3_file* f, int l) { return Real(f)->pMethods->xUnlock(Real(f), l); }
int CCheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int CFileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int CSectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int CDeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
}
int CShmMap(sqlite3_file* f, int i, int size, int extend, void volatile** p) {
  return Real(f)->pMethods->xShmMap(Real(f), i, size, extend, p);
}
int CShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void CShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int CShmUnmap(sqlite3_file* f, int del) { return Real(f)->pMethods->xShmUnmap(Real(f), del); }
int CFetch(sqlite3_file* f, sqlite3_int64 o, int n, void** p) {
  return Real(f)->pMethods->xFetch(Real(f), o, n, p);
}
int CUnfetch(sqlite3_file* f, sqlite3_int64 o, void* p) {
  return Real(f)->pMethods->xUnfetch(Real(f), o, p);
}

const sqlite3_io_methods kCountingIo = {
    3,
    CClose,
    CRead,
    CWrite,
    CTruncate,
    CSync,
    CFileSize,
    CLock,
    CUnlock,
    CCheckReservedLock,
    CFileControl,
    CSectorSize,
    CDeviceCharacteristics,
    CShmMap,
    CShmLock,
    CShmBarrier,
    CShmUnmap,
    CFetch,
    CUnfetch,
};

int COpen(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* cf = reinterpret_cast<CountingFile*>(f);
  cf->real = reinterpret_cast<sqlite3_file*>(cf + 1);
  const int rc = g_real_vfs->xOpen(g_real_vfs, name, cf->real, flags, out_flags);
  cf->base.pMethods = cf->real->pMethods != nullptr ? &kCountingIo : nullptr;
  return rc;
}

sqlite3_vfs g_counting_vfs;

void RegisterCountingVfs() {
  static const bool done = [] {
    g_real_vfs = sqlite3_vfs_find(nullptr);
    TOKEN_ASSERT(g_real_vfs != nullptr && g_real_vfs->iVersion >= 3, "sqlite default VFS");
    g_counting_vfs = *g_real_vfs;
    g_counting_vfs.zName = "counting";
    g_counting_vfs.szOsFile = static_cast<int>(sizeof(CountingFile)) + g_real_vfs->szOsFile;
    g_counting_vfs.xOpen = COpen;
    TOKEN_ASSERT(sqlite3_vfs_register(&g_counting_vfs, 0) == SQLITE_OK, "register VFS");
    return true;
  }();
  (void)done;
}

// ---- the two back ends behind one interface ------------------------------------------------

class Backend {
 public:
  virtual ~Backend() = default;
  virtual void Append(BatchId batch, std::vector<TokenRecord> records) = 0;
  virtual std::uint64_t Syncs() const = 0;
  virtual std::uint64_t Rounds() const = 0;
  virtual std::uint64_t BytesWritten() const = 0;
};

// Durable reports, for appenders to wait on.
class Waiter {
 public:
  void Durable(BatchId up_to) {
    {
      std::lock_guard lock(mu_);
      up_to_ = up_to;
    }
    cv_.notify_all();
  }
  void Wait(BatchId batch) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return up_to_ >= batch; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  BatchId up_to_ = 0;
};

class OurLog : public Backend {
 public:
  OurLog(const std::string& dir, std::shared_ptr<const ReplicationScheme> scheme, Waiter* waiter,
         bool preallocate) {
    token::storage::StoreOptions o;
    if (!preallocate) o.preallocate_bytes = 0;
    o.dir = dir;
    o.node = "127.0.0.1:1";
    o.scheme_fingerprint = "bench";
    o.scheme = std::move(scheme);
    o.on_durable = [waiter](BatchId b) { waiter->Durable(b); };
    o.on_failed = [](const Status& s) {
      std::fprintf(stderr, "store failed: %s\n", s.ToString().c_str());
      std::abort();
    };
    auto store = token::storage::Store::Create(std::move(o));
    if (!store.ok()) {
      std::fprintf(stderr, "cannot create the store: %s\n", store.status().ToString().c_str());
      std::abort();
    }
    store_ = std::move(store).value();
  }
  ~OurLog() override { (void)store_->Close(); }
  void Append(BatchId batch, std::vector<TokenRecord> records) override {
    const Status s = store_->Append(batch, std::move(records));
    TOKEN_ASSERT(s.ok(), "append");
  }
  std::uint64_t Syncs() const override {
    const auto s = store_->stats();
    return s.log_syncs + s.other_syncs;
  }
  std::uint64_t Rounds() const override { return store_->stats().commits; }
  std::uint64_t BytesWritten() const override { return store_->stats().bytes_written; }

 private:
  std::unique_ptr<token::storage::Store> store_;
};

class Sqlite : public Backend {
 public:
  Sqlite(const std::string& dir, std::shared_ptr<const ReplicationScheme> scheme, Waiter* waiter)
      : scheme_(std::move(scheme)), waiter_(waiter) {
    RegisterCountingVfs();
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/records.sqlite";
    TOKEN_ASSERT(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                 "counting") == SQLITE_OK,
                 "sqlite open");
    Exec("PRAGMA journal_mode=WAL");
    Exec("PRAGMA synchronous=FULL");
    Exec("CREATE TABLE IF NOT EXISTS records (token TEXT PRIMARY KEY, record BLOB NOT NULL)");
    TOKEN_ASSERT(sqlite3_prepare_v2(db_,
                                    "INSERT INTO records (token, record) VALUES (?1, ?2) "
                                    "ON CONFLICT (token) DO UPDATE SET record = excluded.record",
                                    -1, &upsert_, nullptr) == SQLITE_OK,
                 "sqlite prepare");
    syncs_at_start_ = g_sqlite_syncs.load();
    bytes_at_start_ = g_sqlite_bytes.load();
    thread_ = std::thread([this] { Run(); });
  }
  ~Sqlite() override {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    thread_.join();
    sqlite3_finalize(upsert_);
    sqlite3_close(db_);
  }
  void Append(BatchId batch, std::vector<TokenRecord> records) override {
    {
      std::lock_guard lock(mu_);
      queue_.push_back({batch, std::move(records)});
    }
    cv_.notify_one();
  }
  std::uint64_t Syncs() const override { return g_sqlite_syncs.load() - syncs_at_start_; }
  std::uint64_t Rounds() const override { return rounds_.load(); }
  std::uint64_t BytesWritten() const override { return g_sqlite_bytes.load() - bytes_at_start_; }

 private:
  void Exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      std::fprintf(stderr, "sqlite: %s: %s\n", sql, error);
      std::abort();
    }
  }
  void Run() {
    std::vector<std::pair<BatchId, std::vector<TokenRecord>>> work;
    std::string encoded;
    while (true) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty() || closing_; });
        if (queue_.empty()) return;
        work.swap(queue_);
        queue_.clear();
      }
      Exec("BEGIN");
      for (const auto& [batch, records] : work) {
        for (const TokenRecord& r : records) {
          const std::string& id = scheme_->token(r.token).id;
          encoded.clear();
          token::storage::EncodeRecord(id, r, encoded);
          sqlite3_bind_text(upsert_, 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
          sqlite3_bind_blob(upsert_, 2, encoded.data(), static_cast<int>(encoded.size()),
                            SQLITE_STATIC);
          TOKEN_ASSERT(sqlite3_step(upsert_) == SQLITE_DONE, "sqlite upsert");
          sqlite3_reset(upsert_);
        }
      }
      Exec("COMMIT");
      ++rounds_;
      waiter_->Durable(work.back().first);
      work.clear();
    }
  }

  std::shared_ptr<const ReplicationScheme> scheme_;
  Waiter* waiter_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* upsert_ = nullptr;
  std::uint64_t syncs_at_start_ = 0;
  std::uint64_t bytes_at_start_ = 0;
  std::atomic<std::uint64_t> rounds_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<BatchId, std::vector<TokenRecord>>> queue_;
  bool closing_ = false;
  std::thread thread_;
};

// ---- the measurement ----------------------------------------------------------------------

std::string g_disk_dir = "/var/tmp";

enum class Kind { kOurLog, kOurLogGrow, kSqlite };

std::string NameOf(Kind kind) {
  switch (kind) {
    case Kind::kOurLog:
      return "ourlog";
    case Kind::kOurLogGrow:
      return "ourlog-grow";
    case Kind::kSqlite:
      return "sqlite";
  }
  return "?";
}

// Each iteration: `appenders` closed loops make `total` batches durable in all.
void BM_Store(benchmark::State& state, Kind kind, std::string base, int appenders) {
  const int total = appenders == 1 ? 1000 : 4096;
  const std::string dir = base + "/storage_bench-" + std::to_string(::getpid()) + "-" +
                          NameOf(kind) + "-" + std::to_string(appenders);
  std::filesystem::remove_all(dir);
  const auto scheme = BenchScheme();
  Waiter waiter;
  std::unique_ptr<Backend> backend;
  if (kind != Kind::kSqlite) {
    backend = std::make_unique<OurLog>(dir, scheme, &waiter, kind == Kind::kOurLog);
  } else {
    backend = std::make_unique<Sqlite>(dir, scheme, &waiter);
  }
  std::mutex order;
  BatchId next = 0;
  std::uint64_t batches = 0;
  double seconds = 0;
  const std::uint64_t syncs0 = backend->Syncs(), rounds0 = backend->Rounds();
  const std::uint64_t bytes0 = backend->BytesWritten();
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int a = 0; a < appenders; ++a) {
      threads.emplace_back([&, a] {
        for (int i = a; i < total; i += appenders) {
          BatchId mine = 0;
          {
            std::lock_guard lock(order);
            mine = ++next;
            backend->Append(mine, {BenchRecord(mine)});
          }
          waiter.Wait(mine);
        }
      });
    }
    for (auto& t : threads) t.join();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.SetIterationTime(s);
    seconds += s;
    batches += static_cast<std::uint64_t>(total);
  }
  const double syncs = static_cast<double>(backend->Syncs() - syncs0);
  const double rounds = static_cast<double>(backend->Rounds() - rounds0);
  const double bytes = static_cast<double>(backend->BytesWritten() - bytes0);
  backend.reset();
  std::filesystem::remove_all(dir);
  state.counters["batches_per_s"] = static_cast<double>(batches) / seconds;
  state.counters["fsyncs_per_s"] = syncs / seconds;
  state.counters["batches_per_round"] = static_cast<double>(batches) / rounds;
  state.counters["fsyncs_per_round"] = syncs / rounds;
  state.counters["bytes_per_batch"] = bytes / static_cast<double>(batches);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--disk_dir=", 11) == 0) {
      g_disk_dir = argv[i] + 11;
    } else {
      std::fprintf(stderr, "unknown argument %s (besides Google Benchmark's: --disk_dir=DIR)\n",
                   argv[i]);
      return 1;
    }
  }
  for (const auto& [where, base] :
       {std::pair<std::string, std::string>{"disk", g_disk_dir}, {"shm", "/dev/shm"}}) {
    for (const Kind kind : {Kind::kOurLog, Kind::kOurLogGrow, Kind::kSqlite}) {
      const std::string name = NameOf(kind);
      for (int appenders : {1, 8, 64}) {
        benchmark::RegisterBenchmark(
            (name + "/" + where + "/appenders:" + std::to_string(appenders)).c_str(),
            [kind, base = base, appenders](benchmark::State& st) {
              BM_Store(st, kind, base, appenders);
            })
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond)
            ->MinTime(2.0);
      }
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
