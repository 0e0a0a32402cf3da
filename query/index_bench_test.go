package query_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/query"
)

// benchIndexes returns a registry with the given indexes built over snap.
func benchIndexes(b *testing.B, snap *cache.Snapshot, defs ...query.Index) *query.Indexes {
	b.Helper()
	x := query.NewIndexes()
	for _, def := range defs {
		if ix, err := x.Create(snap, def); err != nil || ix.Status != query.StatusActive {
			b.Fatal(def.Name, err, ix.Failure)
		}
	}
	return x
}

// benchmarkFind runs mk(i) on every iteration, once through an engine without indexes and once
// through one with x, and checks they agree on the first.
func benchmarkFind(b *testing.B, snap *cache.Snapshot, x *query.Indexes, mk func(i int) query.Query) {
	ctx := context.Background()
	want, err := (&query.Engine{}).Find(ctx, snap, mk(0))
	if err != nil {
		b.Fatal(err)
	}
	got, err := (&query.Engine{Indexes: x}).Find(ctx, snap, mk(0))
	if err != nil || got.Total != want.Total || fmt.Sprint(got.Rows) != fmt.Sprint(want.Rows) {
		b.Fatalf("indexed answer differs: %v %v, want %v", err, got, want)
	}
	for _, tc := range []struct {
		name string
		e    *query.Engine
	}{{"scan", &query.Engine{}}, {"index", &query.Engine{Indexes: x}}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := range b.N {
				if _, err := tc.e.Find(ctx, snap, mk(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIndexEq is an $eq on a high-cardinality field (sku: about 630,000 distinct values in
// a million rows), a page of 50 with the total.
func BenchmarkIndexEq(b *testing.B) {
	snap := benchSnapshot(b)
	x := benchIndexes(b, snap, query.Index{Name: "sku", Fields: fields("sku")})
	benchmarkFind(b, snap, x, func(i int) query.Query {
		return query.Query{Filter: cond("sku", query.OpEq, txt(fmt.Sprintf("%06d", i*7919%1000000))), Limit: 50, Total: true}
	})
}

// BenchmarkIndexIDEq is an $eq on _id, which the store's own _id index answers.
func BenchmarkIndexIDEq(b *testing.B) {
	snap := benchSnapshot(b)
	var ids []string
	snap.Rows(func(r cache.RowID) bool {
		if len(ids) < 1000 {
			ids = append(ids, snap.Value(r, 0).Str())
		}
		return true
	})
	benchmarkFind(b, snap, query.NewIndexes(), func(i int) query.Query {
		return query.Query{Filter: cond(cache.FieldID, query.OpEq, txt(ids[i%len(ids)])), Limit: 50, Total: true}
	})
}

// BenchmarkIndexRangeSortPage is a range on launch (about 1% of the rows) sorted by launch, a
// page of 50 with the total: the index narrows, then ranks the candidates.
func BenchmarkIndexRangeSortPage(b *testing.B) {
	snap := benchSnapshot(b)
	x := benchIndexes(b, snap, query.Index{Name: "launch", Fields: fields("launch")})
	const day = 86400000
	benchmarkFind(b, snap, x, func(i int) query.Query {
		lo := int64(1500000000000 + (i%200)*10*day)
		return query.Query{
			Filter: query.And{cond("launch", query.OpGte, cache.Time(lo)), cond("launch", query.OpLt, cache.Time(lo+29*day))},
			Sort:   []query.Sort{{Field: "launch", Desc: true}}, Limit: 50, Total: true,
		}
	})
}

// BenchmarkIndexFilterSortPage is DESIGN §6's query (a 30% price range AND a category, sorted by
// rating then price, page 50, total; 30,000 matches). With an index on the sort keys the engine
// walks it in sort order until the page is full, and counts with a bitmap scan; with one on
// (category, price) the index holds exactly the matches, so the total is its span and only
// they are ranked.
func BenchmarkIndexFilterSortPage(b *testing.B) {
	snap := benchSnapshot(b)
	q := func(i int) query.Query { return filterSortPage(float64(i % 500)) }
	b.Run("sortIndex", func(b *testing.B) {
		benchmarkFind(b, snap, benchIndexes(b, snap, query.Index{Name: "rating_price", Fields: fields("-rating", "price")}), q)
	})
	b.Run("filterIndex", func(b *testing.B) {
		benchmarkFind(b, snap, benchIndexes(b, snap, query.Index{Name: "category_price", Fields: fields("category", "price")}), q)
	})
}

// BenchmarkIndexSortPage sorts the whole collection by price, a page of 50 with the total.
func BenchmarkIndexSortPage(b *testing.B) {
	snap := benchSnapshot(b)
	x := benchIndexes(b, snap, query.Index{Name: "price", Fields: fields("price")})
	benchmarkFind(b, snap, x, func(i int) query.Query {
		return query.Query{Sort: []query.Sort{{Field: "price", Desc: i%2 == 0}}, Offset: i % 100, Limit: 50, Total: true}
	})
}

// BenchmarkIndexBuild is Create on a million rows: the one-off sort.
func BenchmarkIndexBuild(b *testing.B) {
	snap := benchSnapshot(b)
	for _, def := range []query.Index{
		{Name: "number", Fields: fields("price")},
		{Name: "datetime_desc", Fields: fields("-launch")},
		{Name: "text", Fields: fields("sku")},
		{Name: "text_uuid", Fields: fields(cache.FieldID)},
		{Name: "text_ci", Fields: fields("name"), CaseInsensitive: true},
		{Name: "compound", Fields: fields("category", "-price")},
	} {
		b.Run(def.Name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := query.NewIndexes().Create(snap, def); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIndexAfterCommit is the first query after a one-row commit to a million rows (an
// update of the indexed field), the index maintenance a write costs the next reader. derived:
// the registry keeps the index across versions and derives the new version's; rebuilt: the
// index is sorted again; scan: no index. The commit itself is not timed.
func BenchmarkIndexAfterCommit(b *testing.B) {
	base := benchSnapshot(b)
	ctx := context.Background()
	for _, field := range []string{"price", "sku"} {
		def := query.Index{Name: field, Fields: fields(field)}
		var ids []string
		base.Rows(func(r cache.RowID) bool {
			if len(ids) < 4096 {
				ids = append(ids, base.Value(r, 0).Str())
			}
			return true
		})
		q := func(i int) query.Query {
			f := cond("price", query.OpEq, num(float64(i%100000)/100))
			if field == "sku" {
				f = cond("sku", query.OpEq, txt(fmt.Sprintf("%06d", i*7919%1000000)))
			}
			return query.Query{Filter: f, Limit: 50, Total: true}
		}
		change := func(i int) cache.ChangeSet {
			v := num(float64(i%100000) / 100)
			if field == "sku" {
				v = txt(fmt.Sprintf("%06d", i*7919%1000000))
			}
			return cache.ChangeSet{Collection: base.Name(), Update: []cache.Item{{cache.FieldID: txt(ids[i%len(ids)]), field: v}}}
		}
		for _, mode := range []string{"derived", "rebuilt", "scan"} {
			b.Run(field+"/"+mode, func(b *testing.B) {
				x := benchIndexes(b, base, def)
				e := &query.Engine{Indexes: x}
				if mode == "scan" {
					e = &query.Engine{}
				}
				snap := base
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					b.StopTimer()
					next, err := snap.Apply(change(i))
					if err != nil {
						b.Fatal(err)
					}
					snap = next
					if mode == "rebuilt" {
						e.Indexes = query.NewIndexes()
					}
					b.StartTimer()
					if mode == "rebuilt" {
						if _, err := e.Indexes.Create(snap, def); err != nil {
							b.Fatal(err)
						}
					}
					if _, err := e.Find(ctx, snap, q(i)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCheckUnique checks a batch of inserts against a unique index on a million rows.
func BenchmarkCheckUnique(b *testing.B) {
	snap := benchSnapshot(b)
	x := benchIndexes(b, snap, query.Index{Name: "u_id", Fields: fields(cache.FieldID), Unique: true})
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprint(n, "items"), func(b *testing.B) {
			cs := cache.ChangeSet{Collection: snap.Name()}
			for i := range n {
				cs.Insert = append(cs.Insert, cache.Item{cache.FieldID: txt(fmt.Sprintf("new-%d", i))})
			}
			b.ReportAllocs()
			for range b.N {
				if err := x.CheckUnique(snap, cs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
