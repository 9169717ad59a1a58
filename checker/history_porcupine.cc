// The Jepsen log lines Porcupine's tests read (checker/history_formats.h):
//   INFO  jepsen.util - PROCESS<tab>:TYPE<tab>:F<tab>VALUE
// with Porcupine's meaning: a failed cas completed and found the register not holding its
// old value; a failed read (":timed-out") and every :info have an unknown outcome. Other
// lines of the log are skipped.
#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

#include "checker/edn.h"
#include "checker/history_builder.h"
#include "checker/history_formats.h"

namespace checker {
namespace {

// The next whitespace-separated field of `rest`.
std::string_view Field(std::string_view* rest) {
  std::size_t i = 0;
  while (i < rest->size() && ((*rest)[i] == ' ' || (*rest)[i] == '\t')) ++i;
  std::size_t j = i;
  while (j < rest->size() && (*rest)[j] != ' ' && (*rest)[j] != '\t') ++j;
  const std::string_view field = rest->substr(i, j - i);
  rest->remove_prefix(j);
  return field;
}

}  // namespace

ParseResult ParsePorcupineLog(std::string_view text) {
  internal::HistoryBuilder builder;
  std::uint64_t line = 0;
  std::uint64_t operations = 0;
  constexpr std::string_view kMarker = "jepsen.util -";
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t eol = std::min(text.find('\n', pos), text.size());
    std::string_view l = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    const std::size_t at = l.find(kMarker);
    if (at == std::string_view::npos) continue;
    std::string_view rest = l.substr(at + kMarker.size());
    const std::string_view process_text = Field(&rest);
    const std::string_view type = Field(&rest);
    const std::string_view f = Field(&rest);
    errno = 0;
    char* end = nullptr;
    const std::string process_string(process_text);
    const unsigned long long process = std::strtoull(process_string.c_str(), &end, 10);
    if (process_text.empty() || process_text[0] == '-' || errno != 0 || *end != '\0') {
      continue;  // not a client operation (the nemesis logs here too)
    }
    OpType op_type;
    if (f == ":read") {
      op_type = OpType::kRead;
    } else if (f == ":write") {
      op_type = OpType::kWrite;
    } else if (f == ":cas") {
      op_type = OpType::kCas;
    } else {
      return ParseResult::Failure(
          line, fmt::format("unsupported operation '{}' (registers: :read, :write, :cas)", f));
    }
    edn::ReadResult value = edn::ReadAll(rest);
    if (value.error || value.values.size() != 1) {
      return ParseResult::Failure(
          line, "the operation's value must be one EDN value (nil, 3, [1 4], :timed-out)");
    }
    const edn::Value& v = value.values[0];
    std::string problem;
    if (type == ":invoke") {
      ValueId written = kNoValue;
      ValueId expected = kNoValue;
      if (op_type == OpType::kWrite) {
        written = builder.Intern(edn::Canonical(v));
      } else if (op_type == OpType::kCas) {
        if (!v.IsSequence() || v.items.size() != 2) {
          return ParseResult::Failure(line, "a cas needs its value [old new]");
        }
        expected = builder.Intern(edn::Canonical(v.items[0]));
        written = builder.Intern(edn::Canonical(v.items[1]));
      }
      problem = builder.Invoke(process, "register", op_type, written, expected, line);
      ++operations;
    } else if (type == ":ok" || type == ":fail" || type == ":info") {
      Outcome outcome = Outcome::kInfo;
      bool cas_failed = false;
      if (type == ":ok") {
        outcome = Outcome::kOk;
      } else if (type == ":fail" && op_type == OpType::kCas) {
        outcome = Outcome::kOk;  // it completed: the register held another value
        cas_failed = true;
      }
      const ValueId read = op_type == OpType::kRead && outcome == Outcome::kOk
                               ? builder.Intern(edn::Canonical(v))
                               : kNoValue;
      problem = builder.Complete(process, op_type, outcome, read, cas_failed, line);
    } else {
      return ParseResult::Failure(
          line, fmt::format("unknown type '{}' (expected :invoke, :ok, :fail or :info)", type));
    }
    if (!problem.empty()) return ParseResult::Failure(line, problem);
  }
  if (operations == 0) {
    return ParseResult::Failure(
        0, "no operation found (expected lines like 'INFO  jepsen.util - 0\t:invoke\t:read\tnil')");
  }
  return ParseResult{builder.Finish(line), std::nullopt};
}

}  // namespace checker
