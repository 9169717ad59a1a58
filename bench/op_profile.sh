#!/usr/bin/env bash
# Where one operation's CPU goes, on each peer transport: a 3-node token cluster (8 tokens,
# data in /dev/shm) and one closed-loop client (tokenload, half reads, domain 16), as in
# `cluster_bench.sh ... unloaded`, sampled with `perf record -a -e cpu-clock` (2,000 Hz)
# over the whole machine while the client runs. Prints microseconds per operation of the
# machine's time by where it went: the gRPC threads and the nodes' own threads (nodes and
# client) in the kernel, in gRPC / protobuf / Abseil, in libc and libstdc++, in the
# programs' own code; idle; and other processes. Runs --peer-transport socket, then grpc.
#
#   bash bench/op_profile.sh [BUILD_DIR] [OPS]      (default build, 6000; OPS 100..100000)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OPS=${2:-6000}
source bench/one_client_lib.sh
one_client_check op_profile "$OPS" perf jq
WORK=$(mktemp -d /tmp/token-profile-XXXXXX)
DATA=$(mktemp -d /dev/shm/token-profile-XXXXXX)
trap 'rm -rf "$WORK" "$DATA"' EXIT
one_client_scheme "$WORK/scheme.yaml" 41100
cat > "$WORK/inside.sh" << 'EOF'
#!/usr/bin/env bash
set -euo pipefail
args=(--config "$WORK/scheme.yaml" --clients 1 --read-ratio 0.5 --domain 16 --quiet --json)
"$BUILD/apps/tokenload" "${args[@]}" --ops 300 --seed 2 > /dev/null
perf record -q -a -e cpu-clock -F 2000 -o "$WORK/$MODE.data" -- \
  "$BUILD/apps/tokenload" "${args[@]}" --ops "$OPS" --seed 1 > "$WORK/$MODE.json" 2> /dev/null
EOF
export BUILD WORK OPS
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for mode in socket grpc; do
  rm -rf "${DATA:?}"/*
  MODE=$mode timeout 600 "$BUILD/apps/tokencluster" --config "$WORK/scheme.yaml" --quiet \
    --log-dir "$WORK/logs-$mode" --data-dir "$DATA" --fresh \
    --server-bin "$BUILD/apps/tokenserver" --server-arg=--peer-transport=$mode \
    -- bash "$WORK/inside.sh" > "$WORK/cluster-$mode.log" 2>&1 || {
    cat "$WORK/cluster-$mode.log" >&2
    exit 1
  }
  ops=$(jq .ok_operations "$WORK/$mode.json")
  if [ "$ops" -lt 1 ]; then echo "op_profile: no operation succeeded" >&2; exit 1; fi
  jq -r --arg m "$mode" '"--peer-transport \($m): \(.ok_operations) operations, \(.ops_per_s) ops/s, read p50 \(.operations.read.p50_ms) ms, write p50 \(.operations.write.p50_ms) ms; the machine'"'"'s time per operation (us):"' "$WORK/$mode.json"
  # 2,000 samples a second per CPU: a sample is 500 us.
  perf report -i "$WORK/$mode.data" --sort comm,dso --stdio -F sample,comm,dso 2> /dev/null |
    awk -v ops="$ops" '!/^#/ && NF >= 3 {
      s = $1; c = $2; d = $3
      if (c == "swapper") k = "idle"
      else if (c == "nexting_thread" || c == "tokenserver" || c == "default-executo" || c == "tokenload") {
        if (d ~ /kernel/) k = "threads: kernel"
        else if (d ~ /grpc|gpr|absl|protobuf/) k = "threads: gRPC, protobuf, Abseil"
        else if (d ~ /libc|stdc/) k = "threads: libc, libstdc++"
        else if (d == "tokenserver" || d == "tokenload") k = "threads: the programs'"'"' own code"
        else k = "threads: other libraries"
      } else k = "other processes"
      t[k] += s; all += s
    }
    END {
      for (k in t) printf "  %-36s %7.1f\n", k, t[k] * 500 / ops
      printf "  %-36s %7.1f\n", "all (2 cores)", all * 500 / ops
    }' | sort
done
