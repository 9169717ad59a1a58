// Files for the loaders (the scheme, scenarios, TLS files, tools): one reader of a whole
// file, and a file descriptor that closes itself.
//
// A small library of its own (target core_file), beside core like the scheme loader, so
// that core itself stays free of I/O.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace token {

// Owns a file descriptor (-1: none) and closes it when destroyed or reset.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership without closing.
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the descriptor held (if any) and holds `fd` instead.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Reads the whole file at `path`. `what` names the file in errors ("scheme file"), which
// also name the path and the system's reason: NOT_FOUND when the file does not exist,
// PERMISSION_DENIED when it may not be read, INVALID_ARGUMENT otherwise (a directory, a
// read error). Reads pipes and other non-regular files to their end as well.
Result<std::string> ReadFile(const std::string& path, std::string_view what = "file");

}  // namespace token
