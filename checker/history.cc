#include "checker/history.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include <fmt/format.h>
#include <simdjson.h>

#include "checker/history_chunk.h"
#include "checker/prefault.h"

namespace checker {
namespace {

using internal::Chunk;
using internal::Event;
using internal::EventType;
using internal::Prefaulter;

// Asks the kernel for huge pages under [p, p + n) (its 2 MiB-aligned interior), for big
// arrays written once from front to back: on a virtual machine a page fault costs
// microseconds, and a 4 KiB page per fault made them a fifth of the reader's time.
void AdviseHugePages(void* p, std::size_t n) {
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  const auto begin = (reinterpret_cast<std::uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(p) + n) & ~(kHuge - 1);
  if (end > begin) {
    ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // advice only
  }
}

// Where an outstanding operation lives.
struct Pending {
  std::size_t token = kNone;
  std::size_t op = 0;
  static constexpr std::size_t kNone = ~std::size_t{0};
};

// Applies the chunks' events in order: pairs each completion with its process's
// outstanding invocation, checks real-time order, and maps the chunks' token and value ids
// to the history's (values get the ids a line-by-line reading gives them: a chunk's new
// values in order of first appearance, chunk after chunk).
class Assembler {
 public:
  // `total_bytes`: the input's length, to size the operation vectors from the first chunks.
  explicit Assembler(std::size_t total_bytes) : total_bytes_(total_bytes) {}

  // False at the first error (then error() says which line); the chunk is consumed.
  bool Add(Chunk& chunk) {
    token_map_.assign(chunk.tokens.size(), kUnmapped);
    if (bytes_done_ == 0 && chunk.bytes > 0 && total_bytes_ > chunk.bytes) {
      // Size the value table for the whole input from the first chunk. The texts get a
      // quarter more room: later values are often longer (counters in them gain digits; on
      // histgen's 1M history the estimate fell 0.1% short), and a text buffer that grows
      // once copies all of it (21 MB on 1M). Room reserved and never used costs no page.
      const double scale = static_cast<double>(total_bytes_) / static_cast<double>(chunk.bytes);
      values_.Reserve(
          static_cast<std::size_t>(static_cast<double>(chunk.values.size()) * scale),
          static_cast<std::size_t>(static_cast<double>(chunk.values.bytes()) * scale * 1.25));
    }
    value_map_.resize(chunk.values.size());
    // A big history's table is far larger than the cache and each value probes it at
    // random: the slot of a value a few ahead is fetched while this one is interned.
    constexpr std::size_t kAhead = 8;
    for (std::size_t j = 0; j < chunk.values.size(); ++j) {
      if (j + kAhead < chunk.values.size()) values_.Prefetch(chunk.value_hashes[j + kAhead]);
      value_map_[j] = static_cast<ValueId>(values_.Intern(chunk.values[j], chunk.value_hashes[j]));
    }
    chunk_bytes_ = chunk.bytes;
    chunk_events_ = chunk.events.size();
    for (event_ = 0; event_ < chunk_events_; ++event_) {
      const Event& ev = chunk.events[event_];
      if (!Apply(line_base_ + ev.line, ev, chunk)) return false;
    }
    history_.plain_lines += chunk.plain_lines;
    if (chunk.error) {
      const std::uint64_t line = chunk.error->line == 0 ? 0 : line_base_ + chunk.error->line;
      error_ = ParseError{line, std::move(chunk.error->message)};
      return false;
    }
    line_base_ += chunk.lines;
    bytes_done_ += chunk.bytes;
    return true;
  }

  ParseResult Finish() {
    prefaulter_.Stop();
    if (error_) return ParseResult{std::nullopt, std::move(error_)};
    history_.lines = line_base_;
    // Operations still outstanding at the end never completed: unknown outcome.
    return ParseResult{std::move(history_), std::nullopt};
  }

 private:
  static constexpr std::size_t kUnmapped = ~std::size_t{0};
  static constexpr std::size_t kAbsent = kUnmapped - 1;  // no such token in the history
  static constexpr std::uint32_t kDenseProcesses = 1 << 16;

  bool Fail(std::uint64_t line, std::string message) {
    error_ = ParseError{line, std::move(message)};
    return false;
  }

  bool Apply(std::uint64_t line, const Event& ev, const Chunk& chunk) {
    if (line > kMaxLine) return Fail(line, std::string(kTooManyLines));
    if (ev.time < last_time_) {
      return Fail(line, fmt::format("time {} goes backwards (previous line had {}): lines must "
                                    "be in real-time order",
                                    ev.time, last_time_));
    }
    last_time_ = ev.time;
    ++history_.events;
    if (ev.type == EventType::kInvoke) return Invoke(line, ev, chunk);
    return Complete(line, ev, chunk);
  }

  ValueId GlobalValue(ValueId local) const {
    return local < 0 ? local : value_map_[static_cast<std::size_t>(local)];
  }

  bool Invoke(std::uint64_t line, const Event& ev, const Chunk& chunk) {
    Pending& slot = Outstanding(ev.process);
    if (slot.token != Pending::kNone) {
      return Fail(line, fmt::format("process {} invokes while its operation from line {} is "
                                    "still outstanding",
                                    ev.process, Op(slot).invoke_line));
    }
    Operation op;
    op.type = ev.op;
    op.process = ev.process;
    op.invoke_time = ev.time;
    op.invoke_line = static_cast<std::uint32_t>(line);
    if (ev.op == OpType::kWrite) {
      if (!ev.has_value) return Fail(line, "a write invocation needs its 'value'");
      op.value = GlobalValue(ev.value);
    }
    std::size_t& mapped = token_map_[ev.token];
    if (mapped == kUnmapped || mapped == kAbsent) mapped = TokenIndex(chunk.tokens[ev.token]);
    std::vector<Operation>& ops = history_.tokens[mapped].ops;
    if (ops.size() == ops.capacity()) Grow(ops);
    ops.push_back(op);
    slot = Pending{mapped, history_.tokens[mapped].ops.size() - 1};
    return true;
  }

  bool Complete(std::uint64_t line, const Event& ev, const Chunk& chunk) {
    Outcome outcome;
    switch (ev.type) {
      case EventType::kOk:
        outcome = Outcome::kOk;
        break;
      case EventType::kFail:
        outcome = Outcome::kFail;
        break;
      case EventType::kInfo:
        outcome = Outcome::kInfo;
        break;
      default:
        return Fail(line, fmt::format("unknown type '{}' (expected invoke, ok, fail or info)",
                                      chunk.unknown_types[ev.version]));
    }
    Pending& slot = Outstanding(ev.process);
    if (slot.token == Pending::kNone) {
      return Fail(line,
                  fmt::format("process {} completes an operation it never invoked", ev.process));
    }
    Operation& op = Op(slot);
    std::size_t& mapped = token_map_[ev.token];
    if (mapped == kUnmapped) {
      const std::string& name = chunk.tokens[ev.token];
      const auto it = token_ids_.find(name);
      mapped = it == token_ids_.end() ? kAbsent : it->second;
    }
    if (mapped != slot.token || op.type != ev.op) {
      return Fail(line, fmt::format("completion does not match process {}'s invocation at line {} "
                                    "(token or f differs)",
                                    ev.process, op.invoke_line));
    }
    if (outcome != Outcome::kInfo) {
      std::vector<std::uint32_t>& completed = history_.tokens[slot.token].completed;
      if (completed.size() == completed.capacity()) Grow(completed);
      completed.push_back(static_cast<std::uint32_t>(slot.op));
    }
    slot = Pending{};
    if (outcome == Outcome::kInfo) {
      op.CompleteInfo(line, ev.time);  // its line names it; complete_time stays kNever
    } else {
      op.outcome = outcome;
      op.complete_line = static_cast<std::uint32_t>(line);
      op.complete_time = ev.time;
    }
    if (outcome == Outcome::kOk) {
      const ValueId value = GlobalValue(ev.value);
      if (ev.op == OpType::kRead) {
        if (!ev.has_value) return Fail(line, "a read completion (ok) needs its 'value' (or null)");
        op.value = value;
      } else if (ev.has_value && value != op.value) {
        return Fail(line, fmt::format("write completion's value differs from its invocation at "
                                      "line {}",
                                      op.invoke_line));
      }
      op.has_version = ev.has_version;
      op.version = ev.version;
    }
    return true;
  }

  Pending& Outstanding(std::uint32_t process) {
    if (process < kDenseProcesses) {
      if (process >= dense_.size()) dense_.resize(std::max<std::size_t>(process + 1, 64));
      return dense_[process];
    }
    return sparse_[process];
  }

  Operation& Op(const Pending& p) { return history_.tokens[p.token].ops[p.op]; }

  // Grows a full vector of a token's (its operations, its completions) to what the token
  // will need if the rest of the input is like what came so far (at least doubling): one
  // copy instead of one per doubling.
  // The input read so far counts the part of the current chunk already applied, so the
  // prediction holds from the first chunks on (it came out twice too large there).
  template <typename T>
  void Grow(std::vector<T>& v) {
    std::size_t want = std::max<std::size_t>(64, v.size() * 2);
    const double done =
        static_cast<double>(bytes_done_) +
        (chunk_events_ == 0 ? 0.0
                            : static_cast<double>(chunk_bytes_) * static_cast<double>(event_) /
                                  static_cast<double>(chunk_events_));
    std::size_t expected = 0;  // elements the prediction expects, without its margin
    if (v.size() >= 1024 && done > 0 && static_cast<double>(total_bytes_) > done) {
      const double need = static_cast<double>(v.size()) * static_cast<double>(total_bytes_) / done;
      if (need * 1.05 > static_cast<double>(want)) {
        expected = static_cast<std::size_t>(need);
        want = static_cast<std::size_t>(need * 1.05);
      }
    }
    if constexpr (std::is_same_v<T, Operation>) prefaulter_.StopFor(v.data());  // v moves
    v.reserve(want);
    AdviseHugePages(v.data(), v.capacity() * sizeof(T));
    if constexpr (std::is_same_v<T, Operation>) {
      // The room the prediction expects to fill (not its margin), faulted in on another
      // thread while this one fills it.
      if (expected > v.size() && (expected - v.size()) * sizeof(T) >= kPrefaultBytes) {
        prefaulter_.Start(v.data(), v.data() + v.size(), (expected - v.size()) * sizeof(T));
      }
    }
  }

  std::size_t TokenIndex(const std::string& token) {
    auto it = token_ids_.find(token);
    if (it != token_ids_.end()) return it->second;
    history_.tokens.push_back(TokenHistory{token, {}, {}});
    token_ids_.emplace(token, history_.tokens.size() - 1);
    return history_.tokens.size() - 1;
  }

  static constexpr std::size_t kPrefaultBytes = std::size_t{16} << 20;

  std::size_t total_bytes_;
  std::size_t bytes_done_ = 0;    // the input assembled so far, in whole chunks
  std::size_t chunk_bytes_ = 0;   // the chunk being applied: its length,
  std::size_t chunk_events_ = 0;  // its events
  std::size_t event_ = 0;         // and the one being applied
  Prefaulter prefaulter_;
  History history_;
  internal::TextTable<TextList> values_{&history_.values};
  std::optional<ParseError> error_;
  std::uint64_t line_base_ = 0;
  std::int64_t last_time_ = std::numeric_limits<std::int64_t>::min();
  std::vector<Pending> dense_;                         // processes below kDenseProcesses
  std::unordered_map<std::uint32_t, Pending> sparse_;  // the others
  std::map<std::string, std::size_t, std::less<>> token_ids_;
  std::vector<std::size_t> token_map_;  // the chunk's token ids -> the history's
  std::vector<ValueId> value_map_;      // the chunk's value ids -> the history's
};

// The chunks of an input: each is parsed on its own (any thread), then assembled in order.
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  virtual std::size_t count() const = 0;
  virtual std::size_t bytes() const = 0;
  virtual void Parse(std::size_t i, bool plain_scanner, Chunk* out) const = 0;
};

// Text in memory, cut at line ends near every `chunk_bytes`.
class MemorySource : public ChunkSource {
 public:
  MemorySource(const char* text, std::size_t length, std::size_t padding, std::size_t chunk_bytes)
      : text_(text), length_(length), padding_(padding) {
    starts_.push_back(0);
    for (std::size_t at = chunk_bytes; at < length; at += chunk_bytes) {
      const void* nl = std::memchr(text + at - 1, '\n', length - (at - 1));
      if (nl == nullptr) break;
      const auto start = static_cast<std::size_t>(static_cast<const char*>(nl) - text) + 1;
      if (start >= length) break;
      if (start > starts_.back()) starts_.push_back(start);
      at = std::max(at, start);
    }
    starts_.push_back(length);
  }
  std::size_t count() const override { return starts_.size() - 1; }
  std::size_t bytes() const override { return length_; }
  void Parse(std::size_t i, bool plain_scanner, Chunk* out) const override {
    internal::ParseChunk(text_ + starts_[i], starts_[i + 1] - starts_[i],
                         length_ - starts_[i + 1] + padding_, plain_scanner, out);
  }

 private:
  const char* text_;
  std::size_t length_;
  std::size_t padding_;
  std::vector<std::size_t> starts_;
};

// A regular file, read a chunk at a time (memory stays bounded by the chunks in flight).
// Chunk i holds the lines that start in [i * chunk_bytes, (i + 1) * chunk_bytes).
class FileSource : public ChunkSource {
 public:
  FileSource(std::string path, int fd, std::size_t size, std::size_t chunk_bytes)
      : path_(std::move(path)), fd_(fd), size_(size), chunk_bytes_(chunk_bytes) {}
  std::size_t count() const override { return (size_ + chunk_bytes_ - 1) / chunk_bytes_; }
  std::size_t bytes() const override { return size_; }
  void Parse(std::size_t i, bool plain_scanner, Chunk* out) const override {
    out->Clear();
    const std::size_t nominal_begin = i * chunk_bytes_;
    const std::size_t nominal_end = std::min(size_, nominal_begin + chunk_bytes_);
    const std::size_t from = i == 0 ? 0 : nominal_begin - 1;
    // Each thread reuses its buffer: fresh memory costs a page fault per page.
    thread_local Buffer buf;
    buf.size = 0;
    if (!Read(from, nominal_end, &buf, out)) return;
    std::size_t begin = 0;
    if (i > 0) {
      const char* nl = static_cast<const char*>(std::memchr(buf.data(), '\n', buf.size));
      // No line starts here: the chunk lies inside a line that started before it.
      if (nl == nullptr || from + static_cast<std::size_t>(nl - buf.data()) + 1 >= nominal_end) {
        return;
      }
      begin = static_cast<std::size_t>(nl - buf.data()) + 1;
    }
    // Extend to the end of the last line that starts inside the chunk: up to the first line
    // end at or after the chunk's last byte.
    if (nominal_end < size_) {
      std::size_t search = nominal_end - 1 - from;
      std::size_t at = nominal_end;
      while (true) {
        const void* nl = std::memchr(buf.data() + search, '\n', buf.size - search);
        if (nl != nullptr) {
          buf.size = static_cast<std::size_t>(static_cast<const char*>(nl) - buf.data()) + 1;
          break;
        }
        if (at >= size_) break;
        search = buf.size;
        const std::size_t upto = std::min(size_, at + (std::size_t{1} << 16));
        if (!Read(at, upto, &buf, out)) return;
        at = upto;
      }
    }
    std::memset(buf.data() + buf.size, ' ', simdjson::SIMDJSON_PADDING);
    internal::ParseChunk(buf.data() + begin, buf.size - begin, simdjson::SIMDJSON_PADDING,
                         plain_scanner, out);
  }

 private:
  // Bytes read, with room for simdjson's padding behind them.
  struct Buffer {
    std::unique_ptr<char[]> bytes;
    std::size_t capacity = 0;
    std::size_t size = 0;
    char* data() { return bytes.get(); }
    void Reserve(std::size_t n) {
      n += simdjson::SIMDJSON_PADDING;
      if (n <= capacity) return;
      const std::size_t grown = std::max(n, capacity * 2);
      std::unique_ptr<char[]> more(new char[grown]);
      if (size) std::memcpy(more.get(), bytes.get(), size);
      bytes = std::move(more);
      capacity = grown;
    }
  };

  // Appends bytes [from, to) of the file to `buf`; false (with the error in `out`) if not.
  bool Read(std::size_t from, std::size_t to, Buffer* buf, Chunk* out) const {
    buf->Reserve(buf->size + (to - from));
    std::size_t done = 0;
    while (done < to - from) {
      const ssize_t n =
          ::pread(fd_, buf->data() + buf->size, to - from - done, static_cast<off_t>(from + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        out->error =
            ParseError{0, fmt::format("cannot read '{}': {}", path_,
                                      n == 0 ? "file shrank while reading" : std::strerror(errno))};
        return false;
      }
      done += static_cast<std::size_t>(n);
      buf->size += static_cast<std::size_t>(n);
    }
    return true;
  }

  std::string path_;
  int fd_;
  std::size_t size_;
  std::size_t chunk_bytes_;
};

unsigned ThreadsFor(const ParseOptions& options, std::size_t chunks) {
  unsigned threads = options.threads;
  if (threads == 0) threads = std::clamp(std::thread::hardware_concurrency(), 1U, 8U);
  return static_cast<unsigned>(std::min<std::size_t>(threads, chunks));
}

// Parses every chunk (in parallel when there are several threads and chunks) and
// assembles them in order. At most 2 chunks per thread are parsed ahead of the assembly.
ParseResult ParseChunks(const ChunkSource& source, const ParseOptions& options) {
  Assembler assembler(source.bytes());
  const std::size_t n = source.count();
  const unsigned threads = ThreadsFor(options, n);
  if (threads <= 1) {
    Chunk chunk;
    for (std::size_t i = 0; i < n; ++i) {
      source.Parse(i, options.plain_scanner, &chunk);
      if (!assembler.Add(chunk)) break;
    }
    return assembler.Finish();
  }
  std::mutex mu;
  // Two conditions, so that a wake-up goes only to a thread that can go on (on this
  // machine a thread woken for nothing costs tens of microseconds): the assembly waits for
  // its next chunk, the parsing threads for room in the window.
  std::condition_variable ready;
  std::condition_variable room;
  std::vector<std::unique_ptr<Chunk>> done(n);
  std::vector<std::unique_ptr<Chunk>> spare;  // assembled chunks, their memory reused
  std::size_t next = 0, assembled = 0;
  bool stop = false;
  const std::size_t window = 2 * std::size_t{threads};
  auto work = [&] {
    while (true) {
      std::size_t i;
      std::unique_ptr<Chunk> chunk;
      {
        std::unique_lock lock(mu);
        room.wait(lock, [&] { return stop || next >= n || next < assembled + window; });
        if (stop || next >= n) return;
        i = next++;
        if (!spare.empty()) {
          chunk = std::move(spare.back());
          spare.pop_back();
        }
      }
      if (!chunk) chunk = std::make_unique<Chunk>();
      source.Parse(i, options.plain_scanner, chunk.get());
      std::lock_guard lock(mu);
      done[i] = std::move(chunk);
      if (i == assembled) ready.notify_one();  // the chunk the assembly waits for
    }
  };
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) workers.emplace_back(work);
  for (std::size_t i = 0; i < n; ++i) {
    std::unique_ptr<Chunk> chunk;
    {
      std::unique_lock lock(mu);
      ready.wait(lock, [&] { return done[i] != nullptr; });
      chunk = std::move(done[i]);
      assembled = i + 1;
      room.notify_one();  // one more chunk fits in the window
    }
    if (!assembler.Add(*chunk)) break;
    std::lock_guard lock(mu);
    spare.push_back(std::move(chunk));
  }
  {
    std::lock_guard lock(mu);
    stop = true;
    room.notify_all();
  }
  for (std::thread& t : workers) t.join();
  return assembler.Finish();
}

}  // namespace

std::string History::DescribeValue(ValueId v) const {
  if (v == kInitialValue) return "the initial value (null)";
  if (v < 0 || static_cast<std::size_t>(v) >= values.size()) return "no value";
  return std::string(values[static_cast<std::size_t>(v)]);
}

ParseResult ParseHistory(const char* text, std::size_t length, std::size_t padding,
                         const ParseOptions& options) {
  return ParseChunks(MemorySource(text, length, padding, options.chunk_bytes), options);
}

ParseResult ParseHistoryString(std::string_view text, const ParseOptions& options) {
  simdjson::padded_string padded(text);
  return ParseHistory(padded.data(), padded.size(), simdjson::SIMDJSON_PADDING, options);
}

namespace {

ParseResult FileError(std::string message) { return ParseResult::Failure(0, std::move(message)); }

// A file descriptor, closed when it goes out of scope.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads what remains of `fd` (a pipe, say) to its end.
ParseResult ReadStream(const std::string& path, int fd, std::string* text,
                       const ParseOptions& options) {
  std::string content;
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return FileError(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
    }
    content.append(buf, static_cast<std::size_t>(n));
  }
  ParseResult result = ParseHistoryString(content, options);
  if (text) *text = std::move(content);
  return result;
}

}  // namespace

ParseResult ReadHistoryFile(const std::string& path, std::string* text,
                            const ParseOptions& options) {
  const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return FileError(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return FileError(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) return FileError(fmt::format("'{}' is a directory", path));
  // A pipe, or a caller that wants the text too: read it whole.
  if (!S_ISREG(st.st_mode) || text != nullptr) return ReadStream(path, fd.get(), text, options);
  // A regular file is read a chunk at a time by each thread: memory stays bounded by the
  // chunks in flight, whatever the file's size.
  return ParseChunks(
      FileSource(path, fd.get(), static_cast<std::size_t>(st.st_size), options.chunk_bytes),
      options);
}

}  // namespace checker

namespace checker::internal {
void AssertFail(const char* condition, const char* file, int line, const char* why) {
  std::fprintf(stderr, "checker assertion failed: %s (%s:%d): %s\n", condition, file, line, why);
  std::abort();
}
}  // namespace checker::internal
