#include "checker/history.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <unordered_map>

#include <fmt/format.h>
#include <simdjson.h>

namespace checker {
namespace {

using simdjson::ondemand::json_type;

struct Pending {
  std::size_t token = 0;
  std::size_t op = 0;
};

std::string_view Trim(std::string_view raw) {
  while (!raw.empty() &&
         (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\r' || raw.back() == '\n')) {
    raw.remove_suffix(1);
  }
  return raw;
}

// Canonical text of a JSON value: objects with their fields sorted by key, everything
// without spacing. Two spellings of one value intern to one id.
bool Canonical(simdjson::ondemand::value v, std::string* out, std::string* error, int depth) {
  if (depth > 16) {
    *error = "value nests too deeply";
    return false;
  }
  json_type type;
  if (v.type().get(type) != simdjson::SUCCESS) {
    *error = "malformed value";
    return false;
  }
  if (type == json_type::object) {
    simdjson::ondemand::object obj;
    if (v.get_object().get(obj) != simdjson::SUCCESS) {
      *error = "malformed object in value";
      return false;
    }
    std::vector<std::pair<std::string, std::string>> fields;
    for (auto field : obj) {
      std::string_view key;
      simdjson::ondemand::value fv;
      if (field.unescaped_key().get(key) != simdjson::SUCCESS ||
          field.value().get(fv) != simdjson::SUCCESS) {
        *error = "malformed field in value";
        return false;
      }
      std::string sub;
      std::string k(key);
      if (!Canonical(fv, &sub, error, depth + 1)) return false;
      fields.emplace_back(std::move(k), std::move(sub));
    }
    std::sort(fields.begin(), fields.end());
    *out += '{';
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i) *out += ',';
      *out += '"';
      *out += fields[i].first;
      *out += "\":";
      *out += fields[i].second;
    }
    *out += '}';
    return true;
  }
  if (type == json_type::array) {
    simdjson::ondemand::array arr;
    if (v.get_array().get(arr) != simdjson::SUCCESS) {
      *error = "malformed array in value";
      return false;
    }
    *out += '[';
    bool first = true;
    for (auto element : arr) {
      simdjson::ondemand::value ev;
      if (element.get(ev) != simdjson::SUCCESS) {
        *error = "malformed array in value";
        return false;
      }
      if (!first) *out += ',';
      first = false;
      if (!Canonical(ev, out, error, depth + 1)) return false;
    }
    *out += ']';
    return true;
  }
  *out += Trim(v.raw_json_token());
  return true;
}

class Parser {
 public:
  ParseResult Run(const char* text, std::size_t length, std::size_t padding) {
    const char* p = text;
    const char* end = text + length;
    std::uint64_t line = 0;
    while (p < end) {
      ++line;
      const char* nl =
          static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      const char* line_end = nl ? nl : end;
      std::size_t len = static_cast<std::size_t>(line_end - p);
      if (len > 0 && p[len - 1] == '\r') --len;
      bool blank = true;
      for (std::size_t i = 0; i < len && blank; ++i) blank = (p[i] == ' ' || p[i] == '\t');
      if (!blank) {
        const std::size_t capacity = static_cast<std::size_t>(end - p) + padding;
        if (auto err = Line(line, p, len, capacity)) return ParseResult{std::nullopt, err};
      }
      p = nl ? nl + 1 : end;
    }
    history_.lines = line;
    // Operations still outstanding at the end never completed: unknown outcome.
    return ParseResult{std::move(history_), std::nullopt};
  }

 private:
  std::optional<ParseError> Fail(std::uint64_t line, std::string msg) {
    return ParseError{line, std::move(msg)};
  }

  std::optional<ParseError> Line(std::uint64_t line, const char* p, std::size_t len,
                                 std::size_t capacity) {
    simdjson::ondemand::document doc;
    if (parser_.iterate(p, len, capacity).get(doc) != simdjson::SUCCESS) {
      return Fail(line, "not a JSON object");
    }
    simdjson::ondemand::object obj;
    if (doc.get_object().get(obj) != simdjson::SUCCESS) return Fail(line, "not a JSON object");

    bool has_process = false, has_type = false, has_f = false, has_token = false, has_time = false,
         has_value = false;
    std::int64_t process = 0, time = 0;
    std::string_view type, f, token;
    std::string value_error;
    std::optional<std::string> value_text;  // canonical object; nullopt = null
    bool has_version = false;
    std::uint64_t version = 0;

    for (auto field : obj) {
      std::string_view key;
      if (field.unescaped_key().get(key) != simdjson::SUCCESS) return Fail(line, "malformed key");
      auto v = field.value();
      if (key == "process") {
        if (v.get_int64().get(process) != simdjson::SUCCESS || process < 0 ||
            process > std::numeric_limits<std::uint32_t>::max()) {
          return Fail(line, "'process' must be a non-negative integer");
        }
        has_process = true;
      } else if (key == "type") {
        if (v.get_string().get(type) != simdjson::SUCCESS) {
          return Fail(line, "'type' must be a string");
        }
        type_buf_.assign(type);
        type = type_buf_;
        has_type = true;
      } else if (key == "f") {
        if (v.get_string().get(f) != simdjson::SUCCESS) return Fail(line, "'f' must be a string");
        f_buf_.assign(f);
        f = f_buf_;
        has_f = true;
      } else if (key == "token") {
        // Numbers are accepted and kept as their text, like the scheme's token ids.
        json_type jt;
        if (v.type().get(jt) != simdjson::SUCCESS) return Fail(line, "malformed 'token'");
        if (jt == json_type::string) {
          if (v.get_string().get(token) != simdjson::SUCCESS) {
            return Fail(line, "malformed 'token'");
          }
        } else if (jt == json_type::number) {
          if (v.raw_json_token().get(token) != simdjson::SUCCESS) {
            return Fail(line, "malformed 'token'");
          }
          while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
        } else {
          return Fail(line, "'token' must be a string");
        }
        token_buf_.assign(token);
        token = token_buf_;
        has_token = true;
      } else if (key == "time") {
        if (v.get_int64().get(time) != simdjson::SUCCESS) {
          return Fail(line, "'time' must be an integer (nanoseconds)");
        }
        has_time = true;
      } else if (key == "value") {
        simdjson::ondemand::value vv;
        json_type jt;
        if (v.get(vv) != simdjson::SUCCESS || vv.type().get(jt) != simdjson::SUCCESS) {
          return Fail(line, "malformed 'value'");
        }
        if (jt != json_type::null) {
          if (jt != json_type::object) return Fail(line, "'value' must be an object or null");
          std::string text;
          if (!Canonical(vv, &text, &value_error, 0)) return Fail(line, "'value': " + value_error);
          value_text = std::move(text);
        }
        has_value = true;
      } else if (key == "version") {
        if (v.get_uint64().get(version) != simdjson::SUCCESS) {
          return Fail(line, "'version' must be a non-negative integer");
        }
        has_version = true;
      }
      // Other fields are allowed and ignored.
    }
    if (!has_process) return Fail(line, "missing field 'process'");
    if (!has_type) return Fail(line, "missing field 'type'");
    if (!has_f) return Fail(line, "missing field 'f'");
    if (!has_token) return Fail(line, "missing field 'token'");
    if (!has_time) return Fail(line, "missing field 'time'");

    OpType op_type;
    if (f == "write" || f == "create" || f == "drop") {
      op_type = OpType::kWrite;
    } else if (f == "read") {
      op_type = OpType::kRead;
    } else {
      return Fail(line, fmt::format("unknown f '{}' (expected read or write)", f));
    }
    if (time < last_time_) {
      return Fail(line, fmt::format("time {} goes backwards (previous line had {}): lines must "
                                    "be in real-time order",
                                    time, last_time_));
    }
    last_time_ = time;
    ++history_.events;
    const auto proc = static_cast<std::uint32_t>(process);

    if (type == "invoke") {
      auto it = outstanding_.find(proc);
      if (it != outstanding_.end()) {
        return Fail(line, fmt::format("process {} invokes while its operation from line {} is "
                                      "still outstanding",
                                      proc, Op(it->second).invoke_line));
      }
      Operation op;
      op.type = op_type;
      op.process = proc;
      op.invoke_time = time;
      op.invoke_line = line;
      if (op_type == OpType::kWrite) {
        if (!has_value) return Fail(line, "a write invocation needs its 'value'");
        op.value = Intern(value_text);
      }
      const std::size_t t = TokenIndex(token);
      history_.tokens[t].ops.push_back(op);
      outstanding_.emplace(proc, Pending{t, history_.tokens[t].ops.size() - 1});
      return std::nullopt;
    }
    Outcome outcome;
    if (type == "ok") {
      outcome = Outcome::kOk;
    } else if (type == "fail") {
      outcome = Outcome::kFail;
    } else if (type == "info") {
      outcome = Outcome::kInfo;
    } else {
      return Fail(line, fmt::format("unknown type '{}' (expected invoke, ok, fail or info)", type));
    }
    auto it = outstanding_.find(proc);
    if (it == outstanding_.end()) {
      return Fail(line, fmt::format("process {} completes an operation it never invoked", proc));
    }
    Operation& op = Op(it->second);
    if (history_.tokens[it->second.token].token != token || op.type != op_type) {
      return Fail(line, fmt::format("completion does not match process {}'s invocation at line {} "
                                    "(token or f differs)",
                                    proc, op.invoke_line));
    }
    outstanding_.erase(it);
    op.outcome = outcome;
    if (outcome != Outcome::kInfo) {
      op.complete_time = time;
      op.complete_line = line;
    } else {
      op.complete_line = line;  // kept for naming; complete_time stays kNever
    }
    if (outcome == Outcome::kOk) {
      if (op_type == OpType::kRead) {
        if (!has_value) return Fail(line, "a read completion (ok) needs its 'value' (or null)");
        op.value = Intern(value_text);
      } else if (has_value && Intern(value_text) != op.value) {
        return Fail(line, fmt::format("write completion's value differs from its invocation at "
                                      "line {}",
                                      op.invoke_line));
      }
      op.has_version = has_version;
      op.version = version;
    }
    return std::nullopt;
  }

  Operation& Op(const Pending& p) { return history_.tokens[p.token].ops[p.op]; }

  ValueId Intern(const std::optional<std::string>& text) {
    if (!text) return kInitialValue;
    auto [it, inserted] = value_ids_.emplace(*text, static_cast<ValueId>(history_.values.size()));
    if (inserted) history_.values.push_back(*text);
    return it->second;
  }

  std::size_t TokenIndex(std::string_view token) {
    auto it = token_ids_.find(std::string(token));
    if (it != token_ids_.end()) return it->second;
    token_ids_.emplace(std::string(token), history_.tokens.size());
    history_.tokens.push_back(TokenHistory{std::string(token), {}});
    return history_.tokens.size() - 1;
  }

  simdjson::ondemand::parser parser_;
  History history_;
  std::unordered_map<std::uint32_t, Pending> outstanding_;
  std::unordered_map<std::string, ValueId> value_ids_;
  std::unordered_map<std::string, std::size_t> token_ids_;
  std::string type_buf_, f_buf_, token_buf_;
  std::int64_t last_time_ = std::numeric_limits<std::int64_t>::min();
};

}  // namespace

std::string History::DescribeValue(ValueId v) const {
  if (v == kInitialValue) return "the initial value (null)";
  if (v < 0 || static_cast<std::size_t>(v) >= values.size()) return "no value";
  return values[static_cast<std::size_t>(v)];
}

ParseResult ParseHistory(const char* text, std::size_t length, std::size_t padding) {
  return Parser().Run(text, length, padding);
}

ParseResult ParseHistoryString(std::string_view text) {
  simdjson::padded_string padded(text);
  return ParseHistory(padded.data(), padded.size(), simdjson::SIMDJSON_PADDING);
}

ParseResult ReadHistoryFile(const std::string& path) {
  simdjson::padded_string content;
  if (simdjson::padded_string::load(path).get(content) != simdjson::SUCCESS) {
    return ParseResult{std::nullopt, ParseError{0, fmt::format("cannot read '{}'", path)}};
  }
  return ParseHistory(content.data(), content.size(), simdjson::SIMDJSON_PADDING);
}

}  // namespace checker

namespace checker::internal {
void AssertFail(const char* condition, const char* file, int line, const char* why) {
  std::fprintf(stderr, "checker assertion failed: %s (%s:%d): %s\n", condition, file, line, why);
  std::abort();
}
}  // namespace checker::internal
