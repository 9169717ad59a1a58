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

# The sanitized build compiles at the lowest priority while the Release tests run: the
# tests (many of them real processes waiting on the network and on timers) keep about one
# of the two cores busy, and the build takes what they leave. Its output goes to
# build-asan/build.log, shown if it fails.
phase "tests, the sanitized build (ASan + UBSan) beside them"
mkdir -p build-asan
set -m  # the build in a process group of its own (same session: nice still ranks it)
# -O1: the sanitizers' recommended level; tests run several times faster than at -O0.
# -g1: line tables, all a sanitizer's report needs, for less compile time than -g.
nice -n 19 bash scripts/build.sh build-asan -DTOKEN_SANITIZE=ON -DTOKEN_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O1" >build-asan/build.log 2>&1 &
build_pid=$!
set +m
if ! ctest --test-dir build --output-on-failure -j "$(nproc)"; then
  kill -- -"$build_pid" 2>/dev/null || true
  wait "$build_pid" 2>/dev/null || true
  exit 1
fi
phase "sanitized build: finishing"
if ! wait "$build_pid"; then
  cat build-asan/build.log
  echo "the sanitized build failed" >&2
  exit 1
fi
phase "tests under sanitizers"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$(nproc)"
phase "done"
