#!/usr/bin/env bash
# tokencheck end to end (parse and check) on one history, two builds side by side: runs
# A and B alternately (the machine's speed drifts), R runs each after one warm-up run each
# (the file then sits in the page cache), and prints every run's wall time, CPU time
# (user + sys, and sys alone: mostly the kernel clearing fresh pages), peak resident memory
# and minor page faults (steadier than time on a loaded machine), then the medians and the
# ratio B/A.
#
#   bash bench/check_speed.sh HISTORY R TOKENCHECK_A TOKENCHECK_B [tokencheck flags...]
#
# Example (main's build against this tree's, on the 1M-operation history of docs/CHECKER.md):
#   build/apps/histgen --ops 1000000 --processes 64 --seed 1 > /tmp/h1m.jsonl
#   bash bench/check_speed.sh /tmp/h1m.jsonl 7 ../main/build/apps/tokencheck build/apps/tokencheck
set -euo pipefail
FILE=$1
RUNS=$2
A=$3
B=$4
shift 4
WORK=$(mktemp -d /tmp/token-check-speed-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

run() {  # BINARY LABEL
  local bin=$1 label=$2
  local rc=0 start end
  start=$(date +%s%N)
  /usr/bin/time -f "%U %S %M %R" -o "$WORK/time" "$bin" "$FILE" "${EXTRA[@]}" >/dev/null || rc=$?
  end=$(date +%s%N)
  if [ "$rc" -gt 1 ]; then
    echo "$bin exited with $rc" >&2
    exit 1
  fi
  read -r user sys rss faults <"$WORK/time"
  local wall cpu
  wall=$(awk -v n=$((end - start)) 'BEGIN { printf "%.3f", n / 1e9 }')
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
  [ "$3" = record ] && echo "$wall $cpu $((rss / 1024)) $sys $faults" >>"$WORK/$label"
  printf '%s  wall %s s  cpu %s s (sys %s)  peak %s MB  faults %s%s\n' "$label" "$wall" "$cpu" \
    "$sys" "$((rss / 1024))" "$faults" "$([ "$3" = record ] || echo '  (warm-up)')"
}

EXTRA=("$@")
run "$A" A warm
run "$B" B warm
for _ in $(seq 1 "$RUNS"); do
  run "$A" A record
  run "$B" B record
done
median() {  # FILE COLUMN
  sort -n -k"$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END { print v[int((NR + 1) / 2)] }'
}
wa=$(median "$WORK/A" 1)
wb=$(median "$WORK/B" 1)
ca=$(median "$WORK/A" 2)
cb=$(median "$WORK/B" 2)
ma=$(median "$WORK/A" 3)
mb=$(median "$WORK/B" 3)
sa=$(median "$WORK/A" 4)
sb=$(median "$WORK/B" 4)
fa=$(median "$WORK/A" 5)
fb=$(median "$WORK/B" 5)
echo "median A ($A): wall $wa s, cpu $ca s (sys $sa s), peak $ma MB, $fa faults"
echo "median B ($B): wall $wb s, cpu $cb s (sys $sb s), peak $mb MB, $fb faults"
awk -v a="$wa" -v b="$wb" -v ca="$ca" -v cb="$cb" \
  'BEGIN { printf "B/A: wall %.2f, cpu %.2f\n", b / a, cb / ca }'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
