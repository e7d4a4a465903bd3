#!/usr/bin/env bash
# Runs every fuzz target briefly (FUZZTIME, default 10s each).
set -euo pipefail
cd "$(dirname "$0")/.."
t=${FUZZTIME:-10s}
grep -rl --include='*_test.go' '^func Fuzz' pkg services cmd | while read -r f; do
  dir=$(dirname "$f")
  for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
    echo "== $dir $fn"
    go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$t" "./$dir"
  done
done
