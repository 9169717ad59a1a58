// The explorer's steps (harness/explore_state.h): which are enabled in a state, what each
// does to it, and how a counterexample's trace names it.
#include <algorithm>

#include <fmt/format.h>

#include "core/token_hash.h"
#include "harness/explore_state.h"

namespace tokensim::explore_detail {

void ExNode::Send(const Message& m) {
  ++sent;
  explorer->OnSend(*state, *this, m);
}

void ExNode::AnswerClient(CallId, const ClientReply& reply) { explorer->OnReply(*state, reply); }

void Explorer::Enabled(const State& s, std::vector<ExploreStep>& out) const {
  out.clear();
  if (eager_clients_ && Finished(s)) return;  // its history is complete
  for (std::uint32_t p = 0; p < s.clients.size(); ++p) {
    const Client& cl = s.clients[p];
    if (cl.busy) {
      const OpRec& rec = s.ops[op_offset_[p] + cl.next - 1];
      const ExploreOp& op = OpOf(p, cl.next - 1);
      const bool held = s.nodes[rec.node]->host->node().IsCrashed(op.token);
      if (c_.give_ups == GiveUps::kAlways || (c_.give_ups == GiveUps::kHeld && held)) {
        out.push_back({Kind::kGiveUp, p, 0});
      }
      continue;
    }
    if (cl.next >= c_.processes[p].size()) continue;
    const ExploreOp& op = OpOf(p, cl.next);
    const auto& ts = scheme_.token(op.token);
    if (op.node) {
      out.push_back({Kind::kInvoke, p, *op.node});
    } else if (token::IsWriterOp(op.kind)) {
      out.push_back({Kind::kInvoke, p, ts.writer});
    } else {
      for (const NodeIndex r : ts.readers) out.push_back({Kind::kInvoke, p, r});
    }
  }
  for (const Msg& m : s.net) {
    if (c_.fifo) {
      // Only the oldest message of its link.
      const bool oldest = std::none_of(s.net.begin(), s.net.end(), [&](const Msg& o) {
        return o.m.from == m.m.from && o.m.to == m.m.to && o.n < m.n;
      });
      if (!oldest) continue;
    }
    out.push_back({Kind::kDeliver, m.m.from, m.n});
  }
  for (NodeIndex n = 0; n < s.nodes.size(); ++n) {
    const ExNode& node = *s.nodes[n];
    if (!node.worker.empty()) out.push_back({Kind::kCompute, n, 0});
    if (sync_steps_ && node.disk.syncing()) out.push_back({Kind::kSync, n, 0});
  }
  if (s.crashes < c_.crashes) {
    for (NodeIndex n = 0; n < s.nodes.size(); ++n) {
      for (TokenIndex t = 0; t < scheme_.tokens().size(); ++t) {
        if (scheme_.token(t).IsReplica(n) && !s.nodes[n]->host->node().IsCrashed(t)) {
          out.push_back({Kind::kCrash, n, t});
        }
      }
    }
  }
  if (s.restarts < c_.restarts) {
    for (NodeIndex n = 0; n < s.nodes.size(); ++n) {
      if (c_.restart_plain) out.push_back({Kind::kRestart, n, 0});
      if (c_.restart_power_cut) out.push_back({Kind::kRestart, n, 1});
      if (c_.restart_disk_lost) out.push_back({Kind::kRestart, n, 2});
    }
  }
}

// Completes every running sync until none is left (steps without sync steps of their own:
// a sync's timing shows only through the messages it releases, and those are delivered in
// every order anyway).
void Explorer::SyncAll(State& s) {
  for (bool again = true; again;) {
    again = false;
    for (NodeIndex n = 0; n < s.nodes.size(); ++n) {
      if (!s.nodes[n]->disk.syncing()) continue;
      ExNode& node = Own(s, n);
      if (recorder) {
        recorder->now += 1'000'000;
        recorder->schedule.push_back(
            {sim::ScheduleStep::Kind::kSync, recorder->now, n, node.disk.syncs_started()});
      }
      node.SyncDone();
      again = true;
    }
  }
}

// Process t.a invokes its next operation at node t.b.
void Explorer::ApplyInvoke(State& s, const ExploreStep& t, std::int64_t now) {
  Client& cl = s.clients[t.a];
  const std::uint32_t k = cl.next++;
  const ExploreOp& op = OpOf(t.a, k);
  const std::uint32_t index = op_offset_[t.a] + k;
  OpRec& rec = s.ops.Mutable(index);
  rec.status = OpRec::kPending;
  rec.node = static_cast<NodeIndex>(t.b);
  for (std::uint32_t i = 0; i < s.ops.size(); ++i) {
    const auto st = s.ops[i].status;
    if (st == OpRec::kOk || st == OpRec::kFail) rec.before |= 1ULL << i;
  }
  cl.busy = true;
  // The call's id names the operation, not the order of invocations: states that differ
  // only in which client invoked first meet.
  cl.call = index + 1;
  s.events.push_back(static_cast<std::uint16_t>(index << 2));
  if (recorder) {
    recorder->ops.push_back(
        sim::ScriptedOp{now, t.a, op.kind, op.token, op.domain, static_cast<NodeIndex>(t.b)});
  }
  ClientRequest req{cl.call, op.kind, scheme_.token(op.token).id, op.domain};
  Own(s, rec.node).host->OnClientCall(cl.call, std::move(req), std::nullopt);
}

// Node t.a restarts (t.b: 0 its process died, 1 a power cut, 2 its disk lost).
void Explorer::ApplyRestart(State& s, const ExploreStep& t, std::int64_t now) {
  ++s.restarts;
  const auto n = static_cast<NodeIndex>(t.a);
  if (recorder) {
    sim::Fault f{sim::FaultKind::kRestartNode, now, n, 0};
    f.down_ns = sim::kScheduledHopNs;
    f.lose_unsynced = t.b == 1;
    f.disk_lost = t.b == 2;
    recorder->faults.push_back(f);
  }
  ExNode& node = Own(s, n);
  // The process dies (SimNode::Die): unsynced writes survive unless the power went.
  node.disk.Die(t.b == 1 ? 0 : node.disk.UnsyncedRecords());
  node.worker.clear();
  if (t.b == 2) node.disk.LoseDisk();
  // Its connections drop with what was on them; its clients see theirs drop (info).
  std::erase_if(s.net, [n](const Msg& m) { return m.m.from == n || m.m.to == n; });
  for (std::uint32_t p = 0; p < s.clients.size(); ++p) {
    Client& cl = s.clients[p];
    const std::uint32_t index = op_offset_[p] + cl.next - 1;
    if (!cl.busy || s.ops[index].node != n) continue;
    cl.busy = false;
    MarkInfo(s.ops.Mutable(index), index);
    s.events.push_back(static_cast<std::uint16_t>(index << 2 | 1));
  }
  // It comes back from its disk (SimNode::Boot).
  node.host.reset();
  node.host = std::make_unique<Host>(c_.scheme, n, host_options_,
                                     token::host::World{&node, &node, &node, &node});
  ++node.incarnation;
  node.host->Start(node.disk.BootMode(), node.disk.BootRecords(),
                   token::FirstOpIdOf(node.incarnation));
}

void Explorer::Apply(State& s, const ExploreStep& t) {
  s.completed = false;
  s.changed = 0;
  const std::int64_t now = recorder ? (recorder->now += 1'000'000) : 0;
  switch (t.kind) {
    case Kind::kInvoke:
      ApplyInvoke(s, t, now);
      break;
    case Kind::kDeliver: {
      auto it = std::find_if(s.net.begin(), s.net.end(),
                             [&](const Msg& m) { return m.m.from == t.a && m.n == t.b; });
      TOKEN_ASSERT(it != s.net.end(), "a delivered message is in flight");
      const Message m = it->m;
      s.net.erase(it);
      if (recorder) {
        recorder->schedule.push_back({sim::ScheduleStep::Kind::kDeliver, now, t.a, t.b});
      }
      Own(s, m.to).host->OnPeerMessage(m);
      break;
    }
    case Kind::kCompute: {
      ExNode& node = Own(s, static_cast<NodeIndex>(t.a));
      const ExNode::Job job = node.worker.front();
      node.worker.erase(node.worker.begin());
      if (recorder) {
        recorder->schedule.push_back({sim::ScheduleStep::Kind::kCompute, now, t.a, job.n});
      }
      node.host->OnComputeDone(job.id,
                               token::Argmin(job.request.name, job.request.from, job.request.to));
      break;
    }
    case Kind::kSync: {
      ExNode& node = Own(s, static_cast<NodeIndex>(t.a));
      if (recorder) {
        recorder->schedule.push_back(
            {sim::ScheduleStep::Kind::kSync, now, t.a, node.disk.syncs_started()});
      }
      node.SyncDone();
      break;
    }
    case Kind::kCrash: {
      ++s.crashes;
      if (recorder) {
        recorder->faults.push_back(sim::Fault{sim::FaultKind::kCrashToken, now,
                                              static_cast<NodeIndex>(t.a),
                                              static_cast<TokenIndex>(t.b)});
      }
      Own(s, static_cast<NodeIndex>(t.a)).host->CrashToken(static_cast<TokenIndex>(t.b));
      break;
    }
    case Kind::kGiveUp:
      GiveUp(s, t.a, now);
      break;
    case Kind::kRestart:
      ApplyRestart(s, t, now);
      break;
  }
  if (!sync_steps_) SyncAll(s);
  if (eager_clients_) EagerClients(s);
  if (drop_dead_) DropDead(s);
}

// Process p gives up its pending call (its operation's outcome is unknown: info).
void Explorer::GiveUp(State& s, std::uint32_t p, std::int64_t now) {
  Client& cl = s.clients[p];
  const std::uint32_t index = op_offset_[p] + cl.next - 1;
  OpRec& rec = s.ops.Mutable(index);
  MarkInfo(rec, index);
  cl.busy = false;
  s.events.push_back(static_cast<std::uint16_t>(index << 2 | 1));
  if (recorder) {
    recorder->schedule.push_back({sim::ScheduleStep::Kind::kGiveUp, now, p, cl.next});
  }
  Own(s, rec.node).host->OnCallCancelled(cl.call);
}

// Every call held at a crashed coordinator is given up, and every operation that would be
// held and is invisible to the checker is invoked (and so given up), until none is left
// (ExploreConfig::eager_clients).
void Explorer::EagerClients(State& s) {
  const auto next_now = [this] { return recorder ? (recorder->now += 1'000'000) : 0; };
  for (std::uint32_t p = 0; p < s.clients.size(); ++p) {
    while (true) {
      const Client& cl = s.clients[p];
      if (cl.busy) {
        if (c_.give_ups == GiveUps::kNever) break;
        const OpRec& rec = s.ops[op_offset_[p] + cl.next - 1];
        if (!s.nodes[rec.node]->host->node().IsCrashed(OpOf(p, cl.next - 1).token)) break;
        if (recorder)
          recorder->eager.push_back(fmt::format("process {} gives up its held call", p));
        GiveUp(s, p, next_now());
        continue;
      }
      if (cl.next >= c_.processes[p].size() || !unseen_dead_[op_offset_[p] + cl.next]) break;
      const ExploreOp& op = OpOf(p, cl.next);
      // Pinned to one coordinator: a read's node, a writer operation's writer.
      if (!op.node && !token::IsWriterOp(op.kind)) break;
      const NodeIndex at = op.node ? *op.node : scheme_.token(op.token).writer;
      if (!s.nodes[at]->host->node().IsCrashed(op.token)) break;
      if (recorder) {
        recorder->eager.push_back(fmt::format("process {} invokes {} token {} at {}", p,
                                              token::OpKindName(op.kind),
                                              scheme_.token(op.token).id, scheme_.node(at)));
      }
      ApplyInvoke(s, ExploreStep{Kind::kInvoke, p, at}, next_now());
    }
  }
}

// Delivering Query m (n to r) then crashing n for its token reaches the state that crashing
// n reaches without the delivery when the delivery changed r in nothing (a replica's Query)
// and sent nothing but answers to n: after the crash those answers are dead (dropped), and
// so is the Query when the crash comes first (its only effect, the answer, is ignored).
bool Explorer::Absorbed(const State& before, const State& after, const Message& m) const {
  if (m.type != token::MessageType::kQuery || after.events.size() != before.events.size() ||
      after.net.size() != before.net.size()) {
    return false;
  }
  // The delivery took one message and sent one: its answer, to n.
  const Msg& sent = after.net.back();
  if (sent.m.to != m.from || sent.m.from != m.to || sent.m.token != m.token ||
      sent.m.type != token::MessageType::kQueryReply) {
    return false;
  }
  // The receiver is as it was (its hash, everything that decides its future; as the
  // fingerprint hashes it under the identity, so that it is made once).
  const auto hash = [this](const ExNode& n) {
    return group_.empty() ? n.HashUnder({}) : n.HashAs(0, {}, group_[0].calls);
  };
  return hash(*before.nodes[m.to]) == hash(*after.nodes[m.to]);
}

bool Explorer::Finished(const State& s) const {
  for (std::uint32_t p = 0; p < s.clients.size(); ++p) {
    if (s.clients[p].busy || s.clients[p].next < c_.processes[p].size()) return false;
  }
  return true;
}

// Only messages to or from a node the step changed can have died (a message's fate
// depends on its receiver and, for a request, on its sender, which counts the answer): the
// rest were alive in the state before. A message sent in the step is from a changed node.
void Explorer::DropDead(State& s) const {
  std::erase_if(s.net, [&s](const Msg& msg) {
    const Message& m = msg.m;
    if ((s.changed & (NodeBit(m.to) | NodeBit(m.from))) == 0) return false;
    const token::Node& to = s.nodes[m.to]->host->node();
    if (to.IgnoresForever(m)) return true;
    const std::optional<Message> answer = to.OnlyAnswer(m);
    return answer && s.nodes[answer->to]->host->node().IgnoresForever(*answer);
  });
}

std::string Explorer::Describe(const State& before, const ExploreStep& t) const {
  switch (t.kind) {
    case Kind::kInvoke: {
      const ExploreOp& op = OpOf(t.a, before.clients[t.a].next);
      return fmt::format("process {} invokes {} token {} at {}", t.a, token::OpKindName(op.kind),
                         scheme_.token(op.token).id, scheme_.node(static_cast<NodeIndex>(t.b)));
    }
    case Kind::kDeliver:
      for (const Msg& m : before.net) {
        if (m.m.from != t.a || m.n != t.b) continue;
        return fmt::format("deliver {} {} -> {} token {} op {} version {}",
                           token::MessageTypeName(m.m.type), scheme_.node(m.m.from),
                           scheme_.node(m.m.to), scheme_.token(m.m.token).id, m.m.op_id,
                           m.m.vv.version);
      }
      return "deliver ?";
    case Kind::kCompute:
      return fmt::format("argmin job finishes at {}", scheme_.node(static_cast<NodeIndex>(t.a)));
    case Kind::kSync:
      return fmt::format("storage sync completes at {}", scheme_.node(static_cast<NodeIndex>(t.a)));
    case Kind::kCrash:
      return fmt::format("{} crashes for token {}", scheme_.node(static_cast<NodeIndex>(t.a)),
                         scheme_.token(static_cast<TokenIndex>(t.b)).id);
    case Kind::kRestart: {
      static constexpr const char* kHow[] = {"restarts", "loses power and restarts",
                                             "restarts with its disk lost"};
      return fmt::format("{} {}", scheme_.node(static_cast<NodeIndex>(t.a)), kHow[t.b]);
    }
    case Kind::kGiveUp:
      return fmt::format("process {} gives up", t.a);
  }
  return "?";
}

}  // namespace tokensim::explore_detail
