// TOKEN_ASSERT: invariants that stay checked in every build type.
//
// A failed assertion means the program is wrong, not that the input was bad: it prints the
// condition, the place and the reason to stderr and aborts. Bad input is reported through
// Status (base/status.h), never through an assertion.
#pragma once

namespace token::internal {
[[noreturn]] void AssertFail(const char* condition, const char* file, int line, const char* why);
}  // namespace token::internal

#define TOKEN_ASSERT(cond, why)                                        \
  do {                                                                 \
    if (!(cond)) [[unlikely]] {                                        \
      ::token::internal::AssertFail(#cond, __FILE__, __LINE__, (why)); \
    }                                                                  \
  } while (false)
