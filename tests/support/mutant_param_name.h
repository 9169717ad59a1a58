// Test names for suites parameterised over the planted bugs: "read_skips_impose".
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "core/node.h"

namespace token::testing {

inline std::string MutantParamName(const ::testing::TestParamInfo<Mutant>& info) {
  std::string name(MutantName(info.param));
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

}  // namespace token::testing
