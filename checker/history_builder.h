// Builds a History event by event, for the readers of other tools' formats
// (checker/history_formats.h): pairs each completion with its process's outstanding
// invocation, numbers events as the clock (file order is real-time order), interns values.
//
// Thread-safety: one builder per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "checker/history.h"

namespace checker::internal {

class HistoryBuilder {
 public:
  // nullopt-like: kInitialValue for nil; otherwise the id of the canonical text.
  ValueId Intern(const std::string& canonical);

  // Errors are returned as messages (empty: fine).
  std::string Invoke(std::uint64_t process, std::string_view token, OpType type, ValueId value,
                     ValueId expected, std::uint64_t line);
  // `value`: a read's value (ok); `cas_failed`: a cas that completed without effect.
  std::string Complete(std::uint64_t process, OpType type, Outcome outcome, ValueId value,
                       bool cas_failed, std::uint64_t line);
  // Whether the process has an operation outstanding, and its type.
  bool Outstanding(std::uint64_t process, OpType* type) const;

  History Finish(std::uint64_t lines);

 private:
  struct Pending {
    std::size_t token;
    std::size_t op;
  };
  History history_;
  std::unordered_map<std::string, ValueId> value_ids_;
  std::unordered_map<std::string, std::size_t> token_ids_;
  std::unordered_map<std::uint64_t, Pending> outstanding_;
  std::int64_t time_ = 0;
};

}  // namespace checker::internal
