// tokenclient: the command-line client of the token manager.
//
//   tokenclient [--config FILE | --server IP:PORT] [--json] COMMAND [flags]
//   tokenclient write --id 1 --name abc --low 5 --mid 25 --high 100 --config FILE
//   tokenclient --server 127.0.0.1:50051 status
//   tokenclient -write -id 1 -name abc -low 5 -mid 25 -high 100 -host H -port P (original)
//
// Prints the result (one JSON object per result with --json); on an error prints the gRPC
// status and message on stderr and exits 1 (2 for bad usage). The command line is parsed
// by harness/cli (CLI11); tokenclient --help and tokenclient COMMAND --help describe it.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "checker/json_escape.h"
#include "core/scheme_yaml.h"
#include "harness/cli.h"
#include "net_grpc/client.h"
#include "net_grpc/convert.h"

namespace {

namespace pb = tokenmgr::v1;
using checker::JsonQuote;
using checker::TextEscape;
using token::net::TokenClient;

constexpr const char* kShellHelp =
    "write ID NAME LOW MID HIGH | read ID | create ID | drop ID | crash NODE ID | "
    "status [NODE] | quit";

struct Command {
  std::string op;  // write read create drop crash status help quit
  std::string id;
  token::Domain domain;
  std::string node;
};

std::string KindName(pb::ValueKind k) {
  switch (k) {
    case pb::VALUE_INITIAL:
      return "initial";
    case pb::VALUE_EMPTY:
      return "empty";
    case pb::VALUE_DROPPED:
      return "dropped";
    case pb::VALUE_DATA:
      return "data";
    default:
      return "unknown";
  }
}

std::string FormatReply(const std::string& op, const pb::TokenReply& r, const std::string& node,
                        bool json) {
  if (json) {
    std::string s = fmt::format(R"({{"op":"{}","id":{},"version":{},"kind":"{}")", op,
                                JsonQuote(r.id()), r.version(), KindName(r.kind()));
    if (r.kind() == pb::VALUE_DATA) {
      s += fmt::format(R"(,"name":{},"low":{},"mid":{},"high":{})", JsonQuote(r.domain().name()),
                       r.domain().low(), r.domain().mid(), r.domain().high());
      if (r.has_partial()) {
        s += fmt::format(R"(,"partial":{{"x":{},"hash":{}}})", r.partial().x(), r.partial().hash());
      }
      if (r.has_final()) {
        s += fmt::format(R"(,"final":{{"x":{},"hash":{}}})", r.final().x(), r.final().hash());
      }
    }
    return s + fmt::format(R"(,"node":{}}})", JsonQuote(node));
  }
  std::string s =
      fmt::format("{} {}: version {} {}", op, TextEscape(r.id()), r.version(), KindName(r.kind()));
  if (r.kind() == pb::VALUE_DATA) {
    s += fmt::format(" name={} low={} mid={} high={}", TextEscape(r.domain().name()),
                     r.domain().low(), r.domain().mid(), r.domain().high());
    if (r.has_partial())
      s += fmt::format(" partial x={} hash={}", r.partial().x(), r.partial().hash());
    if (r.has_final()) s += fmt::format(" final x={} hash={}", r.final().x(), r.final().hash());
  }
  return s + fmt::format(" (node {})", node);
}

// The node's Prometheus text as one JSON object: {"name{labels}": value, ...}.
std::string MetricsJson(const std::string& text) {
  std::string out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto space = line.rfind(' ');
    if (line.empty() || line[0] == '#' || space == std::string::npos) continue;
    if (!out.empty()) out += ",";
    out += fmt::format("{}:{}", JsonQuote(line.substr(0, space)), line.substr(space + 1));
  }
  return "{" + out + "}";
}

std::string FormatStatus(const pb::StatusReply& r, bool json) {
  if (json) {
    std::string tokens;
    for (const auto& t : r.tokens()) {
      if (!tokens.empty()) tokens += ",";
      tokens += fmt::format(
          R"({{"id":{},"writer":{},"reader":{},"replica":{},"crashed":{},"version":{},"kind":"{}"}})",
          JsonQuote(t.id()), t.writer(), t.reader(), t.replica(), t.crashed(), t.stored().version(),
          KindName(t.stored().kind()));
    }
    return fmt::format(
        R"({{"node":{},"tokens":[{}],"pending_operations":{},"held_calls":{},"client_calls":{},"peer_messages_in":{},"peer_messages_out":{},"peer_messages_rejected":{},"peer_messages_dropped":{},"peer_auth_refused":{},"uptime_ms":{},"pid":{},"instance":{},"metrics":{}}})",
        JsonQuote(r.node()), tokens, r.pending_operations(), r.held_calls(), r.client_calls(),
        r.peer_messages_in(), r.peer_messages_out(), r.peer_messages_rejected(),
        r.peer_messages_dropped(), r.peer_auth_refused(), r.uptime_ms(), r.pid(),
        JsonQuote(r.instance()), MetricsJson(r.metrics()));
  }
  std::string s = fmt::format(
      "node {}: up {} ms, {} client calls, {} pending operations, {} held calls, peer messages "
      "in {} out {} rejected {} dropped {}, peer calls refused (authentication) {}\n",
      r.node(), r.uptime_ms(), r.client_calls(), r.pending_operations(), r.held_calls(),
      r.peer_messages_in(), r.peer_messages_out(), r.peer_messages_rejected(),
      r.peer_messages_dropped(), r.peer_auth_refused());
  for (const auto& t : r.tokens()) {
    std::string roles;
    if (t.writer()) roles += "writer ";
    if (t.reader()) roles += "reader ";
    if (t.replica()) roles += "replica ";
    s += fmt::format("  token {}: {}{}", TextEscape(t.id()), roles, t.crashed() ? "CRASHED" : "");
    if (t.replica() && !t.crashed()) {
      s += fmt::format("stored version {} {}", t.stored().version(), KindName(t.stored().kind()));
      if (t.stored().kind() == pb::VALUE_DATA) {
        s += fmt::format(" {} [{},{},{})", TextEscape(t.stored().domain().name()),
                         t.stored().domain().low(), t.stored().domain().mid(),
                         t.stored().domain().high());
      }
    }
    s += "\n";
  }
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// Runs one command; prints its result on stdout or its error on stderr. Returns the exit
// code (0 ok, 1 failed).
int Run(TokenClient& client, const Command& c, bool json, TokenClient::Timeout timeout) {
  // A failed command: its status on stderr, and with --json also as the result's object.
  auto fail = [&](const grpc::Status& s, const std::string& node) {
    std::fprintf(stderr, "tokenclient: %s %s%s: %s: %s\n", c.op.c_str(), TextEscape(c.id).c_str(),
                 node.empty() ? "" : fmt::format(" at {}", TextEscape(node)).c_str(),
                 token::net::GrpcCodeName(s.error_code()), TextEscape(s.error_message()).c_str());
    if (json) {
      std::printf(
          "{\"op\":\"%s\",\"id\":%s,\"node\":%s,\"error\":{\"code\":\"%s\",\"message\":%s}}\n",
          c.op.c_str(), JsonQuote(c.id).c_str(), JsonQuote(node).c_str(),
          token::net::GrpcCodeName(s.error_code()), JsonQuote(s.error_message()).c_str());
    }
    return 1;
  };
  auto token_reply = [&](const token::net::CallResult<pb::TokenReply>& r) {
    if (!r.ok()) return fail(r.status, r.node);
    std::puts(FormatReply(c.op, r.reply, r.node, json).c_str());
    return 0;
  };
  if (c.op == "write") return token_reply(client.Write(c.id, c.domain, timeout));
  if (c.op == "read") return token_reply(client.Read(c.id, timeout));
  if (c.op == "create") return token_reply(client.Create(c.id, timeout));
  if (c.op == "drop") return token_reply(client.Drop(c.id, timeout));
  if (c.op == "crash") {
    auto r = client.CrashToken(c.node, c.id, timeout);
    if (!r.ok()) return fail(r.status, r.node);
    if (json) {
      std::printf("{\"op\":\"crash\",\"id\":%s,\"node\":%s,\"was_crashed\":%s}\n",
                  JsonQuote(c.id).c_str(), JsonQuote(r.reply.node()).c_str(),
                  r.reply.was_crashed() ? "true" : "false");
    } else {
      std::printf("crash %s: token crashed at node %s%s\n", TextEscape(c.id).c_str(),
                  TextEscape(r.reply.node()).c_str(),
                  r.reply.was_crashed() ? " (it already was)" : "");
    }
    return 0;
  }
  if (c.op == "status") {
    std::vector<std::string> nodes = c.node.empty() ? client.Nodes() : std::vector{c.node};
    int code = 0;
    for (const std::string& n : nodes) {
      auto r = client.NodeStatus(n, timeout);
      if (!r.ok()) {
        code = fail(r.status, n);
        continue;
      }
      std::puts(FormatStatus(r.reply, json).c_str());
    }
    return code;
  }
  std::fprintf(stderr, "tokenclient: unknown command '%s'\n", c.op.c_str());
  return 2;
}

// Parses "write ID NAME LOW MID HIGH" and friends (the shell's words).
token::Result<Command> ParseWords(const std::vector<std::string>& w) {
  using token::Status;
  Command c;
  if (w.empty()) return Status::InvalidArgument("empty command");
  c.op = w[0];
  auto need = [&](std::size_t n, const char* form) -> Status {
    if (w.size() != n) return Status::InvalidArgument(fmt::format("usage: {}", form));
    return Status::Ok();
  };
  if (c.op == "write") {
    if (auto s = need(6, "write ID NAME LOW MID HIGH"); !s.ok()) return s;
    c.id = w[1];
    c.domain.name = w[2];
    for (auto [i, field] :
         {std::pair{3, &c.domain.low}, std::pair{4, &c.domain.mid}, std::pair{5, &c.domain.high}}) {
      const auto n = tokenapp::ParseUnsigned(w[static_cast<std::size_t>(i)]);
      if (!n) {
        return Status::InvalidArgument(fmt::format("'{}' is not a non-negative integer below 2^64",
                                                   w[static_cast<std::size_t>(i)]));
      }
      *field = *n;
    }
  } else if (c.op == "read" || c.op == "create" || c.op == "drop") {
    if (auto s = need(2, "read|create|drop ID"); !s.ok()) return s;
    c.id = w[1];
  } else if (c.op == "crash") {
    if (auto s = need(3, "crash NODE ID"); !s.ok()) return s;
    c.node = w[1];
    c.id = w[2];
  } else if (c.op == "status") {
    if (w.size() > 2) return Status::InvalidArgument("usage: status [NODE]");
    if (w.size() == 2) c.node = w[1];
  } else if (c.op != "help" && c.op != "quit" && c.op != "exit") {
    return Status::InvalidArgument(fmt::format("unknown command '{}' (try help)", c.op));
  }
  return c;
}

// Runs the commands typed on stdin; exits with the worst code of them (1 when any command
// failed, 2 when a line was not a command), so a script sees its failures.
int Shell(TokenClient& client, bool json, TokenClient::Timeout timeout) {
  const bool interactive = isatty(STDIN_FILENO) != 0;
  std::string line;
  int worst = 0;
  for (std::size_t n = 0;; ++n) {
    if (interactive) {
      std::fputs("token> ", stdout);
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;
    std::istringstream in(line);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    if (words.empty() || words[0].starts_with("#")) continue;
    auto c = ParseWords(words);
    if (!c.ok()) {
      std::fprintf(stderr, "tokenclient: %s\n", c.status().message().c_str());
      worst = std::max(worst, 2);
      continue;
    }
    if (c.value().op == "quit" || c.value().op == "exit") break;
    if (c.value().op == "help") {
      std::puts(kShellHelp);
      continue;
    }
    worst = std::max(worst, Run(client, c.value(), json, timeout));
    std::fflush(stdout);
  }
  return worst;
}

struct Options {
  std::string config, server, host = "127.0.0.1";
  std::uint64_t port = 50051;
  bool json = false;
  std::uint64_t timeout_ms = 5000;
  token::net::TlsFiles tls;
  Command command;
};

// The command line: global options (before or after the command) and one subcommand each.
void Define(CLI::App& app, Options& o) {
  tokenapp::cli::Configure(
      app, "tokenclient",
      "The client of the token manager. Say where the cluster is with --config (route by the "
      "scheme: writes to the writer, reads to a random reader, failing over) or --server (one "
      "node). The original single-dash flags work too: tokenclient -write -id 1 -name abc -low "
      "5 -mid 25 -high 100 -host 127.0.0.1 -port 50051",
      "0 ok, 1 the command failed (message on stderr), 2 bad usage");
  auto* config =
      app.add_option("--config", o.config, "the replication scheme (YAML)")->type_name("FILE");
  auto* server = app.add_option("--server", o.server, "send everything to this node")
                     ->type_name("IP:PORT")
                     ->excludes(config);
  auto* host = app.add_option("--host", o.host, "the original client's flag: --server HOST:PORT")
                   ->type_name("HOST");
  auto* port = tokenapp::cli::AddNumber(app, "--port", &o.port, 1, 65535,
                                        "the original client's flag (with --host)");
  for (CLI::Option* original : {host, port}) original->excludes(server)->excludes(config);
  tokenapp::cli::AddJson(app, &o.json);
  tokenapp::cli::AddNumber(app, "--timeout-ms", &o.timeout_ms, 1, 3'600'000,
                           "deadline of each command");
  tokenapp::cli::AddTlsOptions(app, &o.tls.cert, &o.tls.key, &o.tls.ca);
  app.require_subcommand(1);

  Command& c = o.command;
  auto add = [&](const char* name, const std::string& what) {
    CLI::App* sub = app.add_subcommand(name, what);
    sub->callback([&c, name] { c.op = name; });
    return sub;
  };
  auto id = [&c](CLI::App* sub) {
    sub->add_option("--id,--token,ID", c.id, "the token")->required();
  };
  CLI::App* write = add("write", "write a token (at its writer)");
  id(write);
  write->add_option("--name", c.domain.name, "the value's name")->required();
  tokenapp::cli::AddNumber(*write, "--low", &c.domain.low, 0, UINT64_MAX, "low <= mid")->required();
  tokenapp::cli::AddNumber(*write, "--mid", &c.domain.mid, 0, UINT64_MAX, "mid < high")->required();
  tokenapp::cli::AddNumber(*write, "--high", &c.domain.high, 0, UINT64_MAX, "the domain's end")
      ->required();
  id(add("read", "read a token (at a reader)"));
  id(add("create", "create a token (at its writer)"));
  id(add("drop", "drop a token (at its writer)"));
  CLI::App* crash = add("crash", "crash-stop a token at one node (it never answers about it)");
  id(crash);
  crash->add_option("--node", c.node, "the node (default: the --server)")->type_name("IP:PORT");
  add("status", "node status: roles, stored versions, counters (every node without --node)")
      ->add_option("--node", c.node, "only this node")
      ->type_name("IP:PORT");
  add("shell", fmt::format("read commands from stdin, one per line: {} (exit: the worst code "
                           "of the commands)",
                           kShellHelp));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app;
  Options o;
  Define(app, o);
  if (auto code = tokenapp::cli::Parse(app, argc, argv)) return *code;
  auto usage = [&app](const std::string& message) {
    return tokenapp::cli::UsageError(app, message);
  };
  const TokenClient::Timeout timeout(o.timeout_ms);
  std::string server = o.server;
  if (app.count("--host") + app.count("--port") > 0) {
    server = fmt::format("{}:{}", o.host, o.port);
  }
  std::unique_ptr<TokenClient> client;
  if (!o.config.empty()) {
    auto scheme = token::LoadSchemeFile(o.config);
    if (!scheme.ok()) return usage(scheme.status().message());
    auto c = TokenClient::ForScheme(
        std::make_shared<const token::ReplicationScheme>(std::move(scheme).value()), o.tls);
    if (!c.ok()) return usage(c.status().message());
    client = std::move(c).value();
  } else if (!server.empty()) {
    auto c = TokenClient::ForServer(server, o.tls);
    if (!c.ok()) return usage(c.status().message());
    client = std::move(c).value();
  } else {
    return usage("say where the cluster is: --config FILE or --server IP:PORT (-host/-port)");
  }

  if (o.command.op == "shell") return Shell(*client, o.json, timeout);
  if (o.command.op == "crash" && o.command.node.empty()) {
    if (server.empty()) return usage("crash needs --node IP:PORT");
    o.command.node = server;
  }
  return Run(*client, o.command, o.json, timeout);
}
