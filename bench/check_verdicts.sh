#!/usr/bin/env bash
# Compares two tokencheck builds' answers on histgen histories of every kind (unique values
# with versions, repeated values with versions, --no-versions (the search), stale reads,
# info operations, several tokens, a few seeds) and on broken copies of one history (each
# must give the same error, line number included): stdout, stderr and the exit code of both
# must be identical. Prints one line per case and exits 1 at any difference.
#
#   bash bench/check_verdicts.sh REF_TOKENCHECK NEW_TOKENCHECK [HISTGEN]
#
# HISTGEN defaults to build/apps/histgen. Example, main's build against this tree's:
#   bash bench/check_verdicts.sh ../main/build/apps/tokencheck build/apps/tokencheck
set -euo pipefail
REF=$1
NEW=$2
HISTGEN=${3:-$(dirname "$0")/../build/apps/histgen}
WORK=$(mktemp -d /tmp/token-verdicts-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
differ=0
cases=0

compare() {  # NAME FILE [tokencheck flags...]
  local name=$1 file=$2
  shift 2
  local rc_ref=0 rc_new=0
  "$REF" "$file" "$@" >"$WORK/ref.out" 2>"$WORK/ref.err" || rc_ref=$?
  "$NEW" "$file" "$@" >"$WORK/new.out" 2>"$WORK/new.err" || rc_new=$?
  # The search's own time is not part of the answer.
  sed -i -E 's/"seconds":[0-9.e+-]+/"seconds":T/g; s/, [0-9.e+-]+ s, /, T s, /' \
    "$WORK/ref.out" "$WORK/new.out"
  cases=$((cases + 1))
  if [ "$rc_ref" = "$rc_new" ] && cmp -s "$WORK/ref.out" "$WORK/new.out" &&
    cmp -s "$WORK/ref.err" "$WORK/new.err"; then
    printf 'same  exit %s  %-60s %s\n' "$rc_new" "$name $*" \
      "$(head -c 100 "$WORK/new.out" | tr -d '\n')$(head -c 100 "$WORK/new.err" | tr -d '\n')"
  else
    differ=1
    printf 'DIFF  exit %s/%s  %s %s\n' "$rc_ref" "$rc_new" "$name" "$*"
    diff "$WORK/ref.out" "$WORK/new.out" | head -5 || true
    diff "$WORK/ref.err" "$WORK/new.err" | head -5 || true
  fi
}

gen() {  # NAME histgen-args...
  local name=$1
  shift
  "$HISTGEN" "$@" >"$WORK/$name.jsonl"
}

for seed in 1 2 3; do
  gen "unique-$seed" --ops 200000 --processes 64 --seed "$seed"
  gen "tokens-$seed" --ops 200000 --processes 64 --tokens 8 --seed "$seed"
  gen "repeated-$seed" --ops 100000 --processes 64 --values 3 --seed "$seed"
  gen "search-$seed" --ops 50000 --processes 16 --values 3 --no-versions --seed "$seed"
  gen "info-$seed" --ops 100000 --processes 64 --info-permille 50 --seed "$seed"
  gen "info-search-$seed" --ops 50000 --processes 4 --values 3 --info-permille 50 --no-versions --seed "$seed"
  gen "stale-$seed" --ops 100000 --processes 64 --stale-reads 3 --seed "$seed"
  gen "stale-search-$seed" --ops 20000 --processes 4 --values 20 --stale-reads 1 --no-versions --seed "$seed"
  gen "stale-repeated-$seed" --ops 50000 --processes 16 --values 5 --stale-reads 2 --seed "$seed"
  for kind in unique tokens repeated search info info-search stale stale-search stale-repeated; do
    compare "$kind-$seed" "$WORK/$kind-$seed.jsonl" --json
  done
  compare "unique-$seed" "$WORK/unique-$seed.jsonl"
  compare "unique-$seed" "$WORK/unique-$seed.jsonl" --json --no-versions
  compare "stale-$seed" "$WORK/stale-$seed.jsonl"
done

# Broken copies of one history: the same error, naming the same line.
base="$WORK/unique-1.jsonl"
lines=$(wc -l <"$base")
broken() {  # NAME SED-SCRIPT
  sed "$2" "$base" >"$WORK/broken-$1.jsonl"
  compare "broken-$1" "$WORK/broken-$1.jsonl" --json
}
broken not-json "$((lines / 2))s/.*/{not json/"
broken no-time "$((lines / 3))s/,\"time\":[0-9]*//"
broken no-process "$((lines - 5))s/\"process\":[0-9]*,//"
broken bad-type "$((lines / 4))s/\"type\":\"[a-z]*\"/\"type\":\"done\"/"
broken bad-f "$((lines / 5))s/\"f\":\"[a-z]*\"/\"f\":\"append\"/"
broken backwards "$((lines / 2 + 7))s/\"time\":[0-9]*/\"time\":5/"
broken value-not-object "$((lines / 6))s/\"value\":{[^}]*}/\"value\":3/"
broken spaced "$((lines / 7))s/,/, /g"
broken truncated "$((lines - 1)),\$d"
sed -n "1,$((lines / 2))p" "$base" >"$WORK/broken-dup.jsonl"
sed -n "$((lines / 2 - 3)),\$p" "$base" >>"$WORK/broken-dup.jsonl"
compare broken-repeated-lines "$WORK/broken-dup.jsonl" --json
compare missing-file "$WORK/no-such-file.jsonl" --json

echo "$cases cases, $([ "$differ" = 0 ] && echo "all identical" || echo "DIFFERENCES")"
exit "$differ"
