# Shared by bench/op_syscalls.sh and bench/op_profile.sh (sourced): the checks of their
# arguments and the 3-node, 8-token scheme that one closed-loop client loads.

# one_client_check NAME OPS TOOL...: OPS in 100..100000 and every TOOL on PATH, or exit 2.
one_client_check() {
  local name=$1 ops=$2 tool
  shift 2
  if ! [[ "$ops" =~ ^[0-9]+$ ]] || [ "$ops" -lt 100 ] || [ "$ops" -gt 100000 ]; then
    echo "$name: OPS is a number in 100..100000, not '$ops'" >&2
    exit 2
  fi
  for tool in "$@"; do
    if ! command -v "$tool" > /dev/null; then
      echo "$name: needs $tool (Debian: linux-perf for perf, else the tool's own package)" >&2
      exit 2
    fi
  done
}

# one_client_scheme FILE PORT: tokens t0..t7 on 127.0.0.1:PORT..PORT+2, writers in turn.
one_client_scheme() {
  local t
  for t in 0 1 2 3 4 5 6 7; do
    echo "- {token: t$t, writer: 127.0.0.1:$(($2 + t % 3)), readers: [127.0.0.1:$2, 127.0.0.1:$(($2 + 1)), 127.0.0.1:$(($2 + 2))]}"
  done > "$1"
}
