// tokenload: closed-loop load against a live cluster, with faults, a recorded history and
// the checker's verdict.
//
//   tokenload --config FILE --clients N --ops M --read-ratio R [--crash NODE:TOKEN@MS ...]
//             [--history FILE] [--html FILE] [--final-reads] [--timeout-ms MS] [--domain N]
//             [--seed S]
//   tokenload --etcd HOST:PORT[,HOST:PORT...] --tokens ID,... --clients N --ops M ...
//
// Each client is a process of the history (FORMATS.md): it has one operation outstanding,
// writes distinct values (name "p<process>-<n>"), sends writes to the token's writer and
// reads to a random reader. A write that ends without a clear answer (timeout, lost
// connection) is recorded as `info` and the client continues as a new process, as Jepsen
// does. With --etcd the same load runs against an etcd cluster (put and linearizable get of
// one key per token), for comparison. Prints throughput, p50/p99 latency per operation type
// and the checker's verdict. Exit: 0 linearizable, 1 violation, 2 bad input or no decision.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include "checker/history.h"
#include "checker/history_writer.h"
#include "checker/html_report.h"
#include "checker/linearizability.h"
#include "checker/report.h"
#include "core/scheme_yaml.h"
#include "harness/cli.h"
#include "net_grpc/convert.h"
#include "net_grpc/credentials.h"
#include "proto/etcd_kv.grpc.pb.h"
#include "proto/token.grpc.pb.h"

namespace {

namespace pb = tokenmgr::v1;
using Clock = std::chrono::steady_clock;

struct Crash {
  std::string node;
  std::string token;
  std::int64_t at_ms = 0;
  std::string outcome = "not reached";
  std::int64_t done_ns = -1;  // history clock: when the node confirmed the crash
};

struct OpStats {
  std::uint64_t ok = 0, fail = 0, info = 0;
  std::vector<std::int64_t> latency_ns;  // ok operations
};

class Load {
 public:
  struct Options {
    std::shared_ptr<const token::ReplicationScheme> scheme;  // token cluster
    std::vector<std::string> etcd;                           // or etcd endpoints
    std::vector<std::string> tokens;
    int clients = 16;
    std::int64_t ops = 10000;
    double read_ratio = 0.5;
    std::chrono::milliseconds timeout{2000};
    std::uint64_t domain = 16;
    int channels = 2;
    std::uint64_t seed = 0;
    std::vector<Crash> crashes;
    bool final_reads = false;
    bool quiet = false;
  };

  explicit Load(Options o) : o_(std::move(o)), ops_left_(o_.ops) {}

  void Run();
  std::string History() const {
    std::lock_guard lock(mu_);
    return history_;
  }
  const std::map<std::string, OpStats>& stats() const { return stats_; }
  double seconds() const { return seconds_; }
  const std::vector<Crash>& crashes() const { return o_.crashes; }
  std::uint64_t processes() const { return next_process_.load(); }

 private:
  struct Client;
  struct Stubs {
    std::vector<std::unique_ptr<pb::TokenManager::Stub>> tokens;
    std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> etcd;
  };

  std::int64_t Now() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start_).count();
  }
  // Appends `line` with the time of now; returns that time.
  std::int64_t Record(checker::HistoryLine line) {
    std::lock_guard lock(mu_);
    line.time_ns = Now();
    checker::AppendHistoryLine(history_, line);
    return *line.time_ns;
  }
  void Completed(const std::string& f, const std::string& type, std::int64_t latency_ns) {
    std::lock_guard lock(mu_);
    OpStats& s = stats_[f];
    if (type == "ok") {
      ++s.ok;
      s.latency_ns.push_back(latency_ns);
    } else if (type == "fail") {
      ++s.fail;
    } else {
      ++s.info;
    }
  }
  void ClientDone() {
    std::lock_guard lock(mu_);
    ++clients_done_;
    cv_.notify_all();
  }
  void RunCrashes();
  void FinalReads();
  grpc::Status SyncRead(const std::string& node, const std::string& token, pb::TokenReply* reply);

  Options o_;
  std::map<std::string, Stubs> stubs_;  // by node / endpoint
  std::atomic<std::int64_t> ops_left_;
  std::atomic<std::uint64_t> next_process_{0};
  Clock::time_point start_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int clients_done_ = 0;
  bool load_over_ = false;
  std::string history_;  // JSON Lines (docs/FORMATS.md)
  std::map<std::string, OpStats> stats_;
  double seconds_ = 0;
  std::vector<std::unique_ptr<Client>> clients_;
};

struct Load::Client {
  Load* load;
  int index;
  std::uint64_t process;
  std::mt19937_64 rng;
  std::uint64_t seq = 0;

  bool is_read = false;
  std::string token;
  token::NodeIndex reader = 0;
  std::map<std::pair<std::string, token::NodeIndex>, Clock::time_point> avoid;
  std::string node;
  std::string written;  // the name this client's current write writes
  std::int64_t started_ns = 0;
  std::unique_ptr<grpc::ClientContext> ctx;
  pb::ReadRequest read_request;
  pb::WriteRequest write_request;
  pb::TokenReply reply;
  etcdserverpb::RangeRequest range_request;
  etcdserverpb::RangeResponse range_response;
  etcdserverpb::PutRequest put_request;
  etcdserverpb::PutResponse put_response;
  // After an UNAVAILABLE answer (a node down or restarting) the client waits before its
  // next operation, 10 ms doubling to 200 ms, as a real client backs off: a load against a
  // cluster with a node down must not spend its operations in a busy loop of refusals.
  std::chrono::milliseconds backoff{0};
  grpc::Alarm alarm;

  checker::LineValue Value(std::string_view name) const {
    return checker::LineValue{checker::LineValue::Kind::kData, name, 0, load->o_.domain / 2,
                              load->o_.domain};
  }
  checker::HistoryLine Line(checker::LineType type) const {
    checker::HistoryLine l;
    l.process = process;
    l.type = type;
    l.read = is_read;
    l.token = token;
    return l;
  }

  void Next() {
    if (load->ops_left_.fetch_sub(1) <= 0) {
      load->ClientDone();
      return;
    }
    const Options& o = load->o_;
    token = o.tokens[rng() % o.tokens.size()];
    is_read = std::uniform_real_distribution<double>(0, 1)(rng) < o.read_ratio;
    Stubs* stubs = nullptr;
    if (o.scheme) {
      const token::TokenScheme& ts = o.scheme->token(*o.scheme->FindToken(token));
      if (is_read) {
        // A random reader, skipping for a while those that just failed this client (as a
        // client with the scheme fails over); if all did, any reader.
        const auto now = Clock::now();
        std::vector<token::NodeIndex> live;
        for (token::NodeIndex r : ts.readers) {
          auto it = avoid.find({token, r});
          if (it == avoid.end() || it->second < now) live.push_back(r);
        }
        const auto& from = live.empty() ? ts.readers : live;
        reader = from[rng() % from.size()];
        node = o.scheme->node(reader);
      } else {
        node = o.scheme->node(ts.writer);
      }
    } else {
      node = o.etcd[static_cast<std::size_t>(index) % o.etcd.size()];
    }
    stubs = &load->stubs_.at(node);  // filled before the clients start; read-only now
    ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + o.timeout);
    const std::size_t channel =
        static_cast<std::size_t>(index) % static_cast<std::size_t>(o.channels);
    auto done = [this](grpc::Status s) { Done(std::move(s)); };
    if (is_read) {
      started_ns = load->Record(Line(checker::LineType::kInvoke));
      if (o.scheme) {
        read_request.set_id(token);
        stubs->tokens[channel]->async()->Read(ctx.get(), &read_request, &reply, done);
      } else {
        range_request.set_key("token/" + token);
        stubs->etcd[channel]->async()->Range(ctx.get(), &range_request, &range_response, done);
      }
      return;
    }
    const std::string name = fmt::format("p{}-{}", process, seq++);
    written = name;
    checker::HistoryLine invoke = Line(checker::LineType::kInvoke);
    invoke.value = Value(written);
    started_ns = load->Record(invoke);
    if (o.scheme) {
      write_request.set_id(token);
      write_request.set_name(name);
      write_request.set_low(0);
      write_request.set_mid(o.domain / 2);
      write_request.set_high(o.domain);
      stubs->tokens[channel]->async()->Write(ctx.get(), &write_request, &reply, done);
    } else {
      put_request.set_key("token/" + token);
      put_request.set_value(name);
      stubs->etcd[channel]->async()->Put(ctx.get(), &put_request, &put_response, done);
    }
  }

  void Done(grpc::Status s) {
    const bool etcd = load->o_.scheme == nullptr;
    const char* f = is_read ? "read" : "write";
    std::string type = "ok";
    if (!s.ok()) {
      // A read has no effect: a failed read is a `fail` whatever the reason.
      const bool maybe = token::MayHaveTakenEffect(token::net::FromGrpc(s.error_code()));
      type = (is_read || !maybe) ? "fail" : "info";
      if (is_read && !etcd) avoid[{token, reader}] = Clock::now() + std::chrono::seconds(2);
    }
    const std::string error = s.error_message();  // returned by value: keep it alive
    checker::HistoryLine line = Line(type == "ok"     ? checker::LineType::kOk
                                     : type == "fail" ? checker::LineType::kFail
                                                      : checker::LineType::kInfo);
    line.node = node;
    if (!is_read) line.value = Value(written);
    if (type == "ok") {
      if (is_read) {
        line.value = checker::LineValue{};  // null: the initial value
        if (etcd && range_response.kvs_size() > 0) {
          line.value = Value(range_response.kvs(0).value());
        } else if (!etcd && reply.kind() == pb::VALUE_DATA) {
          line.value = Value(reply.domain().name());
        }
      }
      if (!etcd) line.version = reply.version();
    } else {
      line.error = error;
    }
    const std::int64_t now = load->Record(line);
    load->Completed(f, type, now - started_ns);
    if (type == "info") process = load->next_process_++;  // the old process may still act
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE) {
      backoff = std::chrono::milliseconds(0);
      Next();
      return;
    }
    backoff =
        std::clamp(backoff * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(200));
    alarm.Set(std::chrono::system_clock::now() + backoff, [this](bool) { Next(); });
  }
};

void Load::Run() {
  // Channels: `channels` connections per node, each its own subchannel.
  std::vector<std::string> endpoints = o_.etcd;
  if (o_.scheme) endpoints = o_.scheme->nodes();
  for (const std::string& e : endpoints) {
    Stubs& s = stubs_[e];
    for (int c = 0; c < o_.channels; ++c) {
      grpc::ChannelArguments args = token::net::DefaultChannelArguments();
      args.SetInt("tokenload.channel", c);  // distinct arguments: distinct connections
      auto channel = grpc::CreateCustomChannel(e, grpc::InsecureChannelCredentials(), args);
      if (o_.scheme) {
        s.tokens.push_back(pb::TokenManager::NewStub(channel));
      } else {
        s.etcd.push_back(etcdserverpb::KV::NewStub(channel));
      }
    }
  }
  for (int i = 0; i < o_.clients; ++i) {
    auto c = std::make_unique<Client>();
    c->load = this;
    c->index = i;
    c->process = next_process_++;
    c->rng.seed(o_.seed * 1'000'003 + static_cast<std::uint64_t>(i));
    clients_.push_back(std::move(c));
  }
  start_ = Clock::now();
  std::thread crasher([this] { RunCrashes(); });
  for (auto& c : clients_) c->Next();
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return clients_done_ == o_.clients; });
    load_over_ = true;
    cv_.notify_all();
  }
  seconds_ = std::chrono::duration<double>(Clock::now() - start_).count();
  crasher.join();
  if (o_.final_reads && o_.scheme) FinalReads();
}

void Load::RunCrashes() {
  for (Crash& crash : o_.crashes) {
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_until(lock, start_ + std::chrono::milliseconds(crash.at_ms),
                         [this] { return load_over_; })) {
        return;  // the load ended first
      }
    }
    auto channel = grpc::CreateChannel(crash.node, grpc::InsecureChannelCredentials());
    auto stub = pb::Admin::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    pb::CrashTokenRequest request;
    request.set_id(crash.token);
    pb::CrashTokenReply reply;
    const grpc::Status s = stub->CrashToken(&ctx, request, &reply);
    if (s.ok()) crash.done_ns = Now();
    crash.outcome = s.ok() ? fmt::format("crashed at {} ms", crash.done_ns / 1'000'000)
                           : fmt::format("failed: {}", s.error_message());
    if (!o_.quiet) {
      std::printf("tokenload: crash %s at %s: %s\n", crash.token.c_str(), crash.node.c_str(),
                  crash.outcome.c_str());
      std::fflush(stdout);
    }
  }
}

grpc::Status Load::SyncRead(const std::string& node, const std::string& token,
                            pb::TokenReply* reply) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + o_.timeout);
  pb::ReadRequest request;
  request.set_id(token);
  return stubs_.at(node).tokens[0]->Read(&ctx, request, reply);
}

void Load::FinalReads() {
  for (const std::string& token : o_.tokens) {
    const token::TokenScheme& ts = o_.scheme->token(*o_.scheme->FindToken(token));
    for (token::NodeIndex r : ts.readers) {
      const std::string node = o_.scheme->node(r);
      const std::uint64_t process = next_process_++;
      checker::HistoryLine line;
      line.process = process;
      line.read = true;
      line.token = token;
      line.closing_read = true;
      Record(line);
      pb::TokenReply reply;
      const grpc::Status s = SyncRead(node, token, &reply);
      const std::string error = s.error_message();  // returned by value: keep it alive
      line.node = node;
      if (s.ok()) {
        line.type = checker::LineType::kOk;
        line.value = checker::LineValue{};  // null: the initial value
        if (reply.kind() == pb::VALUE_DATA) {
          line.value = checker::LineValue{checker::LineValue::Kind::kData, reply.domain().name(), 0,
                                          o_.domain / 2, o_.domain};
        }
        line.version = reply.version();
      } else {
        line.type = checker::LineType::kFail;
        line.error = error;
      }
      Record(line);
    }
  }
}

// REQUIRES: `v` sorted.
std::string Percentile(const std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return "-";
  const std::size_t i =
      std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
  return fmt::format("{:.2f} ms", static_cast<double>(v[i]) / 1e6);
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "tokenload: %s\n(tokenload --help for usage)\n", message.c_str());
  return 2;
}

using token::Result;
using token::Status;

struct Flags {
  std::string config, etcd, tokens, history, html;
  std::vector<std::string> crash;
  std::uint64_t clients = 16, ops = 10000, timeout_ms = 2000, domain = 16, channels = 2,
                seed = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  double read_ratio = 0.5;
  bool final_reads = false, quiet = false;
};

void Define(CLI::App& app, Flags& f) {
  tokenapp::cli::Configure(app, "tokenload",
                           "0 linearizable, 1 violation, 2 bad input or the checker could not "
                           "decide");
  app.description(
      "Closed-loop load against a live cluster (--config) or etcd (--etcd, for comparison), "
      "with token crashes on schedule; records the history and prints throughput, p50/p99 "
      "latency per operation type and the checker's verdict.");
  auto* config =
      app.add_option("--config", f.config, "the token cluster's scheme")->type_name("FILE");
  app.add_option("--etcd", f.etcd, "load an etcd cluster instead")
      ->type_name("HOST:PORT[,...]")
      ->excludes(config);
  app.add_option("--tokens", f.tokens, "tokens to load (default: every token of the scheme)")
      ->type_name("ID,...");
  tokenapp::cli::AddNumber(app, "--clients", &f.clients, 1, 10'000, "closed-loop clients");
  tokenapp::cli::AddNumber(app, "--ops", &f.ops, 0, 100'000'000, "operations in total");
  tokenapp::cli::AddReal(app, "--read-ratio", &f.read_ratio, 0, 1, "fraction of reads");
  app.add_option("--crash", f.crash,
                 "crash-stop TOKEN at NODE MS milliseconds into the run (repeatable)")
      ->type_name("NODE:TOKEN@MS")
      ->take_all()
      ->allow_extra_args(false);
  app.add_option("--history", f.history, "write the recorded history (JSON Lines)")
      ->type_name("FILE");
  app.add_option("--html", f.html,
                 "write the history's timeline with the crashes marked and any violation "
                 "highlighted (one self-contained HTML page)")
      ->type_name("FILE");
  app.add_flag("--final-reads", f.final_reads,
               "after the load, read every token once at each of its readers");
  tokenapp::cli::AddNumber(app, "--timeout-ms", &f.timeout_ms, 1, 3'600'000,
                           "deadline of each operation");
  tokenapp::cli::AddNumber(app, "--domain", &f.domain, 2, 1'000'000'000,
                           "write domains [0, N/2, N) (small domains by default)");
  tokenapp::cli::AddNumber(app, "--channels", &f.channels, 1, 64, "connections per node");
  tokenapp::cli::AddNumber(app, "--seed", &f.seed, 0, UINT64_MAX,
                           "seed of the clients' choices (default: from the clock)")
      ->default_str("clock");
  app.add_flag("--quiet", f.quiet, "only the summary");
}

// --crash NODE:TOKEN@MS, repeatable, in time order. NODE is IP:PORT (the token is what
// follows the node's port); both must be in the scheme.
Result<std::vector<Crash>> ParseCrashes(const Flags& flags,
                                        const token::ReplicationScheme* scheme) {
  std::vector<Crash> crashes;
  for (const std::string& spec : flags.crash) {
    const auto at = spec.rfind('@');
    const auto port_colon = spec.find(':');
    const auto token_colon =
        port_colon == std::string::npos ? std::string::npos : spec.find(':', port_colon + 1);
    if (at == std::string::npos || token_colon == std::string::npos || token_colon > at) {
      return Status::InvalidArgument(
          fmt::format("--crash '{}': expected NODE:TOKEN@MS, e.g. 127.0.0.1:50053:1@500", spec));
    }
    Crash c;
    c.node = spec.substr(0, token_colon);
    c.token = spec.substr(token_colon + 1, at - token_colon - 1);
    const auto ms = tokenapp::ParseUnsigned(spec.substr(at + 1));
    if (!ms || *ms > 86'400'000) {
      return Status::InvalidArgument(
          fmt::format("--crash '{}': the time must be 0..86400000 ms", spec));
    }
    c.at_ms = static_cast<std::int64_t>(*ms);
    if (!scheme) return Status::InvalidArgument("--crash applies to token clusters only");
    if (!scheme->FindNode(c.node)) {
      return Status::InvalidArgument(
          fmt::format("--crash: {} is not a node of the scheme", c.node));
    }
    if (!scheme->FindToken(c.token)) {
      return Status::InvalidArgument(
          fmt::format("--crash: '{}' is not a token of the scheme", c.token));
    }
    crashes.push_back(c);
  }
  std::sort(crashes.begin(), crashes.end(),
            [](const Crash& a, const Crash& b) { return a.at_ms < b.at_ms; });
  return crashes;
}

// The target (--config's scheme or --etcd's endpoints) and the tokens to load.
Status ParseTarget(const Flags& flags, Load::Options* o) {
  if (!flags.config.empty()) {
    auto scheme = token::LoadSchemeFile(flags.config);
    if (!scheme.ok()) return scheme.status();
    o->scheme = std::make_shared<const token::ReplicationScheme>(std::move(scheme).value());
  } else if (!flags.etcd.empty()) {
    o->etcd = Split(flags.etcd);
    if (o->etcd.empty()) return Status::InvalidArgument("--etcd needs at least one endpoint");
  } else {
    return Status::InvalidArgument("--config FILE (or --etcd ENDPOINTS) is required");
  }
  if (!flags.tokens.empty()) {
    o->tokens = Split(flags.tokens);
    for (const std::string& t : o->tokens) {
      if (o->scheme && !o->scheme->FindToken(t)) {
        return Status::InvalidArgument(
            fmt::format("--tokens: '{}' is not a token of the scheme", t));
      }
    }
  } else if (o->scheme) {
    for (const auto& t : o->scheme->tokens()) o->tokens.push_back(t.id);
  }
  if (o->tokens.empty()) return Status::InvalidArgument("no tokens to load (--tokens ID,...)");
  return Status::Ok();
}

Result<Load::Options> ParseOptions(const Flags& flags) {
  Load::Options o;
  if (Status st = ParseTarget(flags, &o); !st.ok()) return st;
  o.clients = static_cast<int>(flags.clients);
  o.ops = static_cast<std::int64_t>(flags.ops);
  o.read_ratio = flags.read_ratio;
  o.timeout = std::chrono::milliseconds(flags.timeout_ms);
  o.domain = flags.domain;
  o.channels = static_cast<int>(flags.channels);
  o.seed = flags.seed;
  o.final_reads = flags.final_reads;
  o.quiet = flags.quiet;
  auto crashes = ParseCrashes(flags, o.scheme.get());
  if (!crashes.ok()) return crashes.status();
  o.crashes = std::move(crashes).value();
  return o;
}

void PrintStats(const Load& load, const std::string& target, int clients) {
  std::uint64_t total_ok = 0;
  for (const auto& [f, s] : load.stats()) total_ok += s.ok;
  std::printf("tokenload: %s, %d clients, %llu ok operations in %.2f s: %.0f ops/s\n",
              target.c_str(), clients, static_cast<unsigned long long>(total_ok), load.seconds(),
              static_cast<double>(total_ok) / load.seconds());
  for (const auto& [f, s] : load.stats()) {
    std::vector<std::int64_t> latency_ns = s.latency_ns;
    std::sort(latency_ns.begin(), latency_ns.end());
    std::printf("  %-5s %7llu ok %5llu fail %5llu info   p50 %s  p99 %s\n", f.c_str(),
                static_cast<unsigned long long>(s.ok), static_cast<unsigned long long>(s.fail),
                static_cast<unsigned long long>(s.info), Percentile(latency_ns, 0.50).c_str(),
                Percentile(latency_ns, 0.99).c_str());
  }
  for (const Crash& c : load.crashes()) {
    std::printf("  crash token %s at %s (planned %lld ms): %s\n", c.token.c_str(), c.node.c_str(),
                static_cast<long long>(c.at_ms), c.outcome.c_str());
  }
}

// Line `line` (1-based) of `text`, cut at 300 characters.
std::string_view LineOf(std::string_view text, std::uint64_t line) {
  for (std::uint64_t n = 1; n < line; ++n) {
    const auto nl = text.find('\n');
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  return text.substr(0, std::min<std::size_t>(text.find('\n'), 300));
}

// What the HTML report shows beyond the history: for a token cluster, its nodes, and a lane
// and a mark for each crash the node confirmed.
checker::HtmlExtras ReportExtras(const Flags& flags, const std::string& target,
                                 const std::string& history, const checker::History& h,
                                 const token::ReplicationScheme* scheme,
                                 const std::vector<Crash>& crashes) {
  checker::HtmlExtras extras;
  extras.title = "tokenload " + target;
  extras.source = flags.config.empty() ? flags.etcd : flags.config;
  extras.history_text = history;
  if (!scheme) return extras;
  auto history_token = [&](const std::string& id) -> std::optional<std::uint32_t> {
    for (std::uint32_t i = 0; i < h.tokens.size(); ++i) {
      if (h.tokens[i].token == id) return i;
    }
    return std::nullopt;
  };
  for (const auto& n : scheme->nodes()) extras.nodes.push_back(fmt::format("{}", n));
  extras.token_nodes.resize(h.tokens.size());
  // Lanes for the nodes that crashed for a token (the others have nothing to show).
  for (const Crash& c : crashes) {
    const auto t = history_token(c.token);
    const auto n = scheme->FindNode(c.node);
    if (!t || !n || c.done_ns < 0) continue;
    extras.token_nodes[*t].push_back(*n);
    extras.faults.push_back(checker::HtmlFault{*n, *t, c.done_ns});
  }
  return extras;
}

// Checks the recorded history, prints the verdict, writes the report (--html); the exit code.
int CheckAndReport(const Flags& flags, const std::string& target, const std::string& history,
                   const Load& load, const token::ReplicationScheme* scheme, bool quiet) {
  checker::ParseResult parsed_history = checker::ParseHistoryString(history);
  if (!parsed_history.history) {
    // Name the line itself: a history this tool wrote that does not parse is its own bug.
    const std::string_view text = LineOf(history, parsed_history.error->line);
    std::fprintf(stderr, "tokenload: the recorded history does not parse (line %llu: %s): %.*s\n",
                 static_cast<unsigned long long>(parsed_history.error->line),
                 parsed_history.error->message.c_str(), static_cast<int>(text.size()), text.data());
    return 2;
  }
  const checker::Report report = checker::CheckHistory(*parsed_history.history);
  const std::string text = checker::FormatReportText(report);
  if (quiet) {
    std::printf("checker: %s (%zu operations)\n", checker::VerdictName(report.overall),
                report.operations);
  } else {
    std::printf("checker: %s", text.c_str());
    if (!text.empty() && text.back() != '\n') std::printf("\n");
  }
  if (!flags.html.empty()) {
    const checker::History& h = *parsed_history.history;
    const checker::HtmlExtras extras =
        ReportExtras(flags, target, history, h, scheme, load.crashes());
    if (const token::Status written = checker::WriteHtmlReport(flags.html, h, report, extras);
        !written.ok()) {
      std::fprintf(stderr, "tokenload: %s\n", written.message().c_str());
      return 2;
    }
    std::printf("report %s\n", flags.html.c_str());
  }
  return checker::ExitCodeOf(report);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app;
  Flags flags;
  Define(app, flags);
  if (auto code = tokenapp::cli::Parse(app, argc, argv)) return *code;
  auto options = ParseOptions(flags);
  if (!options.ok()) return Fail(options.status().message());
  Load::Options o = std::move(options).value();
  const std::string target = o.scheme ? "token cluster" : "etcd";
  const auto n_clients = o.clients;
  const bool quiet = o.quiet;
  const std::shared_ptr<const token::ReplicationScheme> scheme = o.scheme;

  Load load(std::move(o));
  load.Run();
  const std::string history = load.History();
  if (!flags.history.empty()) {
    std::ofstream out(flags.history, std::ios::binary);
    out << history;
    if (!out) return Fail(fmt::format("{}: cannot write the history", flags.history));
  }
  PrintStats(load, target, n_clients);
  return CheckAndReport(flags, target, history, load, scheme.get(), quiet);
}
