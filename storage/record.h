// A TokenRecord (core/messages.h) as bytes: what the store's log and snapshots hold per
// record (storage/wal.h frames them).
//
// The token is named by its id string, never by its TokenIndex, so stored data does not
// depend on the order of the scheme file. Every field is written: the replica's version,
// the value's kind, for data the domain (name, low, mid, high) and the partial argmin point
// when there is one, the writer's reserved_through, and the crashed and catching_up marks.
//
// Encoding 1, little-endian, no padding (docs/STORAGE.md):
//   u8  encoding (1)
//   u32 id length, id bytes
//   u64 version
//   u8  value kind (0 initial, 1 empty, 2 dropped, 3 data)
//   data only: u32 name length, name bytes, u64 low, u64 mid, u64 high,
//              u8 has partial (0/1), when 1: u64 x, u64 hash
//   u64 reserved_through
//   u8  flags: bit 0 crashed, bit 1 catching_up (other bits 0)
//
// Decoding is strict: a short field, an unknown encoding, kind or flag bit, or bytes after
// the last field is an error naming the field and its offset in the record.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "core/messages.h"

namespace token::storage {

inline constexpr std::uint8_t kRecordEncoding = 1;

// Appends the encoding of `record` (its `token` index is not written; `token_id` names it).
void EncodeRecord(std::string_view token_id, const TokenRecord& record, std::string& out);

struct DecodedRecord {
  std::string token_id;
  TokenRecord record;  // record.token is 0: the caller resolves token_id in its scheme
  friend bool operator==(const DecodedRecord&, const DecodedRecord&) = default;
};

// INVALID_ARGUMENT naming the bad field and its byte offset within `bytes`.
Result<DecodedRecord> DecodeRecord(std::string_view bytes);

}  // namespace token::storage
