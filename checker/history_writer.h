// The one writer of history lines (docs/FORMATS.md, "Histories"): the simulator, tokenload,
// histgen and the tests all format a line through AppendHistoryLine, so the format and its
// escaping live in one place.
//
// A line is built from plain fields (no core/ types, so the checker's layer stays
// independent of the implementation it checks). Fields are written in one fixed order:
// process, type, f, token, value, version, time, node, op, final, error, closing_read;
// optional ones only
// when set.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace checker {

enum class LineType : std::uint8_t { kInvoke, kOk, kFail, kInfo };
std::string_view LineTypeName(LineType type);

// A register value as histories carry it.
struct LineValue {
  enum class Kind : std::uint8_t { kInitial, kEmpty, kDropped, kData };
  Kind kind = Kind::kInitial;  // kInitial is written as null
  std::string_view name;       // kData: the domain
  std::uint64_t low = 0, mid = 0, high = 0;
};

struct HistoryLine {
  std::uint64_t process = 0;
  LineType type = LineType::kInvoke;
  bool read = true;  // f: "read", else "write"
  std::string_view token;
  std::optional<LineValue> value;  // absent: no "value" field
  std::optional<std::uint64_t> version;
  std::optional<std::int64_t> time_ns;
  std::string_view node;  // empty: absent
  std::string_view op;    // "write", "create", "drop"; empty: absent
  std::optional<std::pair<std::uint64_t, std::uint64_t>> final_point;  // (x, hash)
  std::string_view error;                                              // empty: absent
  // tokenload's reads of every replica after the load ("closing_read":true).
  bool closing_read = false;
};

// Appends one line, with its newline.
void AppendHistoryLine(std::string& out, const HistoryLine& line);

}  // namespace checker
