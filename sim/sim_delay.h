// The simulator's delay model (sim/simulator.cc): the draws of a message's delay and a
// storage sync's latency, each from a generator seeded by what it delays (its identity,
// mixed in with Mix). Inline: the simulator draws one per message. Not for use outside the
// simulator.
#pragma once

#include <cmath>
#include <cstdint>

#include "sim/random.h"
#include "sim/scenario.h"

namespace sim::sim_detail {

// One step of an identity's key: `h` with `x` mixed in.
inline std::uint64_t Mix(std::uint64_t h, std::uint64_t x) {
  std::uint64_t state = h ^ x;
  return SplitMix64(state);
}

// A delay drawn from `rng` as the model `d` says (before any link rule adds to it).
inline std::int64_t BaseDelay(Random& rng, const DelayModel& d) {
  switch (d.kind) {
    case DelayKind::kConstant:
      return d.min_ns;
    case DelayKind::kUniform:
      return rng.Between(d.min_ns, d.max_ns);
    case DelayKind::kExponential: {
      const double u = rng.Unit();
      return d.min_ns + static_cast<std::int64_t>(-std::log1p(-u) * static_cast<double>(d.mean_ns));
    }
    case DelayKind::kLongTail: {
      std::int64_t base = rng.Between(d.min_ns, d.max_ns);
      if (rng.Below(1000) < d.tail_permille) base *= d.tail_factor;
      return base;
    }
  }
  return d.min_ns;
}

}  // namespace sim::sim_detail
