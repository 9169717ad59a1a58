// tokenclient: the command-line client of the token manager.
//
//   tokenclient write --id 1 --name abc --low 5 --mid 25 --high 100 --config FILE
//   tokenclient read --id 1 --config FILE             (a random reader, failing over)
//   tokenclient create|drop --id 1 --server IP:PORT
//   tokenclient crash --node IP:PORT --id 1 [--config FILE | --server IP:PORT]
//   tokenclient status [--node IP:PORT] --config FILE
//   tokenclient shell --config FILE                    (type commands, one per line)
//   tokenclient -write -id 1 -name abc -low 5 -mid 25 -high 100 -host 127.0.0.1 -port 50051
//   tokenclient -read -id 1 -host 127.0.0.1 -port 50051          (the original flags)
//
// Prints the result (one JSON object with --json); on any error prints the gRPC status and
// message on stderr and exits 1 (2 for bad usage).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "checker/json_escape.h"
#include "core/scheme_yaml.h"
#include "harness/flags.h"
#include "net_grpc/client.h"

namespace {

namespace pb = tokenmgr::v1;
using checker::JsonQuote;
using token::net::TokenClient;

constexpr const char* kUsage = R"(usage: tokenclient COMMAND [flags]
commands:
  write  --id ID --name NAME --low L --mid M --high H   write a token (at its writer)
  read   --id ID                                         read a token (at a reader)
  create --id ID | drop --id ID                          create / drop (at the writer)
  crash  --node IP:PORT --id ID                          crash-stop token ID at that node
  status [--node IP:PORT]                                node status (every node without --node)
  shell                                                  read commands from stdin:
         write ID NAME LOW MID HIGH | read ID | create ID | drop ID | crash NODE ID |
         status [NODE] | help | quit
where (one of):
  --config FILE        route by the replication scheme: writes to the writer, reads to a
                       random reader, failing over to another reader on a timeout
  --server IP:PORT     send everything to this node
  -host H -port P      the original client's flags (the same as --server H:P)
flags:
  --json               print one JSON object per result
  --timeout-ms MS      deadline of each command (default 5000)
  --tls-cert F --tls-key F --tls-ca F                    mutual TLS
original style: tokenclient -write|-read|-create|-drop -id ID [-name N -low L -mid M -high H]
                            -host H -port P
exit: 0 ok, 1 the command failed (message on stderr), 2 bad usage
)";

struct Command {
  std::string op;  // write read create drop crash status help quit
  std::string id;
  token::Domain domain;
  std::string node;
};

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    default:
      return fmt::format("CODE_{}", static_cast<int>(code));
  }
}

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
  std::string s = fmt::format("{} {}: version {} {}", op, r.id(), r.version(), KindName(r.kind()));
  if (r.kind() == pb::VALUE_DATA) {
    s += fmt::format(" name={} low={} mid={} high={}", r.domain().name(), r.domain().low(),
                     r.domain().mid(), r.domain().high());
    if (r.has_partial())
      s += fmt::format(" partial x={} hash={}", r.partial().x(), r.partial().hash());
    if (r.has_final()) s += fmt::format(" final x={} hash={}", r.final().x(), r.final().hash());
  }
  return s + fmt::format(" (node {})", node);
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
        R"({{"node":{},"tokens":[{}],"pending_operations":{},"held_calls":{},"client_calls":{},"peer_messages_in":{},"peer_messages_out":{},"peer_messages_rejected":{},"peer_messages_dropped":{},"peer_auth_refused":{},"uptime_ms":{},"pid":{},"instance":{}}})",
        JsonQuote(r.node()), tokens, r.pending_operations(), r.held_calls(), r.client_calls(),
        r.peer_messages_in(), r.peer_messages_out(), r.peer_messages_rejected(),
        r.peer_messages_dropped(), r.peer_auth_refused(), r.uptime_ms(), r.pid(),
        JsonQuote(r.instance()));
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
    s += fmt::format("  token {}: {}{}", t.id(), roles, t.crashed() ? "CRASHED" : "");
    if (t.replica() && !t.crashed()) {
      s += fmt::format("stored version {} {}", t.stored().version(), KindName(t.stored().kind()));
      if (t.stored().kind() == pb::VALUE_DATA) {
        s += fmt::format(" {} [{},{},{})", t.stored().domain().name(), t.stored().domain().low(),
                         t.stored().domain().mid(), t.stored().domain().high());
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
  auto fail = [&](const grpc::Status& s, const std::string& node) {
    std::fprintf(stderr, "tokenclient: %s %s%s: %s: %s\n", c.op.c_str(), c.id.c_str(),
                 node.empty() ? "" : fmt::format(" at {}", node).c_str(),
                 CodeName(s.error_code()).c_str(), s.error_message().c_str());
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
      std::printf("crash %s: token crashed at node %s%s\n", c.id.c_str(), r.reply.node().c_str(),
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
    auto low = tokenapp::ParseUnsigned(w[3], "LOW");
    auto mid = tokenapp::ParseUnsigned(w[4], "MID");
    auto high = tokenapp::ParseUnsigned(w[5], "HIGH");
    for (const auto* r : {&low, &mid, &high}) {
      if (!r->ok()) return r->status();
    }
    c.domain.low = low.value();
    c.domain.mid = mid.value();
    c.domain.high = high.value();
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

int Shell(TokenClient& client, bool json, TokenClient::Timeout timeout) {
  const bool interactive = isatty(STDIN_FILENO) != 0;
  std::string line;
  int last = 0;
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
      last = 2;
      continue;
    }
    if (c.value().op == "quit" || c.value().op == "exit") break;
    if (c.value().op == "help") {
      std::puts(
          "write ID NAME LOW MID HIGH | read ID | create ID | drop ID | crash NODE ID | "
          "status [NODE] | quit");
      continue;
    }
    last = Run(client, c.value(), json, timeout);
    std::fflush(stdout);
  }
  return last;
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "tokenclient: %s\n(tokenclient --help for usage)\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  static const std::vector<std::string> kCommands = {"write", "read",   "create", "drop",
                                                     "crash", "status", "shell"};
  int first = 1;
  std::string op;
  if (argc > 1 && std::find(kCommands.begin(), kCommands.end(), argv[1]) != kCommands.end()) {
    op = argv[1];
    first = 2;
  }
  auto parsed = tokenapp::Flags::Parse(
      argc, argv, first,
      {{"config"},      {"server"},       {"host"},        {"port"},          {"json", false},
       {"timeout-ms"},  {"id"},           {"token"},       {"name"},          {"low"},
       {"mid"},         {"high"},         {"node"},        {"tls-cert"},      {"tls-key"},
       {"tls-ca"},      {"write", false}, {"read", false}, {"create", false}, {"drop", false},
       {"help", false}, {"h", false}});
  if (!parsed.ok()) return Usage(parsed.status().message());
  const tokenapp::Flags& flags = parsed.value();
  if (flags.Has("help") || flags.Has("h")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  for (const char* original : {"write", "read", "create", "drop"}) {
    if (!flags.Has(original)) continue;
    if (!op.empty()) return Usage(fmt::format("give one command, not {} and -{}", op, original));
    op = original;
  }
  if (op.empty()) return Usage("no command (write, read, create, drop, crash, status, shell)");

  const bool json = flags.Has("json");
  auto timeout_ms = flags.Number("timeout-ms", 5000);
  if (!timeout_ms.ok()) return Usage(timeout_ms.status().message());
  if (timeout_ms.value() == 0) return Usage("--timeout-ms must be positive");
  const TokenClient::Timeout timeout(timeout_ms.value());
  const token::net::TlsFiles tls{flags.GetOr("tls-cert", ""), flags.GetOr("tls-key", ""),
                                 flags.GetOr("tls-ca", "")};

  std::string server = flags.GetOr("server", "");
  if (flags.Has("host") || flags.Has("port")) {
    if (!server.empty()) return Usage("give --server or -host/-port, not both");
    auto port = flags.Number("port", 50051);
    if (!port.ok()) return Usage(port.status().message());
    server = fmt::format("{}:{}", flags.GetOr("host", "127.0.0.1"), port.value());
  }
  std::unique_ptr<TokenClient> client;
  if (auto config = flags.Get("config")) {
    if (!server.empty()) return Usage("give --config or --server, not both");
    auto scheme = token::LoadSchemeFile(*config);
    if (!scheme.ok()) return Usage(scheme.status().message());
    auto c = TokenClient::ForScheme(
        std::make_shared<const token::ReplicationScheme>(std::move(scheme).value()), tls);
    if (!c.ok()) return Usage(c.status().message());
    client = std::move(c).value();
  } else if (!server.empty()) {
    auto c = TokenClient::ForServer(server, tls);
    if (!c.ok()) return Usage(c.status().message());
    client = std::move(c).value();
  } else {
    return Usage("say where the cluster is: --config FILE or --server IP:PORT (-host/-port)");
  }

  if (op == "shell") return Shell(*client, json, timeout);

  Command c;
  c.op = op;
  c.id = flags.GetOr("id", flags.GetOr("token", ""));
  c.node = flags.GetOr("node", "");
  if (op != "status" && c.id.empty()) {
    if (flags.positional().empty()) return Usage(fmt::format("{} needs --id ID", op));
    c.id = flags.positional()[0];
  }
  if (op == "write") {
    c.domain.name = flags.GetOr("name", "");
    for (auto [name, field] : {std::pair{"low", &c.domain.low}, std::pair{"mid", &c.domain.mid},
                               std::pair{"high", &c.domain.high}}) {
      if (!flags.Has(name)) return Usage(fmt::format("write needs --{}", name));
      auto v = flags.Number(name, 0);
      if (!v.ok()) return Usage(v.status().message());
      *field = v.value();
    }
  }
  if (op == "crash" && c.node.empty()) {
    if (server.empty()) return Usage("crash needs --node IP:PORT");
    c.node = server;
  }
  return Run(*client, c, json, timeout);
}
