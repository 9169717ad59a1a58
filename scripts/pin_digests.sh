#!/usr/bin/env bash
# Re-pins expect.digest in every checked-in scenario to what the current build produces.
# Run it only after a change of behaviour you intend; review the diff (every changed
# digest is a run that now behaves differently).
#   scripts/pin_digests.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
tokensim=${1:-build}/apps/tokensim
for f in scenarios/*.yaml scenarios/regressions/*.yaml scenarios/explore/*.yaml; do
  digest=$("$tokensim" run "$f" 2>/dev/null | sed -n 's/.*digest \([0-9a-f]\{16\}\).*/\1/p' | head -1 || true)
  if [ -z "$digest" ]; then
    echo "$f: no digest in the output of tokensim run" >&2
    exit 1
  fi
  sed -i "s/^\(  digest: \"\)[0-9a-f]\{16\}\"/\1$digest\"/" "$f"
  echo "$f: $digest"
done
