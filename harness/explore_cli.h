// `tokensim explore`: the command line of the explorer (harness/explore.h).
//
//   tokensim explore [SCENARIO.yaml] [--replicas N] [--tokens N] [--readers N] [--ops N]
//                    [--crashes N] [--restarts N] [--restart-kinds LIST] [--mutant NAME]
//                    [--give-ups held|always|never] [--fifo] [--no-sleep-sets]
//                    [--no-symmetry] [--keep-dead] [--no-eager-clients]
//                    [--liveness budget|always|off] [--max-depth N] [--max-states N]
//                    [--max-frontier N] [--max-memory MIB] [--threads N]
//                    [--time-limit SECONDS] [--out DIR] [--quiet]
//
// Prints a summary; on a violation writes the shortest counterexample as DIR/NAME.yaml (a
// scheduled scenario `tokensim replay` reproduces) with its report DIR/NAME.html. Exit 0:
// no violation (exhausted, or stopped at a bound: the summary says which), 1: a violation,
// 2: bad input.
#pragma once

#include <cstdio>

namespace tokensim {

// `argv` holds the arguments after "explore".
int ExploreCommand(int argc, char** argv);
// The usage lines of the command, for tokensim's help.
void ExploreUsage(std::FILE* out);

}  // namespace tokensim
