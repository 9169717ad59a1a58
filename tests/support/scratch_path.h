// A path of its own under the test temporary directory: "<TempDir>/<stem>-<pid><suffix>".
// The process id keeps concurrent runs of the suites (two build trees, two checkouts)
// from using, or removing, each other's files.
#pragma once

#include <unistd.h>

#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace token::testing {

inline std::string ScratchPath(std::string_view stem, std::string_view suffix = "") {
  std::string path = ::testing::TempDir();
  if (!path.empty() && path.back() != '/') path += '/';
  path.append(stem).append("-").append(std::to_string(::getpid())).append(suffix);
  return path;
}

}  // namespace token::testing
