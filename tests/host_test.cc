// The host (host/host.h) around one core Node, in a hand-driven world: deadlines answer
// UNAVAILABLE and forget the operation, a caller that goes away abandons the operation and
// stops its compute job, held calls are bounded and freed, messages to the node itself
// never leave, messages from outside a token's replica set change nothing.
#include <map>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/scheme_yaml.h"
#include "host/host.h"

namespace token::host {
namespace {

constexpr char kScheme[] = R"(
- token: t
  writer: 127.0.0.1:1
  readers: [127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3]
- token: u
  writer: 127.0.0.1:1
  readers: [127.0.0.1:1, 127.0.0.1:2]
)";

// Records what the host asks of the world; the test fires timers and finishes jobs.
class TestWorld final : public Clock, public Transport, public ComputeRunner, public Storage {
 public:
  std::int64_t NowNs() const override { return now_ns; }
  void StartTimer(std::int64_t at_ns, CallId call) override { timers.emplace_back(at_ns, call); }
  void Send(const Message& m) override { sent.push_back(m); }
  void AnswerClient(CallId call, const ClientReply& reply) override {
    EXPECT_FALSE(answers.contains(call)) << "a call is answered once";
    answers.emplace(call, reply);
  }
  void AnswerPeer(CallId call, const Result<Message>& reply) override {
    peer_answers.emplace(call, reply.ok() ? Status::Ok() : reply.status());
  }
  void Start(JobId job, const ComputeRequest& request) override { jobs.emplace(job, request); }
  void Cancel(JobId job) override { cancelled.insert(job); }
  void Write(BatchId batch, std::vector<TokenRecord> records) override {
    EXPECT_EQ(batch, writes.size() + 1) << "batches are numbered in order";
    writes.push_back(std::move(records));
  }

  std::int64_t now_ns = 0;
  std::vector<std::pair<std::int64_t, CallId>> timers;
  std::vector<Message> sent;
  std::map<CallId, ClientReply> answers;
  std::map<CallId, Status> peer_answers;
  std::map<JobId, ComputeRequest> jobs;
  std::set<JobId> cancelled;
  std::vector<std::vector<TokenRecord>> writes;  // batch b at writes[b - 1]
};

class HostTest : public ::testing::Test {
 protected:
  explicit HostTest(HostOptions options = {}) {
    auto scheme = ParseSchemeYaml(kScheme);
    TOKEN_ASSERT(scheme.ok(), "test scheme must parse");
    scheme_ = std::make_shared<const ReplicationScheme>(std::move(scheme).value());
    host_ = std::make_unique<Host>(
        scheme_, 0, std::move(options),
        World{.clock = &world_, .transport = &world_, .compute = &world_, .storage = &world_});
  }
  TokenIndex T(const char* id) const { return *scheme_->FindToken(id); }
  // Storage completes every batch written so far, and those their release writes.
  void SyncAll() {
    for (int i = 0; i < 100 && host_->outputs_waiting() > 0; ++i) {
      host_->OnStorageDone(world_.writes.size());
    }
    ASSERT_EQ(host_->outputs_waiting(), 0u);
  }
  static ClientRequest Write(const char* token, std::uint64_t low, std::uint64_t mid) {
    return ClientRequest{0, OpKind::kWrite, token, Domain{"n", low, mid, mid + 10}};
  }
  static ClientRequest Read(const char* token) {
    return ClientRequest{0, OpKind::kRead, token, {}};
  }

  std::shared_ptr<const ReplicationScheme> scheme_;
  TestWorld world_;
  std::unique_ptr<Host> host_;
};

TEST_F(HostTest, ACallerThatGoesAwayAbandonsTheOperationAndStopsItsJob) {
  host_->OnClientCall(1, Write("t", 0, 100), std::nullopt);  // the partial needs a job
  ASSERT_EQ(world_.jobs.size(), 1u);
  const JobId job = world_.jobs.begin()->first;
  EXPECT_EQ(host_->node().pending_operations(), 1u);

  host_->OnCallCancelled(1);
  ASSERT_TRUE(world_.answers.contains(1));
  EXPECT_EQ(world_.answers.at(1).status.code(), StatusCode::kCancelled);
  EXPECT_EQ(host_->node().pending_operations(), 0u) << "the core forgot the operation";
  EXPECT_TRUE(world_.cancelled.contains(job));
  EXPECT_EQ(host_->calls_in_flight(), 0u);
  EXPECT_EQ(host_->stats().calls_abandoned, 1u);

  // The job's late result changes nothing: no Update leaves.
  host_->OnComputeDone(job, HashPoint{1, 2});
  EXPECT_TRUE(world_.sent.empty());
  host_->OnCallCancelled(1);  // twice: a no-op
  EXPECT_EQ(world_.answers.size(), 1u);
}

TEST_F(HostTest, NoQuorumBeforeTheDeadlineAnswersUnavailableAndForgetsTheOperation) {
  world_.now_ns = 1'000'000'000;
  host_->OnClientCall(7, Read("t"), world_.now_ns + 100'000'000);
  // Query to both peers; the node's own reply never leaves.
  ASSERT_EQ(world_.sent.size(), 2u);
  for (const Message& m : world_.sent) EXPECT_NE(m.to, 0u);
  ASSERT_EQ(world_.timers.size(), 1u);
  // Gives up 10 ms before the caller, so the caller hears why.
  EXPECT_EQ(world_.timers[0].first, world_.now_ns + 90'000'000);

  world_.now_ns = world_.timers[0].first;
  host_->OnTimer(7);
  ASSERT_TRUE(world_.answers.contains(7));
  const Status& s = world_.answers.at(7).status;
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("no quorum of its replicas"), std::string::npos) << s.message();
  EXPECT_EQ(host_->node().pending_operations(), 0u);

  // A late reply of the abandoned read is ignored.
  Message late = world_.sent[0];
  std::swap(late.from, late.to);
  late.type = MessageType::kQueryReply;
  host_->OnPeerMessage(late);
  EXPECT_EQ(world_.answers.size(), 1u);
}

TEST_F(HostTest, WithoutACallerDeadlineTheOpTimeoutApplies) {
  host_->OnClientCall(3, Read("t"), std::nullopt);
  ASSERT_EQ(world_.timers.size(), 1u);
  EXPECT_EQ(world_.timers[0].first, HostOptions{}.op_timeout_ns);
}

TEST_F(HostTest, ACallersLongerDeadlineIsNotCutByTheOpTimeout) {
  const std::int64_t deadline = 60'000'000'000;  // a minute, past the 5 s op timeout
  host_->OnClientCall(3, Read("t"), deadline);
  ASSERT_EQ(world_.timers.size(), 1u);
  EXPECT_EQ(world_.timers[0].first, deadline - HostOptions{}.give_up_margin_ns);
}

TEST(HostGiveUp, RealNodesLeaveTheAnswerTimeToArriveAndNeverUseMoreThanHalf) {
  HostOptions o;  // the margins net_grpc/node_server.cc sets
  o.give_up_share = 5;
  o.give_up_min_margin_ns = 20'000'000;
  o.give_up_margin_ns = 100'000'000;
  constexpr std::int64_t kMs = 1'000'000;
  // A fifth of the time allowed...
  EXPECT_EQ(GiveUpAt(o, 0, 500 * kMs), 400 * kMs);
  // ...at least 20 ms, at most 100 ms...
  EXPECT_EQ(GiveUpAt(o, 0, 60 * kMs), 40 * kMs);
  EXPECT_EQ(GiveUpAt(o, 0, 10'000 * kMs), 9'900 * kMs);
  // ...never more than half of it, and never after a deadline already past.
  EXPECT_EQ(GiveUpAt(o, 0, 30 * kMs), 15 * kMs);
  EXPECT_EQ(GiveUpAt(o, 50 * kMs, 40 * kMs), 40 * kMs);
  // The op timeout applies only without a deadline, and never shortens a longer one.
  o.op_timeout_ns = 100 * kMs;
  EXPECT_EQ(GiveUpAt(o, 7, std::nullopt), 7 + 100 * kMs);
  EXPECT_EQ(GiveUpAt(o, 0, 60'000 * kMs), 59'900 * kMs);
}

TEST_F(HostTest, ACrashedTokenSilencesItsCallsStopsTheirJobsAndLeavesOtherTokensServing) {
  host_->OnClientCall(1, Write("t", 0, 100), std::nullopt);
  const JobId job = world_.jobs.begin()->first;
  EXPECT_FALSE(host_->CrashToken(T("t")));
  EXPECT_TRUE(host_->CrashToken(T("t"))) << "crashed already";
  EXPECT_TRUE(world_.cancelled.contains(job));
  EXPECT_EQ(host_->held_calls(), 1u);
  host_->OnTimer(1);  // a held call has no deadline of its own: nothing
  EXPECT_TRUE(world_.answers.empty());

  // Token u at the same node answers.
  host_->OnClientCall(2, Write("u", 5, 5), std::nullopt);
  SyncAll();
  ASSERT_EQ(world_.sent.size(), 1u);  // the Update to the other replica
  Message ack = world_.sent[0];
  std::swap(ack.from, ack.to);
  ack.type = MessageType::kUpdateAck;
  host_->OnPeerMessage(ack);
  SyncAll();
  ASSERT_TRUE(world_.answers.contains(2));
  EXPECT_TRUE(world_.answers.at(2).status.ok()) << world_.answers.at(2).status.ToString();

  host_->OnCallCancelled(1);  // the caller gives up: the held call ends
  EXPECT_EQ(host_->held_calls(), 0u);
  EXPECT_EQ(host_->calls_in_flight(), 0u);
}

// HostOptions with one bound set to `n`.
HostOptions WithBound(std::size_t HostOptions::*bound, std::size_t n) {
  HostOptions o;
  o.*bound = n;
  return o;
}

class HostHeldLimitTest : public HostTest {
 protected:
  HostHeldLimitTest() : HostTest(WithBound(&HostOptions::max_held_calls, 2)) {}
};

TEST_F(HostHeldLimitTest, HeldCallsAreBoundedAndFreedWhenTheirCallersGiveUp) {
  host_->CrashToken(T("t"));
  host_->OnClientCall(1, Read("t"), 1'000'000);
  host_->OnClientCall(2, Read("t"), 1'000'000);
  EXPECT_EQ(host_->held_calls(), 2u);
  EXPECT_TRUE(world_.answers.empty());
  host_->OnClientCall(3, Read("t"), 1'000'000);
  ASSERT_TRUE(world_.answers.contains(3));
  EXPECT_EQ(world_.answers.at(3).status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(host_->stats().calls_refused_held_limit, 1u);

  host_->OnCallCancelled(1);
  EXPECT_EQ(host_->held_calls(), 1u);
  host_->OnClientCall(4, Read("t"), 1'000'000);
  EXPECT_EQ(host_->held_calls(), 2u);
  EXPECT_FALSE(world_.answers.contains(4));
}

TEST_F(HostHeldLimitTest, TheNodesHeldLimitNeverRefusesAHealthyToken) {
  host_->CrashToken(T("t"));
  host_->OnClientCall(1, Read("t"), 1'000'000);
  host_->OnClientCall(2, Read("t"), 1'000'000);
  ASSERT_EQ(host_->held_calls(), 2u);
  // Token u is healthy: its call reaches the core (a Query leaves), it is not refused.
  host_->OnClientCall(3, Read("u"), 1'000'000);
  EXPECT_FALSE(world_.answers.contains(3));
  EXPECT_EQ(world_.sent.size(), 1u) << "the read of u queries its other replica";
  EXPECT_EQ(host_->stats().calls_refused_held_limit, 0u);
}

class HostPerTokenLimitTest : public HostTest {
 protected:
  HostPerTokenLimitTest() : HostTest(WithBound(&HostOptions::max_calls_per_token, 3)) {}
};

TEST_F(HostPerTokenLimitTest, ACrashedTokenHoldsItsShareWhileAHealthyTokenKeepsServing) {
  host_->CrashToken(T("t"));
  for (CallId c = 1; c <= 3; ++c) host_->OnClientCall(c, Read("t"), 1'000'000);
  EXPECT_EQ(host_->held_calls(), 3u);
  EXPECT_EQ(host_->calls_of_token(T("t")), 3u);
  host_->OnClientCall(4, Read("t"), 1'000'000);
  ASSERT_TRUE(world_.answers.contains(4));
  const Status& refused = world_.answers.at(4).status;
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("calls about token 't' in flight already (held: the token "
                                   "crashed here; at most 3 per token)"),
            std::string::npos)
      << refused.message();
  EXPECT_EQ(host_->stats().calls_refused_token_limit, 1u);

  // Token u at the same node: three writes go through to the end.
  for (CallId c = 10; c < 13; ++c) {
    world_.sent.clear();
    host_->OnClientCall(c, Write("u", 5, 5), 1'000'000);
    SyncAll();
    ASSERT_EQ(world_.sent.size(), 1u);
    Message ack = world_.sent[0];
    std::swap(ack.from, ack.to);
    ack.type = MessageType::kUpdateAck;
    host_->OnPeerMessage(ack);
    SyncAll();
    ASSERT_TRUE(world_.answers.contains(c));
    EXPECT_TRUE(world_.answers.at(c).status.ok()) << world_.answers.at(c).status.ToString();
  }
  EXPECT_EQ(host_->calls_of_token(T("u")), 0u);
  // Calls of t end when their callers give up, and t's share is free again.
  host_->OnCallCancelled(1);
  EXPECT_EQ(host_->calls_of_token(T("t")), 2u);
  host_->OnClientCall(5, Read("t"), 1'000'000);
  EXPECT_FALSE(world_.answers.contains(5)) << "held again";
}

TEST_F(HostPerTokenLimitTest, CallsWaitingAtALiveCoordinatorCount) {
  // Token u is alive; its reads wait for a quorum that does not come.
  for (CallId c = 1; c <= 3; ++c) host_->OnClientCall(c, Read("u"), 1'000'000'000);
  EXPECT_EQ(host_->held_calls(), 0u);
  EXPECT_EQ(host_->calls_of_token(T("u")), 3u);
  host_->OnClientCall(4, Read("u"), 1'000'000'000);
  ASSERT_TRUE(world_.answers.contains(4));
  EXPECT_EQ(world_.answers.at(4).status.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(world_.answers.at(4).status.message().find("waiting for a quorum"), std::string::npos);
  // The give-up of one frees its place.
  host_->OnTimer(1);
  EXPECT_EQ(world_.answers.at(1).status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(host_->calls_of_token(T("u")), 2u);
  host_->OnClientCall(5, Read("t"), 1'000'000'000);
  EXPECT_FALSE(world_.answers.contains(5)) << "another token is not affected";
}

TEST_F(HostTest, AGiveUpWhileTheArgminRunsSaysSoNotNoQuorum) {
  host_->OnClientCall(1,
                      ClientRequest{0, OpKind::kWrite, "t", Domain{"big", 0, 4'000'000, 4'000'010}},
                      100'000'000);
  ASSERT_EQ(world_.jobs.size(), 1u);
  const JobId job = world_.jobs.begin()->first;
  ASSERT_EQ(world_.timers.size(), 1u);
  world_.now_ns = world_.timers[0].first;
  host_->OnTimer(1);
  ASSERT_TRUE(world_.answers.contains(1));
  const Status& s = world_.answers.at(1).status;
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("ran out of time computing the argmin over 4000000 values"),
            std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("the write did not take effect"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("no quorum"), std::string::npos) << s.message();
  EXPECT_TRUE(world_.cancelled.contains(job)) << "the job stops with its caller";
}

TEST_F(HostTest, AWriteBeyondTheDomainLimitIsRefusedBeforeAnyWork) {
  const std::uint64_t limit = NodeOptions::kDefaultMaxDomain;
  host_->OnClientCall(
      1, ClientRequest{0, OpKind::kWrite, "t", Domain{"n", 0, 10, 1'000'000'000'000'000}},
      std::nullopt);
  ASSERT_TRUE(world_.answers.contains(1));
  const Status& s = world_.answers.at(1).status;
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(fmt::format("is too large: it holds 1000000000000000 values and the "
                                         "limit is {}",
                                         limit)),
            std::string::npos)
      << s.message();
  EXPECT_TRUE(world_.jobs.empty());
  EXPECT_TRUE(world_.sent.empty());
  EXPECT_TRUE(world_.writes.empty()) << "no version reserved";
  // At the limit exactly: accepted.
  host_->OnClientCall(2, ClientRequest{0, OpKind::kWrite, "t", Domain{"n", 0, 0, limit}},
                      std::nullopt);
  EXPECT_FALSE(world_.answers.contains(2));
}

TEST_F(HostTest, AMessageFromOutsideTheReplicaSetChangesNothingAndIsCounted) {
  // 127.0.0.1:3 is not a replica of token u.
  Message forged{MessageType::kUpdate, 2, 0, T("u"), 1, VersionedValue{99, RegisterValue::Empty()}};
  host_->OnPeerMessage(forged);
  EXPECT_EQ(host_->stats().peer_messages_rejected, 1u);
  EXPECT_TRUE(world_.sent.empty());
  EXPECT_EQ(host_->node().Stored(T("u"))->version, 0u);
}

TEST_F(HostTest, APeerCallIsAnsweredWithTheReplicasReply) {
  Message query{MessageType::kQuery, 1, 0, T("t"), 5, {}};
  host_->OnPeerCall(11, query);
  ASSERT_TRUE(world_.peer_answers.contains(11));
  EXPECT_TRUE(world_.peer_answers.at(11).ok());
  EXPECT_TRUE(world_.sent.empty()) << "the reply travels as the call's response";
}

TEST_F(HostTest, ShutdownEndsEveryCallAndCancelsEveryJob) {
  host_->OnClientCall(1, Write("t", 0, 100), std::nullopt);
  host_->CrashToken(T("u"));
  host_->OnClientCall(2, Read("u"), std::nullopt);
  host_->Shutdown("node shutting down");
  EXPECT_EQ(world_.answers.size(), 2u);
  for (const auto& [call, reply] : world_.answers) {
    EXPECT_EQ(reply.status.code(), StatusCode::kUnavailable);
  }
  EXPECT_EQ(world_.cancelled.size(), 1u);
  EXPECT_EQ(host_->calls_in_flight(), 0u);
  EXPECT_EQ(host_->held_calls(), 0u);
}

// ---- storage order, restarts, replacements -------------------------------------------

Message UpdateFrom(NodeIndex from, TokenIndex token, std::uint64_t op, std::uint64_t version) {
  Message m{MessageType::kUpdate, from, 0, token, op, {}};
  m.vv = VersionedValue{version, RegisterValue::Data(TokenData{Domain{"v", 0, 0, 1}, {}})};
  return m;
}

TEST_F(HostTest, AReplicaAnswersOnlyWhatItsStorageHasMadeDurable) {
  host_->OnPeerMessage(UpdateFrom(1, T("t"), 7, 3));
  ASSERT_EQ(world_.writes.size(), 1u);
  EXPECT_EQ(world_.writes[0][0].stored.version, 3u);
  EXPECT_TRUE(world_.sent.empty()) << "the ack waits for the write";
  // A query now would report the value the write carries: it waits too, behind it.
  host_->OnPeerMessage(Message{MessageType::kQuery, 2, 0, T("t"), 8, {}});
  EXPECT_TRUE(world_.sent.empty());
  // A coordinator's own query carries nothing stored here: it leaves at once.
  host_->OnClientCall(1, Read("u"), std::nullopt);
  ASSERT_EQ(world_.sent.size(), 1u);
  EXPECT_EQ(world_.sent[0].type, MessageType::kQuery);

  host_->OnStorageDone(1);
  ASSERT_EQ(world_.sent.size(), 3u);
  EXPECT_EQ(world_.sent[1].type, MessageType::kUpdateAck);
  EXPECT_EQ(world_.sent[1].to, 1u);
  EXPECT_EQ(world_.sent[2].type, MessageType::kQueryReply);
  EXPECT_EQ(world_.sent[2].vv.version, 3u);
  // The ack, the reply to node 2, and the reply of its own replica to its read of u.
  EXPECT_EQ(host_->stats().outputs_held_durable, 3u);
}

// The explorer's fingerprints (harness/explore.h) hash storage progress relative to the
// last durable batch: a replica that adopted two versions and one that adopted only the
// later one act alike from then on, and a write not yet durable still tells them apart.
TEST_F(HostTest, HostsThatDifferOnlyInHowManyBatchesTheyWroteHashAlike) {
  TestWorld other_world;
  Host other(scheme_, 0, HostOptions{},
             World{.clock = &other_world,
                   .transport = &other_world,
                   .compute = &other_world,
                   .storage = &other_world});
  const auto hash = [](const Host& h) {
    StateHasher s;
    h.HashState(s);
    return std::pair{s.low(), s.high()};
  };
  host_->OnPeerMessage(UpdateFrom(1, T("t"), 7, 2));
  SyncAll();
  host_->OnPeerMessage(UpdateFrom(1, T("t"), 8, 3));
  ASSERT_EQ(world_.writes.size(), 2u);
  other.OnPeerMessage(UpdateFrom(1, T("t"), 8, 3));
  ASSERT_EQ(other_world.writes.size(), 1u);
  // Both hold version 3 with its write in flight (what the disk holds is the disk's).
  EXPECT_EQ(hash(*host_), hash(other));
  other.OnStorageDone(1);
  EXPECT_NE(hash(*host_), hash(other)) << "a write in flight here, none there";
  SyncAll();
  EXPECT_EQ(hash(*host_), hash(other)) << "two batches here, one there, the same state";
}

TEST_F(HostTest, APeerCallsAnswerWaitsForStorageAndACancelEndsIt) {
  host_->OnPeerCall(21, UpdateFrom(1, T("t"), 7, 3));
  EXPECT_TRUE(world_.peer_answers.empty());
  host_->OnCallCancelled(21);
  ASSERT_TRUE(world_.peer_answers.contains(21));
  EXPECT_EQ(world_.peer_answers.at(21).code(), StatusCode::kCancelled);
  host_->OnStorageDone(1);  // the answer of a call that ended goes nowhere
  EXPECT_EQ(world_.peer_answers.size(), 1u);

  host_->OnPeerCall(22, UpdateFrom(1, T("t"), 8, 4));
  host_->OnStorageDone(2);
  ASSERT_TRUE(world_.peer_answers.contains(22));
  EXPECT_TRUE(world_.peer_answers.at(22).ok());
  EXPECT_EQ(host_->calls_in_flight(), 0u);
}

class HostMutantTest : public HostTest {
 protected:
  static HostOptions AckEarly() {
    HostOptions o;
    o.node.mutant = Mutant::kAckBeforeDurable;
    return o;
  }
  HostMutantTest() : HostTest(AckEarly()) {}
};

TEST_F(HostMutantTest, ThePlantedBugAcksBeforeTheWriteIsDurable) {
  host_->OnPeerMessage(UpdateFrom(1, T("t"), 7, 3));
  ASSERT_EQ(world_.writes.size(), 1u);
  ASSERT_EQ(world_.sent.size(), 1u);
  EXPECT_EQ(world_.sent[0].type, MessageType::kUpdateAck);
}

TEST_F(HostTest, AWriterVersionLeavesOnlyOnceItsReservationIsDurable) {
  host_->OnClientCall(1, Write("u", 5, 5), std::nullopt);
  ASSERT_EQ(world_.writes.size(), 1u);
  EXPECT_EQ(world_.writes[0][0].reserved_through, NodeOptions{}.reserve_versions);
  EXPECT_TRUE(world_.sent.empty());
  host_->OnStorageDone(1);
  ASSERT_EQ(world_.sent.size(), 1u);
  EXPECT_EQ(world_.sent[0].type, MessageType::kUpdate);
  // The next version is reserved already: no new reservation. Its Updates still wait
  // for the batch in flight (the first self-Update's value), then leave.
  host_->OnClientCall(2, Write("u", 6, 6), std::nullopt);
  ASSERT_EQ(world_.writes.size(), 2u);
  EXPECT_EQ(world_.writes[1][0].stored.version, 1u);
  EXPECT_EQ(world_.sent.size(), 1u);
  host_->OnStorageDone(2);
  EXPECT_EQ(world_.sent.size(), 2u);
  EXPECT_EQ(world_.sent[1].vv.version, 2u);
  EXPECT_EQ(world_.writes.back()[0].reserved_through, NodeOptions{}.reserve_versions);
}

TEST_F(HostTest, ARestartedWriterResumesAfterItsReservation) {
  TokenRecord u{T("u"), VersionedValue{9, RegisterValue::Empty()}, 1024, false, false};
  TokenRecord t{T("t"), VersionedValue{}, 0, /*crashed=*/true, false};
  host_->Start(StartMode::kRestart, {u, t}, token::FirstOpIdOf(1));
  EXPECT_TRUE(host_->node().IsCrashed(T("t"))) << "a crash mark survives a restart";
  EXPECT_EQ(host_->node().Stored(T("u"))->version, 9u);
  host_->OnClientCall(1, Write("u", 5, 5), std::nullopt);
  SyncAll();
  ASSERT_FALSE(world_.sent.empty());
  EXPECT_EQ(world_.sent[0].vv.version, 1025u);
}

TEST_F(HostTest, AReplacementCatchesUpBeforeItServesAndRetriesOnATimer) {
  host_->Start(StartMode::kReplacement, {}, token::FirstOpIdOf(1));
  EXPECT_TRUE(host_->node().catching_up());
  // It writes down that it is catching up (a restart midway starts over), and asks the
  // other replicas of both tokens.
  ASSERT_EQ(world_.writes.size(), 1u);
  for (const TokenRecord& r : world_.writes[0]) EXPECT_TRUE(r.catching_up);
  EXPECT_TRUE(world_.sent.empty()) << "its queries wait for that record";
  SyncAll();
  ASSERT_EQ(world_.sent.size(), 3u);  // t: nodes 1 and 2; u: node 1
  host_->OnClientCall(1, Read("t"), std::nullopt);
  ASSERT_TRUE(world_.answers.contains(1));
  EXPECT_EQ(world_.answers.at(1).status.code(), StatusCode::kUnavailable);
  // Peers' requests go unanswered: it may lack acknowledged values.
  host_->OnPeerMessage(Message{MessageType::kQuery, 1, 0, T("t"), 8, {}});
  EXPECT_EQ(world_.sent.size(), 3u);

  // The retry timer asks again whoever has not answered.
  ASSERT_FALSE(world_.timers.empty());
  EXPECT_EQ(world_.timers.back().second, kHostTimer);
  host_->OnTimer(kHostTimer);
  EXPECT_EQ(world_.sent.size(), 6u);

  // As the writer of t it needs every other replica: one answer is not enough.
  auto reply = [&](const Message& q, std::uint64_t version) {
    Message r{MessageType::kQueryReply, q.to, 0, q.token, q.op_id, {}};
    r.vv = VersionedValue{version, RegisterValue::Empty()};
    host_->OnPeerMessage(r);
  };
  reply(world_.sent[0], 40);
  EXPECT_TRUE(host_->node().catching_up());
  reply(world_.sent[1], 41);
  reply(world_.sent[2], 7);
  EXPECT_FALSE(host_->node().catching_up());
  EXPECT_EQ(host_->node().Stored(T("t"))->version, 41u);
  SyncAll();
  host_->OnClientCall(2, Write("t", 5, 5), std::nullopt);
  SyncAll();
  ASSERT_GT(world_.sent.size(), 6u);
  EXPECT_EQ(world_.sent.back().vv.version, 42u) << "after every version its peers hold";
}

}  // namespace
}  // namespace token::host

// The queue the host keeps its waiting outputs in (base/fifo.h).
namespace token {
namespace {

TEST(Fifo, KeepsOrderThroughCompactionAndCopiesOnlyLiveElements) {
  Fifo<int> q;
  std::vector<int> expected;
  int next = 0;
  // Pushes and pops interleaved so that the popped prefix is compacted many times.
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 1 + round % 7; ++i) {
      q.push_back(next);
      expected.push_back(next++);
    }
    for (int i = 0; i < round % 5 && !q.empty(); ++i) {
      ASSERT_EQ(q.front(), expected.front());
      q.pop_front();
      expected.erase(expected.begin());
    }
    ASSERT_EQ(q.size(), expected.size());
    const Fifo<int> copy = q;
    EXPECT_EQ(std::vector<int>(copy.begin(), copy.end()), expected);
    EXPECT_EQ(std::vector<int>(q.begin(), q.end()), expected);
  }
  while (!q.empty()) q.pop_front();
  EXPECT_EQ(q.size(), 0u);
  q.push_back(7);
  EXPECT_EQ(q.front(), 7);
  EXPECT_EQ(q.back(), 7);
}

}  // namespace
}  // namespace token
