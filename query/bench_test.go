package query_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/query"
)

var benchSchema = cache.MustSchema(
	cache.Field{Key: cache.FieldID, Type: cache.TypeText},
	cache.Field{Key: "name", Type: cache.TypeText},
	cache.Field{Key: "category", Type: cache.TypeText},
	cache.Field{Key: "price", Type: cache.TypeNumber},
	cache.Field{Key: "qty", Type: cache.TypeNumber},
	cache.Field{Key: "inStock", Type: cache.TypeBoolean},
	cache.Field{Key: "launch", Type: cache.TypeDateTime},
	cache.Field{Key: "sku", Type: cache.TypeText},
	cache.Field{Key: "description", Type: cache.TypeText},
	cache.Field{Key: "rating", Type: cache.TypeNumber},
)

var (
	benchOnce sync.Once
	benchSnap *cache.Snapshot
)

var benchWords = strings.Fields("oak linen brass walnut ceramic wool cotton marble copper rattan bamboo glass velvet " +
	"jute teak stone iron leather cane terracotta Table Chair Lamp Rug Cushion Shelf Mirror Vase Bowl Basket Stool")

// benchSnapshot is a 1,000,000-row, 10-column collection, generated once per process.
func benchSnapshot(b *testing.B) *cache.Snapshot {
	benchOnce.Do(func() {
		const n = 1_000_000
		rng := rand.New(rand.NewPCG(42, 42))
		cats := []string{"furniture", "lighting", "textiles", "kitchen", "garden", "decor", "storage", "bath", "outdoor", "kids"}
		bs := make([]*cache.ColumnBuilder, benchSchema.Len())
		for i := range bs {
			bs[i] = cache.NewColumnBuilder(benchSchema.Field(i).Type)
		}
		word := func() string { return benchWords[rng.IntN(len(benchWords))] }
		var sb strings.Builder
		for i := range n {
			bs[0].Append(txt(fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<12), rng.IntN(1<<12), rng.Uint64()&(1<<48-1))))
			bs[1].Append(txt(word() + " " + word() + " " + fmt.Sprint(i)))
			bs[2].Append(txt(cats[rng.IntN(len(cats))]))
			bs[3].Append(num(float64(rng.IntN(100000)) / 100))
			bs[4].Append(num(float64(rng.IntN(500))))
			bs[5].Append(cache.Bool(rng.IntN(5) != 0))
			bs[6].Append(cache.Time(1500000000000 + rng.Int64N(250000000000)))
			bs[7].Append(txt(fmt.Sprintf("%06d", rng.IntN(1000000))))
			sb.Reset()
			for range 8 {
				sb.WriteString(word())
				sb.WriteByte(' ')
			}
			bs[8].Append(txt(sb.String()))
			bs[9].Append(num(float64(rng.IntN(41)+10) / 10))
		}
		cols := make([]*cache.Column, len(bs))
		for i := range bs {
			cols[i] = bs[i].Build()
		}
		snap, err := cache.NewSnapshot("bench", cache.Table{Schema: benchSchema, Columns: cols})
		if err != nil {
			panic(err)
		}
		benchSnap = snap
	})
	return benchSnap
}

// filterSortPage is the query DESIGN §6 holds to 5 ms: a number range AND a category, sorted,
// a page of 50, with the total.
func filterSortPage(lo float64) query.Query {
	return query.Query{
		Filter: query.And{
			&query.Cond{Field: "price", Op: query.OpGte, Value: num(lo)},
			&query.Cond{Field: "price", Op: query.OpLt, Value: num(lo + 300)},
			&query.Cond{Field: "category", Op: query.OpEq, Value: txt("lighting")},
		},
		Sort:  []query.Sort{{Field: "rating", Desc: true}, {Field: "price"}},
		Limit: 50, Total: true,
	}
}

func BenchmarkFilterSortPage(b *testing.B) {
	snap := benchSnapshot(b)
	e := &query.Engine{} // no result cache: every iteration computes the answer
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		page, err := e.Find(ctx, snap, filterSortPage(float64(i%500)))
		if err != nil || len(page.Rows) != 50 {
			b.Fatal(err, len(page.Rows))
		}
	}
}

// BenchmarkContains is a case-insensitive $contains over a million descriptions (about 60
// bytes each). Cold: nothing memoised. Warm: the case-folded text is in the result cache, as
// it is after the first search of a collection version; the searched words differ every
// iteration so no query result is reused.
func BenchmarkContains(b *testing.B) {
	snap := benchSnapshot(b)
	ctx := context.Background()
	run := func(b *testing.B, e *query.Engine, from int) {
		b.ReportAllocs()
		for i := from; i < from+b.N; i++ {
			w := benchWords[i%len(benchWords)]
			needle := fmt.Sprintf("%s%s %s", strings.ToUpper(w[:1]), w[1:], benchWords[(i/len(benchWords))%len(benchWords)][:1+i/(len(benchWords)*len(benchWords))%3])
			if _, err := e.Find(ctx, snap, query.Query{Filter: &query.Cond{Field: "description", Op: query.OpContains, Value: txt(needle)}, Limit: 50, Total: true}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("cold", func(b *testing.B) { run(b, &query.Engine{}, 0) })
	b.Run("warm", func(b *testing.B) {
		results, err := cache.NewResults(cache.DefaultMaxCost)
		if err != nil {
			b.Fatal(err)
		}
		defer results.Close()
		e := &query.Engine{Results: results}
		if _, err := e.Find(ctx, snap, query.Query{Filter: &query.Cond{Field: "description", Op: query.OpContains, Value: txt("warm up")}}); err != nil {
			b.Fatal(err) // folds every chunk once
		}
		results.Wait()
		b.ResetTimer()
		run(b, e, 0)
	})
}

// BenchmarkCachedQuery repeats one query: after the first, it is answered from the result cache.
func BenchmarkCachedQuery(b *testing.B) {
	snap := benchSnapshot(b)
	results, err := cache.NewResults(cache.DefaultMaxCost)
	if err != nil {
		b.Fatal(err)
	}
	defer results.Close()
	e := &query.Engine{Results: results}
	ctx := context.Background()
	q := filterSortPage(100)
	if _, err := e.Find(ctx, snap, q); err != nil {
		b.Fatal(err)
	}
	results.Wait()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := e.Find(ctx, snap, q); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAggregateByCategory(b *testing.B) {
	snap := benchSnapshot(b)
	e := &query.Engine{}
	b.ReportAllocs()
	for range b.N {
		if _, err := e.Aggregate(context.Background(), snap, query.Aggregation{GroupBy: []string{"category"},
			Ops: []query.AggOp{{Name: "n", Func: query.AggCount}, {Name: "avg", Func: query.AggAvg, Field: "price"}}, Limit: 50}); err != nil {
			b.Fatal(err)
		}
	}
}
