// A JSON text written front to back: the writer places the commas and colons, writes every
// string (keys too) through the one escaper (checker/json_escape.h), and numbers with fmt.
// Misuse (a value where a key is due, an end without its begin) is caught by
// TOKEN_CHECKER_ASSERT.
//
//   JsonWriter w(out);
//   w.BeginObject().Field("name", "a").Key("ops").BeginArray().Int(1).EndArray().EndObject();
//
// With Mode::kForScript every '<' in a string is written \u003c as well, so the text can sit
// inside an HTML <script> element: only strings can hold a '<', and "</script>" cannot
// appear.
//
// Thread-safety: one writer per thread; it appends to a string the caller owns.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace checker {

class JsonWriter {
 public:
  enum class Mode : std::uint8_t { kPlain, kForScript };

  explicit JsonWriter(std::string& out, Mode mode = Mode::kPlain) : out_(out), mode_(mode) {}

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // Inside an object: the key of the value that follows.
  JsonWriter& Key(std::string_view key);

  JsonWriter& String(std::string_view s);
  JsonWriter& Int(std::int64_t v);
  JsonWriter& Uint(std::uint64_t v);
  JsonWriter& Bool(bool v);
  JsonWriter& Null();

  // A string, a bool or an integer, by its type.
  template <typename T>
  JsonWriter& Value(const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      return Bool(v);
    } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      return Int(v);
    } else if constexpr (std::is_integral_v<T>) {
      return Uint(v);
    } else {
      return String(std::string_view(v));
    }
  }
  // A key and its value.
  template <typename T>
  JsonWriter& Field(std::string_view key, const T& v) {
    return Key(key).Value(v);
  }

  // Every object and array written has ended.
  bool Complete() const { return open_.empty() && !after_key_; }

 private:
  struct Level {
    bool object = false;
    bool empty = true;
  };
  void BeforeValue();
  void Quoted(std::string_view s);

  std::string& out_;
  Mode mode_;
  std::vector<Level> open_;
  bool after_key_ = false;
};

}  // namespace checker
