// The protocol core driven by hand through a message pump (tests/support/pump.h).
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/pump.h"

namespace token {
namespace {

using testing::Addr;
using testing::Pump;

// Five nodes; token "t" has writer :1 and readers :1..:5 (5 replicas, quorum 3);
// token "u" has the same replica set; token "w" has a writer outside its readers.
constexpr const char* kScheme = R"(
- token: t
  writer: 127.0.0.1:1
  readers: [127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3, 127.0.0.1:4, 127.0.0.1:5]
- token: u
  writer: 127.0.0.1:2
  readers: [127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3, 127.0.0.1:4, 127.0.0.1:5]
- token: w
  writer: 127.0.0.1:1
  readers: [127.0.0.1:2, 127.0.0.1:3]
)";

Domain D(const std::string& name, std::uint64_t low = 0, std::uint64_t mid = 10,
         std::uint64_t high = 20) {
  return Domain{name, low, mid, high};
}

const std::string& NameOf(const ClientReply& r) { return r.value.data().domain.name; }

TEST(Node, WriteThenReadAtEveryReader) {
  for (bool fast : {true, false}) {
    Pump p(kScheme, NodeOptions{fast});
    auto w = p.Write(Addr(1), "t", D("v1"));
    p.DeliverAll();
    ASSERT_TRUE(p.reply(w)) << "write completes";
    EXPECT_TRUE(p.reply(w)->status.ok());
    EXPECT_EQ(p.reply(w)->version, 1u);
    for (int i = 1; i <= 5; ++i) {
      auto r = p.Read(Addr(i), "t");
      p.DeliverAll();
      ASSERT_TRUE(p.reply(r)) << "read at " << Addr(i);
      EXPECT_EQ(p.reply(r)->version, 1u);
      EXPECT_EQ(NameOf(*p.reply(r)), "v1");
      ASSERT_TRUE(p.reply(r)->final_point.has_value());
      EXPECT_EQ(*p.reply(r)->final_point, ComputeFinal(ComputeTokenData(D("v1"))));
    }
    EXPECT_EQ(p.node(Addr(1)).pending_operations(), 0u);
  }
}

TEST(Node, TranscriptOfTheOriginalSystem) {
  const char* dir = std::getenv("TOKEN_GOLDEN_DIR");
  std::ifstream in(std::string(dir ? dir : TOKEN_GOLDEN_DIR) + "/token_hash_vectors.json");
  ASSERT_TRUE(in.good());
  const auto t = nlohmann::json::parse(in).at("tokens").at(0);
  Pump p(kScheme);
  auto w = p.Write(Addr(1), "t", Domain{t.at("name"), t.at("low"), t.at("mid"), t.at("high")});
  p.DeliverAll();
  ASSERT_TRUE(p.reply(w) && p.reply(w)->status.ok());
  const auto& partial = p.reply(w)->value.data().partial;
  ASSERT_TRUE(partial.has_value());
  EXPECT_EQ(partial->x, t.at("partial").at("x").get<std::uint64_t>());
  EXPECT_EQ(partial->hash, t.at("partial").at("hash").get<std::uint64_t>());
  auto r = p.Read(Addr(3), "t");
  p.DeliverAll();
  ASSERT_TRUE(p.reply(r) && p.reply(r)->status.ok());
  ASSERT_TRUE(p.reply(r)->final_point.has_value());
  EXPECT_EQ(p.reply(r)->final_point->x, t.at("final").at("x").get<std::uint64_t>());
  EXPECT_EQ(p.reply(r)->final_point->hash, t.at("final").at("hash").get<std::uint64_t>());
}

TEST(Node, ReadsOfTheInitialValueCreateAndDrop) {
  Pump p(kScheme);
  auto r0 = p.Read(Addr(2), "t");
  p.DeliverAll();
  ASSERT_TRUE(p.reply(r0) && p.reply(r0)->status.ok());
  EXPECT_EQ(p.reply(r0)->version, 0u);
  EXPECT_EQ(p.reply(r0)->value.kind(), ValueKind::kInitial);
  EXPECT_FALSE(p.reply(r0)->final_point.has_value());

  auto c = p.Submit(Addr(1), ClientRequest{0, OpKind::kCreate, "t", {}});
  p.DeliverAll();
  auto r1 = p.Read(Addr(2), "t");
  p.DeliverAll();
  EXPECT_EQ(p.reply(c)->version, 1u);
  EXPECT_EQ(p.reply(r1)->value.kind(), ValueKind::kEmpty);

  auto d = p.Submit(Addr(1), ClientRequest{0, OpKind::kDrop, "t", {}});
  p.DeliverAll();
  auto r2 = p.Read(Addr(4), "t");
  p.DeliverAll();
  EXPECT_EQ(p.reply(d)->version, 2u);
  EXPECT_EQ(p.reply(r2)->version, 2u);
  EXPECT_EQ(p.reply(r2)->value.kind(), ValueKind::kDropped);
}

// The writer's Update reaches only replica :2, then the writer crashes for the token.
// Whatever the reads see, no read may return an older version than a read that finished
// before it started.
TEST(Node, WriterCrashMidWriteGivesNoNewOldInversion) {
  for (bool fast : {true, false}) {
    Pump p(kScheme, NodeOptions{fast});
    auto w = p.Write(Addr(1), "t", D("half"));
    p.ComputeAll();  // the partial; the Updates are now in flight
    std::vector<Message> updates;
    for (std::size_t i = 0; i < p.inflight.size();) {
      if (p.inflight[i].type == MessageType::kUpdate && p.inflight[i].to == p.N(Addr(2))) {
        p.Deliver(i);
      } else {
        ++i;
      }
    }
    p.Crash(Addr(1), "t");
    p.inflight.clear();  // the other Updates are lost with the writer's process
    EXPECT_FALSE(p.reply(w));
    EXPECT_EQ(p.node(Addr(2)).Stored(p.T("t"))->version, 1u);

    // Read at :3 whose quorum (:3, :4, :5) misses :2: it may return the initial value.
    p.hold = [&](const Message& m) {
      return m.type == MessageType::kQuery && m.to == p.N(Addr(2));
    };
    auto r1 = p.Read(Addr(3), "t");
    p.DeliverAll();
    ASSERT_TRUE(p.reply(r1));
    EXPECT_EQ(p.reply(r1)->version, 0u);
    p.hold = nullptr;
    p.inflight.clear();  // drop the held query: it belongs to a finished read

    // Read at :2 sees version 1 and imposes it on a quorum.
    auto r2 = p.Read(Addr(2), "t");
    p.DeliverAll();
    ASSERT_TRUE(p.reply(r2));
    EXPECT_EQ(p.reply(r2)->version, 1u);
    EXPECT_EQ(NameOf(*p.reply(r2)), "half");

    // Every later read, at any reader and with any quorum, returns at least version 1.
    for (int reader : {3, 4, 5}) {
      // Hold back :2 so the quorum must rely on the impose.
      p.hold = [&](const Message& m) { return m.to == p.N(Addr(2)); };
      auto r = p.Read(Addr(reader), "t");
      p.DeliverAll();
      ASSERT_TRUE(p.reply(r)) << "read at " << Addr(reader);
      EXPECT_EQ(p.reply(r)->version, 1u) << "new-old inversion at " << Addr(reader);
      p.hold = nullptr;
      p.inflight.clear();
    }
  }
}

TEST(Node, MinorityCrashedOperationsComplete) {
  Pump p(kScheme);
  p.Crash(Addr(4), "t");
  p.Crash(Addr(5), "t");
  auto w = p.Write(Addr(1), "t", D("m"));
  p.DeliverAll();
  ASSERT_TRUE(p.reply(w));
  EXPECT_TRUE(p.reply(w)->status.ok());
  for (int i = 1; i <= 3; ++i) {
    auto r = p.Read(Addr(i), "t");
    p.DeliverAll();
    ASSERT_TRUE(p.reply(r)) << Addr(i);
    EXPECT_EQ(p.reply(r)->version, 1u);
  }
  // The crashed replicas stayed silent and unchanged.
  EXPECT_EQ(p.node(Addr(4)).Stored(p.T("t"))->version, 0u);
  EXPECT_TRUE(p.node(Addr(4)).IsCrashed(p.T("t")));
}

TEST(Node, MajorityCrashedOperationsNeverCompleteNorLie) {
  Pump p(kScheme);
  auto w0 = p.Write(Addr(1), "t", D("before"));
  p.DeliverAll();
  ASSERT_TRUE(p.reply(w0));
  for (int i : {3, 4, 5}) p.Crash(Addr(i), "t");
  auto w = p.Write(Addr(1), "t", D("after"));
  auto r = p.Read(Addr(2), "t");
  p.DeliverAll();
  EXPECT_FALSE(p.reply(w)) << "a write without a quorum must not be acknowledged";
  EXPECT_FALSE(p.reply(r)) << "a read without a quorum must not answer";
  EXPECT_EQ(p.node(Addr(1)).pending_operations(), 1u);
  EXPECT_EQ(p.node(Addr(2)).pending_operations(), 1u);
  EXPECT_TRUE(p.inflight.empty()) << "nothing left to deliver: the operations hang";
}

TEST(Node, AbandonedOperationsAreForgottenAndLateRepliesIgnored) {
  Pump p(kScheme);
  for (int i : {3, 4, 5}) p.Crash(Addr(i), "t");
  auto w = p.Write(Addr(1), "t", D("lost"));
  auto r = p.Read(Addr(2), "t");
  p.DeliverAll();
  ASSERT_EQ(p.node(Addr(1)).pending_operations(), 1u);
  p.node(Addr(1)).OnAbandon(w);
  p.node(Addr(2)).OnAbandon(r);
  p.node(Addr(2)).OnAbandon(r);  // twice: a no-op
  EXPECT_EQ(p.node(Addr(1)).pending_operations(), 0u);
  EXPECT_EQ(p.node(Addr(2)).pending_operations(), 0u);
  EXPECT_EQ(p.node(Addr(1)).stats().operations_abandoned, 1u);
  EXPECT_EQ(p.node(Addr(2)).stats().operations_abandoned, 1u);
  // Another token on the same nodes is untouched and completes.
  auto u = p.Write(Addr(2), "u", D("fine"));
  p.DeliverAll();
  ASSERT_TRUE(p.reply(u));
  EXPECT_TRUE(p.reply(u)->status.ok());
  EXPECT_FALSE(p.reply(w));
  EXPECT_FALSE(p.reply(r));
}

TEST(Node, LateAckOfAnEarlierOperationIsNotCounted) {
  Pump p(kScheme);  // token "w": replicas :1 (writer), :2, :3; quorum 2
  auto w1 = p.Write(Addr(1), "w", D("one"));
  p.ComputeAll();
  // Deliver w1's Updates but hold every ack.
  p.hold = [](const Message& m) { return m.type == MessageType::kUpdateAck; };
  p.DeliverAll();
  std::vector<Message> w1_acks = p.inflight;
  ASSERT_EQ(w1_acks.size(), 3u);
  p.inflight.clear();

  auto w2 = p.Write(Addr(1), "w", D("two"));
  p.hold = nullptr;
  p.ComputeAll();
  // w2's Update reaches only :1 itself; its ack comes back.
  for (std::size_t i = 0; i < p.inflight.size();) {
    if (p.inflight[i].to == p.N(Addr(1))) {
      p.Deliver(i);
    } else {
      ++i;
    }
  }
  for (std::size_t i = 0; i < p.inflight.size();) {
    if (p.inflight[i].type == MessageType::kUpdateAck) {
      p.Deliver(i);
    } else {
      ++i;
    }
  }
  std::vector<Message> w2_rest = p.inflight;
  p.inflight = w1_acks;  // the late acks of w1 from :2 and :3 arrive now
  p.DeliverAll();
  ASSERT_TRUE(p.reply(w1));
  EXPECT_EQ(p.reply(w1)->version, 1u);
  EXPECT_FALSE(p.reply(w2)) << "acks of w1 were counted for w2";

  p.inflight = w2_rest;
  p.DeliverAll();
  ASSERT_TRUE(p.reply(w2));
  EXPECT_EQ(p.reply(w2)->version, 2u);
}

TEST(Node, DuplicateAnswersCountOnce) {
  Pump p(kScheme);  // token "w": quorum 2 of 3
  auto w = p.Write(Addr(1), "w", D("dup"));
  p.ComputeAll();
  // Deliver the Update to :2 and duplicate its ack.
  p.hold = [&](const Message& m) { return m.type == MessageType::kUpdate && m.to != p.N(Addr(2)); };
  p.DeliverAll();
  ASSERT_FALSE(p.reply(w));
  // Re-send :2's ack by hand.
  Message ack{MessageType::kUpdateAck, p.N(Addr(2)), p.N(Addr(1)), p.T("w"), 0, {}};
  ack.op_id = 1;  // the write is the writer's first operation
  p.inflight.push_back(ack);
  p.DeliverAll();
  EXPECT_FALSE(p.reply(w)) << "one replica's ack counted twice";
  p.hold = nullptr;
  p.DeliverAll();
  EXPECT_TRUE(p.reply(w));
}

TEST(Node, CrashOfOneTokenLeavesTheOthersUntouched) {
  Pump p(kScheme);
  p.Crash(Addr(2), "t");  // :2 is the writer of "u" and a replica of "t"
  auto wu = p.Write(Addr(2), "u", D("u1"));
  auto wt = p.Write(Addr(1), "t", D("t1"));
  auto rt = p.Read(Addr(2), "t");  // a crashed token answers nothing, not even an error
  p.DeliverAll();
  ASSERT_TRUE(p.reply(wu));
  EXPECT_TRUE(p.reply(wu)->status.ok());
  ASSERT_TRUE(p.reply(wt));
  EXPECT_FALSE(p.reply(rt));
  EXPECT_EQ(p.node(Addr(2)).Stored(p.T("u"))->version, 1u);
  EXPECT_EQ(p.node(Addr(2)).Stored(p.T("t"))->version, 0u) << "crashed replica adopted an Update";
  auto ru = p.Read(Addr(2), "u");
  p.DeliverAll();
  ASSERT_TRUE(p.reply(ru));
  EXPECT_EQ(NameOf(*p.reply(ru)), "u1");
}

TEST(Node, AuthorizationErrorsNameTheRightNodesAndChangeNothing) {
  Pump p(kScheme);
  auto bad_write = p.Write(Addr(3), "t", D("x"));
  auto bad_create = p.Submit(Addr(3), ClientRequest{0, OpKind::kCreate, "t", {}});
  auto bad_read = p.Read(Addr(1), "w");
  auto unknown = p.Read(Addr(1), "nope");
  auto bad_domain = p.Write(Addr(1), "t", D("x", 10, 5, 20));
  auto bad_domain2 = p.Write(Addr(1), "t", D("x", 1, 20, 20));
  EXPECT_TRUE(p.inflight.empty()) << "a rejected request sent messages";
  EXPECT_TRUE(p.computes.empty());

  auto expect = [&](std::uint64_t id, StatusCode code, const std::string& text) {
    ASSERT_TRUE(p.reply(id));
    EXPECT_EQ(p.reply(id)->status.code(), code) << p.reply(id)->status.ToString();
    EXPECT_NE(p.reply(id)->status.message().find(text), std::string::npos)
        << p.reply(id)->status.ToString();
  };
  expect(bad_write, StatusCode::kFailedPrecondition, "send write to its writer 127.0.0.1:1");
  expect(bad_create, StatusCode::kFailedPrecondition, "send create to its writer 127.0.0.1:1");
  expect(bad_read, StatusCode::kFailedPrecondition,
         "not a reader of token 'w': its readers are 127.0.0.1:2, 127.0.0.1:3");
  expect(unknown, StatusCode::kNotFound, "unknown token 'nope'");
  expect(bad_domain, StatusCode::kInvalidArgument, "low (10) must be <= mid (5)");
  expect(bad_domain2, StatusCode::kInvalidArgument, "mid (20) must be < high (20)");

  // The writer's version counter did not move: the next good write is version 1.
  auto w = p.Write(Addr(1), "t", D("good"));
  p.DeliverAll();
  ASSERT_TRUE(p.reply(w));
  EXPECT_EQ(p.reply(w)->version, 1u);
}

TEST(Node, PipelinedWritesTakeVersionsInArrivalOrder) {
  Pump p(kScheme);
  auto w1 = p.Write(Addr(1), "t", D("p1"));
  auto w2 = p.Write(Addr(1), "t", D("p2"));
  auto w3 = p.Write(Addr(1), "t", D("p3"));
  // Finish the computes in reverse order: versions still follow arrival.
  while (!p.computes.empty()) p.Compute(p.computes.size() - 1);
  p.DeliverAll();
  EXPECT_EQ(p.reply(w1)->version, 1u);
  EXPECT_EQ(p.reply(w2)->version, 2u);
  EXPECT_EQ(p.reply(w3)->version, 3u);
  auto r = p.Read(Addr(5), "t");
  p.DeliverAll();
  EXPECT_EQ(p.reply(r)->version, 3u);
  EXPECT_EQ(NameOf(*p.reply(r)), "p3");
}

TEST(Node, FastReadCanBeSwitchedOff) {
  for (bool fast : {true, false}) {
    Pump p(kScheme, NodeOptions{fast});
    p.Write(Addr(1), "t", D("f"));
    p.DeliverAll();
    auto r = p.Read(Addr(3), "t");
    p.DeliverAll();
    ASSERT_TRUE(p.reply(r));
    const NodeStats& s = p.node(Addr(3)).stats();
    EXPECT_EQ(s.reads_fast, fast ? 1u : 0u);
    EXPECT_EQ(s.reads_imposed, fast ? 0u : 1u);
  }
}

TEST(Node, FinalIsCachedPerVersion) {
  Pump p(kScheme);
  p.Write(Addr(1), "t", D("c", 0, 10, 5000));
  p.DeliverAll();
  p.Read(Addr(3), "t");
  p.DeliverAll();
  auto r = p.Read(Addr(3), "t");
  EXPECT_TRUE(p.computes.empty());
  p.DeliverAll();
  EXPECT_EQ(p.node(Addr(3)).stats().final_cache_hits, 1u);
  EXPECT_EQ(*p.reply(r)->final_point, ComputeFinal(ComputeTokenData(D("c", 0, 10, 5000))));
}

TEST(Node, MessagesFromStrangersAreIgnored) {
  Pump p(kScheme);
  // :4 is not a replica of "w"; its Update must change nothing at :2.
  Message m{MessageType::kUpdate,
            p.N(Addr(4)),
            p.N(Addr(2)),
            p.T("w"),
            7,
            VersionedValue{9, RegisterValue::Empty()}};
  p.inflight.push_back(m);
  p.DeliverAll();
  EXPECT_EQ(p.node(Addr(2)).Stored(p.T("w"))->version, 0u);
  EXPECT_EQ(p.node(Addr(2)).stats().messages_ignored, 1u);
  EXPECT_TRUE(p.inflight.empty());
}

}  // namespace
}  // namespace token
