#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the normal build, then an
# AddressSanitizer + UndefinedBehaviorSanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== build (RelWithDebInfo) =="
bash scripts/build.sh build
echo "== tests =="
ctest --test-dir build --output-on-failure -j "$(nproc)"

echo "== build (ASan + UBSan) =="
bash scripts/build.sh build-asan -DTOKEN_SANITIZE=ON -DTOKEN_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=Debug
echo "== tests under sanitizers =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$(nproc)"
