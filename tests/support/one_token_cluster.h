// What the security tests (peer_security_test.cc, peer_socket_test.cc) share: a scheme of
// one token on three nodes and the tokenclient calls they make on it.
#pragma once

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/scheme_yaml.h"
#include "local_cluster.h"
#include "net_grpc/node_server.h"

namespace token::testing {

// Token 1 on three nodes (writer NODE0).
inline constexpr const char* kOneTokenScheme = R"(
- token: 1
  writer: NODE0
  readers: [NODE0, NODE1, NODE2]
)";

// A tool's --json output (it must have exited 0).
inline nlohmann::json Json(const ToolRun& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out.empty() ? "{}" : r.out);
}

inline nlohmann::json StatusOf(const LocalCluster& c, int i) {
  return Json(c.Run("tokenclient", {"status", "--server", c.node(i), "--json"}));
}

inline std::string Fingerprint(const LocalCluster& c) {
  auto scheme = LoadSchemeFile(c.config());
  EXPECT_TRUE(scheme.ok());
  return net::SchemeFingerprint(scheme.value());
}

// Writes token 1 with `name` through tokenclient, as a real client would.
inline ToolRun WriteReal(const LocalCluster& c, const std::string& name) {
  return c.Run("tokenclient", {"write", "--id", "1", "--name", name, "--low", "0", "--mid", "0",
                               "--high", "1", "--config", c.config(), "--json"});
}

}  // namespace token::testing
