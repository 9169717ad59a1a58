#include "storage/record.h"

#include <fmt/format.h>

#include "storage/bytes.h"

namespace token::storage {
namespace {

constexpr std::uint8_t kCrashed = 1;
constexpr std::uint8_t kCatchingUp = 2;

void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

Status Short(const ByteReader& r, std::string_view field) {
  return Status::InvalidArgument(
      fmt::format("record ends inside its {} (offset {} of the record)", field, r.offset()));
}

}  // namespace

void EncodeRecord(std::string_view token_id, const TokenRecord& record, std::string& out) {
  TOKEN_ASSERT(token_id.size() <= 0xFFFFFFFFu, "a token id fits a u32 length");
  PutU8(out, kRecordEncoding);
  PutString(out, token_id);
  PutU64(out, record.stored.version);
  const RegisterValue& value = record.stored.value;
  PutU8(out, static_cast<std::uint8_t>(value.kind()));
  if (value.has_data()) {
    const TokenData& data = value.data();
    TOKEN_ASSERT(data.domain.name.size() <= 0xFFFFFFFFu, "a domain name fits a u32 length");
    PutString(out, data.domain.name);
    PutU64(out, data.domain.low);
    PutU64(out, data.domain.mid);
    PutU64(out, data.domain.high);
    PutU8(out, data.partial ? 1 : 0);
    if (data.partial) {
      PutU64(out, data.partial->x);
      PutU64(out, data.partial->hash);
    }
  }
  PutU64(out, record.reserved_through);
  PutU8(out, static_cast<std::uint8_t>((record.crashed ? kCrashed : 0) |
                                       (record.catching_up ? kCatchingUp : 0)));
}

Result<DecodedRecord> DecodeRecord(std::string_view bytes) {
  ByteReader r(bytes);
  DecodedRecord out;
  const auto encoding = r.U8();
  if (!encoding) return Short(r, "encoding");
  if (*encoding != kRecordEncoding) {
    return Status::InvalidArgument(fmt::format(
        "record encoding {} is not {} (offset 0 of the record)", *encoding, kRecordEncoding));
  }
  const auto id_length = r.U32();
  if (!id_length) return Short(r, "token id length");
  const auto id = r.Bytes(*id_length);
  if (!id) return Short(r, "token id");
  out.token_id = std::string(*id);
  const auto version = r.U64();
  if (!version) return Short(r, "version");
  out.record.stored.version = *version;
  const std::size_t kind_at = r.offset();
  const auto kind = r.U8();
  if (!kind) return Short(r, "value kind");
  switch (static_cast<ValueKind>(*kind)) {
    case ValueKind::kInitial:
      break;
    case ValueKind::kEmpty:
      out.record.stored.value = RegisterValue::Empty();
      break;
    case ValueKind::kDropped:
      out.record.stored.value = RegisterValue::Dropped();
      break;
    case ValueKind::kData: {
      TokenData data;
      const auto name_length = r.U32();
      if (!name_length) return Short(r, "domain name length");
      const auto name = r.Bytes(*name_length);
      if (!name) return Short(r, "domain name");
      data.domain.name = std::string(*name);
      const auto low = r.U64();
      if (!low) return Short(r, "domain low");
      const auto mid = r.U64();
      if (!mid) return Short(r, "domain mid");
      const auto high = r.U64();
      if (!high) return Short(r, "domain high");
      data.domain.low = *low;
      data.domain.mid = *mid;
      data.domain.high = *high;
      const std::size_t has_at = r.offset();
      const auto has_partial = r.U8();
      if (!has_partial) return Short(r, "partial mark");
      if (*has_partial > 1) {
        return Status::InvalidArgument(
            fmt::format("record's partial mark is {}, not 0 or 1 (offset {} of the record)",
                        *has_partial, has_at));
      }
      if (*has_partial == 1) {
        const auto x = r.U64();
        if (!x) return Short(r, "partial point");
        const auto hash = r.U64();
        if (!hash) return Short(r, "partial hash");
        data.partial = HashPoint{*x, *hash};
      }
      out.record.stored.value = RegisterValue::Data(std::move(data));
      break;
    }
    default:
      return Status::InvalidArgument(fmt::format(
          "record's value kind is {}, not 0..3 (offset {} of the record)", *kind, kind_at));
  }
  const auto reserved = r.U64();
  if (!reserved) return Short(r, "reserved_through");
  out.record.reserved_through = *reserved;
  const std::size_t flags_at = r.offset();
  const auto flags = r.U8();
  if (!flags) return Short(r, "flags");
  if ((*flags & ~(kCrashed | kCatchingUp)) != 0) {
    return Status::InvalidArgument(fmt::format(
        "record's flags {:#04x} have unknown bits (offset {} of the record)", *flags, flags_at));
  }
  out.record.crashed = (*flags & kCrashed) != 0;
  out.record.catching_up = (*flags & kCatchingUp) != 0;
  if (r.remaining() != 0) {
    return Status::InvalidArgument(
        fmt::format("record has {} bytes after its last field (offset {} of the record)",
                    r.remaining(), r.offset()));
  }
  return out;
}

}  // namespace token::storage
