// Internal to the history reader (checker/history.cc): one chunk of JSON Lines, parsed
// line by line into compact events, with the chunk's own token and value tables.
//
// Chunks are parsed in parallel; the reader then applies their events in order (pairing
// completions with invocations, checking real-time order), mapping each chunk's token and
// value ids to the history's. What a chunk decides alone (is the line JSON, are the fields
// there and of the right types) it decides here; what needs earlier lines is left to the
// reader, so errors come out exactly as a line-by-line reader would report them.
//
// Each line is read by a plain scanner when it has the form the project's tools write (no
// spaces, no escapes, ASCII, integers only); anything else goes to simdjson, which
// decides. Both give the same fields for every line the scanner accepts (a test compares
// them).
//
// Thread-safety: a Chunk is filled by one thread and then handed over.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "checker/history.h"

namespace checker::internal {

enum class EventType : std::uint8_t { kInvoke, kOk, kFail, kInfo, kUnknown };

struct Event {
  std::uint64_t line = 0;  // 1-based, within the chunk
  std::int64_t time = 0;
  std::uint64_t version = 0;  // kUnknown: index into Chunk::unknown_types
  std::uint32_t process = 0;
  std::uint32_t token = 0;        // index into Chunk::tokens
  ValueId value = kInitialValue;  // index into Chunk::values, or kInitialValue
  EventType type = EventType::kInvoke;
  OpType op = OpType::kRead;
  bool has_value = false;
  bool has_version = false;
};

struct Chunk {
  std::vector<Event> events;
  std::vector<std::string> tokens;          // in order of first appearance in the chunk
  TextList values;                          // canonical texts, in order of first appearance
  std::vector<std::uint64_t> value_hashes;  // HashText of each of `values`
  std::vector<std::string> unknown_types;   // the 'type' text of kUnknown events
  std::uint64_t lines = 0;                  // lines in the chunk, blank ones included
  std::uint64_t bytes = 0;                  // the chunk's length
  std::optional<ParseError> error;          // the first bad line (chunk-relative); stops it
  std::uint64_t plain_lines = 0;            // lines the plain scanner read

  // Empties the chunk, keeping its vectors' memory for the next one.
  void Clear();
};

// Parses the lines of text[0, length) into `out` (cleared first). REQUIRES: `padding` readable
// bytes follow the text (simdjson reads ahead). `fast_path` false sends every line to simdjson (for
// tests).
void ParseChunk(const char* text, std::size_t length, std::size_t padding, bool fast_path,
                Chunk* out);

// A fast 64-bit hash of a short string.
std::uint64_t HashText(std::string_view s);

// Interns texts into `texts` (a std::vector<std::string> or a TextList): open addressing
// over their ids, one entry per distinct text. Each slot keeps 32 bits of the hash beside
// the id, so probing rarely touches the texts.
template <typename Texts>
class TextTable {
 public:
  // REQUIRES: `texts` is empty.
  explicit TextTable(Texts* texts);
  // The id of `text` (whose HashText is `hash`), added at the end when new.
  std::uint32_t Intern(std::string_view text, std::uint64_t hash);
  // Asks the cache for the slot a text of hash `hash` probes first (a hint).
  void Prefetch(std::uint64_t hash) const {
    __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]);
  }
  // Makes room for `n` texts of `bytes` in all without growing again.
  void Reserve(std::size_t n, std::size_t bytes);

 private:
  void Rehash(std::size_t slots);

  Texts* texts_;
  // 0: empty; else (hash tag << 32) | (id + 1). Growing hashes the texts again rather than
  // keeping every hash (8 bytes a text, 40 MB on 10M operations): a table sized ahead
  // (Reserve) does not grow.
  std::vector<std::uint64_t> slots_;
};

}  // namespace checker::internal
