#include "base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace token::internal {

void AssertFail(const char* condition, const char* file, int line, const char* why) {
  std::fprintf(stderr, "assertion failed: %s (%s:%d): %s\n", condition, file, line, why);
  std::fflush(stderr);
  std::abort();
}

}  // namespace token::internal
