// A small reader of EDN (https://github.com/edn-format/edn), enough for Jepsen's histories:
// nil, booleans, integers and decimals, strings, characters, keywords, symbols, lists,
// vectors, maps, sets, tagged values (#inst "...": the tag is kept) and #_ discards;
// commas are whitespace and `;` starts a comment.
//
// Each value also has a canonical text (Canonical): lists print as vectors (EDN compares
// them equal), maps and sets with their entries sorted, numbers as written without a
// leading '+', so equal values get equal texts.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace checker::edn {

struct Value {
  enum class Kind : std::uint8_t {
    kNil,
    kBool,
    kInteger,
    kDecimal,
    kString,
    kChar,
    kKeyword,  // text without the ':'
    kSymbol,
    kList,
    kVector,
    kMap,  // items: key, value, key, value, ...
    kSet,
    kTagged,  // text: the tag (without '#'); items[0]: the value
  };
  Kind kind = Kind::kNil;
  std::string text;  // scalars: as written (strings: unescaped)
  std::vector<Value> items;
  std::uint64_t line = 0;  // 1-based line where the value starts

  bool IsKeyword(std::string_view k) const { return kind == Kind::kKeyword && text == k; }
  bool IsSequence() const { return kind == Kind::kList || kind == Kind::kVector; }
  // A map's value for keyword `key`, or nullptr.
  const Value* Get(std::string_view key) const;
};

// The canonical text of a value (see above).
std::string Canonical(const Value& v);

struct ParseError {
  std::uint64_t line = 0;
  std::string message;
};

// Reads every top-level value of `text`, in order.
struct ReadResult {
  std::vector<Value> values;
  std::optional<ParseError> error;
};
ReadResult ReadAll(std::string_view text);

}  // namespace checker::edn
