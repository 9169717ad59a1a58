#!/usr/bin/env bash
# How long a tokenserver takes to start serving with a scheme of T tokens (default 100,000;
# 3 replicas each, all on this node), beside the same with 3 tokens: wall time until it
# logs "serving on", its CPU time (user + sys) and its peak resident memory (/usr/bin/time).
#
#   bash bench/scheme_start.sh [BUILD_DIR] [T]      (default build, 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
T=${2:-100000}
WORK=$(mktemp -d /tmp/token-scheme-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
PORT=$((20000 + $$ % 20000))
# Peers are authenticated by default: the node gets a cluster secret, as a real one would.
(umask 077 && openssl rand -hex 32 >"$WORK/secret")
run() {
  local tokens=$1
  awk -v n="$tokens" -v p="$PORT" 'BEGIN { for (i = 1; i <= n; i++)
    printf "- {token: %d, writer: 127.0.0.1:%d, readers: [127.0.0.1:%d, 127.0.0.1:%d, 127.0.0.1:%d]}\n",
      i, p, p, p + 1, p + 2 }' >"$WORK/s.yaml"
  /usr/bin/time -f "%U %S %M" -o "$WORK/time" "$BUILD/apps/tokenserver" --config "$WORK/s.yaml" \
    --listen "127.0.0.1:$PORT" --cluster-secret-file "$WORK/secret" --quiet 2>"$WORK/log" &
  local tpid=$! start end
  start=$(date +%s%N)
  for _ in $(seq 1 3000); do
    grep -q "serving on" "$WORK/log" && break
    sleep 0.01
  done
  end=$(date +%s%N)
  pkill -TERM -P "$tpid" || true
  wait "$tpid" || true
  if ! grep -q "serving on" "$WORK/log"; then
    cat "$WORK/log" "$WORK/time" >&2
    exit 1
  fi
  read -r user sys rss < <(tail -1 "$WORK/time")
  printf '%7d tokens (%s bytes of YAML): serving after %4d ms; CPU %s s user + %s s sys; peak RSS %d MB\n' \
    "$tokens" "$(stat -c %s "$WORK/s.yaml")" $(((end - start) / 1000000)) "$user" "$sys" $((rss / 1024))
}
run 3
run "$T"
