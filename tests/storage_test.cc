// The durable store (storage/): checksums and the record encoding.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "harness/uniform_pick.h"
#include "storage/crc32c.h"
#include "storage/record.h"

namespace token::storage {
namespace {

using ::testing::HasSubstr;
using tokensim::Pick;

// The record batch `version` writes for `token`: every kind of value and mark, by version.
TokenRecord RecordOf(TokenIndex token, std::uint64_t version) {
  TokenRecord r;
  r.token = token;
  r.stored.version = version;
  switch (version % 4) {
    case 0:
      r.stored.value = RegisterValue::Empty();
      break;
    case 1: {
      TokenData data;
      data.domain = Domain{"name-" + std::to_string(version), version, version + 10, version + 99};
      if (version % 3 != 0) data.partial = HashPoint{version + 3, ~version};
      r.stored.value = RegisterValue::Data(std::move(data));
      break;
    }
    case 2:
      r.stored.value = RegisterValue::Dropped();
      break;
    default:
      break;  // the initial value
  }
  r.reserved_through = version * 1024;
  r.crashed = version % 5 == 0;
  r.catching_up = version % 7 == 0;
  return r;
}

// ---- CRC-32C -----------------------------------------------------------------------------

TEST(Crc32c, KnownValues) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);  // RFC 3720, B.4
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(""), 0u);
}

RC_GTEST_PROP(Crc32c, HardwareAndTablesAgreeAndExtend,
              (const std::string& a, const std::string& b)) {
  RC_ASSERT(Crc32cExtendPortable(0, a + b) == Crc32c(a + b));
  RC_ASSERT(Crc32cExtend(Crc32c(a), b) == Crc32c(a + b));
  RC_ASSERT(Crc32cExtendPortable(Crc32cExtendPortable(0, a), b) == Crc32c(a + b));
}

// ---- record encoding ---------------------------------------------------------------------

TokenRecord ArbitraryRecord() {
  TokenRecord r;
  r.stored.version = *rc::gen::arbitrary<std::uint64_t>();
  switch (Pick(0, 4)) {
    case 0:
      break;
    case 1:
      r.stored.value = RegisterValue::Empty();
      break;
    case 2:
      r.stored.value = RegisterValue::Dropped();
      break;
    default: {
      TokenData data;
      data.domain.name = *rc::gen::arbitrary<std::string>();
      data.domain.low = *rc::gen::arbitrary<std::uint64_t>();
      data.domain.mid = *rc::gen::arbitrary<std::uint64_t>();
      data.domain.high = *rc::gen::arbitrary<std::uint64_t>();
      if (*rc::gen::arbitrary<bool>()) {
        data.partial =
            HashPoint{*rc::gen::arbitrary<std::uint64_t>(), *rc::gen::arbitrary<std::uint64_t>()};
      }
      r.stored.value = RegisterValue::Data(std::move(data));
    }
  }
  r.reserved_through = *rc::gen::arbitrary<std::uint64_t>();
  r.crashed = *rc::gen::arbitrary<bool>();
  r.catching_up = *rc::gen::arbitrary<bool>();
  return r;
}

RC_GTEST_PROP(RecordEncoding, RoundTripsEveryField, ()) {
  const std::string id = *rc::gen::arbitrary<std::string>();
  const TokenRecord record = ArbitraryRecord();
  std::string bytes;
  EncodeRecord(id, record, bytes);
  auto decoded = DecodeRecord(bytes);
  RC_ASSERT(decoded.ok());
  RC_ASSERT(decoded->token_id == id);
  RC_ASSERT(decoded->record == record);
  // Every prefix is refused, and so are bytes after the end.
  const std::size_t cut = Pick<std::size_t>(0, bytes.size());
  RC_ASSERT(!DecodeRecord(std::string_view(bytes).substr(0, cut)).ok());
  RC_ASSERT(!DecodeRecord(bytes + "x").ok());
}

TEST(RecordEncoding, NamesTheTokenByIdNotByIndex) {
  std::string a, b;
  TokenRecord r = RecordOf(0, 1);
  EncodeRecord("alpha", r, a);
  r.token = 7;
  EncodeRecord("alpha", r, b);
  EXPECT_EQ(a, b);
  EXPECT_NE(a.find("alpha"), std::string::npos);
}

TEST(RecordEncoding, BadFieldsAreNamedWithTheirOffset) {
  std::string bytes;
  EncodeRecord("t", RecordOf(0, 2), bytes);  // dropped: no data
  // encoding(1) id length(4) id(1) version(8) kind(1) reserved(8) flags(1)
  ASSERT_EQ(bytes.size(), 24u);
  std::string bad_kind = bytes;
  bad_kind[14] = 9;
  EXPECT_EQ(DecodeRecord(bad_kind).status().message(),
            "record's value kind is 9, not 0..3 (offset 14 of the record)");
  std::string bad_flags = bytes;
  bad_flags[23] = 8;
  EXPECT_EQ(DecodeRecord(bad_flags).status().message(),
            "record's flags 0x08 have unknown bits (offset 23 of the record)");
  std::string bad_encoding = bytes;
  bad_encoding[0] = 2;
  EXPECT_THAT(DecodeRecord(bad_encoding).status().message(), HasSubstr("record encoding 2"));
  EXPECT_EQ(DecodeRecord(bytes.substr(0, 10)).status().message(),
            "record ends inside its version (offset 6 of the record)");
}

}  // namespace
}  // namespace token::storage
