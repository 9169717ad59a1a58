#!/usr/bin/env bash
# clang-format check (or fix with --fix) over every tracked source, and clang-tidy over the
# .cc files of the given folders (default: every folder of sources), one process per core.
# clang-tidy needs a configured ./build (compile_commands.json); it takes about a minute
# per file on a 2-core machine, so give folders to lint what you changed:
#   scripts/lint.sh [--fix] [--no-tidy] [FOLDER ...]
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0
tidy=1
folders=()
for arg in "$@"; do
  case "$arg" in
    --fix) fix=1 ;;
    --no-tidy) tidy=0 ;;
    -*) echo "lint: unknown option $arg" >&2; exit 2 ;;
    *)
      if [ ! -d "$arg" ]; then echo "lint: no folder $arg" >&2; exit 2; fi
      folders+=("${arg%/}")
      ;;
  esac
done
[ ${#folders[@]} -gt 0 ] || folders=(core host storage sim checker net_grpc harness apps bench tests)
files=$(git ls-files '*.h' '*.cc')
if [ "$fix" -eq 1 ]; then
  clang-format -i $files
else
  clang-format --dry-run --Werror $files
fi
[ "$tidy" -eq 1 ] || exit 0
if [ ! -f build/compile_commands.json ]; then
  echo "lint: no build/compile_commands.json: run scripts/build.sh first (clang-tidy skipped)" >&2
  exit 1
fi
patterns=()
for f in "${folders[@]}"; do patterns+=("$f/*.cc"); done
git ls-files "${patterns[@]}" | xargs -r -P "$(nproc)" -n 4 clang-tidy -p build --quiet
