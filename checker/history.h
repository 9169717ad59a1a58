// The history model the checker works on, and its JSON Lines reader.
//
// A history is what clients saw: invocations and completions of reads and writes, per
// token, in real-time order (docs/FORMATS.md). The reader pairs each completion with its
// process's outstanding invocation and builds one Operation per invocation. Written
// values are interned: equal objects (same keys and values, any key order or spacing) get
// the same ValueId; null (the initial value) is kInitialValue.
//
// The checker depends on nothing of core/: it checks the register specification, not our
// implementation of it.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace checker {

using ValueId = std::int32_t;
inline constexpr ValueId kInitialValue = -1;  // JSON null: the register's initial value
inline constexpr ValueId kNoValue = -2;       // a read that returned nothing (not ok)

inline constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();

// kCas: compare-and-set (Jepsen and Porcupine histories): when the register holds
// `expected` it becomes `value`; an ok cas did that. With `cas_failed` the cas completed
// and reported that the register did not hold `expected` (Porcupine's logs): it wrote
// nothing but observed the register.
enum class OpType : std::uint8_t { kWrite, kRead, kCas };
enum class Outcome : std::uint8_t {
  kOk,    // took effect
  kFail,  // certainly did not take effect
  kInfo,  // unknown: may take effect at any time after invocation, or never
};

// Line numbers are kept in 32 bits; a longer input is refused (at hundreds of gigabytes),
// at its first event past the limit, with this message.
inline constexpr std::uint64_t kMaxLine = std::numeric_limits<std::uint32_t>::max();
inline constexpr std::string_view kTooManyLines =
    "more than 4294967295 lines: the checker numbers lines in 32 bits";

// 48 bytes, without padding (a history of 10M operations holds 10M of them, and on the
// checker's machine every fresh megabyte costs milliseconds: docs/CHECKER.md, "Speed").
struct Operation {
  OpType type = OpType::kRead;
  Outcome outcome = Outcome::kInfo;
  bool cas_failed = false;  // cas: completed, the register did not hold `expected`
  bool has_version = false;
  std::uint32_t process = 0;
  std::int64_t invoke_time = 0;
  std::int64_t complete_time = kNever;  // kNever unless ok or fail
  // With has_version (ok operations only): the version reported. An `info` completion keeps
  // its time here instead (info_time()): an operation has one or the other.
  std::uint64_t version = 0;
  std::uint32_t invoke_line = 0;    // 1-based line numbers in the input (at most kMaxLine)
  std::uint32_t complete_line = 0;  // 0 when it never completed
  ValueId value = kNoValue;         // write: written; read: read (when ok); cas: new
  ValueId expected = kNoValue;      // cas: the value compared against

  // Real-time precedence: this op completed before `other` was invoked.
  bool Precedes(const Operation& other) const { return complete_time < other.invoke_time; }
  // The line that best names this operation (its completion if any).
  std::uint64_t line() const { return complete_line ? complete_line : invoke_line; }
  // When an `info` completion was recorded; kNever without one.
  std::int64_t info_time() const {
    return outcome == Outcome::kInfo && complete_line != 0 ? static_cast<std::int64_t>(version)
                                                           : kNever;
  }
  // Records an `info` completion at `line` and `time`.
  void CompleteInfo(std::uint64_t line, std::int64_t time) {
    outcome = Outcome::kInfo;
    complete_line = static_cast<std::uint32_t>(line);
    has_version = false;
    version = static_cast<std::uint64_t>(time);
  }
};

static_assert(sizeof(Operation) == 48);

struct TokenHistory {
  std::string token;
  std::vector<Operation> ops;            // in invocation order
  std::vector<std::uint32_t> completed;  // indices into ops of ok/fail ops, in completion order
};

// Texts numbered from 0 in the order added, kept back to back in one buffer: a history's
// values (a million distinct values cost one allocation, not a million). A view stays valid
// until the next text is added.
class TextList {
 public:
  std::size_t size() const { return ends_.size(); }
  bool empty() const { return ends_.empty(); }
  std::string_view operator[](std::size_t i) const {
    const std::size_t begin = i == 0 ? 0 : ends_[i - 1];
    return {text_.data() + begin, ends_[i] - begin};
  }
  void emplace_back(std::string_view text) {
    text_ += text;
    ends_.push_back(text_.size());
  }
  void push_back(std::string_view text) { emplace_back(text); }
  // Room for `count` texts of `bytes` in all.
  void reserve(std::size_t count, std::size_t bytes = 0) {
    ends_.reserve(count);
    text_.reserve(bytes);
  }
  void clear() {
    text_.clear();
    ends_.clear();
  }
  std::size_t bytes() const { return text_.size(); }

 private:
  std::string text_;
  std::vector<std::size_t> ends_;
};

struct History {
  std::vector<TokenHistory> tokens;  // in order of first appearance
  TextList values;                   // ValueId -> canonical JSON text of the value
  std::uint64_t lines = 0;
  std::uint64_t events = 0;
  std::uint64_t plain_lines = 0;  // lines the reader's plain scanner took (the rest: simdjson)

  std::string DescribeValue(ValueId v) const;
};

// A parse error: the line and what is wrong with it.
struct ParseError {
  std::uint64_t line = 0;
  std::string message;
};

struct ParseResult {
  std::optional<History> history;
  std::optional<ParseError> error;
  // No history: the error at `line` (0: not about one line).
  static ParseResult Failure(std::uint64_t line, std::string message) {
    return ParseResult{std::nullopt, ParseError{line, std::move(message)}};
  }
};

// How the reader works; the defaults suit every use.
struct ParseOptions {
  // Threads parsing chunks at once; 0: one per core (at most 8). The assembly of the parsed
  // chunks, in order, runs on the calling thread.
  unsigned threads = 0;
  // About how many bytes of input a thread parses at a time (cut at line ends). A chunk
  // read into the cache is parsed from it: 1 MiB, one core's L2 cache here, took less time
  // than 8 MiB (docs/CHECKER.md, "Speed").
  std::size_t chunk_bytes = std::size_t{1} << 20;
  // Lines in the plain form the project's tools write go through a quick scanner, the
  // others through simdjson; false sends every line through simdjson (tests compare both).
  bool plain_scanner = true;
};

// Parses JSON Lines text. REQUIRES: `text` is followed by at least `padding` readable bytes
// (simdjson reads ahead); use ReadHistoryFile or ParseHistoryString, which arrange that.
ParseResult ParseHistory(const char* text, std::size_t length, std::size_t padding,
                         const ParseOptions& options = {});
ParseResult ParseHistoryString(std::string_view text, const ParseOptions& options = {});
// Reads a file; a file that cannot be read is reported as a ParseError at line 0.
// With `text`, the file's bytes are also kept there (read once: the file may be a pipe).
// A regular file read without `text` is read in chunks, so memory does not grow with the
// file's size beyond what the history itself takes.
ParseResult ReadHistoryFile(const std::string& path, std::string* text = nullptr,
                            const ParseOptions& options = {});

}  // namespace checker

// Invariant checks of the checker (kept on in every build).
#define TOKEN_CHECKER_ASSERT(cond, why)                                  \
  do {                                                                   \
    if (!(cond)) [[unlikely]] {                                          \
      ::checker::internal::AssertFail(#cond, __FILE__, __LINE__, (why)); \
    }                                                                    \
  } while (false)

namespace checker::internal {
[[noreturn]] void AssertFail(const char* condition, const char* file, int line, const char* why);
}  // namespace checker::internal
