package replica

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sheetsync/sheetsync/cache"
)

// BenchmarkLogApplied measures DESIGN §6's "API write applied on every replica": a one-row
// update committed on replica A (which returns once A applied it), until replica B has applied it
// too, through an embedded NATS server on loopback. Reported: the commit on A, and A's commit to
// B's apply, median and p99.
func BenchmarkLogApplied(b *testing.B) {
	e, err := StartEmbedded(EmbeddedOptions{StoreDir: b.TempDir(), Listen: true, Host: "127.0.0.1", Port: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Shutdown()
	open := func(name string) (*cache.Store, *Log) {
		nc, err := e.Connect()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		s := cache.NewStore()
		l, err := OpenLog(context.Background(), nc, s, LogOptions{Replica: name})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(l.Close)
		return s, l
	}
	_, la := open("a")
	_, lb := open("b")
	ctx := context.Background()
	schema, _ := cache.NewSchema([]cache.Field{{Key: cache.FieldID, Type: cache.TypeText}, {Key: "n", Type: cache.TypeNumber}})
	snap, _ := cache.FromRows("counter", schema, [][]cache.Value{{cache.Text("c"), cache.Number(0)}})
	table := cache.Table{Schema: schema, Columns: []*cache.Column{snap.Column(0), snap.Column(1)}}
	if _, err := la.Commit(ctx, cache.ChangeSet{Collection: "counter", Replace: &table}); err != nil {
		b.Fatal(err)
	}
	commit := make([]time.Duration, 0, b.N)
	spread := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := la.Commit(ctx, cache.ChangeSet{Collection: "counter", Origin: cache.Origin{Kind: cache.OriginAPI},
			Update: []cache.Item{{cache.FieldID: cache.Text("c"), "n": cache.Number(float64(i))}}}); err != nil {
			b.Fatal(err)
		}
		commit = append(commit, time.Since(start))
		seq, _ := la.Applied()
		if err := lb.waitApplied(ctx, seq); err != nil {
			b.Fatal(err)
		}
		spread = append(spread, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(commit)
	slices.Sort(spread)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(commit[len(commit)/2]), "ms-commit-median")
	b.ReportMetric(ms(spread[len(spread)/2]), "ms-on-B-median")
	b.ReportMetric(ms(spread[len(spread)*99/100]), "ms-on-B-p99")
}
