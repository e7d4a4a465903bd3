#!/usr/bin/env bash
# make bench: throughput and latency figures, one line each. Benchmarks, never tests.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_N:-2000}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

run() { # dir pattern benchtime
  go test -run '^$' -bench "$2" -benchtime "$3" "$1" 2>&1 | grep -E '^Benchmark' >>"$out" || true
}
run ./services/capstore/internal/gitstore/ 'BenchmarkCommit' "${N}x"
run ./cmd/stasima/ 'BenchmarkPipeline' "${N}x"
if [ -d services/audit/internal/storetest ] || ls services/audit/internal/*/bench*_test.go >/dev/null 2>&1; then
  run ./services/audit/... 'Benchmark' 1x
fi

awk '
function metric(name,   i) { for (i = 3; i <= NF; i++) if ($(i+1) == name) return $i; return "" }
{
  name = $1; sub(/-[0-9]+$/, "", name)
  nsop = metric("ns/op")
  cps = metric("commits/s"); p50 = metric("p50-ms"); p99 = metric("p99-ms"); rps = metric("rows/s")
  if (cps == "" && nsop != "" && name ~ /Commit/) cps = sprintf("%.1f", 1e9 / nsop)
  line = sprintf("%-52s", name)
  if (cps != "") line = line sprintf(" %10s commits/s", cps)
  if (rps != "") line = line sprintf(" %10s rows/s", rps)
  if (p50 != "") line = line sprintf("  p50 %s ms  p99 %s ms", p50, p99)
  if (cps == "" && rps == "") line = line sprintf(" %14s ns/op", nsop)
  for (i = 3; i <= NF; i++) if ($(i+1) ~ /^(MB\/s|s\/verify|rows|sha-MB\/s)$/) line = line sprintf("  %s %s", $i, $(i+1))
  print line
}' "$out"
