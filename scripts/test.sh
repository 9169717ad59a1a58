#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the normal build, then an
# AddressSanitizer + UndefinedBehaviorSanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
phase() { echo "== $1 (at $((SECONDS - start)) s) =="; }
bash scripts/setup.sh

phase "build (Release)"
bash scripts/build.sh build
phase tests
ctest --test-dir build --output-on-failure -j "$(nproc)"

phase "build (ASan + UBSan)"
# -O1: the sanitizers' recommended level; tests run several times faster than at -O0.
# -g1: line tables, all a sanitizer's report needs, for less compile time than -g.
bash scripts/build.sh build-asan -DTOKEN_SANITIZE=ON -DTOKEN_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O1"
phase "tests under sanitizers"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$(nproc)"
phase "done"
