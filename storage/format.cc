#include "storage/format.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "storage/bytes.h"
#include "storage/crc32c.h"

namespace token::storage {
namespace {

constexpr std::string_view kLogMagic = "TOKWAL01";
constexpr std::string_view kCommitMagic = "CMIT";
constexpr std::string_view kSnapshotMagic = "TOKSNP01";
constexpr std::string_view kSnapshotEnd = "SEND";
constexpr std::size_t kSnapshotHeaderBytes = 28;
constexpr std::string_view kIdentityMagic = "token-store";

Status Corrupt(std::string_view file, std::uint64_t offset, std::string_view what) {
  return Status::InvalidArgument(
      fmt::format("{}: corrupt at byte offset {}: {}", file, offset, what));
}

// One record frame at `at`: checks its length against `end` and its checksum, and decodes it.
Result<FileRecord> ReadRecordFrame(std::string_view bytes, std::size_t at, std::size_t end,
                                   std::string_view file) {
  if (end - at < kRecordFrameBytes) return Corrupt(file, at, "record frame cut short");
  const std::uint32_t length = GetU32(bytes.data() + at);
  const std::uint32_t crc = GetU32(bytes.data() + at + 4);
  if (length > end - at - kRecordFrameBytes) {
    return Corrupt(file, at,
                   fmt::format("record length {} runs past its frame ({} bytes left)", length,
                               end - at - kRecordFrameBytes));
  }
  const std::string_view body = bytes.substr(at + kRecordFrameBytes, length);
  const std::uint32_t actual = Crc32c(body);
  if (actual != crc) {
    return Corrupt(file, at, fmt::format("record checksum {:08x}, expected {:08x}", actual, crc));
  }
  auto decoded = DecodeRecord(body);
  if (!decoded.ok()) return Corrupt(file, at, decoded.status().message());
  return FileRecord{at, std::move(decoded).value()};
}

// A commit whose header and payload checksums hold, at `at`.
struct CommitFrame {
  std::uint64_t sequence = 0;
  std::size_t payload_at = 0;
  std::size_t end = 0;
};

// Checks the commit at `at`: nullopt with `why` set when it is not a whole, valid commit.
std::optional<CommitFrame> CheckCommit(std::string_view bytes, std::size_t at, std::string* why) {
  const std::size_t left = bytes.size() - at;
  if (left < kCommitHeaderBytes) {
    *why = fmt::format("commit header cut short ({} of {} bytes)", left, kCommitHeaderBytes);
    return std::nullopt;
  }
  const char* p = bytes.data() + at;
  if (std::string_view(p, 4) != kCommitMagic) {
    *why = "no commit marker";
    return std::nullopt;
  }
  const std::uint32_t header_crc = Crc32c(std::string_view(p, 20));
  if (header_crc != GetU32(p + 20)) {
    *why =
        fmt::format("commit header checksum {:08x}, expected {:08x}", header_crc, GetU32(p + 20));
    return std::nullopt;
  }
  const std::uint32_t length = GetU32(p + 4);
  if (length > left - kCommitHeaderBytes) {
    *why = fmt::format("commit of {} bytes cut short ({} bytes left)", length,
                       left - kCommitHeaderBytes);
    return std::nullopt;
  }
  const std::uint32_t payload_crc = Crc32c(bytes.substr(at + kCommitHeaderBytes, length));
  if (payload_crc != GetU32(p + 16)) {
    *why = fmt::format("commit checksum {:08x}, expected {:08x}", payload_crc, GetU32(p + 16));
    return std::nullopt;
  }
  return CommitFrame{GetU64(p + 8), at + kCommitHeaderBytes, at + kCommitHeaderBytes + length};
}

// For an error about the commit at `at` whose header holds: where in its payload the
// damage is ("; its first bad record is at byte offset N: ..."), or "" when no record frame
// shows it (the damage is in a batch header, or the payload is cut short).
std::string LocateDamage(std::string_view bytes, std::size_t at, std::string_view file) {
  const std::size_t end =
      std::min(bytes.size(), at + kCommitHeaderBytes + GetU32(bytes.data() + at + 4));
  std::size_t p = at + kCommitHeaderBytes;
  while (end - p >= 12) {
    const std::uint32_t count = GetU32(bytes.data() + p + 8);
    p += 12;
    for (std::uint32_t i = 0; i < count; ++i) {
      auto record = ReadRecordFrame(bytes, p, end, file);
      if (!record.ok()) {
        if (end - p < kRecordFrameBytes || GetU32(bytes.data() + p) > end - p - kRecordFrameBytes) {
          return "";  // cut short, or a damaged length: nothing more precise to say
        }
        const std::string& m = record.status().message();
        return "; its first bad record: " + m.substr(m.find("byte offset"));
      }
      p += kRecordFrameBytes + GetU32(bytes.data() + p);
    }
  }
  return "";
}

}  // namespace

// ---- identity ----------------------------------------------------------------------------

std::string EncodeIdentity(const Identity& identity) {
  std::string text =
      fmt::format("{} {}\nnode {}\nscheme {}\n", kIdentityMagic, identity.format_version,
                  identity.node, identity.scheme_fingerprint);
  text += fmt::format("crc32c {:08x}\n", Crc32c(text));
  return text;
}

Result<Identity> ParseIdentity(std::string_view text, std::string_view file) {
  Identity id;
  std::size_t pos = 0;
  // The value of the line starting at `pos` that begins with `key` and a space.
  auto line = [&](std::string_view key, std::string_view* value) -> Status {
    const std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) {
      return Corrupt(file, pos, fmt::format("line '{} ...' cut short", key));
    }
    const std::string_view l = text.substr(pos, eol - pos);
    if (l.size() <= key.size() || l.substr(0, key.size()) != key || l[key.size()] != ' ') {
      return Corrupt(file, pos, fmt::format("expected a line '{} ...'", key));
    }
    *value = l.substr(key.size() + 1);
    pos = eol + 1;
    return Status::Ok();
  };
  std::string_view version;
  std::string_view node;
  std::string_view scheme;
  std::string_view crc;
  if (Status s = line(kIdentityMagic, &version); !s.ok()) return s;
  if (Status s = line("node", &node); !s.ok()) return s;
  if (Status s = line("scheme", &scheme); !s.ok()) return s;
  const std::size_t crc_at = pos;
  if (Status s = line("crc32c", &crc); !s.ok()) return s;
  if (pos != text.size()) return Corrupt(file, pos, "bytes after the checksum line");
  std::uint32_t expected = 0;
  const auto [end, ec] = std::from_chars(crc.data(), crc.data() + crc.size(), expected, 16);
  if (ec != std::errc() || end != crc.data() + crc.size() || crc.size() != 8) {
    return Corrupt(file, crc_at, "the checksum is not 8 hex digits");
  }
  const std::uint32_t actual = Crc32c(text.substr(0, crc_at));
  if (actual != expected) {
    return Corrupt(
        file, crc_at,
        fmt::format("checksum {:08x} of the lines before, expected {:08x}", actual, expected));
  }
  const auto [vend, vec] =
      std::from_chars(version.data(), version.data() + version.size(), id.format_version);
  if (vec != std::errc() || vend != version.data() + version.size()) {
    return Corrupt(file, 0, "the format version is not a number");
  }
  id.node = std::string(node);
  id.scheme_fingerprint = std::string(scheme);
  return id;
}

// ---- log ---------------------------------------------------------------------------------

std::string EncodeLogHeader(std::uint64_t generation) {
  std::string out(kLogMagic);
  PutU64(out, generation);
  PutU32(out, Crc32c(out));
  return out;
}

void CommitBuilder::Start(std::string* out, std::uint64_t sequence) {
  out_ = out;
  commit_at_ = out->size();
  count_at_ = 0;
  out->append(kCommitMagic);
  PutU32(*out, 0);  // payload length, set by Finish
  PutU64(*out, sequence);
  PutU32(*out, 0);  // payload checksum
  PutU32(*out, 0);  // header checksum
}

void CommitBuilder::StartBatch(std::uint64_t batch_id) {
  if (count_at_ != 0) SetU32(*out_, count_at_, count_);
  PutU64(*out_, batch_id);
  count_at_ = out_->size();
  count_ = 0;
  PutU32(*out_, 0);
}

void CommitBuilder::AddRecord(std::string_view encoded) {
  TOKEN_ASSERT(count_at_ != 0, "a record belongs to a batch");
  PutU32(*out_, static_cast<std::uint32_t>(encoded.size()));
  PutU32(*out_, Crc32c(encoded));
  out_->append(encoded);
  ++count_;
}

void CommitBuilder::Finish() {
  if (count_at_ != 0) SetU32(*out_, count_at_, count_);
  const std::size_t payload_at = commit_at_ + kCommitHeaderBytes;
  const std::size_t length = out_->size() - payload_at;
  TOKEN_ASSERT(length <= 0xFFFFFFFFu, "a commit fits a u32 length");
  SetU32(*out_, commit_at_ + 4, static_cast<std::uint32_t>(length));
  SetU32(*out_, commit_at_ + 16, Crc32c(std::string_view(*out_).substr(payload_at, length)));
  SetU32(*out_, commit_at_ + 20, Crc32c(std::string_view(*out_).substr(commit_at_, 20)));
  out_ = nullptr;
}

Result<LogContents> ParseLog(std::string_view bytes, std::uint64_t generation,
                             std::string_view file) {
  LogContents log;
  const bool header_ok = bytes.size() >= kLogHeaderBytes &&
                         bytes.substr(0, kLogMagic.size()) == kLogMagic &&
                         Crc32c(bytes.substr(0, 16)) == GetU32(bytes.data() + 16);
  if (!header_ok) {
    // The header is written alone and synced before any commit: a file no longer than a
    // header with a bad one is a log whose creation a crash cut short.
    if (bytes.size() <= kLogHeaderBytes) {
      log.torn = TornTail{0, bytes.size(), "log header cut short or unwritten"};
      return log;
    }
    return Corrupt(file, 0, "bad log header (magic or checksum)");
  }
  if (GetU64(bytes.data() + 8) != generation) {
    return Corrupt(
        file, 8,
        fmt::format("log of generation {}, expected {}", GetU64(bytes.data() + 8), generation));
  }
  // Whether every byte from `from` on is zero: space the store preallocated and has not
  // written yet.
  auto zeros_from = [&](std::size_t from) {
    return std::all_of(bytes.begin() + static_cast<std::ptrdiff_t>(from), bytes.end(),
                       [](char c) { return c == 0; });
  };
  std::size_t at = kLogHeaderBytes;
  while (at < bytes.size()) {
    std::string why;
    const auto commit = CheckCommit(bytes, at, &why);
    if (!commit || commit->sequence != log.commits + 1) {
      if (commit) {
        return Corrupt(
            file, at,
            fmt::format("commit number {}, expected {}", commit->sequence, log.commits + 1));
      }
      if (zeros_from(at)) break;  // the log ends here
      // A crash cuts the last commit only (the store writes the next one after syncing
      // this one): a valid commit further on means this one was damaged after it was
      // durable. A header that holds names where this commit ends: the store wrote nothing
      // but preallocated zeros past that end.
      const std::size_t header_end = at + kCommitHeaderBytes;
      const bool header_holds = header_end <= bytes.size() && bytes.substr(at, 4) == kCommitMagic &&
                                Crc32c(bytes.substr(at, 20)) == GetU32(bytes.data() + at + 20);
      const std::string where = header_holds ? LocateDamage(bytes, at, file) : "";
      const std::size_t claimed_end =
          header_holds ? header_end + GetU32(bytes.data() + at + 4) : bytes.size();
      if (claimed_end < bytes.size() && !zeros_from(claimed_end)) {
        return Corrupt(file, at,
                       fmt::format("{}, and {} more bytes follow it (a crash damages only "
                                   "the last commit){}",
                                   why, bytes.size() - claimed_end, where));
      }
      for (std::size_t q = at + 1; q + kCommitHeaderBytes <= bytes.size(); ++q) {
        if (bytes[q] != kCommitMagic[0]) continue;
        std::string ignored;
        const auto later = CheckCommit(bytes, q, &ignored);
        if (later && later->sequence > log.commits) {
          return Corrupt(file, at,
                         fmt::format("{}, and a valid commit follows at offset {} (a crash "
                                     "damages only the last commit){}",
                                     why, q, where));
        }
      }
      log.torn = TornTail{at, bytes.size() - at, why};
      break;
    }
    std::size_t p = commit->payload_at;
    while (p < commit->end) {
      if (commit->end - p < 12) return Corrupt(file, p, "batch header cut short");
      const std::uint32_t count = GetU32(bytes.data() + p + 8);
      p += 12;
      for (std::uint32_t i = 0; i < count; ++i) {
        auto record = ReadRecordFrame(bytes, p, commit->end, file);
        if (!record.ok()) return record.status();
        p += kRecordFrameBytes + GetU32(bytes.data() + p);
        log.records.push_back(std::move(record).value());
      }
      ++log.batches;
    }
    ++log.commits;
    at = commit->end;
  }
  log.valid_bytes = at;
  return log;
}

// ---- snapshot ----------------------------------------------------------------------------

std::string EncodeSnapshot(std::uint64_t generation, const std::vector<std::string_view>& records) {
  std::string out(kSnapshotMagic);
  PutU64(out, generation);
  PutU64(out, records.size());
  PutU32(out, Crc32c(out));
  const std::size_t body_at = out.size();
  for (std::string_view r : records) {
    PutU32(out, static_cast<std::uint32_t>(r.size()));
    PutU32(out, Crc32c(r));
    out.append(r);
  }
  const std::uint32_t body_crc = Crc32c(std::string_view(out).substr(body_at));
  out.append(kSnapshotEnd);
  PutU32(out, body_crc);
  return out;
}

Result<std::vector<FileRecord>> ParseSnapshot(std::string_view bytes, std::uint64_t generation,
                                              std::string_view file) {
  if (bytes.size() < kSnapshotHeaderBytes) {
    return Corrupt(file, bytes.size(), "snapshot header cut short");
  }
  if (bytes.substr(0, kSnapshotMagic.size()) != kSnapshotMagic) {
    return Corrupt(file, 0, "not a snapshot (bad magic)");
  }
  if (Crc32c(bytes.substr(0, 24)) != GetU32(bytes.data() + 24)) {
    return Corrupt(file, 24, "snapshot header checksum does not match");
  }
  if (GetU64(bytes.data() + 8) != generation) {
    return Corrupt(file, 8,
                   fmt::format("snapshot of generation {}, expected {}", GetU64(bytes.data() + 8),
                               generation));
  }
  const std::uint64_t count = GetU64(bytes.data() + 16);
  std::vector<FileRecord> records;
  std::size_t p = kSnapshotHeaderBytes;
  for (std::uint64_t i = 0; i < count; ++i) {
    auto record = ReadRecordFrame(bytes, p, bytes.size(), file);
    if (!record.ok()) return record.status();
    p += kRecordFrameBytes + GetU32(bytes.data() + p);
    records.push_back(std::move(record).value());
  }
  if (bytes.size() - p < 8) return Corrupt(file, p, "snapshot trailer cut short");
  if (bytes.substr(p, 4) != kSnapshotEnd) return Corrupt(file, p, "no snapshot end marker");
  const std::uint32_t body_crc =
      Crc32c(bytes.substr(kSnapshotHeaderBytes, p - kSnapshotHeaderBytes));
  if (body_crc != GetU32(bytes.data() + p + 4)) {
    return Corrupt(file, p,
                   fmt::format("snapshot checksum {:08x}, expected {:08x}", body_crc,
                               GetU32(bytes.data() + p + 4)));
  }
  if (p + 8 != bytes.size()) {
    return Corrupt(file, p + 8,
                   fmt::format("{} bytes after the snapshot's end", bytes.size() - p - 8));
  }
  return records;
}

}  // namespace token::storage
