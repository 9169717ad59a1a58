#include "checker/json_writer.h"

#include <iterator>

#include <fmt/format.h>

#include "checker/json_escape.h"
#include "checker/linearizability.h"  // TOKEN_CHECKER_ASSERT

namespace checker {

void JsonWriter::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (open_.empty()) return;
  Level& level = open_.back();
  TOKEN_CHECKER_ASSERT(!level.object, "a value inside an object needs its key first");
  if (!level.empty) out_ += ',';
  level.empty = false;
}

void JsonWriter::Quoted(std::string_view s) {
  const std::size_t at = out_.size();
  out_ += '"';
  AppendJsonEscaped(out_, s);
  out_ += '"';
  if (mode_ == Mode::kForScript && s.find('<') != std::string_view::npos) {
    std::string tail;
    tail.reserve(out_.size() - at + 16);
    for (std::size_t i = at; i < out_.size(); ++i) {
      if (out_[i] == '<') {
        tail += "\\u003c";
      } else {
        tail += out_[i];
      }
    }
    out_.replace(at, std::string::npos, tail);
  }
}

JsonWriter& JsonWriter::BeginObject() {
  BeforeValue();
  out_ += '{';
  open_.push_back(Level{.object = true, .empty = true});
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  TOKEN_CHECKER_ASSERT(!open_.empty() && open_.back().object && !after_key_,
                       "EndObject without an open object (or after a key)");
  open_.pop_back();
  out_ += '}';
  return *this;
}

JsonWriter& JsonWriter::BeginArray() {
  BeforeValue();
  out_ += '[';
  open_.push_back(Level{.object = false, .empty = true});
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  TOKEN_CHECKER_ASSERT(!open_.empty() && !open_.back().object, "EndArray without an open array");
  open_.pop_back();
  out_ += ']';
  return *this;
}

JsonWriter& JsonWriter::Key(std::string_view key) {
  TOKEN_CHECKER_ASSERT(!open_.empty() && open_.back().object && !after_key_,
                       "a key outside an object (or two keys in a row)");
  Level& level = open_.back();
  if (!level.empty) out_ += ',';
  level.empty = false;
  Quoted(key);
  out_ += ':';
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view s) {
  BeforeValue();
  Quoted(s);
  return *this;
}

JsonWriter& JsonWriter::Int(std::int64_t v) {
  BeforeValue();
  fmt::format_to(std::back_inserter(out_), "{}", v);
  return *this;
}

JsonWriter& JsonWriter::Uint(std::uint64_t v) {
  BeforeValue();
  fmt::format_to(std::back_inserter(out_), "{}", v);
  return *this;
}

JsonWriter& JsonWriter::Bool(bool v) {
  BeforeValue();
  out_ += v ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::Null() {
  BeforeValue();
  out_ += "null";
  return *this;
}

}  // namespace checker
