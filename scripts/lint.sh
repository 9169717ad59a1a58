#!/usr/bin/env bash
# clang-format check (or fix with --fix) and clang-tidy over the project's sources.
# Needs a configured ./build (for compile_commands.json).
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.h' '*.cc')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i $files
else
  clang-format --dry-run --Werror $files
fi
if [ -f build/compile_commands.json ]; then
  clang-tidy -p build --quiet $(git ls-files 'core/*.cc' 'harness/*.cc' 'apps/*.cc')
fi
