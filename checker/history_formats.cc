#include "checker/history_formats.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include <fmt/format.h>

#include "checker/history_builder.h"

namespace checker {

namespace internal {

ValueId HistoryBuilder::Intern(const std::string& canonical) {
  if (canonical == "nil") return kInitialValue;
  auto [it, inserted] = value_ids_.emplace(canonical, 0);
  if (inserted) {
    history_.values.push_back(canonical);
    it->second = static_cast<ValueId>(history_.values.size() - 1);
  }
  return it->second;
}

std::string HistoryBuilder::Invoke(std::uint64_t process, std::string_view token, OpType type,
                                   ValueId value, ValueId expected, std::uint64_t line) {
  if (line > kMaxLine) return std::string(kTooManyLines);
  if (process > std::numeric_limits<std::uint32_t>::max()) {
    return fmt::format("process {} out of range 0..{}", process,
                       std::numeric_limits<std::uint32_t>::max());
  }
  auto out = outstanding_.find(process);
  if (out != outstanding_.end()) {
    return fmt::format(
        "process {} invokes again while its operation at line {} is still "
        "outstanding",
        process, history_.tokens[out->second.token].ops[out->second.op].invoke_line);
  }
  auto [it, inserted] = token_ids_.emplace(std::string(token), history_.tokens.size());
  if (inserted) history_.tokens.push_back(TokenHistory{std::string(token), {}, {}});
  TokenHistory& t = history_.tokens[it->second];
  Operation op;
  op.type = type;
  op.process = static_cast<std::uint32_t>(process);
  op.invoke_time = ++time_;
  op.invoke_line = static_cast<std::uint32_t>(line);
  op.value = type == OpType::kRead ? kNoValue : value;
  op.expected = expected;
  t.ops.push_back(op);
  outstanding_.emplace(process, Pending{it->second, t.ops.size() - 1});
  ++history_.events;
  return "";
}

bool HistoryBuilder::Outstanding(std::uint64_t process, OpType* type) const {
  auto it = outstanding_.find(process);
  if (it == outstanding_.end()) return false;
  *type = history_.tokens[it->second.token].ops[it->second.op].type;
  return true;
}

std::string HistoryBuilder::Complete(std::uint64_t process, OpType type, Outcome outcome,
                                     ValueId value, bool cas_failed, std::uint64_t line) {
  if (line > kMaxLine) return std::string(kTooManyLines);
  auto it = outstanding_.find(process);
  if (it == outstanding_.end()) {
    return fmt::format("a completion of process {}, which has no operation outstanding", process);
  }
  TokenHistory& t = history_.tokens[it->second.token];
  Operation& op = t.ops[it->second.op];
  if (op.type != type) {
    return fmt::format("the completion does not match the invocation at line {}", op.invoke_line);
  }
  outstanding_.erase(it);
  ++history_.events;
  ++time_;
  if (outcome == Outcome::kInfo) {
    op.CompleteInfo(line, time_);
    return "";
  }
  op.outcome = outcome;
  op.complete_line = static_cast<std::uint32_t>(line);
  op.complete_time = time_;
  op.cas_failed = cas_failed;
  if (outcome == Outcome::kOk && type == OpType::kRead) op.value = value;
  t.completed.push_back(static_cast<std::uint32_t>(&op - t.ops.data()));
  return "";
}

History HistoryBuilder::Finish(std::uint64_t lines) {
  history_.lines = lines;
  return std::move(history_);
}

}  // namespace internal

std::optional<HistoryFormat> HistoryFormatFromName(std::string_view name) {
  if (name == "auto") return HistoryFormat::kAuto;
  if (name == "tokens") return HistoryFormat::kTokens;
  if (name == "jepsen") return HistoryFormat::kJepsen;
  if (name == "porcupine") return HistoryFormat::kPorcupine;
  return std::nullopt;
}

const char* HistoryFormatName(HistoryFormat f) {
  switch (f) {
    case HistoryFormat::kAuto:
      return "auto";
    case HistoryFormat::kTokens:
      return "tokens";
    case HistoryFormat::kJepsen:
      return "jepsen";
    case HistoryFormat::kPorcupine:
      return "porcupine";
  }
  return "unknown";
}

HistoryFormat DetectHistoryFormat(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',') {
      ++i;
    } else if (c == ';') {  // an EDN comment
      while (i < text.size() && text[i] != '\n') ++i;
    } else {
      break;
    }
  }
  if (i >= text.size()) return HistoryFormat::kTokens;
  const char c = text[i];
  if (c == '[' || c == '(') return HistoryFormat::kJepsen;
  if (c == '{') {
    std::size_t j = i + 1;
    while (j < text.size() && (text[j] == ' ' || text[j] == '\t' || text[j] == '\n')) ++j;
    return j < text.size() && text[j] != '"' ? HistoryFormat::kJepsen : HistoryFormat::kTokens;
  }
  if (text.substr(i, 4096).find("jepsen.util -") != std::string_view::npos) {
    return HistoryFormat::kPorcupine;
  }
  return HistoryFormat::kTokens;
}

ParseResult ParseHistoryAs(std::string_view text, HistoryFormat format) {
  if (format == HistoryFormat::kAuto) format = DetectHistoryFormat(text);
  switch (format) {
    case HistoryFormat::kJepsen:
      return ParseJepsenHistory(text);
    case HistoryFormat::kPorcupine:
      return ParsePorcupineLog(text);
    case HistoryFormat::kAuto:
    case HistoryFormat::kTokens:
      break;
  }
  return ParseHistoryString(text);
}

ParseResult ReadHistoryFileAs(const std::string& path, HistoryFormat format, std::string* text) {
  if (format == HistoryFormat::kTokens) return ReadHistoryFile(path, text);
  struct stat st {};
  const bool regular = ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  if (format == HistoryFormat::kAuto && regular) {
    // Peek at the start; JSON Lines keep the fast reader.
    std::ifstream peek(path, std::ios::binary);
    std::string head(4096, '\0');
    peek.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(peek.gcount()));
    format = DetectHistoryFormat(head);
    if (format == HistoryFormat::kTokens) return ReadHistoryFile(path, text);
  }
  if (!regular && (::access(path.c_str(), F_OK) != 0 || S_ISDIR(st.st_mode))) {
    return ReadHistoryFile(path, text);  // its error names the cause
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return ReadHistoryFile(path, text);  // its error names the cause
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return ParseResult::Failure(0, fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  }
  ParseResult r = ParseHistoryAs(content, format);
  if (text) *text = std::move(content);
  return r;
}

}  // namespace checker
