#include "apps/tokenload_load.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include "net_grpc/convert.h"
#include "net_grpc/credentials.h"

namespace tokenload {

namespace {

std::string Base36(std::uint64_t n) {
  std::string out;
  do {
    out.insert(out.begin(), "0123456789abcdefghijklmnopqrstuvwxyz"[n % 36]);
    n /= 36;
  } while (n != 0);
  return out;
}

}  // namespace

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

  checker::LineValue Value(std::string_view name) const { return load->Value(name); }
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
    const std::string name = fmt::format("{}p{}-{}", load->name_prefix_, process, seq++);
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
        } else if (!etcd) {
          line.value = load->ReplyValue(reply);
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

Load::Load(Options o) : o_(std::move(o)), ops_left_(o_.ops) {}
Load::~Load() = default;

checker::LineValue Load::Value(std::string_view name) const {
  return checker::LineValue{checker::LineValue::Kind::kData, name, 0, o_.domain / 2, o_.domain};
}

checker::LineValue Load::ReplyValue(const pb::TokenReply& reply) const {
  switch (reply.kind()) {
    case pb::VALUE_DATA:
      return Value(reply.domain().name());
    case pb::VALUE_EMPTY:
    case pb::VALUE_DROPPED: {
      checker::LineValue v;
      v.kind = reply.kind() == pb::VALUE_EMPTY ? checker::LineValue::Kind::kEmpty
                                               : checker::LineValue::Kind::kDropped;
      return v;
    }
    default:
      return checker::LineValue{};  // null: the initial value
  }
}

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
  RecordInitialValues();
  load_start_ = Clock::now();
  std::thread crasher([this] { RunCrashes(); });
  for (auto& c : clients_) c->Next();
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return clients_done_ == o_.clients; });
    load_over_ = true;
    cv_.notify_all();
  }
  seconds_ = std::chrono::duration<double>(Clock::now() - load_start_).count();
  crasher.join();
  if (o_.final_reads && o_.scheme) FinalReads();
}

void Load::RecordInitialValues() {
  // A healthy reader answers in milliseconds; a token crashed at all its readers (a test
  // of held calls loads one) must not hold up the load for long.
  const auto timeout = std::min(o_.timeout, std::chrono::milliseconds(2000));
  std::vector<std::string> names;  // the data values found
  for (const std::string& token : o_.tokens) {
    const std::int64_t invoked_ns = Now();
    std::optional<checker::LineValue> value;  // what the token holds; unset: not read
    std::string text;                         // value.name's storage
    std::optional<std::uint64_t> version;
    std::string errors;
    if (o_.scheme) {
      // Any reader answers for the token's value (the reads are atomic); one that does not
      // (crashed for the token, down) is skipped after the deadline.
      const token::TokenScheme& ts = o_.scheme->token(*o_.scheme->FindToken(token));
      for (token::NodeIndex r : ts.readers) {
        pb::TokenReply reply;
        const std::string& node = o_.scheme->node(r);
        const grpc::Status s = SyncRead(node, token, &reply, timeout);
        if (!s.ok()) {
          errors += fmt::format("{}{}: {}", errors.empty() ? "" : "; ", node, s.error_message());
          continue;
        }
        text = reply.domain().name();
        value = ReplyValue(reply);
        value->name = text;
        version = reply.version();
        break;
      }
    } else {
      for (const std::string& endpoint : o_.etcd) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + timeout);
        etcdserverpb::RangeRequest request;
        request.set_key("token/" + token);
        etcdserverpb::RangeResponse response;
        const grpc::Status s = stubs_.at(endpoint).etcd[0]->Range(&ctx, request, &response);
        if (!s.ok()) {
          errors +=
              fmt::format("{}{}: {}", errors.empty() ? "" : "; ", endpoint, s.error_message());
          continue;
        }
        value = checker::LineValue{};
        if (response.kvs_size() > 0) {
          text = response.kvs(0).value();
          value = Value(text);
        }
        break;
      }
    }
    if (!value) {
      // Nothing answers for it now; if it held a value and answers later, a read of that
      // value shows as a read of a value never written, hence the warning.
      std::fprintf(stderr,
                   "tokenload: warning: could not read token %s before the load (%s); a value "
                   "it already holds is not in the history\n",
                   token.c_str(), errors.c_str());
      continue;
    }
    if (value->kind == checker::LineValue::Kind::kInitial) continue;  // never written
    // The value was written before the load: a write of it that ends before the load
    // starts, so that the load's reads of it are reads of a written value.
    checker::HistoryLine line;
    line.process = next_process_++;
    line.read = false;
    line.token = token;
    line.type = checker::LineType::kInvoke;
    line.value = *value;
    Record(line, invoked_ns);
    line.type = checker::LineType::kOk;
    line.version = version;
    Record(line);
    if (value->kind == checker::LineValue::Kind::kData) names.push_back(text);
  }
  // This load's names differ from every value found: a run tag from the clock, moved on
  // while a value found starts with it.
  auto ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());
  for (;;) {
    name_prefix_ = fmt::format("r{}-", Base36(ms));
    if (std::none_of(names.begin(), names.end(),
                     [this](const std::string& n) { return n.rfind(name_prefix_, 0) == 0; })) {
      break;
    }
    ++ms;
  }
}

void Load::RunCrashes() {
  for (Crash& crash : o_.crashes) {
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_until(lock, load_start_ + std::chrono::milliseconds(crash.at_ms),
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
    // Printed from the load's start, as --crash plans it (done_ns is on the history's clock).
    const std::int64_t load_offset_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(load_start_ - start_).count();
    crash.outcome =
        s.ok() ? fmt::format("crashed at {} ms", (crash.done_ns - load_offset_ns) / 1'000'000)
               : fmt::format("failed: {}", s.error_message());
    if (!o_.quiet) {
      std::printf("tokenload: crash %s at %s: %s\n", crash.token.c_str(), crash.node.c_str(),
                  crash.outcome.c_str());
      std::fflush(stdout);
    }
  }
}

grpc::Status Load::SyncRead(const std::string& node, const std::string& token,
                            pb::TokenReply* reply, std::chrono::milliseconds timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
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
      const grpc::Status s = SyncRead(node, token, &reply, o_.timeout);
      const std::string error = s.error_message();  // returned by value: keep it alive
      line.node = node;
      if (s.ok()) {
        line.type = checker::LineType::kOk;
        line.value = ReplyValue(reply);
        line.version = reply.version();
      } else {
        line.type = checker::LineType::kFail;
        line.error = error;
      }
      Record(line);
    }
  }
}

}  // namespace tokenload
