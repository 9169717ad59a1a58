#!/usr/bin/env bash
# tokensim explore's speed, two builds side by side: runs A and B alternately (this VM's
# speed drifts by a third from minute to minute), R runs each, every run the same search
# (the same flags, so the same states: the script checks that both builds count the same
# unique states), and prints each run's wall time and unique states per second, then the
# medians and the ratio B/A.
#
#   bash bench/explore_speed.sh R TOKENSIM_A TOKENSIM_B [explore flags...]
#
# Default flags: the scenario with a reader at each node and one crash, its first
# 3,000,000 unique states (about 12 s a run on two threads here):
#   bash bench/explore_speed.sh 3 ../before/build/apps/tokensim build/apps/tokensim
set -euo pipefail
RUNS=$1
A=$2
B=$3
shift 3
FLAGS=("$@")
if [ ${#FLAGS[@]} -eq 0 ]; then
  FLAGS=(scenarios/explore/one_writer_two_reader_nodes.yaml --crashes 1 --max-states 3000000)
fi
WORK=$(mktemp -d /tmp/token-explore-speed-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

run() {  # BINARY LABEL
  local bin=$1 label=$2
  local rc=0 start end out
  start=$(date +%s%N)
  out=$("$bin" explore "${FLAGS[@]}" --quiet --out "$WORK/out" 2>&1) || rc=$?
  end=$(date +%s%N)
  if [ "$rc" -gt 1 ]; then
    echo "$bin exited with $rc: $out" >&2
    exit 1
  fi
  local unique wall rate
  unique=$(echo "$out" | sed -n 's/.* states, \([0-9,]*\) unique,.*/\1/p' | tr -d ,)
  wall=$(awk -v n=$((end - start)) 'BEGIN { printf "%.2f", n / 1e9 }')
  rate=$(awk -v u="$unique" -v w="$wall" 'BEGIN { printf "%.0f", u / w }')
  echo "$wall $rate $unique" >>"$WORK/$label"
  printf '%s  wall %s s  %s unique states  %s unique/s\n' "$label" "$wall" "$unique" "$rate"
}

for _ in $(seq 1 "$RUNS"); do
  run "$A" A
  run "$B" B
done
ua=$(awk 'NR == 1 { print $3 }' "$WORK/A")
ub=$(awk 'NR == 1 { print $3 }' "$WORK/B")
if [ "$ua" != "$ub" ]; then
  echo "the builds count different unique states ($ua and $ub): not the same search" >&2
fi
median() {  # FILE COLUMN
  sort -n -k"$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END { print v[int((NR + 1) / 2)] }'
}
wa=$(median "$WORK/A" 1)
wb=$(median "$WORK/B" 1)
echo "median A ($A): wall $wa s, $(median "$WORK/A" 2) unique/s"
echo "median B ($B): wall $wb s, $(median "$WORK/B" 2) unique/s"
awk -v a="$wa" -v b="$wb" 'BEGIN { printf "B/A: wall %.2f\n", b / a }'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
