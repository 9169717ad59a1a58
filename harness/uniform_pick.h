// Pick(low, high): a uniform draw in [low, high) inside a rapidcheck generator or property,
// shrinking towards `low`. rapidcheck's inRange scales with the test size, which makes
// small values far likelier than large ones early in a run; fixing the size at the nominal
// one keeps draws uniform. Shared by the fuzzer's generator and the property tests.
#pragma once

#include <rapidcheck.h>

namespace tokensim {

template <typename T = int>
T Pick(T low, T high) {
  return *rc::gen::resize(rc::kNominalSize, rc::gen::inRange<T>(low, high));
}

}  // namespace tokensim
