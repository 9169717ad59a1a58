// Jepsen's EDN histories of registers (checker/history_formats.h).
#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

#include "checker/edn.h"
#include "checker/history_builder.h"
#include "checker/history_formats.h"

namespace checker {
namespace {

bool IsPair(const edn::Value* v) { return v && v->IsSequence() && v->items.size() == 2; }

std::optional<OpType> RegisterOp(const edn::Value* f) {
  if (!f || f->kind != edn::Value::Kind::kKeyword) return std::nullopt;
  if (f->text == "read") return OpType::kRead;
  if (f->text == "write") return OpType::kWrite;
  if (f->text == "cas") return OpType::kCas;
  return std::nullopt;
}

// A client operation: an integer :process (the nemesis and other named processes are not
// clients of the register).
bool ClientProcess(const edn::Value& op, std::uint64_t* process) {
  const edn::Value* p = op.Get("process");
  if (!p || p->kind != edn::Value::Kind::kInteger || p->text[0] == '-') return false;
  errno = 0;
  char* end = nullptr;
  *process = std::strtoull(p->text.c_str(), &end, 10);
  return errno == 0 && *end == '\0';
}

// jepsen.independent: every client invocation's value is a [key value] tuple (a read's
// [key nil], a cas's [key [old new]]).
bool Independent(const std::vector<const edn::Value*>& ops) {
  bool any = false;
  for (const edn::Value* op : ops) {
    std::uint64_t process = 0;
    const edn::Value* type = op->Get("type");
    if (!ClientProcess(*op, &process) || !type || !type->IsKeyword("invoke")) continue;
    const std::optional<OpType> f = RegisterOp(op->Get("f"));
    const edn::Value* v = op->Get("value");
    if (!f || !IsPair(v)) return false;
    if (*f == OpType::kCas && !IsPair(&v->items[1])) return false;
    if (*f == OpType::kRead && v->items[1].kind != edn::Value::Kind::kNil) return false;
    any = true;
  }
  return any;
}

}  // namespace

ParseResult ParseJepsenHistory(std::string_view text) {
  edn::ReadResult read = edn::ReadAll(text);
  if (read.error)
    return ParseResult::Failure(read.error->line, "not valid EDN: " + read.error->message);
  std::vector<const edn::Value*> ops;
  if (read.values.size() == 1 && read.values[0].IsSequence()) {
    for (const edn::Value& v : read.values[0].items) ops.push_back(&v);
  } else {
    for (const edn::Value& v : read.values) ops.push_back(&v);
  }
  if (ops.empty()) return ParseResult::Failure(1, "the history holds no operation");
  for (const edn::Value* op : ops) {
    if (op->kind != edn::Value::Kind::kMap) {
      return ParseResult::Failure(op->line,
                                  "an operation must be a map ({:process 0, :type :invoke, ...})");
    }
  }
  const bool independent = Independent(ops);
  internal::HistoryBuilder builder;
  for (const edn::Value* op : ops) {
    const std::uint64_t line = op->line;
    std::uint64_t process = 0;
    if (!ClientProcess(*op, &process)) {
      if (!op->Get("process")) return ParseResult::Failure(line, "an operation needs its :process");
      continue;  // the nemesis
    }
    const edn::Value* type = op->Get("type");
    if (!type || type->kind != edn::Value::Kind::kKeyword) {
      return ParseResult::Failure(line,
                                  "an operation needs its :type (:invoke, :ok, :fail or :info)");
    }
    const edn::Value* f_value = op->Get("f");
    const std::optional<OpType> f = RegisterOp(f_value);
    if (!f) {
      return ParseResult::Failure(line,
                                  fmt::format("unsupported :f {} (registers: :read, :write, :cas)",
                                              f_value ? edn::Canonical(*f_value) : "(missing)"));
    }
    const edn::Value nil;
    const edn::Value* value = op->Get("value");
    if (!value) value = &nil;
    std::string token = "register";
    if (independent) {
      if (!IsPair(value)) {
        return ParseResult::Failure(line,
                                    "an independent history's value must be a [key value] tuple");
      }
      token = edn::Canonical(value->items[0]);
      value = &value->items[1];
    }
    std::string problem;
    if (type->IsKeyword("invoke")) {
      ValueId written = kNoValue;
      ValueId expected = kNoValue;
      if (*f == OpType::kWrite) {
        written = builder.Intern(edn::Canonical(*value));
      } else if (*f == OpType::kCas) {
        if (!IsPair(value)) return ParseResult::Failure(line, "a cas needs its value [old new]");
        expected = builder.Intern(edn::Canonical(value->items[0]));
        written = builder.Intern(edn::Canonical(value->items[1]));
      }
      problem = builder.Invoke(process, token, *f, written, expected, line);
    } else if (type->IsKeyword("ok") || type->IsKeyword("fail") || type->IsKeyword("info")) {
      const Outcome outcome = type->IsKeyword("ok")     ? Outcome::kOk
                              : type->IsKeyword("fail") ? Outcome::kFail
                                                        : Outcome::kInfo;
      const ValueId v = *f == OpType::kRead && outcome == Outcome::kOk
                            ? builder.Intern(edn::Canonical(*value))
                            : kNoValue;
      problem = builder.Complete(process, *f, outcome, v, false, line);
    } else {
      return ParseResult::Failure(
          line, fmt::format("unknown :type {} (expected :invoke, :ok, :fail or :info)",
                            edn::Canonical(*type)));
    }
    if (!problem.empty()) return ParseResult::Failure(line, problem);
  }
  const auto lines = static_cast<std::uint64_t>(std::count(text.begin(), text.end(), '\n')) +
                     (text.empty() || text.back() == '\n' ? 0 : 1);
  return ParseResult{builder.Finish(lines), std::nullopt};
}

}  // namespace checker
