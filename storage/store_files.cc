#include "storage/store_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <optional>
#include <system_error>

#include <fmt/format.h>

#include "storage/format.h"

namespace token::storage::store_files {
namespace {

std::string Reason(int err) { return std::generic_category().message(err); }

// The generation in "<prefix><digits><suffix>", or nullopt.
std::optional<std::uint64_t> GenerationOf(std::string_view name, std::string_view prefix,
                                          std::string_view suffix) {
  if (name.size() <= prefix.size() + suffix.size() || name.substr(0, prefix.size()) != prefix ||
      name.substr(name.size() - suffix.size()) != suffix) {
    return std::nullopt;
  }
  const std::string_view digits =
      name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  std::uint64_t g = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), g);
  if (ec != std::errc() || end != digits.data() + digits.size() || g == 0) return std::nullopt;
  return g;
}

}  // namespace

Status IoError(std::string_view what, const std::string& path, int err) {
  return Status::Internal(fmt::format("cannot {} {}: {}", what, path, Reason(err)));
}

std::string LogName(std::uint64_t generation) { return fmt::format("wal-{:08d}.log", generation); }
std::string SnapshotName(std::uint64_t generation) {
  return fmt::format("snapshot-{:08d}.snap", generation);
}

Result<DirListing> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return IoError("list", dir, errno);
  DirListing out;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (auto g = GenerationOf(name, "wal-", ".log")) {
      out.logs[*g] = std::string(name);
    } else if (auto s = GenerationOf(name, "snapshot-", ".snap")) {
      out.snapshots[*s] = std::string(name);
    } else if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") {
      out.temporaries.emplace_back(name);
    }
  }
  ::closedir(d);
  return out;
}

Status SyncFd(int fd, const std::string& path, bool data_only) {
  const int rc = data_only ? ::fdatasync(fd) : ::fsync(fd);
  if (rc != 0) return IoError("sync", path, errno);
  return Status::Ok();
}

Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("write", path, errno);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::Ok();
}

Status WriteAt(int fd, std::string_view bytes, std::uint64_t offset, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("write", path, errno);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return Status::Ok();
}

Status WriteFileAtomically(int dir_fd, const std::string& dir, const std::string& name,
                           std::string_view bytes, std::uint64_t* syncs) {
  const std::string tmp = dir + "/" + name + ".tmp";
  const std::string path = dir + "/" + name;
  {
    const UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) return IoError("create", tmp, errno);
    if (Status s = WriteAll(fd.get(), bytes, tmp); !s.ok()) return s;
    if (Status s = SyncFd(fd.get(), tmp, false); !s.ok()) return s;
    ++*syncs;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return IoError("rename to", path, errno);
  if (Status s = SyncFd(dir_fd, dir, false); !s.ok()) return s;
  ++*syncs;
  return Status::Ok();
}

Result<UniqueFd> CreateLog(int dir_fd, const std::string& dir, std::uint64_t generation,
                           std::uint64_t* syncs) {
  const std::string path = dir + "/" + LogName(generation);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return IoError("create", path, errno);
  if (Status s = WriteAll(fd.get(), EncodeLogHeader(generation), path); !s.ok()) return s;
  if (Status s = SyncFd(fd.get(), path, false); !s.ok()) return s;
  if (Status s = SyncFd(dir_fd, dir, false); !s.ok()) return s;
  *syncs += 2;
  return fd;
}

Status Remove(const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return IoError("remove", path, errno);
  return Status::Ok();
}

Result<UniqueFd> LockDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound(fmt::format("no directory {}", dir));
    if (err == ENOTDIR) {
      return Status::InvalidArgument(fmt::format("data directory {} is not a directory", dir));
    }
    return IoError("open", dir, err);
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::FailedPrecondition(
          fmt::format("data directory {} is in use by another store (locked)", dir));
    }
    return IoError("lock", dir, errno);
  }
  return fd;
}

}  // namespace token::storage::store_files
