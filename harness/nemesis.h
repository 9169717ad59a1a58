// Nemesis: a schedule of process faults for a real cluster (tokencluster --nemesis), so
// that a load runs while nodes are killed and restarted, as systemd's Restart=always or an
// operator's rolling upgrade does.
//
// A spec names one fault; times are milliseconds from the start of the load:
//   kill:NODE@T              SIGKILL at T; the node stays down
//   restart:NODE@T+DOWN      SIGKILL at T, started again DOWN ms later from its data
//   wipe:NODE@T+DOWN         SIGKILL at T, its data directory deleted, started again DOWN
//                            ms later as a replacement (it catches up from its peers)
//   rolling@T+DOWN/GAP       restart every node in turn: the first at T, the next GAP ms
//                            after the previous one came back
// NODE is an address of the scheme. Bad specs are errors that name the spec; nothing runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "core/scheme.h"

namespace tokenapp {

struct NemesisAction {
  enum class Kind : std::uint8_t {
    kKill,   // SIGKILL the node
    kStart,  // start it again from its data directory
    kWipe,   // delete its data directory (it is down)
  };
  std::uint64_t at_ms = 0;
  Kind kind = Kind::kKill;
  token::NodeIndex node = 0;
};

// Parses every spec and returns the actions, ordered by time (stable: a kill, wipe and
// start at one time keep that order). Refuses a schedule that starts a node that is up or
// kills one that is down.
token::Result<std::vector<NemesisAction>> ParseNemesis(const std::vector<std::string>& specs,
                                                       const token::ReplicationScheme& scheme);

std::string_view NemesisActionName(NemesisAction::Kind kind);

}  // namespace tokenapp
