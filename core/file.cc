#include "core/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <fmt/format.h>

namespace token {
namespace {

std::string Reason(int err) { return std::generic_category().message(err); }

}  // namespace

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<std::string> ReadFile(const std::string& path, std::string_view what) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    std::string msg = fmt::format("cannot open {} '{}': {}", what, path, Reason(err));
    if (err == ENOENT || err == ENOTDIR) return Status::NotFound(std::move(msg));
    if (err == EACCES || err == EPERM) return Status::PermissionDenied(std::move(msg));
    return Status::InvalidArgument(std::move(msg));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return Status::InvalidArgument(
        fmt::format("cannot read {} '{}': {}", what, path, Reason(errno)));
  }
  if (S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument(fmt::format("{} '{}' is a directory", what, path));
  }
  std::string text;
  if (S_ISREG(st.st_mode)) text.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::InvalidArgument(
          fmt::format("cannot read {} '{}': {}", what, path, Reason(errno)));
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

}  // namespace token
