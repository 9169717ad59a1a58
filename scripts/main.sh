#!/usr/bin/env bash
# The main job: installs what is missing, builds, runs the checked-in scenarios in the
# deterministic simulator (each history judged by the linearizability checker), then a short
# schedule-fuzzing run, shows the fuzzer catching a planted bug, and finally runs a real
# local cluster (examples/cluster.yaml, three tokenserver processes on 127.0.0.1:50051-50053,
# each with its data directory) under load while token 1 crash-stops at one node and one
# node is killed with SIGKILL and restarted, its recorded history checked.
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
echo "== schedule fuzzing: 5,000 swarm cases of the correct protocol =="
if ! ./build/apps/tokensim fuzz --cases 5000 --seed 1 --out build/fuzz-out --quiet; then
  failed=$((failed + 1))
fi
echo
echo "== the same fuzzer against a planted bug (read-skips-impose) must find a violation =="
planted_out=$(./build/apps/tokensim fuzz --cases 20000 --seed 1 --mutant read-skips-impose \
    --out build/fuzz-out --quiet) && planted_rc=0 || planted_rc=$?
echo "$planted_out"
shrunk=$(echo "$planted_out" | sed -n 's/^replay: tokensim replay //p')
if [ "$planted_rc" -ne 1 ] || [ -z "$shrunk" ]; then
  echo "main: the planted bug was NOT caught" >&2
  failed=$((failed + 1))
elif ./build/apps/tokensim replay "$shrunk" --html build/report-planted-bug.html >/dev/null; then
  echo "main: the shrunk case did NOT fail again on replay" >&2
  failed=$((failed + 1))
else
  echo "replayed: still a violation; timeline of the failure: build/report-planted-bug.html"
fi
echo
echo "== a real cluster: 3 gRPC nodes with --data-dir, 32 clients; token 1 crash-stops at"
echo "   127.0.0.1:50053, and 127.0.0.1:50052 is killed (SIGKILL) and restarted under load =="
if ! ./build/apps/tokencluster --config examples/cluster.yaml --quiet \
    --log-dir build/cluster-logs --data-dir build/cluster-data --fresh \
    --nemesis restart:127.0.0.1:50052@600+300 -- \
    tokenload --config examples/cluster.yaml --clients 32 --ops 30000 --read-ratio 0.5 \
    --timeout-ms 500 --crash 127.0.0.1:50053:1@300 --final-reads \
    --history build/cluster-history.jsonl --html build/report-cluster.html; then
  echo "main: the real cluster's history is NOT linearizable (or the run failed)" >&2
  failed=$((failed + 1))
fi
echo
if [ "$failed" -eq 0 ]; then
  echo "main: every scenario met its expectation, fuzzing found no violation, the planted bug was caught,"
  echo "main: and the real cluster survived a per-token crash and a node's kill -9 and restart under"
  echo "main: load with a linearizable history"
else
  echo "main: $failed step(s) did NOT meet their expectation" >&2
  exit 1
fi
