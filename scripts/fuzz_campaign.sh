#!/usr/bin/env bash
# A fuzz campaign split into shards with GNU parallel, then merged.
#   scripts/fuzz_campaign.sh SHARDS SECONDS SEED [tokensim fuzz flags...]
# Runs `tokensim fuzz --shard K/SHARDS` for K = 0..SHARDS-1 (as many at once as there are
# cores; add --sshlogin to parallel's line to spread them over machines that share the
# output directory), each for SECONDS seconds, every failing case shrunk and kept; then
# `tokensim merge` adds the shards up. Output in $OUT (default fuzz-campaign): shard-K.json,
# shard-K.log and the failing cases' files. Exit: tokensim merge's (0 no violation, 1 a
# failure, 2 a shard missing or bad input).
set -euo pipefail
shards=${1:?usage: fuzz_campaign.sh SHARDS SECONDS SEED [flags]}
seconds=${2:?usage: fuzz_campaign.sh SHARDS SECONDS SEED [flags]}
seed=${3:?usage: fuzz_campaign.sh SHARDS SECONDS SEED [flags]}
shift 3
tokensim=${TOKENSIM:-$(dirname "$0")/../build/apps/tokensim}
out=${OUT:-fuzz-campaign}
command -v parallel >/dev/null || { echo "fuzz_campaign.sh: needs GNU parallel (apt-get install parallel)" >&2; exit 2; }
mkdir -p "$out"
# A shard exits 1 when it found a failure: that is a result, not an error of the run.
seq 0 $((shards - 1)) | parallel --halt never \
  "$tokensim" fuzz --quiet --seed "$seed" --time-limit "$seconds" --max-failures 0 \
  --shard '{}'/"$shards" --out "$out/cases" --result "$out/shard-{}.json" "$@" \
  '>' "$out/shard-{}.log" '2>&1' || true
exec "$tokensim" merge "$out"/shard-*.json
