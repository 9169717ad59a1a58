#include "core/scheme_yaml.h"
#include "core/scheme_yaml_node.h"

#include <yaml-cpp/yaml.h>
#include <yaml.h>

#include <algorithm>
#include <array>
#include <memory>
#include <span>
#include <utility>

#include <fmt/format.h>

#include "core/file.h"

namespace token {
namespace {

// One YAML value as the scheme reads it, built from either parser: yaml-cpp's tree (a scheme
// embedded in a scenario file) or libyaml's events (a scheme file: no tree of the whole
// file is ever built; each token entry is read, checked and turned into a TokenEntry before
// the next).
struct Value {
  enum class Kind : std::uint8_t { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  int line = 1;
  std::string scalar;
  // Sequence items; a mapping's keys and values, alternately. Only the first `count` are
  // in use: the event reader reuses one Value for every entry, so reading an entry
  // allocates nothing once the first has been read.
  std::vector<Value> items;
  std::size_t count = 0;
  std::span<const Value> used() const { return {items.data(), count}; }
  Value& Add() {
    if (count == items.size()) items.emplace_back();
    return items[count++];
  }
};

Status Error(std::string_view source, int line, std::string_view msg) {
  return Status::InvalidArgument(fmt::format("{}: line {}: {}", source, line, msg));
}

std::string Describe(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kNull:
      return "nothing";
    case Value::Kind::kScalar:
      return fmt::format("'{}'", v.scalar);
    case Value::Kind::kSequence:
      return "a list";
    case Value::Kind::kMap:
      return "a mapping";
  }
  return "something else";
}

Status NotAList(std::string_view source, const Value& root) {
  return Error(source, root.line,
               fmt::format("the scheme must be a list of token entries (- token: ...), got {}",
                           Describe(root)));
}

// One token entry (an item of the top-level list), checked field by field.
Result<TokenEntry> EntryOf(const Value& item, std::string_view source) {
  if (item.kind != Value::Kind::kMap) {
    return Error(source, item.line,
                 fmt::format("a token entry must be a mapping with token, writer and readers, "
                             "got {}",
                             Describe(item)));
  }
  TokenEntry e;
  e.line = item.line;
  bool has_token = false;
  bool has_writer = false;
  bool has_readers = false;
  // YAML parsers keep every pair of a mapping, duplicates included: the first spelling of
  // a key must not be silently replaced by a later one.
  // At most four keys are ever kept: the fourth is a duplicate or an unknown key, an error.
  std::array<std::pair<std::string_view, int>, 4> seen_keys;
  std::size_t seen_count = 0;
  const auto pairs = item.used();
  for (std::size_t i = 0; i + 1 < pairs.size(); i += 2) {
    const Value& k = pairs[i];
    const Value& v = pairs[i + 1];
    const std::string_view key =
        k.kind == Value::Kind::kScalar ? std::string_view(k.scalar) : std::string_view("?");
    const auto seen = std::span(seen_keys.data(), seen_count);
    const auto first =
        std::find_if(seen.begin(), seen.end(), [key](const auto& s) { return s.first == key; });
    if (first != seen.end()) {
      return Error(source, k.line,
                   fmt::format("duplicate key '{}' in a token entry (first at line {}, again at "
                               "line {}): each key may appear once",
                               key, first->second, k.line));
    }
    seen_keys[seen_count++] = {key, k.line};
    if (key == "token") {
      if (v.kind != Value::Kind::kScalar) {
        return Error(source, v.line,
                     fmt::format("token must be a number or a string, got {}", Describe(v)));
      }
      e.token = v.scalar;
      has_token = true;
    } else if (key == "writer") {
      if (v.kind != Value::Kind::kScalar) {
        return Error(source, v.line,
                     fmt::format("writer must be an address <ip>:<port>, got {}", Describe(v)));
      }
      e.writer = v.scalar;
      e.writer_line = v.line;
      has_writer = true;
    } else if (key == "readers") {
      if (v.kind == Value::Kind::kNull) {
        e.readers.clear();
      } else if (v.kind != Value::Kind::kSequence) {
        return Error(source, v.line,
                     fmt::format("readers must be a list of addresses, got {}", Describe(v)));
      } else {
        e.readers.reserve(v.count);
        e.reader_lines.reserve(v.count);
        for (const Value& r : v.used()) {
          if (r.kind != Value::Kind::kScalar) {
            return Error(
                source, r.line,
                fmt::format("a reader must be an address <ip>:<port>, got {}", Describe(r)));
          }
          e.readers.push_back(r.scalar);
          e.reader_lines.push_back(r.line);
        }
      }
      has_readers = true;
    } else {
      return Error(source, k.line,
                   fmt::format("unknown key '{}' (expected token, writer, readers)", key));
    }
  }
  const char* missing = !has_token     ? "token"
                        : !has_writer  ? "writer"
                        : !has_readers ? "readers"
                                       : nullptr;
  if (missing) {
    return Error(source, item.line,
                 fmt::format("token entry{} is missing the field '{}'",
                             has_token ? fmt::format(" '{}'", e.token) : std::string(), missing));
  }
  return e;
}

Result<ReplicationScheme> Create(std::vector<TokenEntry> entries, std::string_view source) {
  auto scheme = ReplicationScheme::Create(std::move(entries));
  if (!scheme.ok()) {
    return Status::InvalidArgument(fmt::format("{}: {}", source, scheme.status().message()));
  }
  return scheme;
}

// ---- yaml-cpp's tree ------------------------------------------------------------------

Value FromNode(const YAML::Node& node) {
  Value v;
  v.line = node.IsDefined() && !node.IsNull() ? node.Mark().line + 1 : 1;
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      v.kind = Value::Kind::kScalar;
      v.scalar = node.Scalar();
      break;
    case YAML::NodeType::Sequence:
      v.kind = Value::Kind::kSequence;
      for (const auto& item : node) v.Add() = FromNode(item);
      break;
    case YAML::NodeType::Map:
      v.kind = Value::Kind::kMap;
      for (const auto& kv : node) {
        v.Add() = FromNode(kv.first);
        v.Add() = FromNode(kv.second);
      }
      break;
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      v.line = node.IsNull() ? node.Mark().line + 1 : 1;
      if (v.line < 1) v.line = 1;
      break;
  }
  return v;
}

// ---- libyaml's events -----------------------------------------------------------------

class EventReader {
 public:
  EventReader(std::string_view text, std::string_view source) : source_(source) {
    yaml_parser_initialize(&parser_);
    yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
  }
  ~EventReader() {
    if (has_event_) yaml_event_delete(&event_);
    yaml_parser_delete(&parser_);
  }
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  // Moves to the next event; an error names the line where the YAML breaks.
  Status Next() {
    if (has_event_) yaml_event_delete(&event_);
    has_event_ = yaml_parser_parse(&parser_, &event_) == 1;
    if (!has_event_) {
      const int line = static_cast<int>(parser_.problem_mark.line) + 1;
      return Error(source_, line,
                   fmt::format("not valid YAML: {}{}", parser_.problem ? parser_.problem : "error",
                               parser_.context ? fmt::format(" ({})", parser_.context) : ""));
    }
    return Status::Ok();
  }
  yaml_event_type_t type() const { return event_.type; }
  int line() const { return static_cast<int>(event_.start_mark.line) + 1; }

  // Reads the value that starts at the current event (through its end event).
  Status ReadValue(Value* out, int depth = 0) {
    if (depth > 64) return Error(source_, line(), "nested too deeply");
    out->line = line();
    switch (event_.type) {
      case YAML_SCALAR_EVENT: {
        const auto& s = event_.data.scalar;
        out->scalar.assign(reinterpret_cast<const char*>(s.value), s.length);
        // A plain empty, "~" or "null" scalar is null, as in yaml-cpp.
        const bool null = s.plain_implicit && s.style == YAML_PLAIN_SCALAR_STYLE &&
                          (out->scalar.empty() || out->scalar == "~" || out->scalar == "null" ||
                           out->scalar == "Null" || out->scalar == "NULL");
        out->kind = null ? Value::Kind::kNull : Value::Kind::kScalar;
        if (null) out->scalar.clear();
        return Status::Ok();
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        const bool map = event_.type == YAML_MAPPING_START_EVENT;
        out->kind = map ? Value::Kind::kMap : Value::Kind::kSequence;
        const yaml_event_type_t end = map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
        out->count = 0;
        for (;;) {
          if (Status s = Next(); !s.ok()) return s;
          if (event_.type == end) return Status::Ok();
          if (Status s = ReadValue(&out->Add(), depth + 1); !s.ok()) return s;
        }
      }
      case YAML_ALIAS_EVENT:
        return Error(source_, line(), "anchors and aliases (*name) are not supported in a scheme");
      default:
        return Error(source_, line(), "unexpected YAML structure");
    }
  }

 private:
  std::string_view source_;
  yaml_parser_t parser_{};
  yaml_event_t event_{};
  bool has_event_ = false;
};

}  // namespace

Result<ReplicationScheme> ParseSchemeYaml(std::string_view yaml_text, std::string_view source) {
  EventReader reader(yaml_text, source);
  if (Status s = reader.Next(); !s.ok()) return s;  // stream start
  if (Status s = reader.Next(); !s.ok()) return s;
  if (reader.type() == YAML_STREAM_END_EVENT) return NotAList(source, Value{});  // empty
  if (Status s = reader.Next(); !s.ok()) return s;  // after the document start: the root
  if (reader.type() != YAML_SEQUENCE_START_EVENT) {
    Value root;
    if (Status s = reader.ReadValue(&root); !s.ok()) return s;
    return NotAList(source, root);
  }
  const int root_line = reader.line();
  std::vector<TokenEntry> entries;
  Value item;  // reused: see Value::count
  // An entry takes at least ~40 bytes of text: room for all of them at once (untouched
  // capacity costs no memory), instead of moving them at every doubling.
  entries.reserve(std::min<std::size_t>(yaml_text.size() / 40 + 1, 1 << 22));
  for (;;) {
    if (Status s = reader.Next(); !s.ok()) return s;
    if (reader.type() == YAML_SEQUENCE_END_EVENT) break;
    if (Status s = reader.ReadValue(&item); !s.ok()) return s;
    auto entry = EntryOf(item, source);
    if (!entry.ok()) return entry.status();
    entries.push_back(std::move(entry).value());
  }
  // The rest of the document must parse too (a broken tail is an error, not ignored).
  for (int i = 0; i < 4 && reader.type() != YAML_STREAM_END_EVENT; ++i) {
    if (Status s = reader.Next(); !s.ok()) return s;
    if (reader.type() == YAML_DOCUMENT_START_EVENT) {
      return Error(source, reader.line(), "a scheme file holds one YAML document");
    }
  }
  if (entries.empty()) return Error(source, root_line, "the scheme lists no token");
  return Create(std::move(entries), source);
}

Result<ReplicationScheme> SchemeFromYamlNode(const YAML::Node& root, std::string_view source) {
  if (!root.IsSequence()) return NotAList(source, FromNode(root));
  if (root.size() == 0) return Error(source, root.Mark().line + 1, "the scheme lists no token");
  std::vector<TokenEntry> entries;
  for (const auto& item : root) {
    auto entry = EntryOf(FromNode(item), source);
    if (!entry.ok()) return entry.status();
    entries.push_back(std::move(entry).value());
  }
  return Create(std::move(entries), source);
}

Result<ReplicationScheme> LoadSchemeFile(const std::string& path) {
  auto text = ReadFile(path, "scheme file");
  if (!text.ok()) return text.status();
  return ParseSchemeYaml(*text, path);
}

}  // namespace token
