package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stasima/stasima/services/indexer/internal/embed"
	"github.com/stasima/stasima/services/indexer/internal/ranking"
	"github.com/stasima/stasima/services/indexer/internal/rows"
)

// Benchmarks (never run by make test): map_search latency percentiles over generated corpora
// and the store-level full reindex. Sizes come from STASIMA_BENCH_INDEX_N (comma-separated,
// default "10000,100000"); STASIMA_BENCH_INDEX_BACKENDS picks "sqlite", "postgres" or both
// (default "sqlite,postgres"; postgres is skipped when unreachable outside CI).

func benchSizes() []int {
	v := os.Getenv("STASIMA_BENCH_INDEX_N")
	if v == "" {
		v = "10000,100000"
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func benchBackends() map[string]Backend {
	v := os.Getenv("STASIMA_BENCH_INDEX_BACKENDS")
	if v == "" {
		v = "sqlite,postgres"
	}
	out := map[string]Backend{}
	for _, f := range strings.Split(v, ",") {
		switch strings.TrimSpace(f) {
		case "sqlite":
			out["sqlite"] = SQLite
		case "postgres":
			out["postgres"] = Postgres
		}
	}
	return out
}

// vocab is a Zipf-distributed vocabulary: low ranks ("w0", "w1", …) are common terms.
const vocab = 5000

// genRows makes n entries over three seats and canon: a title, a ~40-word body drawn from the
// Zipf vocabulary, the common words "service" and "index" in most bodies, and one rare
// identifier per entry ("build-<i>-hotfix"). Deterministic.
func genRows(n int) []rows.Row {
	rng := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(rng, 1.1, 2, vocab-1)
	seats := []string{"canon", "Recto", "Verso", "Sigma"}
	types := []string{"kno", "kno", "kno", "log", "arg", "msg", "vap"}
	out := make([]rows.Row, n)
	var b strings.Builder
	for i := range out {
		b.Reset()
		for w := 0; w < 40; w++ {
			fmt.Fprintf(&b, "w%d ", z.Uint64())
		}
		if i%3 != 0 {
			b.WriteString("service index ")
		}
		fmt.Fprintf(&b, "build-%d-hotfix", i)
		status := "active"
		if i%10 == 0 {
			status = "superseded"
		}
		seat := seats[i%len(seats)]
		origin := ""
		if seat == "canon" {
			origin = "Recto"
		}
		out[i] = Row(RefOf(seat), fmt.Sprintf("gen/%d.md", i), types[i%len(types)], status,
			fmt.Sprintf("Entry %d about w%d", i, z.Uint64()), b.String(), origin)
	}
	return out
}

func fill(b *testing.B, st Store, rs []rows.Row) {
	b.Helper()
	ctx := context.Background()
	const batch = 5000
	for i := 0; i < len(rs); i += batch {
		if _, err := st.Upsert(ctx, 1, rs[i:min(i+batch, len(rs))]...); err != nil {
			b.Fatal(err)
		}
	}
}

func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return float64(sorted[i]) / float64(time.Millisecond)
}

// BenchmarkSearch reports map_search p50/p95/p99 (ms) per backend, size, mode and query kind:
// "common" queries hit most rows by keyword; "rare" ones name one entry's identifier.
func BenchmarkSearch(b *testing.B) {
	for name, backend := range benchBackends() {
		for _, n := range benchSizes() {
			b.Run(fmt.Sprintf("%s/n=%d", name, n), func(b *testing.B) {
				st := backend(b)(b)
				fill(b, st, genRows(n))
				queries := map[string][]string{
					"common": {"service index", "w1 w2 service", "index w3", "w0 service index w4"},
					"rare":   {},
				}
				for i := 0; i < 16; i++ {
					queries["rare"] = append(queries["rare"], fmt.Sprintf("build-%d-hotfix", (i*7919)%n))
				}
				for _, mode := range []string{ranking.ModeHybrid, ranking.ModeEmbedding} {
					for _, kind := range []string{"common", "rare"} {
						qs := queries[kind]
						b.Run(mode+"/"+kind, func(b *testing.B) {
							lat := make([]time.Duration, 0, b.N)
							ctx := context.Background()
							for i := 0; b.Loop(); i++ {
								text := qs[i%len(qs)]
								t0 := time.Now()
								if _, err := st.Search(ctx, ranking.Query{Mode: mode, Text: text,
									Vector: embed.StubVector(text), Limit: 10}); err != nil {
									b.Fatal(err)
								}
								lat = append(lat, time.Since(t0))
							}
							slices.Sort(lat)
							b.ReportMetric(percentile(lat, 0.50), "p50-ms")
							b.ReportMetric(percentile(lat, 0.95), "p95-ms")
							b.ReportMetric(percentile(lat, 0.99), "p99-ms")
						})
					}
				}
			})
		}
	}
}

// BenchmarkReindex is a full reindex at the store level (S-34): derive every row from its
// entry text (rows.Derive), embed with the stub, Reset, Upsert — everything but reading git.
// It reports rows/s and seconds per reindex of the largest size.
func BenchmarkReindex(b *testing.B) {
	sizes := benchSizes()
	n := sizes[len(sizes)-1]
	gen := genRows(n)
	srcs := make([]rows.Source, n)
	for i, r := range gen {
		text := "---\ntype: " + r.Type + "\ntitle: " + r.Title + "\nstatus: " + r.Status + "\n---\n\n" + r.BodyText
		srcs[i] = rows.Source{CanonRef: CanonRef, Ref: r.Ref, Path: r.Path, BlobOID: r.ContentOID, Text: text, Introducer: "Recto", Position: int64(i)}
	}
	for name, backend := range benchBackends() {
		b.Run(fmt.Sprintf("%s/n=%d", name, n), func(b *testing.B) {
			st := backend(b)(b)
			ctx := context.Background()
			for b.Loop() {
				rs := make([]rows.Row, n)
				for i, src := range srcs {
					r, err := rows.Derive(src)
					if err != nil {
						b.Fatal(err)
					}
					rs[i] = r
				}
				if err := rows.Embed(ctx, embed.Stub{}, rs); err != nil {
					b.Fatal(err)
				}
				if err := st.Reset(ctx); err != nil {
					b.Fatal(err)
				}
				if got, err := st.Upsert(ctx, 1, rs...); err != nil || got != n {
					b.Fatalf("Upsert = %d, %v", got, err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/reindex")
		})
	}
}
