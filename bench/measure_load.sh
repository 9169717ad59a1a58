#!/usr/bin/env bash
# Runs one load command and measures the CPU it cost: the servers' (utime + stime from
# /proc/PID/stat, before and after; every thread of each process) and the command's own
# (from /usr/bin/time). Used by cluster_bench.sh, also as the command tokencluster runs.
#
#   bash bench/measure_load.sh OUT SERVERS -- COMMAND [ARGS...]
#
# SERVERS: the servers' PIDs separated by commas, or "children:NAME" for the processes
# named NAME that are children of this script's parent (tokencluster's tokenservers when
# tokencluster runs this script after its --). COMMAND's standard output goes to OUT,
# followed by one line: "cpu SERVER_SECONDS CLIENT_SECONDS SERVER_COUNT".
set -euo pipefail
if [ $# -lt 4 ] || [ "$3" != "--" ]; then
  echo "usage: measure_load.sh OUT SERVERS -- COMMAND [ARGS...]" >&2
  exit 2
fi
out=$1 servers=$2
shift 3

pids=()
case "$servers" in
  children:*)
    name=${servers#children:}
    # The files hold PIDs separated by spaces: words, not lines.
    # shellcheck disable=SC2013
    for child in $(cat /proc/"$PPID"/task/*/children 2>/dev/null); do
      if [ "$(cat /proc/"$child"/comm 2>/dev/null)" = "$name" ]; then pids+=("$child"); fi
    done
    ;;
  *) IFS=, read -r -a pids <<< "$servers" ;;
esac
if [ "${#pids[@]}" -eq 0 ]; then
  echo "measure_load: no server processes found ($servers)" >&2
  exit 2
fi

# utime + stime of every process in pids, in clock ticks.
ticks() {
  local total=0 p fields
  for p in "${pids[@]}"; do
    # The name (field 2) may hold spaces: take the fields after its closing parenthesis.
    fields=$(sed 's/.*) //' /proc/"$p"/stat)
    read -r -a f <<< "$fields"
    total=$((total + f[11] + f[12]))  # utime, stime (fields 14 and 15)
  done
  echo "$total"
}

hz=$(getconf CLK_TCK)
before=$(ticks)
client_time=$(mktemp)
status=0
/usr/bin/time -f '%U %S' -o "$client_time" "$@" > "$out" || status=$?
after=$(ticks)
read -r cu cs < "$client_time"
rm -f "$client_time"
awk -v b="$before" -v a="$after" -v hz="$hz" -v cu="$cu" -v cs="$cs" -v n="${#pids[@]}" \
  'BEGIN { printf "cpu %.3f %.3f %d\n", (a - b) / hz, cu + cs, n }' >> "$out"
exit "$status"
