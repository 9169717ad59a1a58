#include "checker/history_chunk.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <type_traits>

#include <fmt/format.h>
#include <simdjson.h>

#include "base/status.h"

namespace checker::internal {
namespace {

using simdjson::ondemand::json_type;

std::string_view Trim(std::string_view raw) {
  while (!raw.empty() &&
         (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\r' || raw.back() == '\n')) {
    raw.remove_suffix(1);
  }
  return raw;
}

// One field of a value object, on its way to the canonical text.
struct ValueField {
  std::string_view key;
  std::string_view scalar;  // flat values
  std::string nested;       // objects and arrays
};

// Appends `{"k":v,...}` of fields already sorted by key.
void AppendSortedObject(const std::vector<ValueField>& fields, std::string* out) {
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
}

constexpr int kMaxDepth = 16;  // of a value's nesting

bool KeyLess(const ValueField& a, const ValueField& b) { return a.key < b.key; }

// Canonical text of a JSON value, appended to `out`: objects with their fields sorted by
// key, everything without spacing. Two spellings of one value intern to one id. Keys are
// views into the parser's string buffer and scalars views into the input, both valid
// until the next line is parsed, so a flat object costs no allocation.
token::Status Canonical(simdjson::ondemand::value v, std::string* out, int depth) {
  if (depth > kMaxDepth) {
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
    // One list per depth, all made at once: growing the outer vector during the recursion
    // would move the lists the callers are filling.
    thread_local std::vector<std::vector<ValueField>> scratch(kMaxDepth + 1);
    std::vector<ValueField>& fields = scratch[static_cast<std::size_t>(depth)];
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
      ValueField f;
      f.key = key;
      if (ft == json_type::object || ft == json_type::array) {
        if (token::Status s = Canonical(fv, &f.nested, depth + 1); !s.ok()) return s;
      } else {
        f.scalar = Trim(fv.raw_json_token());
      }
      fields.push_back(std::move(f));
    }
    std::sort(fields.begin(), fields.end(), KeyLess);
    AppendSortedObject(fields, out);
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

// The text of a raw key up to its closing quote (keys of this format have no escapes; a key
// with one simply matches nothing and is ignored as an extra field).
std::string_view RawKey(simdjson::ondemand::raw_json_string key) {
  const char* p = key.raw();
  const char* q = p;
  while (*q != '"' && *q != '\\') ++q;
  return std::string_view(p, static_cast<std::size_t>(q - p));
}

// The fields of one line the format knows (others are ignored).
struct Fields {
  bool has_process = false, has_type = false, has_f = false, has_token = false, has_time = false,
       has_value = false, has_version = false;
  std::int64_t process = 0, time = 0;
  std::string_view type, f, token;
  ValueId value = kInitialValue;  // null unless an object was given (chunk-local id)
  std::uint64_t version = 0;
};

constexpr std::string_view kProcessError = "'process' must be a non-negative integer";
constexpr std::string_view kValueError = "'value' must be an object or null";

bool ProcessInRange(std::int64_t p) {
  return p >= 0 && p <= std::numeric_limits<std::uint32_t>::max();
}

// Whether `s` is the literal `lit`. A compare of constant length, which the compiler
// inlines: std::string_view's == calls memcmp, and those calls were 7% of the parsing
// threads' time on a million operations.
template <std::size_t N>
bool Is(std::string_view s, const char (&lit)[N]) {
  return s.size() == N - 1 && std::memcmp(s.data(), lit, N - 1) == 0;
}

// The plain scanner reads 8 bytes at a time and may read up to 7 bytes past the end of a
// line; a line without that many readable bytes behind it is scanned from a copy.
constexpr std::size_t kScanPadding = 8;

// The first 8 bytes at `p` as a little-endian word. REQUIRES: 8 readable bytes.
std::uint64_t Load8(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
  return w;
}

// A byte of each of the word's 8 set to `c`.
constexpr std::uint64_t Bytes(unsigned char c) { return 0x0101010101010101ULL * c; }

// The lowest set high bit marks the first byte of `w` that ends a plain string: a quote, a
// backslash, a control character or a byte above 0x7F (higher marks may be false: a borrow
// runs upward only).
std::uint64_t StringStops(std::uint64_t w) {
  const auto zero = [](std::uint64_t x) { return (x - Bytes(1)) & ~x & Bytes(0x80); };
  const std::uint64_t below_space = (w - Bytes(0x20)) & ~w & Bytes(0x80);
  return zero(w ^ Bytes('"')) | zero(w ^ Bytes('\\')) | below_space | (w & Bytes(0x80));
}

// Reads the lines of one chunk.
class ChunkParser {
 public:
  // `length`: the chunk's, to size the value table once (growing it hashed every value
  // again a few times a chunk).
  ChunkParser(bool fast_path, Chunk* out, std::size_t length)
      : fast_path_(fast_path), out_(out), tokens_(&out->tokens), values_(&out->values) {
    values_.Reserve(length / 256, 0);
  }

  void Run(const char* text, std::size_t length, std::size_t padding) {
    const char* p = text;
    const char* end = text + length;
    std::uint64_t line = 0;
    // With room behind the chunk for its 8-byte reads, the scanner reads a line in the
    // tools' form straight from where it starts and finds its end as it goes (looking for
    // the line's end first was a second pass over the text). Any other line is cut at its
    // line end and read as below (the scanner tries it again there, and gives it up again).
    const bool scan_ahead = fast_path_ && padding >= kScanPadding;
    while (p < end) {
      ++line;
      if (scan_ahead) {
        Fields fields;
        const char* next = nullptr;
        if (Scan(p, end, &fields, &next)) {
          ++out_->plain_lines;
          if (!Emit(line, fields)) {
            out_->lines = line;
            return;
          }
          p = next;
          continue;
        }
      }
      const char* nl =
          static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      const char* line_end = nl ? nl : end;
      std::size_t len = static_cast<std::size_t>(line_end - p);
      if (len > 0 && p[len - 1] == '\r') --len;
      if (!Blank(p, len)) {
        if (!Line(line, p, len, static_cast<std::size_t>(end - p) + padding)) {
          out_->lines = line;
          return;
        }
      }
      p = nl ? nl + 1 : end;
    }
    out_->lines = line;
  }

 private:
  static bool Blank(const char* p, std::size_t len) {
    for (std::size_t i = 0; i < len; ++i) {
      if (p[i] != ' ' && p[i] != '\t') return false;
    }
    return true;
  }

  bool Fail(std::uint64_t line, std::string message) {
    out_->error = ParseError{line, std::move(message)};
    return false;
  }

  // One non-blank line; false after an error.
  bool Line(std::uint64_t line, const char* p, std::size_t len, std::size_t capacity) {
    Fields fields;
    const char* scan = p;
    if (fast_path_ && capacity - len < kScanPadding) {
      scan_copy_.assign(p, len);
      scan_copy_.append(kScanPadding, ' ');
      scan = scan_copy_.data();
    }
    if (fast_path_ && Scan(scan, scan + len, &fields, nullptr)) {
      ++out_->plain_lines;
    } else {
      fields = Fields{};
      if (!SlowLine(line, p, len, capacity, &fields)) return false;
    }
    return Emit(line, fields);
  }

  bool SlowLine(std::uint64_t line, const char* p, std::size_t len, std::size_t capacity,
                Fields* fields) {
    const char* text = p;
    if (capacity - len < simdjson::SIMDJSON_PADDING) {
      // Too close to the end of the buffer for simdjson's read-ahead: parse a copy.
      tail_.assign(p, len);
      tail_.append(simdjson::SIMDJSON_PADDING, ' ');
      text = tail_.data();
      capacity = tail_.size();
    }
    simdjson::ondemand::document doc;
    simdjson::ondemand::object obj;
    if (parser_.iterate(text, len, capacity).get(doc) != simdjson::SUCCESS ||
        doc.get_object().get(obj) != simdjson::SUCCESS) {
      return Fail(line, "not a JSON object");
    }
    return ReadFields(line, obj, fields);
  }

  // The checks of one line's fields that need no other line, then the event.
  bool Emit(std::uint64_t line, const Fields& fields) {
    if (!fields.has_process) return Fail(line, "missing field 'process'");
    if (!fields.has_type) return Fail(line, "missing field 'type'");
    if (!fields.has_f) return Fail(line, "missing field 'f'");
    if (!fields.has_token) return Fail(line, "missing field 'token'");
    if (!fields.has_time) return Fail(line, "missing field 'time'");
    Event ev;
    if (Is(fields.f, "write") || Is(fields.f, "create") || Is(fields.f, "drop")) {
      ev.op = OpType::kWrite;
    } else if (Is(fields.f, "read")) {
      ev.op = OpType::kRead;
    } else {
      return Fail(line, fmt::format("unknown f '{}' (expected read or write)", fields.f));
    }
    ev.line = line;
    ev.time = fields.time;
    ev.process = static_cast<std::uint32_t>(fields.process);
    if (last_token_ == nullptr || fields.token != *last_token_) {
      last_token_id_ = tokens_.Intern(fields.token, HashText(fields.token));
      last_token_ = &out_->tokens[last_token_id_];
    }
    ev.token = last_token_id_;
    ev.value = fields.value;
    ev.has_value = fields.has_value;
    ev.has_version = fields.has_version;
    ev.version = fields.version;
    if (Is(fields.type, "invoke")) {
      ev.type = EventType::kInvoke;
    } else if (Is(fields.type, "ok")) {
      ev.type = EventType::kOk;
    } else if (Is(fields.type, "fail")) {
      ev.type = EventType::kFail;
    } else if (Is(fields.type, "info")) {
      ev.type = EventType::kInfo;
    } else {
      // Reported by the reader in line order, after the checks that need earlier lines.
      ev.type = EventType::kUnknown;
      ev.version = out_->unknown_types.size();
      out_->unknown_types.emplace_back(fields.type);
    }
    out_->events.push_back(ev);
    return true;
  }

  ValueId InternValue(std::string_view canonical) {
    const std::uint64_t h = HashText(canonical);
    const std::size_t before = out_->values.size();
    const std::uint32_t id = values_.Intern(canonical, h);
    if (out_->values.size() != before) out_->value_hashes.push_back(h);
    return static_cast<ValueId>(id);
  }

  // ---- simdjson: every line the plain scanner does not take ----

  bool ReadFields(std::uint64_t line, simdjson::ondemand::object& obj, Fields* out) {
    Fields& fields = *out;
    for (auto field : obj) {
      // Keys compared raw (without unescaping): the format's keys need no escapes.
      simdjson::ondemand::raw_json_string raw_key;
      if (field.key().get(raw_key) != simdjson::SUCCESS) return Fail(line, "malformed key");
      const std::string_view key = RawKey(raw_key);
      auto v = field.value();
      if (Is(key, "process")) {
        if (v.get_int64().get(fields.process) != simdjson::SUCCESS ||
            !ProcessInRange(fields.process)) {
          return Fail(line, std::string(kProcessError));
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
        if (!ReadToken(line, v, &fields.token)) return false;
        fields.has_token = true;
      } else if (key == "time") {
        if (v.get_int64().get(fields.time) != simdjson::SUCCESS) {
          return Fail(line, "'time' must be an integer (nanoseconds)");
        }
        fields.has_time = true;
      } else if (key == "value") {
        if (!ReadValue(line, v, &fields.value)) return false;
        fields.has_value = true;
      } else if (key == "version") {
        if (v.get_uint64().get(fields.version) != simdjson::SUCCESS) {
          return Fail(line, "'version' must be a non-negative integer");
        }
        fields.has_version = true;
      }
      // Other fields are allowed and ignored.
    }
    return true;
  }

  // A token id: a string, or a number kept as its text (like the scheme's token ids). The
  // view points into this parser's buffer until the next line.
  template <typename Value>
  bool ReadToken(std::uint64_t line, Value& v, std::string_view* out) {
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
    return true;
  }

  // A value: null (the initial value) or an object, interned by its canonical text.
  template <typename Value>
  bool ReadValue(std::uint64_t line, Value& v, ValueId* out) {
    simdjson::ondemand::value vv;
    json_type jt;
    if (v.get(vv) != simdjson::SUCCESS || vv.type().get(jt) != simdjson::SUCCESS) {
      return Fail(line, "malformed 'value'");
    }
    if (jt == json_type::null) {
      *out = kInitialValue;
      return true;
    }
    if (jt != json_type::object) return Fail(line, std::string(kValueError));
    canonical_.clear();
    if (token::Status s = Canonical(vv, &canonical_, 0); !s.ok()) {
      return Fail(line, "'value': " + s.message());
    }
    *out = InternValue(canonical_);
    return true;
  }

  // ---- the plain scanner ----
  //
  // Takes a line only in the form the project's tools write it: one object, no spaces, no
  // escapes, ASCII, integers, values flat objects. Gives up (false, nothing interned
  // that simdjson would not intern too) at anything else, and simdjson decides.

  class Cursor {
   public:
    Cursor(const char* p, const char* end) : p_(p), end_(end) {}
    bool AtEnd() const { return p_ == end_; }
    const char* position() const { return p_; }
    bool Peek(char c) const { return p_ < end_ && *p_ == c; }
    bool Lit(char c) {
      if (!Peek(c)) return false;
      ++p_;
      return true;
    }
    // A string without escapes, control characters or bytes above 0x7F; `raw` gets it with
    // its quotes.
    bool String(std::string_view* inner, std::string_view* raw = nullptr) {
      const char* open = p_;
      if (!Lit('"')) return false;
      const char* s = p_;
      // 8 bytes at a time (the line has kScanPadding readable bytes behind it).
      while (true) {
        if (p_ >= end_) return false;
        if (const std::uint64_t stops = StringStops(Load8(p_))) {
          p_ += std::countr_zero(stops) / 8;
          break;
        }
        p_ += 8;
      }
      if (p_ >= end_ || *p_ != '"') return false;
      *inner = std::string_view(s, static_cast<std::size_t>(p_ - s));
      ++p_;
      if (raw) *raw = std::string_view(open, static_cast<std::size_t>(p_ - open));
      return true;
    }
    // An integer as JSON writes it, -?(0|[1-9][0-9]*), followed by ',' '}' or ']'. With
    // `value`, at most 18 digits (it fits) and its value; without, any length (the text is
    // all that is kept, as simdjson keeps it).
    bool Integer(std::int64_t* value, std::string_view* raw = nullptr) {
      const char* s = p_;
      const bool negative = Lit('-');
      const char* digits = p_;
      std::int64_t v = 0;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
        if (value) {
          if (p_ - digits == 18) return false;  // simdjson decides
          v = v * 10 + (*p_ - '0');
        }
        ++p_;
      }
      const auto n = p_ - digits;
      if (n == 0 || (n > 1 && *digits == '0')) return false;
      if (!(Peek(',') || Peek('}') || Peek(']'))) return false;
      if (value) *value = negative ? -v : v;
      if (raw) *raw = std::string_view(s, static_cast<std::size_t>(p_ - s));
      return true;
    }
    // The literal `lit` (a key with its quotes and colon, say) at the cursor, compared at
    // constant length (inlined).
    template <std::size_t N>
    bool Expect(const char (&lit)[N]) {
      if (static_cast<std::size_t>(end_ - p_) < N - 1 || std::memcmp(p_, lit, N - 1) != 0) {
        return false;
      }
      p_ += N - 1;
      return true;
    }
    // The literal `word` (true, false, null) followed by ',' '}' or ']'; `raw` gets it.
    template <std::size_t N>
    bool Word(const char (&word)[N], std::string_view* raw = nullptr) {
      const char* s = p_;
      if (!Expect(word)) return false;
      if (raw) *raw = std::string_view(s, N - 1);
      return Peek(',') || Peek('}') || Peek(']');
    }
    // A scalar: a string, an integer, true, false or null; `raw` gets its text.
    bool Scalar(std::string_view* raw) {
      std::string_view inner;
      if (Peek('"')) return String(&inner, raw);
      if (Peek('t')) return Word("true", raw);
      if (Peek('f')) return Word("false", raw);
      if (Peek('n')) return Word("null", raw);
      return Integer(nullptr, raw);
    }
    // Any value of the plain form, skipped (fields the format ignores).
    bool Skip(int depth) {
      if (depth > 16) return false;
      std::string_view raw;
      if (Lit('{')) {
        if (Lit('}')) return true;
        do {
          std::string_view key;
          if (!String(&key) || !Lit(':') || !Skip(depth + 1)) return false;
        } while (Lit(','));
        return Lit('}');
      }
      if (Lit('[')) {
        if (Lit(']')) return true;
        do {
          if (!Skip(depth + 1)) return false;
        } while (Lit(','));
        return Lit(']');
      }
      return Scalar(&raw);
    }

   private:
    const char* p_;
    const char* end_;
  };

  // One field of a flat value object.
  struct ScanField {
    std::uint64_t prefix;  // the key's first 8 bytes, big-endian, zero-padded: orders keys
    std::string_view key;
    std::string_view scalar;
    bool operator<(const ScanField& o) const {
      if (prefix != o.prefix) return prefix < o.prefix;
      if (key.size() <= 8 || o.key.size() <= 8) return key.size() < o.key.size();
      return key < o.key;
    }
  };

  // A value object of scalars, as its canonical text (what Canonical makes of it). Its
  // few fields are sorted by insertion, by their positions (no field is copied), on an
  // 8-byte prefix of their keys, and the text is written piece by piece into room made
  // once: sorting with string compares and appending a character at a time were a tenth of
  // the parsing threads' time.
  bool ScanValueObject(Cursor& c, std::string* canonical) {
    if (!c.Lit('{')) return false;
    std::vector<ScanField>& fields = scan_fields_;
    std::vector<std::uint32_t>& order = scan_order_;
    fields.clear();
    order.clear();
    std::size_t size = 2;  // {}
    if (!c.Lit('}')) {
      do {
        ScanField& f = fields.emplace_back();
        if (!c.String(&f.key) || !c.Lit(':') || !c.Scalar(&f.scalar)) return false;
        std::uint64_t w = Load8(f.key.data());
        if (f.key.size() < 8) w &= (std::uint64_t{1} << (8 * f.key.size())) - 1;
        f.prefix = __builtin_bswap64(w);
        const auto n = static_cast<std::uint32_t>(fields.size() - 1);
        std::size_t i = order.size();
        order.push_back(n);
        while (i > 0 && f < fields[order[i - 1]]) {
          order[i] = order[i - 1];
          --i;
        }
        order[i] = n;
        size += f.key.size() + 3 + f.scalar.size() + 1;  // "key":scalar,
      } while (c.Lit(','));
      if (!c.Lit('}')) return false;
      --size;  // no comma after the last
    }
    for (std::size_t i = 1; i < order.size(); ++i) {
      // A repeated key: simdjson decides.
      if (!(fields[order[i - 1]] < fields[order[i]])) return false;
    }
    canonical->resize(size);
    char* out = canonical->data();
    *out++ = '{';
    for (std::size_t i = 0; i < order.size(); ++i) {
      const ScanField& f = fields[order[i]];
      if (i) *out++ = ',';
      *out++ = '"';
      std::memcpy(out, f.key.data(), f.key.size());
      out += f.key.size();
      *out++ = '"';
      *out++ = ':';
      std::memcpy(out, f.scalar.data(), f.scalar.size());
      out += f.scalar.size();
    }
    *out++ = '}';
    TOKEN_CHECKER_ASSERT(out == canonical->data() + canonical->size(), "canonical text's size");
    return true;
  }

  // The fields the format knows, in the order the project's tools write them
  // (checker/history_writer.cc): each key is matched whole while the keys come in that
  // order, and any field after is read by its key.
  enum class Key { kProcess, kType, kF, kToken, kValue, kVersion, kTime, kOther };

  // A value object in the form the tools write, `{"name":S,"low":I,"mid":I,"high":I}`, as
  // its canonical text (keys sorted) written at once; any other object is sorted by
  // ScanValueObject. Both give the same text.
  bool ScanToolsValue(Cursor& c, std::string* canonical) {
    Cursor at = c;
    std::string_view name, low, mid, high, inner;
    if (!at.Expect("{\"name\":") || !at.Peek('"') || !at.String(&inner, &name) ||
        !at.Expect(",\"low\":") || !at.Integer(nullptr, &low) || !at.Expect(",\"mid\":") ||
        !at.Integer(nullptr, &mid) || !at.Expect(",\"high\":") || !at.Integer(nullptr, &high) ||
        !at.Lit('}')) {
      return ScanValueObject(c, canonical);
    }
    c = at;
    constexpr std::string_view kHigh = "{\"high\":", kLow = ",\"low\":", kMid = ",\"mid\":",
                               kName = ",\"name\":";
    canonical->resize(kHigh.size() + high.size() + kLow.size() + low.size() + kMid.size() +
                      mid.size() + kName.size() + name.size() + 1);
    char* out = canonical->data();
    for (const std::string_view piece : {kHigh, high, kLow, low, kMid, mid, kName, name}) {
      std::memcpy(out, piece.data(), piece.size());
      out += piece.size();
    }
    *out++ = '}';
    return true;
  }

  // How a leading field went: read with a comma after it (the run goes on), read as the
  // last field or not there (the run ends), or a value the scanner does not take.
  enum class Lead { kNext, kEnd, kAbsent, kBad };

  // The leading field of key K, whose text with its quotes and colon is `lit`: kAbsent when
  // another key comes instead (`more` stays true: a field follows).
  template <Key K, std::size_t N>
  Lead LeadField(Cursor& c, const char (&lit)[N], Fields* fields, std::size_t* pending_values,
                 bool* more) {
    if (!c.Expect(lit)) return Lead::kAbsent;
    if (!ScanValue(c, K, fields, pending_values)) return Lead::kBad;
    *more = c.Lit(',');
    return *more ? Lead::kNext : Lead::kEnd;
  }

  // The value of a field whose key was read; false if the plain scanner does not take it.
  // Inlined: the leading fields call it with a constant key.
  [[gnu::always_inline]] bool ScanValue(Cursor& c, Key key, Fields* fields,
                                        std::size_t* pending_values) {
    switch (key) {
      case Key::kProcess:
        if (!c.Integer(&fields->process) || !ProcessInRange(fields->process)) return false;
        fields->has_process = true;
        return true;
      case Key::kType:
        fields->has_type = true;
        return c.String(&fields->type);
      case Key::kF:
        fields->has_f = true;
        return c.String(&fields->f);
      case Key::kToken:
        fields->has_token = true;
        if (c.Peek('"')) return c.String(&fields->token);
        return c.Integer(nullptr, &fields->token);
      case Key::kTime:
        fields->has_time = true;
        return c.Integer(&fields->time);
      case Key::kValue:
        fields->has_value = true;
        if (c.Word("null")) {
          fields->value = kInitialValue;
          return true;
        }
        if (*pending_values == scan_values_.size()) scan_values_.emplace_back();
        if (!ScanToolsValue(c, &scan_values_[*pending_values])) return false;
        fields->value = static_cast<ValueId>(-100 - static_cast<ValueId>(*pending_values));
        ++*pending_values;
        return true;
      case Key::kVersion: {
        std::int64_t v;
        if (!c.Integer(&v) || v < 0) return false;
        fields->version = static_cast<std::uint64_t>(v);
        fields->has_version = true;
        return true;
      }
      case Key::kOther:
        return c.Skip(0);
    }
    return false;
  }

  // A field read by its key (after the leading ones).
  bool ScanKeyedField(Cursor& c, Fields* fields, std::size_t* pending_values) {
    std::string_view key;
    if (!c.String(&key) || !c.Lit(':')) return false;
    Key k = Key::kOther;
    if (Is(key, "process")) {
      k = Key::kProcess;
    } else if (Is(key, "type")) {
      k = Key::kType;
    } else if (Is(key, "f")) {
      k = Key::kF;
    } else if (Is(key, "token")) {
      k = Key::kToken;
    } else if (Is(key, "time")) {
      k = Key::kTime;
    } else if (Is(key, "value")) {
      k = Key::kValue;
    } else if (Is(key, "version")) {
      k = Key::kVersion;
    }
    return ScanValue(c, k, fields, pending_values);
  }

  // Reads the line at [p, end). With `next`, the line ends at its object's closing brace,
  // where a line end ("\n" or "\r\n", then *next is past it) or `end` must follow;
  // without, at `end`.
  bool Scan(const char* p, const char* end, Fields* fields, const char** next) {
    Cursor c(p, end);
    if (!c.Lit('{') || c.Lit('}')) return false;
    // Values are interned only once the whole line is taken.
    std::size_t pending_values = 0;
    // The leading fields, while their keys come in the tools' order: a missing optional
    // field (value, version) is skipped over, any other key ends the run. Written out key by
    // key, so that each value's reading is inlined for its key (a loop over the keys
    // branched on the key twice a field: a third of this function's samples).
    bool more = true;  // a field follows
    Lead lead = Lead::kEnd;
    if ((lead = LeadField<Key::kProcess>(c, "\"process\":", fields, &pending_values, &more)) ==
            Lead::kNext &&
        (lead = LeadField<Key::kType>(c, "\"type\":", fields, &pending_values, &more)) ==
            Lead::kNext &&
        (lead = LeadField<Key::kF>(c, "\"f\":", fields, &pending_values, &more)) == Lead::kNext &&
        (lead = LeadField<Key::kToken>(c, "\"token\":", fields, &pending_values, &more)) ==
            Lead::kNext) {
      lead = LeadField<Key::kValue>(c, "\"value\":", fields, &pending_values, &more);
      if (lead == Lead::kNext || lead == Lead::kAbsent) {
        lead = LeadField<Key::kVersion>(c, "\"version\":", fields, &pending_values, &more);
      }
      if (lead == Lead::kNext || lead == Lead::kAbsent) {
        lead = LeadField<Key::kTime>(c, "\"time\":", fields, &pending_values, &more);
      }
    }
    if (lead == Lead::kBad) return false;
    while (more) {
      if (!ScanKeyedField(c, fields, &pending_values)) return false;
      more = c.Lit(',');
    }
    if (!c.Lit('}')) return false;
    if (next != nullptr) {
      if (!c.AtEnd() && !c.Lit('\n') && !(c.Lit('\r') && c.Lit('\n'))) return false;
      *next = c.position();
    } else if (!c.AtEnd()) {
      return false;
    }
    // Taken: intern its values in line order (a repeated 'value' key interns each, as
    // simdjson's reading does; the last one counts).
    for (std::size_t i = 0; i < pending_values; ++i) {
      const ValueId id = InternValue(scan_values_[i]);
      if (fields->value == -100 - static_cast<ValueId>(i)) fields->value = id;
    }
    return true;
  }

  bool fast_path_;
  Chunk* out_;
  TextTable<std::vector<std::string>> tokens_;
  TextTable<TextList> values_;
  // The last line's token (lines of one token often come in runs). Points into
  // out_->tokens, taken again after every Intern (which may move the strings).
  const std::string* last_token_ = nullptr;
  std::uint32_t last_token_id_ = 0;
  simdjson::ondemand::parser parser_;
  std::string canonical_;
  std::string tail_;
  std::string token_buf_;
  std::vector<ScanField> scan_fields_;
  std::vector<std::uint32_t> scan_order_;  // scan_fields_ sorted by key
  std::string scan_copy_;                  // a line without kScanPadding readable bytes behind it
  std::vector<std::string> scan_values_;
};

}  // namespace

std::uint64_t HashText(std::string_view s) {
  const char* p = s.data();
  const std::size_t n = s.size();
  std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
  // Whole words, then the last bytes by loads of fixed size that may overlap what came
  // before (a copy of the 0 to 7 bytes left over was a call to memcpy, a third of the
  // hash's time).
  std::uint64_t tail = 0;
  if (n >= 8) {
    for (std::size_t i = 0; i + 8 < n; i += 8) {
      h = (h ^ Load8(p + i)) * 0xFF51AFD7ED558CCDULL;
      h ^= h >> 32;
    }
    tail = Load8(p + n - 8);
  } else if (n >= 4) {
    std::uint32_t a, b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + n - 4, 4);
    tail = std::uint64_t{a} << 32 | b;
  } else if (n > 0) {
    const auto byte = [p](std::size_t i) {
      return std::uint64_t{static_cast<unsigned char>(p[i])};
    };
    tail = byte(0) << 16 | byte(n / 2) << 8 | byte(n - 1);
  }
  h = (h ^ tail) * 0xC4CEB9FE1A85EC53ULL;
  return h ^ (h >> 29);
}

template <typename Texts>
TextTable<Texts>::TextTable(Texts* texts) : texts_(texts) {
  TOKEN_CHECKER_ASSERT(texts_->empty(), "a TextTable starts empty");
  slots_.assign(64, 0);
}

template <typename Texts>
std::uint32_t TextTable<Texts>::Intern(std::string_view text, std::uint64_t hash) {
  if ((texts_->size() + 1) * 2 > slots_.size()) Rehash(slots_.size() * 2);
  const auto tag = static_cast<std::uint32_t>(hash >> 32);
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = hash & mask;
  while (slots_[i] != 0) {
    const auto id = static_cast<std::uint32_t>(slots_[i]) - 1;
    if (static_cast<std::uint32_t>(slots_[i] >> 32) == tag && (*texts_)[id] == text) return id;
    i = (i + 1) & mask;
  }
  const auto id = static_cast<std::uint32_t>(texts_->size());
  texts_->emplace_back(text);
  slots_[i] = (std::uint64_t{tag} << 32) | (id + 1);
  return id;
}

template <typename Texts>
void TextTable<Texts>::Reserve(std::size_t n, std::size_t bytes) {
  std::size_t slots = slots_.size();
  while (slots < 2 * n) slots *= 2;
  if (slots != slots_.size()) Rehash(slots);
  if constexpr (std::is_same_v<Texts, TextList>) {
    texts_->reserve(n, bytes);
  } else {
    texts_->reserve(n);
  }
}

template <typename Texts>
void TextTable<Texts>::Rehash(std::size_t slots) {
  slots_.assign(slots, 0);
  const std::size_t mask = slots - 1;
  for (std::size_t id = 0; id < texts_->size(); ++id) {
    const std::uint64_t hash = HashText((*texts_)[id]);
    std::size_t i = hash & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = (hash >> 32 << 32) | (id + 1);
  }
}

template class TextTable<std::vector<std::string>>;
template class TextTable<TextList>;

void Chunk::Clear() {
  events.clear();
  tokens.clear();
  values.clear();
  value_hashes.clear();
  unknown_types.clear();
  lines = 0;
  bytes = 0;
  error.reset();
  plain_lines = 0;
}

void ParseChunk(const char* text, std::size_t length, std::size_t padding, bool fast_path,
                Chunk* out) {
  out->Clear();
  out->bytes = length;
  // Room for the events of lines of 96 bytes or more (the project's tools write 100 to 130
  // bytes a line) at once: growing the vector copied every event a few times and was a
  // fifth of the parser's own time.
  out->events.reserve(length / 96 + 16);
  ChunkParser(fast_path, out, length).Run(text, length, padding);
}

}  // namespace checker::internal
