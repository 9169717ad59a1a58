#include "checker/history.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <unordered_map>

#include <fmt/format.h>
#include <simdjson.h>

#include "base/status.h"

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

// Canonical text of a JSON value, appended to `out`: objects with their fields sorted by
// key, everything without spacing. Two spellings of one value intern to one id. Keys are
// views into the parser's string buffer and scalars views into the input, both valid
// until the next line is parsed, so a flat object costs no allocation.
token::Status Canonical(simdjson::ondemand::value v, std::string* out, int depth) {
  if (depth > 16) {
    return token::Status::InvalidArgument("value nests too deeply");
  }
  json_type type;
  if (v.type().get(type) != simdjson::SUCCESS) {
    return token::Status::InvalidArgument("malformed value");
  }
  if (type == json_type::object) {
    simdjson::ondemand::object obj;
    if (v.get_object().get(obj) != simdjson::SUCCESS) {
      return token::Status::InvalidArgument("malformed object in value");
    }
    struct Field {
      std::string_view key;
      std::string_view scalar;  // flat values
      std::string nested;       // objects and arrays
    };
    thread_local std::vector<std::vector<Field>> scratch;
    if (scratch.size() <= static_cast<std::size_t>(depth)) scratch.resize(depth + 1);
    std::vector<Field>& fields = scratch[static_cast<std::size_t>(depth)];
    fields.clear();
    for (auto field : obj) {
      std::string_view key;
      simdjson::ondemand::value fv;
      if (field.unescaped_key().get(key) != simdjson::SUCCESS ||
          field.value().get(fv) != simdjson::SUCCESS) {
        return token::Status::InvalidArgument("malformed field in value");
      }
      json_type ft;
      if (fv.type().get(ft) != simdjson::SUCCESS) {
        return token::Status::InvalidArgument("malformed field in value");
      }
      Field f;
      f.key = key;
      if (ft == json_type::object || ft == json_type::array) {
        if (token::Status s = Canonical(fv, &f.nested, depth + 1); !s.ok()) return s;
      } else {
        f.scalar = Trim(fv.raw_json_token());
      }
      fields.push_back(std::move(f));
    }
    std::sort(fields.begin(), fields.end(),
              [](const Field& a, const Field& b) { return a.key < b.key; });
    *out += '{';
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i) *out += ',';
      *out += '"';
      *out += fields[i].key;
      *out += "\":";
      if (fields[i].nested.empty()) {
        *out += fields[i].scalar;
      } else {
        *out += fields[i].nested;
      }
    }
    *out += '}';
    return token::Status::Ok();
  }
  if (type == json_type::array) {
    simdjson::ondemand::array arr;
    if (v.get_array().get(arr) != simdjson::SUCCESS) {
      return token::Status::InvalidArgument("malformed array in value");
    }
    *out += '[';
    bool first = true;
    for (auto element : arr) {
      simdjson::ondemand::value ev;
      if (element.get(ev) != simdjson::SUCCESS) {
        return token::Status::InvalidArgument("malformed array in value");
      }
      if (!first) *out += ',';
      first = false;
      if (token::Status s = Canonical(ev, out, depth + 1); !s.ok()) return s;
    }
    *out += ']';
    return token::Status::Ok();
  }
  *out += Trim(v.raw_json_token());
  return token::Status::Ok();
}

// A fast 64-bit hash of a short string (8 bytes at a time, then a final mix).
std::uint64_t HashText(std::string_view s) {
  std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ s.size();
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
    h ^= h >> 32;
  }
  std::uint64_t tail = 0;
  std::memcpy(&tail, s.data() + i, s.size() - i);
  h = (h ^ tail) * 0xC4CEB9FE1A85EC53ULL;
  return h ^ (h >> 29);
}

// Interns canonical value texts: open addressing over ids into `values`, one allocation per
// distinct value. Each slot keeps 32 bits of the hash beside the id, so probing rarely
// touches the strings.
class ValueTable {
 public:
  explicit ValueTable(std::vector<std::string>* values) : values_(values) {
    slots_.assign(1024, 0);
  }

  ValueId Intern(std::string_view text) {
    if ((values_->size() + 1) * 2 > slots_.size()) Grow();
    const std::uint64_t h = HashText(text);
    const auto tag = static_cast<std::uint32_t>(h >> 32);
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = h & mask;
    while (slots_[i] != 0) {
      const auto id = static_cast<std::uint32_t>(slots_[i]) - 1;
      if (static_cast<std::uint32_t>(slots_[i] >> 32) == tag && (*values_)[id] == text) {
        return static_cast<ValueId>(id);
      }
      i = (i + 1) & mask;
    }
    const auto id = static_cast<std::uint32_t>(values_->size());
    values_->emplace_back(text);
    slots_[i] = (std::uint64_t{tag} << 32) | (id + 1);
    return static_cast<ValueId>(id);
  }

 private:
  void Grow() {
    std::vector<std::uint64_t> old = std::move(slots_);
    slots_.assign(old.size() * 2, 0);
    const std::size_t mask = slots_.size() - 1;
    for (std::uint64_t slot : old) {
      if (slot == 0) continue;
      std::size_t i = HashText((*values_)[static_cast<std::uint32_t>(slot) - 1]) & mask;
      while (slots_[i] != 0) i = (i + 1) & mask;
      slots_[i] = slot;
    }
  }

  std::vector<std::string>* values_;
  std::vector<std::uint64_t> slots_;  // 0: empty; else (hash tag << 32) | (id + 1)
};

// The text of a raw key up to its closing quote (keys of this format have no escapes; a key
// with one simply matches nothing and is ignored as an extra field).
std::string_view RawKey(simdjson::ondemand::raw_json_string key) {
  const char* p = key.raw();
  const char* q = p;
  while (*q != '"' && *q != '\\') ++q;
  return std::string_view(p, static_cast<std::size_t>(q - p));
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
        if (capacity - len >= simdjson::SIMDJSON_PADDING) {
          if (auto err = Line(line, p, len, capacity)) return ParseResult{std::nullopt, err};
        } else {
          // Too close to the end of the buffer for simdjson's read-ahead: parse a copy.
          tail_.assign(p, len);
          tail_.append(simdjson::SIMDJSON_PADDING, ' ');
          if (auto err = Line(line, tail_.data(), len, tail_.size())) {
            return ParseResult{std::nullopt, err};
          }
        }
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
    return Doc(line, doc);
  }

  // The fields of one line the format knows (others are ignored). The helpers that read them
  // (ReadFields, ReadToken, ReadValue) are forced inline: out of line they made the parse of
  // a 1,000,000-operation history about 13% slower.
  struct Fields {
    bool has_process = false, has_type = false, has_f = false, has_token = false, has_time = false,
         has_value = false, has_version = false;
    std::int64_t process = 0, time = 0;
    std::string_view type, f, token;
    ValueId value = kInitialValue;  // null unless an object was given
    std::uint64_t version = 0;
  };

  template <typename Document>
  std::optional<ParseError> Doc(std::uint64_t line, Document& doc) {
    simdjson::ondemand::object obj;
    if (doc.get_object().get(obj) != simdjson::SUCCESS) return Fail(line, "not a JSON object");
    Fields fields;
    if (auto err = ReadFields(line, obj, &fields)) return err;
    if (!fields.has_process) return Fail(line, "missing field 'process'");
    if (!fields.has_type) return Fail(line, "missing field 'type'");
    if (!fields.has_f) return Fail(line, "missing field 'f'");
    if (!fields.has_token) return Fail(line, "missing field 'token'");
    if (!fields.has_time) return Fail(line, "missing field 'time'");

    OpType op_type;
    if (fields.f == "write" || fields.f == "create" || fields.f == "drop") {
      op_type = OpType::kWrite;
    } else if (fields.f == "read") {
      op_type = OpType::kRead;
    } else {
      return Fail(line, fmt::format("unknown f '{}' (expected read or write)", fields.f));
    }
    if (fields.time < last_time_) {
      return Fail(line, fmt::format("time {} goes backwards (previous line had {}): lines must "
                                    "be in real-time order",
                                    fields.time, last_time_));
    }
    last_time_ = fields.time;
    ++history_.events;
    if (fields.type == "invoke") return Invoke(line, fields, op_type);
    return Complete(line, fields, op_type);
  }

  [[gnu::always_inline]] std::optional<ParseError> ReadFields(std::uint64_t line,
                                                              simdjson::ondemand::object& obj,
                                                              Fields* out) {
    Fields& fields = *out;
    for (auto field : obj) {
      // Keys compared raw (without unescaping): the format's keys need no escapes.
      simdjson::ondemand::raw_json_string raw_key;
      if (field.key().get(raw_key) != simdjson::SUCCESS) return Fail(line, "malformed key");
      const std::string_view key = RawKey(raw_key);
      auto v = field.value();
      if (key == "process") {
        if (v.get_int64().get(fields.process) != simdjson::SUCCESS || fields.process < 0 ||
            fields.process > std::numeric_limits<std::uint32_t>::max()) {
          return Fail(line, "'process' must be a non-negative integer");
        }
        fields.has_process = true;
      } else if (key == "type") {
        if (v.get_string().get(fields.type) != simdjson::SUCCESS) {
          return Fail(line, "'type' must be a string");
        }
        fields.has_type = true;
      } else if (key == "f") {
        if (v.get_string().get(fields.f) != simdjson::SUCCESS) {
          return Fail(line, "'f' must be a string");
        }
        fields.has_f = true;
      } else if (key == "token") {
        if (auto err = ReadToken(line, v, &fields.token)) return err;
        fields.has_token = true;
      } else if (key == "time") {
        if (v.get_int64().get(fields.time) != simdjson::SUCCESS) {
          return Fail(line, "'time' must be an integer (nanoseconds)");
        }
        fields.has_time = true;
      } else if (key == "value") {
        if (auto err = ReadValue(line, v, &fields.value)) return err;
        fields.has_value = true;
      } else if (key == "version") {
        if (v.get_uint64().get(fields.version) != simdjson::SUCCESS) {
          return Fail(line, "'version' must be a non-negative integer");
        }
        fields.has_version = true;
      }
      // Other fields are allowed and ignored.
    }
    return std::nullopt;
  }

  // A token id: a string, or a number kept as its text (like the scheme's token ids). The
  // view points into this parser's buffer until the next line.
  template <typename Value>
  [[gnu::always_inline]] std::optional<ParseError> ReadToken(std::uint64_t line, Value& v,
                                                             std::string_view* out) {
    std::string_view token;
    json_type jt;
    if (v.type().get(jt) != simdjson::SUCCESS) return Fail(line, "malformed 'token'");
    if (jt == json_type::string) {
      if (v.get_string().get(token) != simdjson::SUCCESS) return Fail(line, "malformed 'token'");
    } else if (jt == json_type::number) {
      if (v.raw_json_token().get(token) != simdjson::SUCCESS) {
        return Fail(line, "malformed 'token'");
      }
      while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    } else {
      return Fail(line, "'token' must be a string");
    }
    token_buf_.assign(token);
    *out = token_buf_;
    return std::nullopt;
  }

  // A value: null (the initial value) or an object, interned by its canonical text.
  template <typename Value>
  [[gnu::always_inline]] std::optional<ParseError> ReadValue(std::uint64_t line, Value& v,
                                                             ValueId* out) {
    simdjson::ondemand::value vv;
    json_type jt;
    if (v.get(vv) != simdjson::SUCCESS || vv.type().get(jt) != simdjson::SUCCESS) {
      return Fail(line, "malformed 'value'");
    }
    if (jt == json_type::null) return std::nullopt;  // *out stays the initial value
    if (jt != json_type::object) return Fail(line, "'value' must be an object or null");
    canonical_.clear();
    if (token::Status s = Canonical(vv, &canonical_, 0); !s.ok()) {
      return Fail(line, "'value': " + s.message());
    }
    *out = values_.Intern(canonical_);
    return std::nullopt;
  }

  std::optional<ParseError> Invoke(std::uint64_t line, const Fields& fields, OpType op_type) {
    const auto proc = static_cast<std::uint32_t>(fields.process);
    auto it = outstanding_.find(proc);
    if (it != outstanding_.end()) {
      return Fail(line, fmt::format("process {} invokes while its operation from line {} is "
                                    "still outstanding",
                                    proc, Op(it->second).invoke_line));
    }
    Operation op;
    op.type = op_type;
    op.process = proc;
    op.invoke_time = fields.time;
    op.invoke_line = line;
    if (op_type == OpType::kWrite) {
      if (!fields.has_value) return Fail(line, "a write invocation needs its 'value'");
      op.value = fields.value;
    }
    const std::size_t t = TokenIndex(fields.token);
    history_.tokens[t].ops.push_back(op);
    outstanding_.emplace(proc, Pending{t, history_.tokens[t].ops.size() - 1});
    return std::nullopt;
  }

  std::optional<ParseError> Complete(std::uint64_t line, const Fields& fields, OpType op_type) {
    const auto proc = static_cast<std::uint32_t>(fields.process);
    const std::string_view type = fields.type;
    const std::string_view token = fields.token;
    const std::int64_t time = fields.time;
    const bool has_value = fields.has_value;
    const ValueId value_id = fields.value;
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
    if (outcome != Outcome::kInfo) {
      history_.tokens[it->second.token].completed.push_back(
          static_cast<std::uint32_t>(it->second.op));
    }
    outstanding_.erase(it);
    op.outcome = outcome;
    if (outcome != Outcome::kInfo) {
      op.complete_time = time;
      op.complete_line = line;
    } else {
      op.complete_line = line;  // kept for naming; complete_time stays kNever
      op.info_time = time;
    }
    if (outcome == Outcome::kOk) {
      if (op_type == OpType::kRead) {
        if (!has_value) return Fail(line, "a read completion (ok) needs its 'value' (or null)");
        op.value = value_id;
      } else if (has_value && value_id != op.value) {
        return Fail(line, fmt::format("write completion's value differs from its invocation at "
                                      "line {}",
                                      op.invoke_line));
      }
      op.has_version = fields.has_version;
      op.version = fields.version;
    }
    return std::nullopt;
  }

  Operation& Op(const Pending& p) { return history_.tokens[p.token].ops[p.op]; }

  std::size_t TokenIndex(std::string_view token) {
    if (last_token_ < history_.tokens.size() && history_.tokens[last_token_].token == token) {
      return last_token_;
    }
    auto it = token_ids_.find(token);
    if (it != token_ids_.end()) return last_token_ = it->second;
    history_.tokens.push_back(TokenHistory{std::string(token), {}, {}});
    token_ids_.emplace(std::string(token), history_.tokens.size() - 1);
    return last_token_ = history_.tokens.size() - 1;
  }

  simdjson::ondemand::parser parser_;
  History history_;
  std::unordered_map<std::uint32_t, Pending> outstanding_;
  ValueTable values_{&history_.values};
  std::string canonical_;
  std::string tail_;
  std::map<std::string, std::size_t, std::less<>> token_ids_;
  std::size_t last_token_ = 0;
  std::string token_buf_;
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

namespace {

ParseResult FileError(std::string message) {
  return ParseResult{std::nullopt, ParseError{0, std::move(message)}};
}

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

// An anonymous mapping of `size` bytes (or MAP_FAILED), unmapped when it goes out of scope.
class Mapping {
 public:
  explicit Mapping(std::size_t size)
      : base_(::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)), size_(size) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (base_ != MAP_FAILED) ::munmap(base_, size_);
  }
  void* base() const { return base_; }

 private:
  void* base_;
  std::size_t size_;
};

// Reads what remains of `fd` (a pipe, say) to its end.
ParseResult ReadStream(const std::string& path, int fd, std::string* text) {
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
  ParseResult result = ParseHistoryString(content);
  if (text) *text = std::move(content);
  return result;
}

}  // namespace

ParseResult ReadHistoryFile(const std::string& path, std::string* text) {
  // Map the file instead of copying it; the parser copies only the last line, which has
  // no read-ahead room behind it.
  const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return FileError(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return FileError(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) return FileError(fmt::format("'{}' is a directory", path));
  if (!S_ISREG(st.st_mode)) return ReadStream(path, fd.get(), text);
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0) {
    if (text) text->clear();
    return ParseHistory("", 0, 0);
  }
  // Reserve the file's size plus a page of zeros, then map the file over the front: the
  // parser may read ahead past the last byte (simdjson's padding) without a copy.
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t reserved = (size + page - 1) / page * page + page;
  const Mapping mapping(reserved);
  if (mapping.base() == MAP_FAILED) {
    return FileError(fmt::format("cannot map '{}': {}", path, std::strerror(errno)));
  }
  void* map =
      ::mmap(mapping.base(), size, PROT_READ, MAP_PRIVATE | MAP_FIXED | MAP_POPULATE, fd.get(), 0);
  if (map == MAP_FAILED) {
    return FileError(fmt::format("cannot map '{}': {}", path, std::strerror(errno)));
  }
  ParseResult result = ParseHistory(static_cast<const char*>(map), size, reserved - size);
  if (text) text->assign(static_cast<const char*>(map), size);
  return result;
}

}  // namespace checker

namespace checker::internal {
void AssertFail(const char* condition, const char* file, int line, const char* why) {
  std::fprintf(stderr, "checker assertion failed: %s (%s:%d): %s\n", condition, file, line, why);
  std::abort();
}
}  // namespace checker::internal
