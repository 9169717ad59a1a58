// The replication scheme: for every token, its writer node and its reader nodes.
//
// The scheme is static (read once from YAML by core/scheme_yaml.h) and shared, immutable,
// by every node of a cluster. Nodes are interned: the scheme lists every access point it
// names once, sorted, and refers to a node by its NodeIndex into that list, so all
// members of a cluster agree on the indices. Tokens keep the order of the file and are
// referred to by TokenIndex.
//
// Invariants: token ids are unique and non-empty; every address is valid (core/address.h);
// each token has at least one reader and no reader twice; replicas = writer followed by
// the readers not equal to it, so replicas.size() >= 1 and quorum = floor(n/2) + 1.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace token {

using NodeIndex = std::uint32_t;
using TokenIndex = std::uint32_t;

// Majority quorum of a replica set of n nodes: floor(n/2) + 1. REQUIRES: n >= 1.
constexpr std::size_t QuorumSize(std::size_t n) { return n / 2 + 1; }

// One entry as written in the file, before validation. `line` (1-based; 0 = unknown)
// only serves error messages.
struct TokenEntry {
  std::string token;
  std::string writer;
  std::vector<std::string> readers;
  int line = 0;
  int writer_line = 0;
  std::vector<int> reader_lines;  // parallel to readers when known
};

struct TokenScheme {
  std::string id;
  NodeIndex writer = 0;
  std::vector<NodeIndex> readers;   // as listed
  std::vector<NodeIndex> replicas;  // writer first, then readers other than the writer
  std::size_t quorum = 1;
  int line = 0;

  bool IsReader(NodeIndex n) const;
  bool IsReplica(NodeIndex n) const;
};

class ReplicationScheme {
 public:
  // Validates the entries. Errors are INVALID_ARGUMENT and name the line.
  static Result<ReplicationScheme> Create(std::vector<TokenEntry> entries);

  // Every node the scheme names, sorted; NodeIndex i is nodes()[i].
  const std::vector<std::string>& nodes() const { return nodes_; }
  const std::string& node(NodeIndex n) const;
  std::optional<NodeIndex> FindNode(std::string_view address) const;

  // Tokens in file order; TokenIndex i is tokens()[i].
  const std::vector<TokenScheme>& tokens() const { return tokens_; }
  const TokenScheme& token(TokenIndex t) const;
  std::optional<TokenIndex> FindToken(std::string_view id) const;

  // The tokens for which `n` is a replica, in TokenIndex order.
  std::vector<TokenIndex> TokensOf(NodeIndex n) const;

  // "127.0.0.1:50051, 127.0.0.1:50052" for messages.
  std::string NodeList(const std::vector<NodeIndex>& nodes) const;

 private:
  std::vector<std::string> nodes_;
  std::vector<TokenScheme> tokens_;
  // Heterogeneous lookup (FindToken takes a string_view without building a string).
  struct IdHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
  };
  std::unordered_map<std::string, TokenIndex, IdHash, std::equal_to<>> token_index_;
};

}  // namespace token
