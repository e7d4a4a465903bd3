#!/usr/bin/env bash
# check-tidy: every module's go.mod and go.sum are what `go mod tidy` writes (direct dependencies
# listed as direct), and `go work sync` changes nothing. `make tidy` fixes both.
set -euo pipefail
cd "$(dirname "$0")/.."
mods="pkg services/gateway services/capstore services/audit services/airlock services/indexer cmd/stasima"
fail=0
for m in $mods; do
  if ! out=$(cd "$m" && go mod tidy -diff 2>&1); then
    echo "check-tidy: $m is not tidy (run make tidy):"; echo "$out"; fail=1
  fi
done
snap=$(mktemp -d)
trap 'rm -rf "$snap"' EXIT
for m in $mods; do mkdir -p "$snap/$m"; cp "$m/go.mod" "$m/go.sum" "$snap/$m/"; done
go work sync
for m in $mods; do
  for f in go.mod go.sum; do
    if ! diff -u "$snap/$m/$f" "$m/$f"; then
      echo "check-tidy: go work sync changes $m/$f (run make tidy)"; fail=1
    fi
    cp "$snap/$m/$f" "$m/$f"
  done
done
exit $fail
