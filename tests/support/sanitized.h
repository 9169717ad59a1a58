// How much of their work the heaviest tests do in this build: all of it in an optimised
// build, half under the sanitizers (10 to 20 times slower there), which look for memory
// errors the first half reaches as well. tests/CMakeLists.txt defines TOKEN_SANITIZED in a
// sanitized build.
#pragma once

namespace token::testing {

#ifdef TOKEN_SANITIZED
inline constexpr int kWorkDivisor = 2;
#else
inline constexpr int kWorkDivisor = 1;
#endif

// `full` units of a test's work (operations, cases, seeds), as this build runs them.
constexpr int Scaled(int full) { return full / kWorkDivisor; }

}  // namespace token::testing
