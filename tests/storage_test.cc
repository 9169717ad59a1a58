// The durable store (storage/): checksums, the record encoding, the file formats,
// recovery from torn and damaged files, identity checks, compaction, group commit, failure
// and a process killed while it appends.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "core/file.h"
#include "harness/uniform_pick.h"
#include "storage/crc32c.h"
#include "storage/format.h"
#include "storage/record.h"
#include "storage/store.h"

namespace token::storage {
namespace {

using ::testing::HasSubstr;
using tokensim::Pick;

// ---- helpers -----------------------------------------------------------------------------

std::shared_ptr<const ReplicationScheme> SchemeOf(const std::vector<std::string>& ids) {
  std::vector<TokenEntry> entries;
  for (const std::string& id : ids) {
    TokenEntry e;
    e.token = id;
    e.writer = "127.0.0.1:1";
    e.readers = {"127.0.0.1:1", "127.0.0.1:2"};
    entries.push_back(std::move(e));
  }
  auto scheme = ReplicationScheme::Create(std::move(entries));
  TOKEN_ASSERT(scheme.ok(), "test scheme");
  return std::make_shared<const ReplicationScheme>(std::move(scheme).value());
}

std::shared_ptr<const ReplicationScheme> SchemeOf(int tokens) {
  std::vector<std::string> ids;
  for (int i = 0; i < tokens; ++i) ids.push_back("token-" + std::to_string(i));
  return SchemeOf(ids);
}

// A directory of its own under the test temporary directory, removed before and after.
class ScratchDir {
 public:
  ScratchDir() {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = ::testing::TempDir() + "/storage_test-" + std::to_string(::getpid()) + "-" +
            info->test_suite_name() + "-" + info->name() + "-" + std::to_string(counter++);
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string Slurp(const std::string& path) {
  auto text = ReadFile(path);
  TOKEN_ASSERT(text.ok(), "test file read");
  return std::move(text).value();
}

void Spit(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The bytes of the files in `dir` (a file removed while counting counts 0).
std::uint64_t DirBytes(const std::string& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::error_code size_ec;
    const std::uintmax_t size = e.file_size(size_ec);
    if (!size_ec) total += size;
  }
  return total;
}

std::vector<std::string> DirNames(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

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

// What the store reports through its callbacks.
class Durable {
 public:
  void On(BatchId up_to) {
    std::lock_guard lock(mu_);
    EXPECT_GT(up_to, up_to_) << "completions come in batch order";
    up_to_ = up_to;
    ++reports_;
    threads_.push_back(std::this_thread::get_id());
    cv_.notify_all();
  }
  void Failed(const Status& s) {
    std::lock_guard lock(mu_);
    EXPECT_FALSE(failure_.has_value()) << "on_failed is called once";
    failure_ = s;
    cv_.notify_all();
  }
  // Whether `batch` became durable within 30 s (false at once when the store failed).
  bool WaitFor(BatchId batch) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] {
      return up_to_ >= batch || failure_.has_value();
    }) && up_to_ >= batch;
  }
  BatchId up_to() const {
    std::lock_guard lock(mu_);
    return up_to_;
  }
  std::uint64_t reports() const {
    std::lock_guard lock(mu_);
    return reports_;
  }
  std::optional<Status> failure() const {
    std::lock_guard lock(mu_);
    return failure_;
  }
  // The thread each report ran on, in order.
  std::vector<std::thread::id> threads() const {
    std::lock_guard lock(mu_);
    return threads_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  BatchId up_to_ = 0;
  std::uint64_t reports_ = 0;
  std::vector<std::thread::id> threads_;
  std::optional<Status> failure_;
};

StoreOptions OptionsFor(const ScratchDir& dir, std::shared_ptr<const ReplicationScheme> scheme,
                        Durable* durable = nullptr) {
  StoreOptions o;
  o.dir = dir.path();
  o.node = "127.0.0.1:1";
  o.scheme_fingerprint = "fingerprint-1";
  o.scheme = std::move(scheme);
  if (durable != nullptr) {
    o.on_durable = [durable](BatchId b) { durable->On(b); };
    o.on_failed = [durable](const Status& s) { durable->Failed(s); };
  }
  return o;
}

// The expected state: the last record per token.
using Model = std::map<TokenIndex, TokenRecord>;

std::vector<TokenRecord> Records(const Model& m) {
  std::vector<TokenRecord> out;
  for (const auto& [t, r] : m) out.push_back(r);
  return out;
}

std::unique_ptr<Store> MustCreate(StoreOptions options) {
  auto store = Store::Create(std::move(options));
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

Store::Opened MustOpen(StoreOptions options) {
  auto opened = Store::Open(std::move(options));
  EXPECT_TRUE(opened.ok()) << opened.status().ToString();
  if (!opened.ok()) return {};
  EXPECT_EQ(opened->state, DirState::kExisting);
  return std::move(opened).value();
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

// ---- identity ----------------------------------------------------------------------------

TEST(IdentityFile, RoundTripsAndEveryDamagedByteIsNamed) {
  const Identity id{kFormatVersion, "127.0.0.1:50051", "ab12cd"};
  const std::string text = EncodeIdentity(id);
  EXPECT_THAT(text, HasSubstr("node 127.0.0.1:50051\nscheme ab12cd\n"));
  auto parsed = ParseIdentity(text, "D/IDENTITY");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, id);
  for (std::size_t i = 0; i < text.size(); ++i) {
    std::string bad = text;
    bad[i] ^= 0x40;
    auto p = ParseIdentity(bad, "D/IDENTITY");
    ASSERT_FALSE(p.ok()) << "byte " << i;
    EXPECT_THAT(p.status().message(), HasSubstr("D/IDENTITY: corrupt at byte offset "));
  }
  EXPECT_FALSE(ParseIdentity(text.substr(0, text.size() - 1), "D/IDENTITY").ok());
}

// ---- the store: open, create, reopen ------------------------------------------------------

TEST(Store, AMissingOrEmptyDirectoryHasNoIdentity) {
  ScratchDir dir;
  auto scheme = SchemeOf(3);
  auto missing = Store::Open(OptionsFor(dir, scheme));
  ASSERT_TRUE(missing.ok()) << missing.status().ToString();
  EXPECT_EQ(missing->state, DirState::kNoIdentity);
  EXPECT_EQ(missing->store, nullptr);
  std::filesystem::create_directories(dir.path());
  auto empty = Store::Open(OptionsFor(dir, scheme));
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->state, DirState::kNoIdentity);
}

TEST(Store, ReopenAfterCleanCloseGivesTheLastRecordOfEveryToken) {
  ScratchDir dir;
  auto scheme = SchemeOf(5);
  Model model;
  {
    Durable durable;
    auto store = MustCreate(OptionsFor(dir, scheme, &durable));
    ASSERT_NE(store, nullptr);
    for (BatchId b = 1; b <= 40; ++b) {
      std::vector<TokenRecord> batch = {RecordOf(b % 5, b), RecordOf((b * 3) % 4, b)};
      for (const auto& r : batch) model[r.token] = r;
      ASSERT_TRUE(store->Append(b, std::move(batch)).ok());
    }
    ASSERT_TRUE(store->Close().ok());
    EXPECT_EQ(durable.up_to(), 40u);
    EXPECT_EQ(store->stats().batches, 40u);
  }
  Store::Opened opened = MustOpen(OptionsFor(dir, scheme));
  ASSERT_NE(opened.store, nullptr);
  EXPECT_EQ(opened.recovery.records, Records(model));
  EXPECT_FALSE(opened.recovery.torn.has_value());
  EXPECT_EQ(opened.recovery.log_batches, 40u);
  EXPECT_EQ(opened.recovery.log_records, 80u);
  EXPECT_THAT(DescribeRecovery(dir.path(), opened.recovery),
              HasSubstr("recovered 5 tokens from " + dir.path() + " (wal-00000001.log: "));
  // It goes on from there: a second life appends (its batch ids start again at 1), a
  // third sees both.
  opened.store.reset();
  Durable durable;
  auto again = MustOpen(OptionsFor(dir, scheme, &durable));
  model[2] = RecordOf(2, 1000);
  ASSERT_TRUE(again.store->Append(1, {RecordOf(2, 1000)}).ok());
  ASSERT_TRUE(again.store->Close().ok());
  EXPECT_EQ(MustOpen(OptionsFor(dir, scheme)).recovery.records, Records(model));
}

TEST(Store, TheIdentityIsWrittenOnceTheFirstBatchIsDurable) {
  ScratchDir dir;
  auto scheme = SchemeOf(2);
  Durable durable;
  auto store = MustCreate(OptionsFor(dir, scheme, &durable));
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(std::filesystem::exists(dir.File("IDENTITY")));
  // Not yet a store for Open: a crash here leaves a directory without an identity.
  EXPECT_EQ(DirNames(dir.path()), std::vector<std::string>{"wal-00000001.log"});
  ASSERT_TRUE(store->Append(1, {RecordOf(0, 1)}).ok());
  ASSERT_TRUE(durable.WaitFor(1));
  EXPECT_TRUE(std::filesystem::exists(dir.File("IDENTITY")));
  EXPECT_THAT(Slurp(dir.File("IDENTITY")),
              HasSubstr("token-store 1\nnode 127.0.0.1:1\nscheme fingerprint-1\ncrc32c "));
}

TEST(Store, AStoreClosedWithoutBatchesHasAnIdentityAndNoRecords) {
  ScratchDir dir;
  auto scheme = SchemeOf(2);
  ASSERT_TRUE(MustCreate(OptionsFor(dir, scheme))->Close().ok());
  auto opened = MustOpen(OptionsFor(dir, scheme));
  EXPECT_TRUE(opened.recovery.records.empty());
}

TEST(Store, ACreationACrashCutShortIsNoStoreAndIsCreatedAgain) {
  ScratchDir dir;
  auto scheme = SchemeOf(2);
  std::filesystem::create_directories(dir.path());
  Spit(dir.File("wal-00000001.log"), "TOKWAL01 half a header");
  Spit(dir.File("snapshot-00000002.snap.tmp"), "junk");
  auto opened = Store::Open(OptionsFor(dir, scheme));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->state, DirState::kNoIdentity);
  Durable durable;
  auto store = MustCreate(OptionsFor(dir, scheme, &durable));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(DirNames(dir.path()), std::vector<std::string>{"wal-00000001.log"});
  ASSERT_TRUE(store->Append(1, {RecordOf(1, 5)}).ok());
  ASSERT_TRUE(store->Close().ok());
  EXPECT_EQ(MustOpen(OptionsFor(dir, scheme)).recovery.records,
            std::vector<TokenRecord>{RecordOf(1, 5)});
}

TEST(Store, CreateRefusesADirectoryThatHoldsAStore) {
  ScratchDir dir;
  auto scheme = SchemeOf(2);
  ASSERT_TRUE(MustCreate(OptionsFor(dir, scheme))->Close().ok());
  auto again = Store::Create(OptionsFor(dir, scheme));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr(dir.File("IDENTITY") + " exists"));
}

TEST(Store, ADirectoryInUseIsRefused) {
  ScratchDir dir;
  auto scheme = SchemeOf(2);
  auto store = MustCreate(OptionsFor(dir, scheme));
  ASSERT_TRUE(store->Append(1, {RecordOf(0, 1)}).ok());
  auto second = Store::Open(OptionsFor(dir, scheme));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("in use by another store"));
  ASSERT_TRUE(store->Close().ok());
  EXPECT_TRUE(Store::Open(OptionsFor(dir, scheme)).ok());
}

TEST(Store, AnotherNodesOrSchemesDirectoryIsRefusedNamingTheFileAndBothValues) {
  ScratchDir dir;
  auto scheme = SchemeOf(2);
  ASSERT_TRUE(MustCreate(OptionsFor(dir, scheme))->Close().ok());

  StoreOptions other_node = OptionsFor(dir, scheme);
  other_node.node = "127.0.0.1:2";
  auto a = Store::Open(other_node);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(a.status().message(), dir.File("IDENTITY") +
                                      " was written for node '127.0.0.1:1'; this node is "
                                      "'127.0.0.1:2'");

  StoreOptions other_scheme = OptionsFor(dir, scheme);
  other_scheme.scheme_fingerprint = "fingerprint-2";
  auto b = Store::Open(other_scheme);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(b.status().message(),
            dir.File("IDENTITY") +
                " was written for scheme fingerprint 'fingerprint-1'; this node's scheme has "
                "fingerprint 'fingerprint-2'");
}

TEST(Store, ACorruptIdentityIsAnErrorNamingTheFileAndOffset) {
  ScratchDir dir;
  auto scheme = SchemeOf(2);
  ASSERT_TRUE(MustCreate(OptionsFor(dir, scheme))->Close().ok());
  std::string text = Slurp(dir.File("IDENTITY"));
  text[text.find("127")] = '9';
  Spit(dir.File("IDENTITY"), text);
  auto opened = Store::Open(OptionsFor(dir, scheme));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(opened.status().message(),
              HasSubstr(dir.File("IDENTITY") + ": corrupt at byte offset " +
                        std::to_string(text.find("crc32c")) + ": checksum "));
}

TEST(Store, RecordsFollowTheirTokenIdsNotTheSchemesOrder) {
  ScratchDir dir;
  auto abc = SchemeOf(std::vector<std::string>{"a", "b", "c"});
  {
    auto store = MustCreate(OptionsFor(dir, abc));
    ASSERT_TRUE(store->Append(1, {RecordOf(0, 10), RecordOf(1, 11), RecordOf(2, 12)}).ok());
    ASSERT_TRUE(store->Close().ok());
  }
  auto cab = SchemeOf(std::vector<std::string>{"c", "a", "b"});
  auto opened = MustOpen(OptionsFor(dir, cab));
  std::vector<TokenRecord> expected = {RecordOf(0, 12), RecordOf(1, 10), RecordOf(2, 11)};
  EXPECT_EQ(opened.recovery.records, expected);
  opened.store.reset();

  auto ab = SchemeOf(std::vector<std::string>{"a", "b"});
  auto missing = Store::Open(OptionsFor(dir, ab));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(),
              HasSubstr(dir.File("wal-00000001.log") + ": record at byte offset "));
  EXPECT_THAT(missing.status().message(),
              HasSubstr("names token 'c', which the scheme does not have"));
}

// ---- torn tails and damage ----------------------------------------------------------------

// Five batches in five commits, then a sixth alone in the last commit, closed. `model5`
// is the state after five, `model6` after six; the last commit spans [*last_at, end).
struct SixBatches {
  Model model5, model6;
  std::uint64_t last_at = 0;
  std::vector<std::uint64_t> commit_at;  // where each commit starts
};

SixBatches WriteSixBatches(const ScratchDir& dir, std::shared_ptr<const ReplicationScheme> scheme) {
  SixBatches out;
  Durable durable;
  StoreOptions options = OptionsFor(dir, std::move(scheme), &durable);
  options.preallocate_bytes = 0;  // the file ends where the last commit does
  auto store = MustCreate(std::move(options));
  for (BatchId b = 1; b <= 6; ++b) {
    std::vector<TokenRecord> batch;
    for (TokenIndex t = 0; t < 1 + b % 3; ++t) batch.push_back(RecordOf((t + b) % 4, b));
    if (b == 6) out.model5 = out.model6;
    for (const auto& r : batch) out.model6[r.token] = r;
    out.commit_at.push_back(store->stats().log_bytes);
    EXPECT_TRUE(store->Append(b, std::move(batch)).ok());
    EXPECT_TRUE(durable.WaitFor(b));
  }
  out.last_at = out.commit_at.back();
  EXPECT_TRUE(store->Close().ok());
  EXPECT_EQ(store->stats().commits, 6u);
  return out;
}

TEST(Recovery, ATornLastCommitCutAtAnyByteRecoversExactlyTheEarlierBatches) {
  ScratchDir dir;
  auto scheme = SchemeOf(4);
  const SixBatches six = WriteSixBatches(dir, scheme);
  const std::string log = dir.File("wal-00000001.log");
  const std::string bytes = Slurp(log);
  ASSERT_GT(bytes.size(), six.last_at + 30);
  for (std::size_t cut = six.last_at; cut <= bytes.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    Spit(log, std::string_view(bytes).substr(0, cut));
    auto opened = MustOpen(OptionsFor(dir, scheme));
    if (cut == six.last_at || cut == bytes.size()) {
      EXPECT_FALSE(opened.recovery.torn.has_value());
      EXPECT_EQ(opened.recovery.records, Records(cut == bytes.size() ? six.model6 : six.model5));
      continue;
    }
    EXPECT_EQ(opened.recovery.records, Records(six.model5));
    ASSERT_TRUE(opened.recovery.torn.has_value());
    EXPECT_EQ(opened.recovery.torn->offset, six.last_at);
    EXPECT_EQ(opened.recovery.torn->bytes, cut - six.last_at);
    EXPECT_EQ(opened.recovery.log_batches, 5u);
    EXPECT_THAT(DescribeRecovery(dir.path(), opened.recovery),
                HasSubstr("; dropped a torn last commit: " + std::to_string(cut - six.last_at) +
                          " bytes at offset " + std::to_string(six.last_at)));
  }
  // The torn bytes were cut off: what is appended next follows the last whole commit.
  Spit(log, std::string_view(bytes).substr(0, six.last_at + 17));
  {
    auto opened = MustOpen(OptionsFor(dir, scheme));
    ASSERT_TRUE(opened.recovery.torn.has_value());
    EXPECT_EQ(std::filesystem::file_size(log), six.last_at);
    Durable durable;
    ASSERT_TRUE(opened.store->Append(1, {RecordOf(3, 77)}).ok());
    ASSERT_TRUE(opened.store->Close().ok());
  }
  Model model = six.model5;
  model[3] = RecordOf(3, 77);
  auto opened = MustOpen(OptionsFor(dir, scheme));
  EXPECT_FALSE(opened.recovery.torn.has_value());
  EXPECT_EQ(opened.recovery.records, Records(model));
}

TEST(Recovery, ALastCommitWhoseBlocksWereNeverWrittenIsTorn) {
  // A crash can leave zeros where the last commit's blocks should be (the file's new
  // length without its data, or preallocated space): from any byte of the last commit on.
  // Zeros from its first byte on are no commit at all: the log just ends before it.
  ScratchDir dir;
  auto scheme = SchemeOf(4);
  const SixBatches six = WriteSixBatches(dir, scheme);
  const std::string log = dir.File("wal-00000001.log");
  const std::string bytes = Slurp(log);
  for (std::size_t from = six.last_at; from < bytes.size(); ++from) {
    SCOPED_TRACE("zeros from " + std::to_string(from));
    std::string damaged = bytes;
    std::fill(damaged.begin() + static_cast<std::ptrdiff_t>(from), damaged.end(), '\0');
    if (damaged == bytes) continue;  // the commit ends with zeros already
    Spit(log, damaged);
    auto opened = MustOpen(OptionsFor(dir, scheme));
    EXPECT_EQ(opened.recovery.records, Records(six.model5));
    if (from == six.last_at) {
      EXPECT_FALSE(opened.recovery.torn.has_value());
      continue;
    }
    ASSERT_TRUE(opened.recovery.torn.has_value());
    EXPECT_EQ(opened.recovery.torn->offset, six.last_at);
  }
}

TEST(Recovery, PreallocatedZerosEndTheLogAndHideNoDamage) {
  ScratchDir dir;
  auto scheme = SchemeOf(4);
  const SixBatches six = WriteSixBatches(dir, scheme);
  const std::string log = dir.File("wal-00000001.log");
  const std::string bytes = Slurp(log);
  const std::string zeros(5000, '\0');
  // A whole log followed by zeros: no torn tail, and the zeros stay for the next commits.
  Spit(log, bytes + zeros);
  {
    auto opened = MustOpen(OptionsFor(dir, scheme));
    EXPECT_EQ(opened.recovery.records, Records(six.model6));
    EXPECT_FALSE(opened.recovery.torn.has_value());
    EXPECT_EQ(opened.store->stats().log_bytes, bytes.size());
    EXPECT_EQ(opened.store->stats().log_file_bytes, bytes.size() + zeros.size());
  }
  // A torn last commit followed by zeros: torn.
  Spit(log, bytes.substr(0, bytes.size() - 9) + zeros);
  {
    auto opened = MustOpen(OptionsFor(dir, scheme));
    EXPECT_EQ(opened.recovery.records, Records(six.model5));
    ASSERT_TRUE(opened.recovery.torn.has_value());
    EXPECT_EQ(opened.recovery.torn->offset, six.last_at);
  }
  // A flipped byte in an earlier commit, zeros after the log: still an error.
  std::string damaged = bytes;
  damaged[six.commit_at[2] + 40] ^= 0x01;
  Spit(log, damaged + zeros);
  auto opened = Store::Open(OptionsFor(dir, scheme));
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(),
              HasSubstr(log + ": corrupt at byte offset " + std::to_string(six.commit_at[2])));
  // And a damaged last commit whose header holds, followed by zeros: torn.
  damaged = bytes;
  damaged[six.last_at + 40] ^= 0x01;
  Spit(log, damaged + zeros);
  auto last = MustOpen(OptionsFor(dir, scheme));
  EXPECT_EQ(last.recovery.records, Records(six.model5));
  EXPECT_TRUE(last.recovery.torn.has_value());
}

TEST(Recovery, TheLogGrowsByPreallocatedZeros) {
  ScratchDir dir;
  auto scheme = SchemeOf(4);
  StoreOptions options = OptionsFor(dir, scheme);
  options.preallocate_bytes = 4096;
  auto store = MustCreate(std::move(options));
  ASSERT_TRUE(store->Append(1, {RecordOf(0, 1)}).ok());
  ASSERT_TRUE(store->Close().ok());
  EXPECT_EQ(std::filesystem::file_size(dir.File("wal-00000001.log")), 4096u);
  EXPECT_LT(store->stats().log_bytes, 200u);
  auto opened = MustOpen(OptionsFor(dir, scheme));
  EXPECT_EQ(opened.recovery.records, std::vector<TokenRecord>{RecordOf(0, 1)});
  EXPECT_FALSE(opened.recovery.torn.has_value());
}

TEST(Recovery, AFlippedByteBeforeTheLastCommitIsAnErrorAndInItATornTail) {
  ScratchDir dir;
  auto scheme = SchemeOf(4);
  const SixBatches six = WriteSixBatches(dir, scheme);
  const std::string log = dir.File("wal-00000001.log");
  const std::string bytes = Slurp(log);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    SCOPED_TRACE("byte " + std::to_string(i));
    std::string damaged = bytes;
    damaged[i] ^= 0x40;
    Spit(log, damaged);
    auto opened = Store::Open(OptionsFor(dir, scheme));
    if (i < six.last_at) {
      ASSERT_FALSE(opened.ok());
      EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument);
      EXPECT_THAT(opened.status().message(), HasSubstr(log + ": corrupt at byte offset "));
    } else {
      // Damage in the last commit looks like what a crash leaves: dropped and reported.
      ASSERT_TRUE(opened.ok()) << opened.status().ToString();
      EXPECT_EQ(opened->recovery.records, Records(six.model5));
      EXPECT_TRUE(opened->recovery.torn.has_value());
    }
  }
}

TEST(Recovery, AFlippedRecordByteIsNamedByItsCommitAndRecord) {
  ScratchDir dir;
  auto scheme = SchemeOf(4);
  const SixBatches six = WriteSixBatches(dir, scheme);
  const std::string log = dir.File("wal-00000001.log");
  std::string bytes = Slurp(log);
  // Commit 2 (batch 2): its header, the batch header (12 bytes), the first record's frame.
  const std::uint64_t commit = six.commit_at[1];
  const std::uint64_t record = commit + kCommitHeaderBytes + 12;
  bytes[record + kRecordFrameBytes + 5] ^= 0x01;
  Spit(log, bytes);
  auto opened = Store::Open(OptionsFor(dir, scheme));
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr(log + ": corrupt at byte offset " +
                                                   std::to_string(commit) + ": commit checksum "));
  EXPECT_THAT(opened.status().message(),
              HasSubstr("more bytes follow it (a crash damages only the last commit); its first "
                        "bad record: byte offset " +
                        std::to_string(record) + ": record checksum "));
}

TEST(Recovery, GarbageAfterAWholeLastCommitIsAnError) {
  // A commit whose header holds says where it ends; the store never writes past that.
  ScratchDir dir;
  auto scheme = SchemeOf(4);
  WriteSixBatches(dir, scheme);
  const std::string log = dir.File("wal-00000001.log");
  const std::string bytes = Slurp(log);
  Spit(log, bytes + "trailing junk that is not a commit");
  auto opened = Store::Open(OptionsFor(dir, scheme));
  // The junk is no commit at all: it is the torn tail of a commit whose header is lost.
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->recovery.torn->offset, bytes.size());
  opened.value().store.reset();
  // But a damaged commit with bytes after its end cannot come from a crash.
  std::string damaged = bytes + "more";
  damaged[damaged.size() - 10] ^= 0x01;
  Spit(log, damaged);
  auto bad = Store::Open(OptionsFor(dir, scheme));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("and 4 more bytes follow it"));
}

TEST(Recovery, AMissingLogIsAnError) {
  ScratchDir dir;
  auto scheme = SchemeOf(4);
  WriteSixBatches(dir, scheme);
  std::filesystem::remove(dir.File("wal-00000001.log"));
  auto opened = Store::Open(OptionsFor(dir, scheme));
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(),
              HasSubstr("has an identity but neither a snapshot nor wal-00000001.log"));
}

// ---- compaction --------------------------------------------------------------------------

TEST(Compaction, KeepsTheStateAndBoundsDiskUse) {
  ScratchDir dir;
  auto scheme = SchemeOf(20);
  Model model;
  std::uint64_t max_dir_bytes = 0, snapshot_bytes = 0, written = 0;
  {
    Durable durable;
    StoreOptions options = OptionsFor(dir, scheme, &durable);
    options.compact_log_bytes = 4096;
    options.preallocate_bytes = 4096;
    auto store = MustCreate(std::move(options));
    for (BatchId b = 1; b <= 3000; ++b) {
      std::vector<TokenRecord> batch;
      batch.reserve(2);  // (GCC 12 warns wrongly about a push_back after an initializer list)
      batch.push_back(RecordOf(b % 20, b));
      if (b % 3 == 0) batch.push_back(RecordOf((b * 7) % 20, b));
      for (const auto& r : batch) model[r.token] = r;
      ASSERT_TRUE(store->Append(b, std::move(batch)).ok());
      if (b % 10 == 0) {  // so a commit holds at most 10 batches
        ASSERT_TRUE(durable.WaitFor(b));
        max_dir_bytes = std::max(max_dir_bytes, DirBytes(dir.path()));
      }
    }
    ASSERT_TRUE(store->Close().ok());
    const StoreStats stats = store->stats();
    EXPECT_GT(stats.compactions, 10u);
    snapshot_bytes = stats.snapshot_bytes;
    written = stats.bytes_written;
  }
  // At most a log past the threshold by one commit (10 batches of at most 2 records of
  // under 100 bytes) and preallocated up to the next 4 KiB past it, a snapshot, and while
  // compacting its successor and a new log.
  EXPECT_GT(written, 100'000u);
  EXPECT_LT(max_dir_bytes, 3 * 4096 + 2 * snapshot_bytes + 200);
  const std::vector<std::string> names = DirNames(dir.path());
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(names[0], "IDENTITY");
  EXPECT_THAT(names[1], ::testing::StartsWith("snapshot-"));
  EXPECT_THAT(names[2], ::testing::StartsWith("wal-"));
  auto opened = MustOpen(OptionsFor(dir, scheme));
  EXPECT_EQ(opened.recovery.records, Records(model));
  EXPECT_GT(opened.recovery.snapshot_records, 0u);
}

TEST(Compaction, ACrashBetweenItsStepsLosesNothing) {
  // A compaction renames its snapshot into place, then creates the new log, then removes
  // the old generation. A crash after the rename leaves the old log (and maybe a temporary
  // file) and no new log: this builds that directory by hand.
  ScratchDir dir;
  auto scheme = SchemeOf(20);
  Model model;
  {
    Durable durable;
    auto store = MustCreate(OptionsFor(dir, scheme, &durable));
    for (BatchId b = 1; b <= 30; ++b) {
      model[b % 20] = RecordOf(b % 20, b);
      ASSERT_TRUE(store->Append(b, {RecordOf(b % 20, b)}).ok());
    }
    ASSERT_TRUE(store->Close().ok());
  }
  std::vector<std::string> encoded;
  for (const auto& [t, r] : model) {
    encoded.emplace_back();
    EncodeRecord(scheme->token(t).id, r, encoded.back());
  }
  const std::vector<std::string_view> views(encoded.begin(), encoded.end());
  Spit(dir.File("snapshot-00000002.snap"), EncodeSnapshot(2, views));
  Spit(dir.File("snapshot-00000003.snap.tmp"), "half a snapshot");
  auto opened = MustOpen(OptionsFor(dir, scheme));
  EXPECT_EQ(opened.recovery.records, Records(model));
  EXPECT_EQ(opened.recovery.generation, 2u);
  EXPECT_EQ(DirNames(dir.path()),
            (std::vector<std::string>{"IDENTITY", "snapshot-00000002.snap", "wal-00000002.log"}));
  ASSERT_TRUE(opened.store->Append(1, {RecordOf(0, 500)}).ok());
  ASSERT_TRUE(opened.store->Close().ok());
  model[0] = RecordOf(0, 500);
  EXPECT_EQ(MustOpen(OptionsFor(dir, scheme)).recovery.records, Records(model));
}

TEST(Compaction, ALogNewerThanTheNewestSnapshotIsAnError) {
  ScratchDir dir;
  auto scheme = SchemeOf(2);
  ASSERT_TRUE(MustCreate(OptionsFor(dir, scheme))->Close().ok());
  std::filesystem::copy_file(dir.File("wal-00000001.log"), dir.File("wal-00000002.log"));
  auto opened = Store::Open(OptionsFor(dir, scheme));
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(),
              HasSubstr("wal-00000002.log is newer than the newest snapshot (none)"));
}

TEST(Compaction, ADamagedSnapshotIsAnErrorNamingTheFileAndOffset) {
  ScratchDir dir;
  auto scheme = SchemeOf(20);
  {
    StoreOptions options = OptionsFor(dir, scheme);
    options.compact_log_bytes = 1024;
    Durable durable;
    options.on_durable = [&durable](BatchId b) { durable.On(b); };
    auto store = MustCreate(std::move(options));
    for (BatchId b = 1; b <= 100; ++b) {
      ASSERT_TRUE(store->Append(b, {RecordOf(b % 20, b)}).ok());
      ASSERT_TRUE(durable.WaitFor(b));
    }
    ASSERT_TRUE(store->Close().ok());
    ASSERT_GT(store->stats().compactions, 0u);
  }
  const std::string snapshot = dir.File(DirNames(dir.path())[1]);
  const std::string bytes = Slurp(snapshot);
  for (std::size_t i = 0; i < bytes.size(); i += 7) {
    SCOPED_TRACE("byte " + std::to_string(i));
    std::string damaged = bytes;
    damaged[i] ^= 0x10;
    Spit(snapshot, damaged);
    auto opened = Store::Open(OptionsFor(dir, scheme));
    ASSERT_FALSE(opened.ok());
    EXPECT_THAT(opened.status().message(), HasSubstr(snapshot + ": corrupt at byte offset "));
  }
  Spit(snapshot, std::string_view(bytes).substr(0, bytes.size() - 3));
  auto cut = Store::Open(OptionsFor(dir, scheme));
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().message(), snapshot + ": corrupt at byte offset " +
                                        std::to_string(bytes.size() - 8) +
                                        ": snapshot trailer cut short");
}

// ---- group commit, back-pressure, failure -------------------------------------------------

// `appenders` threads, each appending `each` batches one at a time and waiting for each to
// be durable (as clients whose writes each need a durable record).
void RunClosedLoop(Store& store, Durable& durable, int appenders, int each) {
  std::mutex order;  // batch ids are handed out in Append order, as one host thread does
  BatchId next = 0;
  std::vector<std::thread> threads;
  for (int a = 0; a < appenders; ++a) {
    threads.emplace_back([&, a] {
      for (int i = 0; i < each; ++i) {
        BatchId mine = 0;
        {
          std::lock_guard lock(order);
          mine = ++next;
          EXPECT_TRUE(store.Append(mine, {RecordOf(static_cast<TokenIndex>(a), mine)}).ok());
        }
        EXPECT_TRUE(durable.WaitFor(mine));
      }
    });
  }
  for (auto& t : threads) t.join();
}

TEST(GroupCommit, ConcurrentAppendsShareSyncs) {
  ScratchDir dir;
  auto scheme = SchemeOf(8);
  Durable durable;
  StoreOptions options = OptionsFor(dir, scheme, &durable);
  // A slow disk: 2 ms per sync, so that appenders meet while a sync runs.
  options.before_sync_for_testing = [] {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return Status::Ok();
  };
  auto store = MustCreate(std::move(options));
  RunClosedLoop(*store, durable, 8, 100);
  ASSERT_TRUE(store->Close().ok());
  const StoreStats stats = store->stats();
  EXPECT_EQ(stats.batches, 800u);
  EXPECT_EQ(stats.log_syncs, stats.commits);
  EXPECT_LT(stats.log_syncs, 800u / 3) << "syncs " << stats.log_syncs;
  EXPECT_LT(durable.reports(), 800u / 3);
  EXPECT_EQ(durable.up_to(), 800u);
}

TEST(GroupCommit, OneAppenderWaitingForEachBatchSyncsEachAlone) {
  ScratchDir dir;
  auto scheme = SchemeOf(1);
  Durable durable;
  auto store = MustCreate(OptionsFor(dir, scheme, &durable));
  RunClosedLoop(*store, durable, 1, 20);
  ASSERT_TRUE(store->Close().ok());
  EXPECT_EQ(store->stats().log_syncs, 20u);
}

TEST(GroupCommit, AFullQueueHoldsAppendBack) {
  ScratchDir dir;
  auto scheme = SchemeOf(4);
  Durable durable;
  StoreOptions options = OptionsFor(dir, scheme, &durable);
  options.max_queued_records = 2;
  options.before_sync_for_testing = [] {
    std::this_thread::sleep_for(std::chrono::microseconds(300));
    return Status::Ok();
  };
  auto store = MustCreate(std::move(options));
  for (BatchId b = 1; b <= 200; ++b) ASSERT_TRUE(store->Append(b, {RecordOf(b % 4, b)}).ok());
  // A batch larger than the bound goes alone.
  ASSERT_TRUE(store->Append(201, {RecordOf(0, 201), RecordOf(1, 201), RecordOf(2, 201)}).ok());
  ASSERT_TRUE(durable.WaitFor(201));
  ASSERT_TRUE(store->Close().ok());
  // Never more than two records queued: at least one commit per two batches.
  EXPECT_GE(store->stats().commits, 101u);
}

TEST(GroupCommit, CloseFlushesWhatWasQueued) {
  ScratchDir dir;
  auto scheme = SchemeOf(4);
  Model model;
  Durable durable;
  {
    auto store = MustCreate(OptionsFor(dir, scheme, &durable));
    for (BatchId b = 1; b <= 50; ++b) {
      model[b % 4] = RecordOf(b % 4, b);
      ASSERT_TRUE(store->Append(b, {RecordOf(b % 4, b)}).ok());
    }
    ASSERT_TRUE(store->Close().ok());
    EXPECT_EQ(durable.up_to(), 50u);
    const Status after = store->Append(51, {RecordOf(0, 51)});
    EXPECT_EQ(after.code(), StatusCode::kFailedPrecondition);
    EXPECT_TRUE(store->Close().ok());
  }
  EXPECT_EQ(MustOpen(OptionsFor(dir, scheme)).recovery.records, Records(model));
}

TEST(GroupCommit, AFailedSyncStopsTheStoreLoudly) {
  ScratchDir dir;
  auto scheme = SchemeOf(4);
  Durable durable;
  StoreOptions options = OptionsFor(dir, scheme, &durable);
  auto syncs = std::make_shared<std::atomic<int>>(0);
  options.before_sync_for_testing = [syncs] {
    if (++*syncs == 3) return Status::Internal("Input/output error (injected)");
    return Status::Ok();
  };
  auto store = MustCreate(std::move(options));
  ASSERT_TRUE(store->Append(1, {RecordOf(0, 1)}).ok());
  ASSERT_TRUE(durable.WaitFor(1));
  ASSERT_TRUE(store->Append(2, {RecordOf(1, 2)}).ok());
  ASSERT_TRUE(durable.WaitFor(2));
  ASSERT_TRUE(store->Append(3, {RecordOf(2, 3)}).ok());
  EXPECT_FALSE(durable.WaitFor(3));
  const std::optional<Status> failure = durable.failure();
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->code(), StatusCode::kInternal);
  EXPECT_EQ(failure->message(),
            "cannot sync " + dir.File("wal-00000001.log") + ": Input/output error (injected)");
  EXPECT_EQ(durable.up_to(), 2u);  // never acknowledged after the failure
  EXPECT_EQ(store->status(), *failure);
  EXPECT_EQ(store->Append(4, {RecordOf(3, 4)}), *failure);
  EXPECT_EQ(store->Close(), *failure);
  EXPECT_EQ(durable.up_to(), 2u);
  // What was durable is there after a restart (the failed commit may be as well).
  auto opened = MustOpen(OptionsFor(dir, scheme));
  ASSERT_GE(opened.recovery.records.size(), 2u);
  EXPECT_EQ(opened.recovery.records[0], RecordOf(0, 1));
  EXPECT_EQ(opened.recovery.records[1], RecordOf(1, 2));
}

// Inline commits (StoreOptions::inline_commit_below): once the sync thread has measured a
// commit faster than the bound, an Append with no commit running commits on its caller's
// thread and reports the batch durable before it returns.
TEST(InlineCommit, FastCommitsRunOnTheAppendersThreadInOrder) {
  ScratchDir dir;
  auto scheme = SchemeOf(4);
  Model model;
  Durable durable;
  StoreOptions options = OptionsFor(dir, scheme, &durable);
  options.inline_commit_below = std::chrono::hours(1);  // every measured commit is fast
  {
    // A new store's first commit writes the identity too, on the sync thread.
    auto store = MustCreate(OptionsFor(dir, scheme));
    model[0] = RecordOf(0, 1);
    ASSERT_TRUE(store->Append(1, {RecordOf(0, 1)}).ok());
    ASSERT_TRUE(store->Close().ok());
  }
  {
    auto opened = MustOpen(std::move(options));
    ASSERT_NE(opened.store, nullptr);
    Store& store = *opened.store;
    for (BatchId b = 2; b <= 40; ++b) {
      model[b % 4] = RecordOf(b % 4, b);
      ASSERT_TRUE(store.Append(b, {RecordOf(b % 4, b)}).ok());
      EXPECT_EQ(durable.up_to(), b) << "an inline commit reports before Append returns";
    }
    ASSERT_TRUE(store.Close().ok());
    EXPECT_EQ(store.stats().batches, 39u);
    EXPECT_EQ(store.stats().log_syncs, 39u);
  }
  const std::vector<std::thread::id> reported_on = durable.threads();
  ASSERT_EQ(reported_on.size(), 39u);
  for (std::size_t i = 0; i < reported_on.size(); ++i) {
    EXPECT_EQ(reported_on[i], std::this_thread::get_id()) << "batch " << i + 2;
  }
  EXPECT_EQ(MustOpen(OptionsFor(dir, scheme)).recovery.records, Records(model));
}

TEST(InlineCommit, ConcurrentAppendersNeverOverlapCommitsAndLoseNothing) {
  ScratchDir dir;
  auto scheme = SchemeOf(8);
  Durable durable;
  StoreOptions options = OptionsFor(dir, scheme, &durable);
  options.inline_commit_below = std::chrono::hours(1);
  auto store = MustCreate(std::move(options));
  RunClosedLoop(*store, durable, 8, 50);  // Durable checks the reports' order
  ASSERT_TRUE(store->Close().ok());
  EXPECT_EQ(store->stats().batches, 400u);
  EXPECT_EQ(durable.up_to(), 400u);
  auto opened = MustOpen(OptionsFor(dir, scheme));
  EXPECT_EQ(opened.recovery.records.size(), 8u);
}

TEST(InlineCommit, ABusyCallerQueuesForTheSyncThread) {
  ScratchDir dir;
  auto scheme = SchemeOf(1);
  {
    auto store = MustCreate(OptionsFor(dir, scheme));
    ASSERT_TRUE(store->Append(1, {RecordOf(0, 1)}).ok());
    ASSERT_TRUE(store->Close().ok());
  }
  Durable durable;
  StoreOptions options = OptionsFor(dir, scheme, &durable);
  options.inline_commit_below = std::chrono::hours(1);
  auto opened = MustOpen(std::move(options));
  ASSERT_NE(opened.store, nullptr);
  ASSERT_TRUE(opened.store->Append(2, {RecordOf(0, 2)}, /*allow_inline=*/false).ok());
  ASSERT_TRUE(durable.WaitFor(2));
  ASSERT_TRUE(opened.store->Close().ok());
  const std::vector<std::thread::id> reported_on = durable.threads();
  ASSERT_EQ(reported_on.size(), 1u);
  EXPECT_NE(reported_on[0], std::this_thread::get_id());
}

TEST(InlineCommit, SlowCommitsStayOnTheSyncThread) {
  ScratchDir dir;
  auto scheme = SchemeOf(1);
  Durable durable;
  StoreOptions options = OptionsFor(dir, scheme, &durable);
  options.inline_commit_below = std::chrono::microseconds(100);
  // A disk: every sync takes 2 ms, above the bound.
  options.before_sync_for_testing = [] {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return Status::Ok();
  };
  auto store = MustCreate(std::move(options));
  RunClosedLoop(*store, durable, 1, 10);
  ASSERT_TRUE(store->Close().ok());
  const std::vector<std::thread::id> reported_on = durable.threads();
  ASSERT_EQ(reported_on.size(), 10u);
  for (const std::thread::id& id : reported_on) {
    EXPECT_EQ(id, reported_on.front());
    EXPECT_NE(id, std::this_thread::get_id());
  }
}

TEST(GroupCommit, ARecordOutsideTheSchemeIsRefusedBeforeQueueing) {
  ScratchDir dir;
  auto store = MustCreate(OptionsFor(dir, SchemeOf(2)));
  const Status s = store->Append(1, {RecordOf(2, 1)});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(store->Append(1, {RecordOf(1, 1)}).ok());
}

// ---- a process killed while it appends ----------------------------------------------------

// Batch i writes token i % 16 and token (i * 7 + 3) % 16 with version i: after recovery the
// state must be that after exactly some number M of batches, at least every batch reported.
constexpr TokenIndex kKillTokens = 16;

std::vector<TokenRecord> KillBatch(BatchId i) {
  std::vector<TokenRecord> batch;
  batch.reserve(2);
  batch.push_back(RecordOf(static_cast<TokenIndex>(i % kKillTokens), i));
  const auto second = static_cast<TokenIndex>((i * 7 + 3) % kKillTokens);
  if (second != batch[0].token) batch.push_back(RecordOf(second, i));
  return batch;
}

// In the child: appends batches first, first + 1, ... as fast as the store takes them and
// writes every durable batch id to `report`. Never returns.
[[noreturn]] void AppendUntilKilled(const ScratchDir& dir,
                                    std::shared_ptr<const ReplicationScheme> scheme, BatchId first,
                                    int report) {
  StoreOptions options;
  options.dir = dir.path();
  options.node = "127.0.0.1:1";
  options.scheme_fingerprint = "fingerprint-1";
  options.scheme = std::move(scheme);
  options.max_queued_records = 64;
  options.compact_log_bytes = 32 << 10;  // compactions happen too
  options.on_durable = [report, first](BatchId b) {
    const std::uint64_t version = first - 1 + b;
    if (::write(report, &version, sizeof version) != sizeof version) ::_exit(3);
  };
  std::unique_ptr<Store> store;
  if (first == 1) {
    auto created = Store::Create(options);
    if (!created.ok()) ::_exit(4);
    store = std::move(created).value();
  } else {
    auto opened = Store::Open(options);
    if (!opened.ok() || opened->state != DirState::kExisting) ::_exit(5);
    store = std::move(opened.value().store);
  }
  for (BatchId b = 1;; ++b) {
    if (!store->Append(b, KillBatch(first - 1 + b)).ok()) ::_exit(6);
  }
}

TEST(KillSafety, EveryBatchReportedDurableBeforeSigkillIsThere) {
  ScratchDir dir;
  auto scheme = SchemeOf(static_cast<int>(kKillTokens));
  BatchId first = 1;
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      AppendUntilKilled(dir, scheme, first, fds[1]);
    }
    ::close(fds[1]);
    // Kill it once it reported some durable batches, at a point that differs by round.
    const std::uint64_t kill_after = first + 300 + 97 * static_cast<std::uint64_t>(round);
    std::uint64_t reported = 0, version = 0;
    bool killed = false;
    while (::read(fds[0], &version, sizeof version) == sizeof version) {
      reported = std::max(reported, version);
      if (!killed && reported >= kill_after) {
        ASSERT_EQ(::kill(child, SIGKILL), 0);
        killed = true;
      }
    }
    ::close(fds[0]);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
    ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
        << "the child ended on its own: status " << wstatus;
    ASSERT_GE(reported, kill_after);

    auto opened = MustOpen(OptionsFor(dir, scheme));
    ASSERT_NE(opened.store, nullptr);
    std::uint64_t recovered = 0;
    for (const TokenRecord& r : opened.recovery.records) {
      recovered = std::max(recovered, r.stored.version);
    }
    EXPECT_GE(recovered, reported) << DescribeRecovery(dir.path(), opened.recovery);
    // Exactly the state after `recovered` batches: nothing partial.
    Model model;
    for (BatchId i = 1; i <= recovered; ++i) {
      for (const TokenRecord& r : KillBatch(i)) model[r.token] = r;
    }
    EXPECT_EQ(opened.recovery.records, Records(model));
    ASSERT_TRUE(opened.store->Close().ok());
    first = recovered + 1;
  }
}

}  // namespace
}  // namespace token::storage
