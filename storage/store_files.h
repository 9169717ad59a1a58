// The store's file primitives (storage/store.cc): names of its files, listing and locking
// its directory, whole writes, syncs and atomic replacement. Not for use outside the store.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "core/file.h"

namespace token::storage::store_files {

// INTERNAL naming `what` failed on `path` with errno `err`.
Status IoError(std::string_view what, const std::string& path, int err);

std::string LogName(std::uint64_t generation);
std::string SnapshotName(std::uint64_t generation);

struct DirListing {
  std::map<std::uint64_t, std::string> logs;       // generation -> name
  std::map<std::uint64_t, std::string> snapshots;  // generation -> name
  std::vector<std::string> temporaries;            // *.tmp
};

// The store's files in `dir`, by kind.
Result<DirListing> ListDir(const std::string& dir);

// fsync (fdatasync with `data_only`) of `fd`, which is `path`.
Status SyncFd(int fd, const std::string& path, bool data_only);

// The whole of `bytes` to `fd` (at its offset, or at `offset`), retrying short writes.
Status WriteAll(int fd, std::string_view bytes, const std::string& path);
Status WriteAt(int fd, std::string_view bytes, std::uint64_t offset, const std::string& path);

// Writes `bytes` to dir/name through a temporary file: write, fsync, rename, fsync of the
// directory. `syncs` counts the syncs made.
Status WriteFileAtomically(int dir_fd, const std::string& dir, const std::string& name,
                           std::string_view bytes, std::uint64_t* syncs);

// Creates dir/name holding a log header, synced, and returns it open for writing.
Result<UniqueFd> CreateLog(int dir_fd, const std::string& dir, std::uint64_t generation,
                           std::uint64_t* syncs);

// Removes dir/name; one already gone is no error.
Status Remove(const std::string& dir, const std::string& name);

// Opens and locks the directory. NOT_FOUND when it does not exist.
Result<UniqueFd> LockDir(const std::string& dir);

}  // namespace token::storage::store_files
