#!/usr/bin/env bash
# The memory a held call costs, and whether it is given back: one tokenserver (token 1 and
# 2 on one node, in memory), token 1 crashed there, then N reads of token 1 in flight at once
# (tokenload: N closed-loop clients, one read each, an 8 s deadline), each held silently
# until its caller gives up. Prints the node's resident memory before, while the N calls are
# held (tokenclient status: held_calls = N) and after they ended (the node trims malloc's
# arenas once the calls in flight fall to a quarter of their peak, checked every second).
#
#   bash bench/held_calls.sh [BUILD_DIR] [N]      (default build, 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
N=${2:-20000}
BIN=$BUILD/apps
WORK=$(mktemp -d /tmp/token-held-XXXXXX)
PORT=$((20000 + $$ % 20000))
NODE=127.0.0.1:$PORT
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
cat >"$WORK/s.yaml" <<YAML
- {token: 1, writer: $NODE, readers: [$NODE]}
- {token: 2, writer: $NODE, readers: [$NODE]}
YAML
"$BIN/tokenserver" --config "$WORK/s.yaml" --listen "$NODE" --quiet \
  --max-calls-per-token $((N + 1)) --max-held-calls $((N + 1)) 2>"$WORK/node.log" &
pid=$!
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
held() {
  local out
  out=$("$BIN/tokenclient" status --server "$NODE" --json --timeout-ms 5000 2>/dev/null) || {
    echo 0
    return
  }
  echo "$out" | sed 's/.*"held_calls":\([0-9]*\).*/\1/'
}
for _ in $(seq 1 300); do
  "$BIN/tokenclient" status --server "$NODE" >/dev/null 2>&1 && break
  sleep 0.1
done
"$BIN/tokenclient" crash --node "$NODE" --id 1 --server "$NODE" >/dev/null
before=$(rss)
"$BIN/tokenload" --config "$WORK/s.yaml" --tokens 1 --clients "$N" --ops "$N" --read-ratio 1 \
  --timeout-ms 8000 --quiet >"$WORK/load.out" 2>&1 &
load=$!
h=0
for _ in $(seq 1 600); do
  h=$(held)
  [ "$h" -ge "$N" ] && break
  sleep 0.05
done
during=$(rss)
if [ "$h" -lt "$N" ]; then
  echo "held_calls: only $h of $N calls were held; tokenload said:" >&2
  tail -5 "$WORK/load.out" >&2
  exit 1
fi
wait "$load" || true
sleep 2.5
after=$(rss)
left=$(held)
echo "held calls: $h (of $N); after they ended: $left"
echo "node RSS: before ${before} kB, while held ${during} kB, after ${after} kB"
echo "per held call: $(((during - before) * 1024 / N)) bytes"
