#!/usr/bin/env bash
# What one operation costs the kernel: a 3-node token cluster (8 tokens, data in /dev/shm)
# and one closed-loop client (tokenload, half reads, domain 16), as in
# `cluster_bench.sh ... unloaded`. Prints, per operation:
#   - the machine's context switches and the system calls that move messages and put
#     threads to sleep (perf stat -a over the whole run: nodes, client and kernel);
#   - the nodes' writes to sockets (traced with strace in a second run): gRPC's (sendmsg),
#     split into those that carry data and those that carry only HTTP/2 WINDOW_UPDATE
#     frames (gRPC's flow-control refunds: docs/ARCHITECTURE.md, "Latency"), and the peer
#     sockets' (sendto: net_grpc/peer_socket.h).
# strace slows the second run down; only its counts are used, not its times. Each run is
# cut off after 10 minutes.
#
#   bash bench/op_syscalls.sh [BUILD_DIR] [OPS]      (default build, 3000; OPS 100..100000)
#
# Environment: SERVER_ARGS="--flag=value ..." extra tokenserver flags.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OPS=${2:-3000}
source bench/one_client_lib.sh
one_client_check op_syscalls "$OPS" perf strace jq
WORK=$(mktemp -d /tmp/token-syscalls-XXXXXX)
DATA=$(mktemp -d /dev/shm/token-syscalls-XXXXXX)
trap 'rm -rf "$WORK" "$DATA"' EXIT
one_client_scheme "$WORK/scheme.yaml" 41000
server_args=()
for a in ${SERVER_ARGS:-}; do server_args+=("--server-arg=$a"); done

# The command tokencluster runs once the nodes serve: a warm-up, then the measured load
# under perf stat (MODE=stat) or under strace of every node (MODE=strace). tokencluster
# stops the nodes after it.
cat > "$WORK/inside.sh" <<'EOF'
#!/usr/bin/env bash
set -euo pipefail
exec 2>> "$WORK/inside.err"
tracers=()
trap 'if [ "${#tracers[@]}" -gt 0 ]; then kill "${tracers[@]}" 2> /dev/null || true; fi' EXIT
load() {
  "$BUILD/apps/tokenload" --config "$WORK/scheme.yaml" --clients 1 --ops "$1" \
    --read-ratio 0.5 --domain 16 --quiet --json --seed "$2"
}
nodes=()
for child in $(cat /proc/"$PPID"/task/*/children); do
  if [ "$(cat /proc/"$child"/comm 2>/dev/null)" = tokenserver ]; then nodes+=("$child"); fi
done
if [ "${#nodes[@]}" -ne 3 ]; then
  echo "op_syscalls: found ${#nodes[@]} tokenserver processes under tokencluster, not 3" >&2
  exit 1
fi
# The nodes' threads: "TID NAME SWITCHES" (voluntary switches: the thread went to sleep).
sleeps() {
  local p t
  for p in "${nodes[@]}"; do
    for t in /proc/"$p"/task/*; do
      # A thread that ends meanwhile gives a short line, which the report skips.
      echo "${t##*/} $(tr ' ' _ < "$t"/comm 2> /dev/null) $(awk '/^voluntary_ctxt_switches/ {print $2}' "$t"/status 2> /dev/null)"
    done
  done
}
load 300 2 > /dev/null
if [ "$MODE" = stat ]; then
  sleeps > "$WORK/sleeps.before"
  perf stat -a -x, -o "$WORK/stat.csv" -e context-switches,syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendto \
    -e syscalls:sys_enter_recvmsg,syscalls:sys_enter_recvfrom,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex \
    -- "$BUILD/apps/tokenload" --config "$WORK/scheme.yaml" --clients 1 --ops "$OPS" \
    --read-ratio 0.5 --domain 16 --quiet --json --seed 1 > "$WORK/stat.json"
  sleeps > "$WORK/sleeps.after"
else
  # -ff: a file per thread, so no call is split into "unfinished" and "resumed" halves.
  for child in "${nodes[@]}"; do
    strace -ff -p "$child" -e trace=sendmsg,sendto -xx -s 64 -o "$WORK/trace" 2> /dev/null &
    tracers+=($!)
  done
  sleep 1  # strace attaches to every thread
  load "$OPS" 1 > "$WORK/load-traced.json"
  kill -INT "${tracers[@]}" 2> /dev/null || true
  wait "${tracers[@]}" 2> /dev/null || true
  tracers=()
fi
EOF

run() {
  rm -rf "${DATA:?}"/*
  BUILD=$BUILD WORK=$WORK OPS=$OPS MODE=$1 timeout 600 "$BUILD/apps/tokencluster" --config "$WORK/scheme.yaml" \
    --quiet --log-dir "$WORK/logs" --data-dir "$DATA" --fresh \
    --server-bin "$BUILD/apps/tokenserver" "${server_args[@]}" -- bash "$WORK/inside.sh" \
    > "$WORK/cluster-$1.log" 2>&1 || {
    cat "$WORK/cluster-$1.log" "$WORK/inside.err" >&2
    exit 1
  }
}
export BUILD WORK OPS

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
run stat
ops=$(jq .ok_operations "$WORK/stat.json")
if [ "$ops" -lt 1 ]; then echo "op_syscalls: no operation succeeded" >&2; exit 1; fi
jq -r '"1 client, \(.ok_operations) operations: \(.ops_per_s) ops/s, read p50 \(.operations.read.p50_ms) ms, write p50 \(.operations.write.p50_ms) ms"' "$WORK/stat.json"
awk -F, -v ops="$ops" '/^[0-9]/ {
    name = $3; sub(/^syscalls:sys_enter_/, "", name)
    printf "%s%s %.2f", (n++ ? ", " : "per operation, whole machine: "), name, $1 / ops
  } END { print "" }' "$WORK/stat.csv"
# Threads that start or end during the load are left out.
awk -v ops="$ops" 'NR == FNR { if (NF == 3) before[$1] = $3; next }
  NF == 3 && $1 in before { slept[$2] += $3 - before[$1] }
  END {
    printf "the nodes'"'"' threads went to sleep, per operation:"
    for (name in slept) if (slept[name] > 0) printf " %s %.2f", name, slept[name] / ops
    print ""
  }' "$WORK/sleeps.before" "$WORK/sleeps.after"

run strace
ops=$(jq .ok_operations "$WORK/load-traced.json")
if [ "$ops" -lt 1 ]; then echo "op_syscalls: no operation succeeded under strace" >&2; exit 1; fi
# A write holds only WINDOW_UPDATE frames when every frame in it (a 9-byte header: 3 bytes
# of length, then the type) has type 8 and they fill the write (strace shows 64 bytes of
# each buffer: longer writes count as data).
cat "$WORK"/trace.[0-9]* | awk -v ops="$ops" '
  function byte(h) { return (index(HEX, substr(h, 1, 1)) - 1) * 16 + index(HEX, substr(h, 2, 1)) - 1 }
  BEGIN { HEX = "0123456789abcdef" }
  /sendto\(/ && / = [0-9]+$/ { sockets++; next }
  /sendmsg\(/ && / = [0-9]+$/ {
    total++
    bytes = ""
    rest = $0
    while (match(rest, /iov_base="[^"]*"/)) {
      bytes = bytes substr(rest, RSTART + 10, RLENGTH - 11)
      rest = substr(rest, RSTART + RLENGTH)
    }
    nb = split(bytes, hex, "\\\\x") - 1  # hex[2..nb+1]: the bytes shown, one each
    pos = 0
    only_updates = 1
    while (pos + 9 <= nb) {
      if (byte(hex[pos + 5]) != 8) { only_updates = 0; break }
      pos += 9 + byte(hex[pos + 2]) * 65536 + byte(hex[pos + 3]) * 256 + byte(hex[pos + 4])
    }
    if (only_updates && pos == $NF && nb >= $NF) refunds++
  }
  END {
    printf "the nodes'"'"' socket writes per operation (strace, %d operations): gRPC %.2f, of which %.2f hold only WINDOW_UPDATE frames, %.2f data; peer sockets %.2f\n",
      ops, total / ops, refunds / ops, (total - refunds) / ops, sockets / ops
  }'
