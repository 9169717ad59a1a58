#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the project on a small
# built-in example (examples/cluster.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build
echo
echo "== the protocol core on examples/cluster.yaml (in-process nodes, FIFO delivery) =="
./build/apps/tokendemo --config examples/cluster.yaml
