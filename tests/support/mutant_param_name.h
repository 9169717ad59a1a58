// Test names for suites parameterised over the planted bugs: "read_skips_impose".
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "core/node.h"

namespace token::testing {

inline std::string MutantTestName(Mutant m) {
  std::string name(MutantName(m));
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

inline std::string MutantParamName(const ::testing::TestParamInfo<Mutant>& info) {
  return MutantTestName(info.param);
}

}  // namespace token::testing
