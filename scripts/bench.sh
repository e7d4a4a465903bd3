#!/usr/bin/env bash
# make bench: throughput and latency figures, one line each. Benchmarks, never tests.
# Knobs (environment):
#   BENCH_N              commit count of the git and pipeline benchmarks (default 2000)
#   BENCH_INDEX_N        entries of the map index benchmarks (default 10000)
#   BENCH_SCALE          deployment sizes of the scale benchmark, comma-separated (default
#                        1000,100000; the 100k deployment takes a few minutes to build: a
#                        generated repository, git fast-import, then `admin reindex`)
#   BENCH_SCALE_PROFILE  a directory: the scale benchmark writes one CPU profile per figure
#                        there, <size>-<figure>.prof (go tool pprof cmd/stasima.test <file>)
# To run the scale benchmark alone:
#   STASIMA_BENCH_SCALE=1000,100000 go test -timeout 60m -run '^$' -bench '^BenchmarkScale$' -benchtime 1x ./cmd/stasima/
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_N:-2000}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

run() { # package pattern benchtime
  go test -run '^$' -bench "$2" -benchtime "$3" "$1" 2>&1 | grep -E '^Benchmark' >>"$out" || true
}
echo "# git store alone (go-git, no bus), then the full pipeline (MCP → JetStream → capstore → git → event → reply)"
run ./services/capstore/internal/gitstore/ '^BenchmarkCommit' "${N}x"
run ./cmd/stasima/ '^BenchmarkPipeline' "${N}x"
echo "# server CPU per acknowledged kip_commit at 16 seats (issue 15): in-process up, the MCP client in its own process"
run ./cmd/stasima/ '^BenchmarkCommitCPU_16Seats$' "${N}x"
echo "# its floors: the spec's bus flow for one commit alone (embedded server, sync always, no service logic), and an MCP call that touches no bus (whoami)"
run ./cmd/stasima/ '^BenchmarkBusFloor_16Seats$' "${N}x"
run ./cmd/stasima/ '^BenchmarkMCPFloor_16Seats$' "${N}x"
echo "# audit: appends through the writer (producers wait on the barrier), burst throughput, verify of 1,000,000 rows beside raw SHA-256"
run ./services/audit/ '^BenchmarkWriter' "${N}x"
run ./services/audit/internal/chain/ '^Benchmark(Verify|SHA256)$' 1x
echo "# transparency log at 1,000,000 rows (SQLite merkle_nodes): inclusion proof, consistency proof between random sizes, the checkpoint a land adds"
run ./services/audit/internal/sqlitestore/ '^BenchmarkTlog$' 200x
echo "# airlock ledger reads at 100,000 totp_reject rows (SQLite, Postgres): by window, land lock-out, stage cap, and the unbounded read they replaced"
for pkg in sqlitestore pgstore; do
  run ./services/audit/internal/$pkg/ '^BenchmarkLedger$/^(window|land-lockout|stage-cap)$' 200x
  run ./services/audit/internal/$pkg/ '^BenchmarkLedger$/^unbounded-before$' 1x
done
echo "# landing: preview + land of a 50-entry proposal into a 10,000-entry canon; the canon_diff across a 500-path land"
run ./cmd/stasima/ '^BenchmarkLand10k$' 3x
run ./cmd/stasima/ '^BenchmarkCanonDiff500$' 3x
run ./services/capstore/internal/gitstore/ '^BenchmarkPrepareCandidate10k' 5x
echo "# map index: map_search p50/p95/p99 (hybrid and embedding, common and rare terms) and a store-level full reindex; BENCH_INDEX_N entries (default 10000; the issue's figures use 10000,100000)"
STASIMA_BENCH_INDEX_N=${BENCH_INDEX_N:-10000} run ./services/indexer/internal/storetest/ '^BenchmarkReindex$' 1x
STASIMA_BENCH_INDEX_N=${BENCH_INDEX_N:-10000} run ./services/indexer/internal/storetest/ '^BenchmarkSearch$' 200x
echo "# encoding a tool result (1,000-entry listing: once, and as the MCP SDK writes it) and a 100,000-path bus reply"
run ./services/gateway/internal/mcpserver/ 'BenchmarkEncode|BenchmarkResultWire' 200x
echo "# canon_state's answer at 100,000 canon paths: the gateway's encoding, the MCP SDK writing it into a response, an SDK client decoding it"
run ./services/gateway/internal/mcpserver/ '^BenchmarkCanonStateWire$' 10x
run ./pkg/bus/ '^BenchmarkReply' 20x
echo "# the cockpit's proposals page over 100 open proposals"
run ./cmd/stasima/ '^BenchmarkCockpit_Proposals100$' 30x
echo "# scale (issue 15): deployments of BENCH_SCALE entries (default 1000,100000) built from a generated repository and a reindex;"
echo "# p50/p95/p99 of each read that once scanned the map, kip_get, list_entries of a 1,000-entry domain, propose; kip_commit at 16 seats"
STASIMA_BENCH_SCALE=${BENCH_SCALE:-1000,100000} STASIMA_BENCH_PROFILE=${BENCH_SCALE_PROFILE:-} go test -timeout 60m -run '^$' -bench '^BenchmarkScale$' -benchtime 1x ./cmd/stasima/ 2>&1 | grep -E '^Benchmark' >>"$out" || true

awk '
function metric(name,   i) { for (i = 3; i < NF; i++) if ($(i+1) == name) return $i; return "" }
{
  name = $1; sub(/-[0-9]+$/, "", name)
  nsop = metric("ns/op"); cps = metric("commits/s"); rps = metric("rows/s")
  p50 = metric("p50-ms"); p95 = metric("p95-ms"); p99 = metric("p99-ms")
  if (cps == "" && rps == "" && name ~ /Commit/) cps = sprintf("%.0f", 1e9 / nsop)
  line = sprintf("%-44s", name)
  if (cps != "") line = line sprintf(" %9s %s", cps, name ~ /MCPFloor/ ? "calls/s" : "commits/s")
  if (rps != "") line = line sprintf(" %9s rows/s", rps)
  if (p50 != "" && p95 != "") line = line sprintf("   p50 %s ms   p95 %s ms   p99 %s ms", p50, p95, p99)
  else if (p50 != "") line = line sprintf("   p50 %s ms   p99 %s ms", p50, p99)
  sr = metric("s/reindex"); if (sr != "") line = line sprintf("   %s s per reindex", sr)
  rp = metric("s/repo"); if (rp != "") line = line sprintf("   %s s to generate the repository", rp)
  cpu = metric("cpu-ms/commit"); if (cpu != "") line = line sprintf("   %s ms CPU per commit (server and client, one process)", cpu)
  scpu = metric("server-cpu-ms/commit")
  msgs = metric("bus-msgs/commit"); if (msgs != "") line = line sprintf("   %s bus messages, %s stored, per op", msgs, metric("stored-msgs/commit"))
  if (scpu != "" && name ~ /CommitCPU/) { print sprintf("commit_cpu_ms_per_op %s   (server process; client %s ms per commit, separately)", scpu, metric("client-cpu-ms/commit")) }
  else if (scpu != "") line = line sprintf("   %s ms server CPU per op", scpu)
  if (name ~ /Verify|SHA256/) line = line sprintf("   %.2f s per 1,000,000 rows", nsop / 1e9)
  ml = metric("ms/land"); if (ml != "") line = line sprintf(" %9s ms per land", ml)
  by = metric("bytes/500-path-pull"); if (by != "") line = line sprintf(" %9s bytes for %s paths (pointers only)", by, metric("paths"))
  if (name ~ /Ledger/) line = line sprintf(" %9.3f ms per read", nsop / 1e6)
  if (name ~ /Cockpit|Encode|ResultWire|CanonStateWire|Reply/) line = line sprintf(" %9.2f ms per op", nsop / 1e6)
  if (name ~ /PrepareCandidate/) line = line sprintf(" %9.1f ms per candidate", nsop / 1e6)
  print line
}' "$out"
