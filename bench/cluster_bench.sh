#!/usr/bin/env bash
# Real-cluster benchmark: tokenload (closed-loop clients, half reads, small domains) against
# a local 3-node (and 5-node) token cluster, and the same load against a 3-member etcd
# cluster (Debian's etcd-server, linearizable puts and gets), in one run on this machine.
# Every history is checked by the checker. Each run prints throughput, p50/p99 per
# operation type, and the CPU per operation of the servers (utime + stime of their
# processes from /proc, bench/measure_load.sh) and of the load generator.
#
#   bash bench/cluster_bench.sh [BUILD_DIR] [OPS] [MODE]
#
# MODE: disk (64 clients; token nodes with --data-dir and etcd's data on this machine's
# disk, under /var/tmp: every acknowledged write fsynced), shm (64 clients; token nodes
# with --data-dir and etcd's data in /dev/shm: fsync costs nothing), memory (64 clients;
# token nodes without --data-dir, etcd in /dev/shm), unloaded (1 client, 3 nodes and etcd,
# both in /dev/shm: the latency of one operation at a time), or all (default: disk, then
# shm).
#
# Environment: ROUNDS=N repeats every comparison N times, alternating the systems, and
# ends with the medians (default 1). BASE=DIR also runs the build in DIR (an earlier
# commit's tokenserver, tokencluster and tokenload) in every round, alternating with
# BUILD_DIR, for a side-by-side comparison. SIZES="3 5" the token cluster sizes of the
# 64-client modes (default "3 5"; unloaded runs 3 only). SERVER_ARGS="--flag=value ..."
# extra tokenserver flags for BUILD_DIR's nodes (not BASE's), to measure a setting; with
# ALT_ARGS="..." as well, every round also runs BUILD_DIR's nodes with those flags instead.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OPS=${2:-60000}
MODE=${3:-all}
ROUNDS=${ROUNDS:-1}
BASE=${BASE:-}
SIZES=${SIZES:-3 5}
case "$MODE" in disk | shm | memory | unloaded | all) ;; *)
  echo "cluster_bench: MODE is disk, shm, memory, unloaded or all, not '$MODE'" >&2
  exit 2
  ;;
esac
if ! [[ "$ROUNDS" =~ ^[0-9]+$ ]] || [ "$ROUNDS" -lt 1 ] || [ "$ROUNDS" -gt 100 ]; then
  echo "cluster_bench: ROUNDS is a number in 1..100, not '$ROUNDS'" >&2
  exit 2
fi
for n in $SIZES; do
  case "$n" in 3 | 5) ;; *)
    echo "cluster_bench: SIZES holds 3 and/or 5, not '$SIZES'" >&2
    exit 2
    ;;
  esac
done
SERVER_ARGS=${SERVER_ARGS:-}
ALT_ARGS=${ALT_ARGS:-}
# Each entry: a build directory and, after a '|', the extra tokenserver flags of its nodes.
BUILDS=("$BUILD|$SERVER_ARGS")
if [ -n "$ALT_ARGS" ]; then BUILDS+=("$BUILD|$ALT_ARGS"); fi
if [ -n "$BASE" ]; then
  if [ ! -x "$BASE/apps/tokenserver" ]; then
    echo "cluster_bench: BASE=$BASE holds no apps/tokenserver" >&2
    exit 2
  fi
  BUILDS+=("$BASE|")
fi
WORK=$(mktemp -d /tmp/token-bench-XXXXXX)
DATA_DIRS=()
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK" "${DATA_DIRS[@]}"
}
trap cleanup EXIT

if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
  echo "cluster_bench: installing etcd-server and etcd-client (Debian)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server etcd-client >/dev/null
fi

# n nodes on 127.0.0.1:4100..; 8 tokens, writers spread over the nodes, every node a reader.
scheme() {
  local n=$1
  for t in 0 1 2 3 4 5 6 7; do
    echo "- token: t$t"
    echo "  writer: 127.0.0.1:$((41000 + t % n))"
    echo -n "  readers: ["
    for ((i = 0; i < n; i++)); do
      [ "$i" -gt 0 ] && echo -n ", "
      echo -n "127.0.0.1:$((41000 + i))"
    done
    echo "]"
  done
}

# report LABEL FILE: one line from tokenload's JSON summary and measure_load's CPU line;
# the figures are also kept in $WORK/results.tsv for the medians.
report() {
  local label=$1 file=$2 json cpu
  json=$(grep '^{' "$file" | tail -1)
  cpu=$(grep '^cpu ' "$file" | tail -1)
  if [ -z "$json" ] || [ -z "$cpu" ]; then
    echo "$label: no result"
    cat "$file"
    return 1
  fi
  # ops/s, read p50, read p99, write p50, write p99, server us/op, client us/op, verdict
  local row
  row=$(jq -r --arg cpu "$cpu" '
    ($cpu | split(" ")) as $c |
    [ .ops_per_s, .operations.read.p50_ms, .operations.read.p99_ms,
      .operations.write.p50_ms, .operations.write.p99_ms,
      (($c[1] | tonumber) * 1e6 / .ok_operations), (($c[2] | tonumber) * 1e6 / .ok_operations),
      .check.verdict ] | @tsv' <<< "$json")
  printf '%s\t%s\n' "$label" "$row" >> "$WORK/results.tsv"
  awk -F'\t' -v l="$label" '{
      printf "%s: %.0f ops/s, read p50 %.3f p99 %.3f ms, write p50 %.3f p99 %.3f ms, " \
             "CPU per op: servers %.0f us, load generator %.0f us; %s\n",
             l, $1, $2, $3, $4, $5, $6, $7, $8 }' <<< "$row"
}

# run_tokens BUILD|ARGS N DATA_PARENT CLIENTS (DATA_PARENT empty: state in memory)
run_tokens() {
  local build=${1%%|*} args=${1#*|} n=$2 parent=$3 clients=$4 data=() server_args=() a
  for a in $args; do server_args+=("--server-arg=$a"); done
  scheme "$n" > "$WORK/scheme$n.yaml"
  if [ -n "$parent" ]; then
    local dir
    dir=$(mktemp -d "$parent/token-bench-data-XXXXXX")
    DATA_DIRS+=("$dir")
    data=(--data-dir "$dir" --fresh)
  fi
  local out="$WORK/out-tokens"
  rm -f "$out"  # a run that fails must not report the one before it
  "$build/apps/tokencluster" --config "$WORK/scheme$n.yaml" --quiet --log-dir "$WORK/logs$n" \
    --server-bin "$build/apps/tokenserver" "${data[@]}" "${server_args[@]}" -- \
    bash bench/measure_load.sh "$out" children:tokenserver -- \
    "$build/apps/tokenload" --config "$WORK/scheme$n.yaml" --clients "$clients" --ops "$OPS" \
    --read-ratio 0.5 --domain 16 --quiet --json --seed 1 | grep -v '^tokencluster' || true
  report "token cluster, $n nodes ($build${args:+ $args})" "$out"
}

# run_etcd BUILD DATA_PARENT CLIENTS
run_etcd() {
  local build=$1 ETCD_DIR clients=$3
  ETCD_DIR=$(mktemp -d "$2/token-bench-etcd-XXXXXX")
  DATA_DIRS+=("$ETCD_DIR")
  pids=()
  local cluster="e0=http://127.0.0.1:42380,e1=http://127.0.0.1:42381,e2=http://127.0.0.1:42382"
  for i in 0 1 2; do
    etcd --name "e$i" --data-dir "$ETCD_DIR/e$i" \
      --listen-client-urls "http://127.0.0.1:$((42379 - i * 10))" \
      --advertise-client-urls "http://127.0.0.1:$((42379 - i * 10))" \
      --listen-peer-urls "http://127.0.0.1:$((42380 + i))" \
      --initial-advertise-peer-urls "http://127.0.0.1:$((42380 + i))" \
      --initial-cluster "$cluster" --initial-cluster-state new \
      --log-level error > "$WORK/etcd$i.log" 2>&1 &
    pids+=($!)
  done
  local ready=0
  for _ in $(seq 1 100); do
    if ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:42379 put ready 1 >/dev/null 2>&1; then
      ready=1
      break
    fi
    sleep 0.1
  done
  if [ "$ready" -ne 1 ]; then echo "cluster_bench: etcd did not start" >&2; cat "$WORK"/etcd*.log >&2; exit 1; fi
  local out="$WORK/out-etcd" server_pids
  rm -f "$out"
  server_pids=$(IFS=,; echo "${pids[*]}")
  bash bench/measure_load.sh "$out" "$server_pids" -- \
    "$build/apps/tokenload" --etcd 127.0.0.1:42379,127.0.0.1:42369,127.0.0.1:42359 \
    --tokens t0,t1,t2,t3,t4,t5,t6,t7 --clients "$clients" --ops "$OPS" --read-ratio 0.5 \
    --quiet --json --seed 1 || true
  stop_etcd
  report "etcd $ETCD_VERSION, 3 members, data in $2 (load from $build)" "$out"
}

stop_etcd() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}

# One comparison: token clusters and etcd with their data under $2 ("" = token state in
# memory, etcd under /dev/shm), $3 clients, the token cluster sizes $4.
compare() {
  local title=$1 parent=$2 clients=$3 sizes=$4 etcd_parent=${2:-/dev/shm} b n
  for ((round = 1; round <= ROUNDS; round++)); do
    echo "== $title, $clients clients, round $round of $ROUNDS =="
    for b in "${BUILDS[@]}"; do
      for n in $sizes; do run_tokens "$b" "$n" "$parent" "$clients"; done
    done
    run_etcd "$BUILD" "$etcd_parent" "$clients"
  done
  if [ "$ROUNDS" -gt 1 ]; then
    echo "== $title, $clients clients: medians of $ROUNDS rounds =="
    python3 - "$WORK/results.tsv" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    rows.setdefault(f[0], []).append([float(x) for x in f[1:8]])
for label, runs in rows.items():
    m = [statistics.median(col) for col in zip(*runs)]
    print(f"{label}: {m[0]:.0f} ops/s, read p50 {m[1]:.3f} p99 {m[2]:.3f} ms, "
          f"write p50 {m[3]:.3f} p99 {m[4]:.3f} ms, CPU per op: servers {m[5]:.0f} us, "
          f"load generator {m[6]:.0f} us")
PY
  fi
  rm -f "$WORK/results.tsv"
}

ETCD_VERSION=$(etcd --version | awk 'NR == 1 {print $3}')  # awk reads it all: no SIGPIPE
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "disk under /var/tmp: $(df --output=source,fstype /var/tmp | tail -1)"
case "$MODE" in
  disk) compare "fsync to disk (/var/tmp)" /var/tmp 64 "$SIZES" ;;
  shm) compare "data in /dev/shm" /dev/shm 64 "$SIZES" ;;
  memory) compare "token state in memory" "" 64 "$SIZES" ;;
  unloaded) compare "data in /dev/shm, unloaded" /dev/shm 1 3 ;;
  all)
    compare "fsync to disk (/var/tmp)" /var/tmp 64 "$SIZES"
    compare "data in /dev/shm" /dev/shm 64 "$SIZES"
    ;;
esac
