// Properties of the core under random delivery orders.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "harness/uniform_pick.h"

#include "support/pump.h"

namespace token {
namespace {

using tokensim::Pick;

using testing::Addr;
using testing::Pump;

std::string SchemeOf(int n) {
  std::string readers;
  for (int i = 1; i <= n; ++i) readers += (i > 1 ? ", " : "") + ("127.0.0.1:" + std::to_string(i));
  return "- token: t\n  writer: 127.0.0.1:1\n  readers: [" + readers + "]\n";
}

// A random delivery order: every message gets a due step when it is sent, drawn from a
// short or (rarely) long delay, plus a large extra delay towards "laggard" nodes; the
// message with the earliest due step goes next. Swarm-style slow nodes make the rare
// orders (a replica that learns a write early, others that learn it late) likely.
class RandomOrder {
 public:
  explicit RandomOrder(Pump& p) : p_(p) {}

  void SetLaggards(std::vector<bool> laggards) { laggards_ = std::move(laggards); }

  // Delivers one message or runs one compute. False when nothing is pending.
  bool Step() {
    while (due_.size() < p_.inflight.size()) {
      const auto& m = p_.inflight[due_.size()];
      std::uint64_t delay = *rc::gen::weightedElement<std::uint64_t>({{8, 1}, {4, 5}, {1, 50}});
      if (laggards_[m.to]) delay += 200;
      due_.push_back(now_ + delay);
    }
    ++now_;
    if (!p_.computes.empty() && Pick(0, 4) == 0) {
      p_.Compute(0);
      return true;
    }
    if (p_.inflight.empty()) {
      if (p_.computes.empty()) return false;
      p_.Compute(0);
      return true;
    }
    const auto next = std::min_element(due_.begin(), due_.end()) - due_.begin();
    due_.erase(due_.begin() + next);
    p_.Deliver(static_cast<std::size_t>(next));
    return true;
  }

 private:
  Pump& p_;
  std::vector<bool> laggards_;
  std::vector<std::uint64_t> due_;  // parallel to p_.inflight
  std::uint64_t now_ = 0;
};

// One write and one read race under a random delivery order; a second read starts after the
// first read has finished. The second read never returns an older version than the first
// (no new-old inversion), and every read returns the value written with its version.
void CheckNoInversion(bool fast_read) {
  const int n = Pick(3, 6);
  Pump p(SchemeOf(n), NodeOptions{fast_read});
  const int prior_writes = Pick(0, 3);
  for (int k = 0; k < prior_writes; ++k) {
    p.Write(Addr(1), "t", Domain{"prior" + std::to_string(k), 0, 3, 6});
    p.DeliverAll();
  }
  const int reader1 = Pick(1, n + 1);
  const int reader2 = Pick(1, n + 1);
  // A minority of replicas may crash at random steps; never the writer or a coordinator
  // of the reads, whose operations must complete.
  std::vector<int> candidates;
  for (int i = 2; i <= n; ++i) {
    if (i != reader1 && i != reader2) candidates.push_back(i);
  }
  const int budget = std::min<int>((n - 1) / 2, static_cast<int>(candidates.size()));
  const int crashes = Pick(0, budget + 1);
  std::vector<std::pair<int, int>> crash_at;  // (step, node)
  for (int c = 0; c < crashes; ++c) crash_at.emplace_back(Pick(0, 40), candidates[c]);

  // Node indices follow the sorted addresses, so laggards are drawn by index.
  // They change when the second read starts, so a replica that served the first read may
  // be out of reach of the second one.
  const auto draw_laggards = [n] {
    return *rc::gen::container<std::vector<bool>>(
        static_cast<std::size_t>(n), rc::gen::weightedElement<bool>({{3, false}, {2, true}}));
  };
  RandomOrder order(p);
  order.SetLaggards(draw_laggards());
  const auto laggards_second = draw_laggards();
  const auto w = p.Write(Addr(1), "t", Domain{"racing", 0, 3, 6});
  const auto r1 = p.Read(Addr(reader1), "t");
  std::optional<std::uint64_t> r2;
  for (int step = 0; step < 10000; ++step) {
    for (const auto& [at, node] : crash_at) {
      if (at == step) p.Crash(Addr(node), "t");
    }
    if (!r2 && p.reply(r1)) {
      r2 = p.Read(Addr(reader2), "t");
      order.SetLaggards(laggards_second);
    }
    if (!order.Step()) break;
  }
  if (!r2 && p.reply(r1)) {
    r2 = p.Read(Addr(reader2), "t");
    p.DeliverAll();
  }
  // Within the fault budget everything completes.
  RC_ASSERT(p.reply(w).has_value());
  RC_ASSERT(p.reply(r1).has_value());
  RC_ASSERT(r2.has_value());
  RC_ASSERT(p.reply(*r2).has_value());
  const ClientReply first = *p.reply(r1);
  const ClientReply second = *p.reply(*r2);
  RC_ASSERT(second.version >= first.version);
  for (const ClientReply* r : {&first, &second}) {
    if (r->version == 0) {
      RC_ASSERT(r->value.kind() == ValueKind::kInitial);
    } else if (r->version == static_cast<std::uint64_t>(prior_writes) + 1) {
      RC_ASSERT(r->value.data().domain.name == std::string("racing"));
    } else {
      RC_ASSERT(r->value.data().domain.name == "prior" + std::to_string(r->version - 1));
    }
    RC_ASSERT(r->version <= static_cast<std::uint64_t>(prior_writes) + 1);
    // A read that started after a completed write never misses it.
    RC_ASSERT(r->version >= static_cast<std::uint64_t>(prior_writes));
  }
}

std::pair<std::uint64_t, std::uint64_t> HashOf(const Node& node) {
  StateHasher h;
  node.HashState(h);
  return {h.low(), h.high()};
}

// What Node::IgnoresForever and Node::OnlyAnswer promise (the explorer drops messages on
// their word): under random operations, crashes, abandons and delivery orders, with the
// correct protocol or a planted bug, a message is set aside when its receiver ignores it
// forever, or when its only effect is an answer that the answer's receiver ignores
// forever; it is delivered again at random later moments, and every time it changes
// nothing but that answer, which changes nothing. A message with only an answer sends
// exactly that answer and changes nothing.
void CheckDeadMessagesStayDead(Mutant mutant) {
  const int n = Pick(3, 6);
  Pump p(SchemeOf(n), NodeOptions{.fast_read = Pick(0, 2) == 0, .mutant = mutant});
  // Set aside, and whether the receiver may answer it (its only effect an answer).
  std::vector<std::pair<Message, bool>> dead;
  std::vector<std::uint64_t> requests;
  int crashes_left = (n - 1) / 2;
  const auto node_of = [&p](NodeIndex i) -> Node& { return p.node(Addr(static_cast<int>(i) + 1)); };
  // Delivers m, which must change nothing at its receiver and send nothing, or only
  // `answer` (when given), which must itself change nothing and send nothing.
  const auto expect_no_effect = [&](const Message& m, bool answer_allowed) {
    Node& to = node_of(m.to);
    const auto before = HashOf(to);
    const Outputs& out = to.OnMessage(m);
    RC_ASSERT(HashOf(to) == before);
    RC_ASSERT(out.replies.empty() && out.computes.empty() && out.writes.empty());
    RC_ASSERT(out.messages.size() <= (answer_allowed ? 1u : 0u));
    if (out.messages.empty()) return;
    const Message answer = out.messages[0];
    Node& back = node_of(answer.to);
    const auto back_before = HashOf(back);
    RC_ASSERT(back.OnMessage(answer).empty());
    RC_ASSERT(HashOf(back) == back_before);
  };
  const auto deliver_dead = [&](std::size_t i) { expect_no_effect(dead[i].first, dead[i].second); };
  for (int step = 0; step < 400; ++step) {
    switch (Pick(0, 12)) {
      case 0:
        requests.push_back(p.Write(Addr(1), "t", Domain{"w" + std::to_string(step), 0, 2, 4}));
        break;
      case 1:
        requests.push_back(p.Read(Addr(Pick(1, n + 1)), "t"));
        break;
      case 2:
        if (crashes_left > 0) {
          --crashes_left;
          p.Crash(Addr(Pick(1, n + 1)), "t");
        }
        break;
      case 3:
        if (!requests.empty()) {
          const auto r =
              requests[static_cast<std::size_t>(Pick(0, static_cast<int>(requests.size())))];
          for (int node = 1; node <= n; ++node) (void)p.node(Addr(node)).OnAbandon(r);
        }
        break;
      case 4:
        if (!dead.empty())
          deliver_dead(static_cast<std::size_t>(Pick(0, static_cast<int>(dead.size()))));
        break;
      default:
        if (!p.computes.empty() && (p.inflight.empty() || Pick(0, 3) == 0)) {
          p.Compute(static_cast<std::size_t>(Pick(0, static_cast<int>(p.computes.size()))));
          break;
        }
        if (p.inflight.empty()) break;
        const auto i = static_cast<std::size_t>(Pick(0, static_cast<int>(p.inflight.size())));
        const Message m = p.inflight[i];
        Node& to = node_of(m.to);
        const std::optional<Message> answer = to.OnlyAnswer(m);
        if (answer) {
          const auto before = HashOf(to);
          const Outputs& out = to.OnMessage(m);
          RC_ASSERT(out.messages.size() == 1u);
          RC_ASSERT(out.replies.empty() && out.computes.empty() && out.writes.empty());
          const Message& sent = out.messages[0];
          RC_ASSERT(sent.type == answer->type && sent.to == answer->to &&
                    sent.op_id == answer->op_id && sent.vv == answer->vv);
          RC_ASSERT(HashOf(to) == before);
          // The pump delivers it for real below, unless it is dead.
        }
        const bool ignored = to.IgnoresForever(m);
        if (ignored || (answer && node_of(answer->to).IgnoresForever(*answer))) {
          dead.emplace_back(m, !ignored);
          p.inflight.erase(p.inflight.begin() + static_cast<std::ptrdiff_t>(i));
          deliver_dead(dead.size() - 1);
        } else {
          p.Deliver(i);
        }
    }
  }
  for (std::size_t i = 0; i < dead.size(); ++i) deliver_dead(i);
}

RC_GTEST_PROP(NodeProperty, DeadMessagesStayDead, ()) { CheckDeadMessagesStayDead(Mutant::kNone); }

RC_GTEST_PROP(NodeProperty, DeadMessagesStayDeadUnderEveryPlantedBug, ()) {
  std::vector<Mutant> without_restarts;
  for (const MutantInfo& m : kMutants) {
    if (!m.needs_restarts) without_restarts.push_back(m.mutant);
  }
  CheckDeadMessagesStayDead(*rc::gen::elementOf(without_restarts));
}

RC_GTEST_PROP(NodeProperty, NoNewOldInversionWithFastRead, ()) { CheckNoInversion(true); }
RC_GTEST_PROP(NodeProperty, NoNewOldInversionWithoutFastRead, ()) { CheckNoInversion(false); }

}  // namespace
}  // namespace token
