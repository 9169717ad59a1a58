#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the checked-in scenarios in the
# deterministic simulator, each history judged by the linearizability checker.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build >/dev/null
echo "== simulated runs of scenarios/*.yaml, each history checked =="
failed=0
for f in scenarios/*.yaml; do
  echo
  echo "-- $f"
  if ! ./build/apps/tokensim run "$f"; then failed=$((failed + 1)); fi
done
echo
if [ "$failed" -eq 0 ]; then
  echo "main: every scenario met its expectation"
else
  echo "main: $failed scenario(s) did NOT meet their expectation" >&2
  exit 1
fi
