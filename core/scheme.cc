#include "core/scheme.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/address.h"

namespace token {
namespace {

std::string At(int line) { return line > 0 ? fmt::format("line {}: ", line) : std::string(); }

}  // namespace

bool TokenScheme::IsReader(NodeIndex n) const {
  return std::find(readers.begin(), readers.end(), n) != readers.end();
}

bool TokenScheme::IsReplica(NodeIndex n) const {
  return std::find(replicas.begin(), replicas.end(), n) != replicas.end();
}

Result<ReplicationScheme> ReplicationScheme::Create(std::vector<TokenEntry> entries) {
  ReplicationScheme scheme;
  // Every distinct address is parsed once and kept sorted: a scheme names few nodes and
  // many tokens (100,000 entries of 3 nodes each must load in well under a second).
  std::vector<std::string>& nodes = scheme.nodes_;
  auto check_address = [&nodes](const std::string& address) -> Status {
    auto it = std::lower_bound(nodes.begin(), nodes.end(), address);
    if (it != nodes.end() && *it == address) return Status::Ok();
    if (auto a = ParseAddress(address); !a.ok()) return a.status();
    nodes.insert(it, address);
    return Status::Ok();
  };
  scheme.token_index_.reserve(entries.size());
  for (std::size_t t = 0; t < entries.size(); ++t) {
    const TokenEntry& e = entries[t];
    if (e.token.empty()) return Status::InvalidArgument(At(e.line) + "token id is empty");
    auto [it, inserted] = scheme.token_index_.emplace(e.token, static_cast<TokenIndex>(t));
    if (!inserted) {
      return Status::InvalidArgument(
          fmt::format("{}duplicate token '{}' (first defined at line {})", At(e.line), e.token,
                      entries[it->second].line));
    }
    if (Status s = check_address(e.writer); !s.ok()) {
      return Status::InvalidArgument(fmt::format("{}token '{}': writer: {}",
                                                 At(e.writer_line ? e.writer_line : e.line),
                                                 e.token, s.message()));
    }
    if (e.readers.empty()) {
      return Status::InvalidArgument(
          fmt::format("{}token '{}': the reader list is empty", At(e.line), e.token));
    }
    for (std::size_t i = 0; i < e.readers.size(); ++i) {
      const int line = i < e.reader_lines.size() && e.reader_lines[i] ? e.reader_lines[i] : e.line;
      if (Status s = check_address(e.readers[i]); !s.ok()) {
        return Status::InvalidArgument(
            fmt::format("{}token '{}': reader: {}", At(line), e.token, s.message()));
      }
      for (std::size_t j = 0; j < i; ++j) {
        if (e.readers[j] == e.readers[i]) {
          return Status::InvalidArgument(fmt::format("{}token '{}': reader {} is listed twice",
                                                     At(line), e.token, e.readers[i]));
        }
      }
    }
  }

  scheme.tokens_.reserve(entries.size());
  for (auto& e : entries) {
    TokenScheme t;
    t.id = std::move(e.token);
    t.line = e.line;
    t.writer = *scheme.FindNode(e.writer);
    t.replicas.reserve(e.readers.size() + 1);
    t.readers.reserve(e.readers.size());
    t.replicas.push_back(t.writer);
    for (const auto& r : e.readers) {
      const NodeIndex n = *scheme.FindNode(r);
      t.readers.push_back(n);
      if (n != t.writer) t.replicas.push_back(n);
    }
    t.quorum = QuorumSize(t.replicas.size());
    scheme.tokens_.push_back(std::move(t));
  }
  return scheme;
}

const std::string& ReplicationScheme::node(NodeIndex n) const {
  TOKEN_ASSERT(n < nodes_.size(), "node index out of range");
  return nodes_[n];
}

std::optional<NodeIndex> ReplicationScheme::FindNode(std::string_view address) const {
  auto it = std::lower_bound(nodes_.begin(), nodes_.end(), address);
  if (it == nodes_.end() || *it != address) return std::nullopt;
  return static_cast<NodeIndex>(it - nodes_.begin());
}

const TokenScheme& ReplicationScheme::token(TokenIndex t) const {
  TOKEN_ASSERT(t < tokens_.size(), "token index out of range");
  return tokens_[t];
}

std::optional<TokenIndex> ReplicationScheme::FindToken(std::string_view id) const {
  auto it = token_index_.find(id);
  if (it == token_index_.end()) return std::nullopt;
  return it->second;
}

std::vector<TokenIndex> ReplicationScheme::TokensOf(NodeIndex n) const {
  std::vector<TokenIndex> out;
  for (TokenIndex t = 0; t < tokens_.size(); ++t) {
    if (tokens_[t].IsReplica(n)) out.push_back(t);
  }
  return out;
}

std::string ReplicationScheme::NodeList(const std::vector<NodeIndex>& nodes) const {
  std::string out;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (i) out += ", ";
    out += node(nodes[i]);
  }
  return out;
}

}  // namespace token
