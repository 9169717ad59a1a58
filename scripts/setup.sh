#!/usr/bin/env bash
# Installs the Debian packages the project needs, if any is missing. Run as root (or with
# sudo available). Safe to run again: it installs nothing when everything is there.
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libyaml-cpp-dev librapidcheck-dev libgtest-dev libgmock-dev libbenchmark-dev
  libfmt-dev libssl-dev openssl nlohmann-json3-dev libsimdjson-dev
  chromium fonts-dejavu-core
  libsqlite3-dev  # bench/storage_bench measures the store against SQLite
  libcli11-dev    # every program's command line (harness/cli)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "setup: missing packages (${missing[*]}) and not root; run as root" >&2
    exit 1
  fi
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
