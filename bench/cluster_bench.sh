#!/usr/bin/env bash
# Real-cluster benchmark: tokenload (64 closed-loop clients, half reads, small domains)
# against a local 3-node and 5-node token cluster, and the same load against a 3-member etcd
# cluster (Debian's etcd-server, linearizable puts and gets), in one run on this machine.
# Every history is checked by the checker.
#
#   bash bench/cluster_bench.sh [BUILD_DIR] [OPS] [STORAGE]
#
# STORAGE: disk (token nodes with --data-dir and etcd's data on this machine's disk, under
# /var/tmp: every acknowledged write fsynced), shm (token nodes with --data-dir and etcd's
# data in /dev/shm: fsync costs nothing), memory (token nodes without --data-dir, etcd in
# /dev/shm: the earlier comparison), or all (default: disk, then shm).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OPS=${2:-60000}
STORAGE=${3:-all}
case "$STORAGE" in disk | shm | memory | all) ;; *)
  echo "cluster_bench: STORAGE is disk, shm, memory or all, not '$STORAGE'" >&2
  exit 2
  ;;
esac
BIN=$BUILD/apps
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

# run_tokens N DATA_PARENT (DATA_PARENT empty: state in memory)
run_tokens() {
  local n=$1 parent=$2 data=()
  scheme "$n" > "$WORK/scheme$n.yaml"
  if [ -n "$parent" ]; then
    local dir
    dir=$(mktemp -d "$parent/token-bench-data-XXXXXX")
    DATA_DIRS+=("$dir")
    data=(--data-dir "$dir" --fresh)
  fi
  "$BIN/tokencluster" --config "$WORK/scheme$n.yaml" --quiet --log-dir "$WORK/logs$n" \
    "${data[@]}" -- \
    tokenload --config "$WORK/scheme$n.yaml" --clients 64 --ops "$OPS" --read-ratio 0.5 \
    --domain 16 --quiet --seed 1 | grep -v '^tokencluster'
}

# run_etcd DATA_PARENT
run_etcd() {
  local ETCD_DIR
  ETCD_DIR=$(mktemp -d "$1/token-bench-etcd-XXXXXX")
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
  "$BIN/tokenload" --etcd 127.0.0.1:42379,127.0.0.1:42369,127.0.0.1:42359 \
    --tokens t0,t1,t2,t3,t4,t5,t6,t7 --clients 64 --ops "$OPS" --read-ratio 0.5 --quiet --seed 1
}

stop_etcd() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}

# One comparison: token clusters and etcd with their data under $2 ("" = token state in
# memory, etcd under /dev/shm).
compare() {
  local title=$1 parent=$2 etcd_parent=${2:-/dev/shm}
  echo "== $title: token cluster, 3 nodes =="
  run_tokens 3 "$parent"
  echo "== $title: token cluster, 5 nodes =="
  run_tokens 5 "$parent"
  echo "== $title: etcd $(etcd --version | head -1 | awk '{print $3}'), 3 members, data in $etcd_parent =="
  run_etcd "$etcd_parent"
  stop_etcd
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "disk under /var/tmp: $(df --output=source,fstype /var/tmp | tail -1)"
case "$STORAGE" in
  disk) compare "fsync to disk (/var/tmp)" /var/tmp ;;
  shm) compare "data in /dev/shm" /dev/shm ;;
  memory) compare "token state in memory" "" ;;
  all)
    compare "fsync to disk (/var/tmp)" /var/tmp
    compare "data in /dev/shm" /dev/shm
    ;;
esac
