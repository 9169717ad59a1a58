// The store's files as bytes: the identity file, the write-ahead log and snapshots. Pure
// functions (no I/O): storage/store.h reads and writes the files and calls these. The
// formats and the recovery rules are described in docs/STORAGE.md.
//
// Integers are little-endian; every frame carries a CRC-32C (storage/crc32c.h).
//
// Log (`wal-<generation>.log`): a 20-byte header, then commits, one per sync of the store:
//   header:  "TOKWAL01" | u64 generation | u32 crc32c(the 16 bytes before)
//   commit:  "CMIT" | u32 payload length | u64 sequence (1, 2, ... in the file)
//            | u32 crc32c(payload) | u32 crc32c(the 20 bytes before) | payload
//   payload: batches, each u64 batch id | u32 record count | records
//   record:  u32 length | u32 crc32c(bytes) | bytes (storage/record.h)
// A commit is all-or-nothing: it is loaded only when its header and payload checksums hold,
// and so are the batches in it. After the last commit the file may hold zeros: space the
// store preallocated (overwriting written blocks makes a sync cheaper than growing a file).
//
// Snapshot (`snapshot-<generation>.snap`): the last record of every token, as of the end of
// the log of the generation before:
//   "TOKSNP01" | u64 generation | u64 record count | u32 crc32c(the 24 bytes before)
//   | records (framed as in the log) | "SEND" | u32 crc32c(every record frame)
//
// Identity (`IDENTITY`), text:
//   token-store <format version>\n node <address>\n scheme <fingerprint>\n crc32c <8 hex>\n
// where the checksum covers the three lines before it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "storage/record.h"

namespace token::storage {

inline constexpr int kFormatVersion = 1;
inline constexpr std::size_t kLogHeaderBytes = 20;
inline constexpr std::size_t kCommitHeaderBytes = 24;
inline constexpr std::size_t kRecordFrameBytes = 8;  // length + checksum before the bytes

// ---- identity ----------------------------------------------------------------------------

struct Identity {
  int format_version = kFormatVersion;
  std::string node;
  std::string scheme_fingerprint;
  friend bool operator==(const Identity&, const Identity&) = default;
};

// REQUIRES: node and fingerprint hold no line break (the store checks before).
std::string EncodeIdentity(const Identity& identity);
// `file` names the file in errors, which give the byte offset of the bad line.
Result<Identity> ParseIdentity(std::string_view text, std::string_view file);

// ---- log ---------------------------------------------------------------------------------

std::string EncodeLogHeader(std::uint64_t generation);

// Builds one commit: Start, then per batch StartBatch and AddRecord, then Finish.
class CommitBuilder {
 public:
  // Starts commit number `sequence` at the end of `out` (which may hold earlier commits).
  void Start(std::string* out, std::uint64_t sequence);
  void StartBatch(std::uint64_t batch_id);
  // Frames `encoded` (a record from EncodeRecord).
  void AddRecord(std::string_view encoded);
  // Fills in the batch counts, the lengths and the checksums.
  void Finish();

 private:
  std::string* out_ = nullptr;
  std::size_t commit_at_ = 0;
  std::size_t count_at_ = 0;  // the open batch's record count
  std::uint32_t count_ = 0;
};

// A record read from a file, with its frame's offset in that file.
struct FileRecord {
  std::uint64_t offset = 0;
  DecodedRecord decoded;
};

struct TornTail {
  std::uint64_t offset = 0;  // where the dropped bytes start
  std::uint64_t bytes = 0;   // how many were dropped (to the end of the file)
  std::string reason;        // what was wrong at `offset`
};

struct LogContents {
  std::vector<FileRecord> records;  // in log order
  std::uint64_t commits = 0;
  std::uint64_t batches = 0;
  std::uint64_t valid_bytes = 0;  // where the next commit goes: the end of the last one
  std::optional<TornTail> torn;   // the last commit was cut short by a crash
};

// Reads the log of `generation`. Zeros after the last commit end the log. What a crash may
// leave at its end (a commit that is short, or whose checksum fails, with no valid commit
// and nothing but zeros after where it ends; a header that is short or bad in a file no
// longer than a header) is the torn tail: reported, not loaded. Anything else wrong is
// INVALID_ARGUMENT naming `file` and the byte offset.
Result<LogContents> ParseLog(std::string_view bytes, std::uint64_t generation,
                             std::string_view file);

// ---- snapshot ----------------------------------------------------------------------------

// `records` are encoded records (EncodeRecord).
std::string EncodeSnapshot(std::uint64_t generation, const std::vector<std::string_view>& records);
// Any damage is INVALID_ARGUMENT naming `file` and the byte offset.
Result<std::vector<FileRecord>> ParseSnapshot(std::string_view bytes, std::uint64_t generation,
                                              std::string_view file);

}  // namespace token::storage
