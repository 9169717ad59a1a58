#include "checker/edn.h"

#include <algorithm>

#include <fmt/format.h>

namespace checker::edn {

const Value* Value::Get(std::string_view key) const {
  if (kind != Kind::kMap) return nullptr;
  for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
    if (items[i].IsKeyword(key)) return &items[i + 1];
  }
  return nullptr;
}

namespace {

constexpr int kMaxDepth = 64;

bool IsDelimiter(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == '(' || c == ')' ||
         c == '[' || c == ']' || c == '{' || c == '}' || c == '"' || c == ';';
}

class Reader {
 public:
  explicit Reader(std::string_view text) : s_(text) {}

  ReadResult All() {
    ReadResult out;
    while (true) {
      SkipSpace();
      if (pos_ >= s_.size()) break;
      Value v;
      discarded_ = false;
      if (!Read(&v, 0)) {
        out.error = error_;
        break;
      }
      if (!discarded_) out.values.push_back(std::move(v));
    }
    return out;
  }

 private:
  bool Fail(std::string message) {
    error_ = ParseError{line_, std::move(message)};
    return false;
  }

  void SkipSpace() {
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '\n') {
        ++line_;
        ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\r' || c == ',') {
        ++pos_;
      } else if (c == ';') {
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  // Reads the elements of a collection up to `close`.
  bool ReadItems(char close, Value* out, int depth) {
    while (true) {
      SkipSpace();
      if (pos_ >= s_.size())
        return Fail(fmt::format("missing '{}' at the end of the input", close));
      if (s_[pos_] == close) {
        ++pos_;
        return true;
      }
      if (s_[pos_] == ')' || s_[pos_] == ']' || s_[pos_] == '}') {
        return Fail(fmt::format("unexpected '{}' (expected '{}')", s_[pos_], close));
      }
      Value item;
      discarded_ = false;
      if (!Read(&item, depth + 1)) return false;
      if (!discarded_) out->items.push_back(std::move(item));
    }
  }

  bool ReadString(Value* v) {
    ++pos_;  // the opening quote
    v->kind = Value::Kind::kString;
    while (true) {
      if (pos_ >= s_.size()) return Fail("unterminated string");
      const char c = s_[pos_++];
      if (c == '"') return true;
      if (c == '\n') ++line_;
      if (c != '\\') {
        v->text += c;
        continue;
      }
      if (pos_ >= s_.size()) return Fail("unterminated string");
      const char e = s_[pos_++];
      switch (e) {
        case 'n':
          v->text += '\n';
          break;
        case 't':
          v->text += '\t';
          break;
        case 'r':
          v->text += '\r';
          break;
        case '"':
        case '\\':
          v->text += e;
          break;
        default:
          v->text += '\\';
          v->text += e;
      }
    }
  }

  bool ReadAtom(Value* v) {
    const std::size_t begin = pos_;
    while (pos_ < s_.size() && !IsDelimiter(s_[pos_])) ++pos_;
    std::string_view atom = s_.substr(begin, pos_ - begin);
    if (atom.empty()) return Fail(fmt::format("unexpected character '{}'", s_[begin]));
    if (atom == "nil") {
      v->kind = Value::Kind::kNil;
    } else if (atom == "true" || atom == "false") {
      v->kind = Value::Kind::kBool;
      v->text = std::string(atom);
    } else if (atom[0] == ':') {
      if (atom.size() == 1) return Fail("empty keyword");
      v->kind = Value::Kind::kKeyword;
      v->text = std::string(atom.substr(1));
    } else if (atom[0] == '\\') {
      v->kind = Value::Kind::kChar;
      v->text = std::string(atom);
    } else if ((atom[0] >= '0' && atom[0] <= '9') ||
               ((atom[0] == '-' || atom[0] == '+') && atom.size() > 1 && atom[1] >= '0' &&
                atom[1] <= '9')) {
      if (atom[0] == '+') atom.remove_prefix(1);
      bool decimal = false;
      for (std::size_t i = 1; i < atom.size(); ++i) {
        const char c = atom[i];
        const bool last = i + 1 == atom.size();
        if (c >= '0' && c <= '9') continue;
        if (last && (c == 'N' || c == 'M')) {
          decimal = decimal || c == 'M';
          atom.remove_suffix(1);
          break;
        }
        if (c == '.' || c == 'e' || c == 'E' || ((c == '-' || c == '+') && i > 1)) {
          decimal = true;
          continue;
        }
        return Fail(fmt::format("malformed number '{}'", atom));
      }
      v->kind = decimal ? Value::Kind::kDecimal : Value::Kind::kInteger;
      v->text = std::string(atom);
      if (!decimal) {
        // "-0" and "0" are one integer; leading zeros are not EDN.
        if (v->text == "-0") v->text = "0";
      }
    } else {
      v->kind = Value::Kind::kSymbol;
      v->text = std::string(atom);
    }
    return true;
  }

  bool Read(Value* v, int depth) {
    if (depth > kMaxDepth) return Fail("values nest too deeply");
    SkipSpace();
    if (pos_ >= s_.size()) return Fail("a value is missing at the end of the input");
    v->line = line_;
    const char c = s_[pos_];
    switch (c) {
      case '(':
        ++pos_;
        v->kind = Value::Kind::kList;
        return ReadItems(')', v, depth);
      case '[':
        ++pos_;
        v->kind = Value::Kind::kVector;
        return ReadItems(']', v, depth);
      case '{':
        ++pos_;
        v->kind = Value::Kind::kMap;
        if (!ReadItems('}', v, depth)) return false;
        if (v->items.size() % 2 != 0) return Fail("a map has a key without a value");
        return true;
      case '"':
        return ReadString(v);
      case ')':
      case ']':
      case '}':
        return Fail(fmt::format("unexpected '{}'", c));
      case '#': {
        ++pos_;
        if (pos_ < s_.size() && s_[pos_] == '{') {
          ++pos_;
          v->kind = Value::Kind::kSet;
          return ReadItems('}', v, depth);
        }
        if (pos_ < s_.size() && s_[pos_] == '_') {
          ++pos_;
          Value ignored;
          if (!Read(&ignored, depth + 1)) return false;
          discarded_ = true;
          return true;
        }
        const std::size_t begin = pos_;
        while (pos_ < s_.size() && !IsDelimiter(s_[pos_])) ++pos_;
        if (pos_ == begin) return Fail("'#' without a tag");
        v->kind = Value::Kind::kTagged;
        v->text = std::string(s_.substr(begin, pos_ - begin));
        v->items.emplace_back();
        return Read(&v->items.back(), depth + 1);
      }
      default:
        return ReadAtom(v);
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::uint64_t line_ = 1;
  bool discarded_ = false;  // the last value read was a #_ discard
  ParseError error_;
};

void AppendCanonical(const Value& v, std::string* out) {
  auto join = [out](std::vector<std::string> parts, bool sort, const char* open,
                    const char* close) {
    if (sort) std::sort(parts.begin(), parts.end());
    *out += open;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (i) *out += ' ';
      *out += parts[i];
    }
    *out += close;
  };
  switch (v.kind) {
    case Value::Kind::kNil:
      *out += "nil";
      return;
    case Value::Kind::kBool:
    case Value::Kind::kInteger:
    case Value::Kind::kDecimal:
    case Value::Kind::kChar:
    case Value::Kind::kSymbol:
      *out += v.text;
      return;
    case Value::Kind::kKeyword:
      *out += ':';
      *out += v.text;
      return;
    case Value::Kind::kString:
      *out += '"';
      for (char c : v.text) {
        if (c == '"' || c == '\\') *out += '\\';
        if (c == '\n') {
          *out += "\\n";
          continue;
        }
        *out += c;
      }
      *out += '"';
      return;
    case Value::Kind::kList:
    case Value::Kind::kVector:
    case Value::Kind::kSet: {
      std::vector<std::string> parts;
      for (const Value& item : v.items) parts.push_back(Canonical(item));
      const bool set = v.kind == Value::Kind::kSet;
      join(std::move(parts), set, set ? "#{" : "[", set ? "}" : "]");
      return;
    }
    case Value::Kind::kMap: {
      std::vector<std::string> parts;
      for (std::size_t i = 0; i + 1 < v.items.size(); i += 2) {
        parts.push_back(Canonical(v.items[i]) + " " + Canonical(v.items[i + 1]));
      }
      join(std::move(parts), true, "{", "}");
      return;
    }
    case Value::Kind::kTagged:
      *out += '#';
      *out += v.text;
      *out += ' ';
      AppendCanonical(v.items.at(0), out);
      return;
  }
}

}  // namespace

std::string Canonical(const Value& v) {
  std::string out;
  AppendCanonical(v, &out);
  return out;
}

ReadResult ReadAll(std::string_view text) { return Reader(text).All(); }

}  // namespace checker::edn
