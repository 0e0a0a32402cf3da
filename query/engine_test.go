package query_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/query"
)

var genSchema = cache.MustSchema(
	cache.Field{Key: cache.FieldID, Type: cache.TypeText},
	cache.Field{Key: "name", Type: cache.TypeText},
	cache.Field{Key: "category", Type: cache.TypeText},
	cache.Field{Key: "price", Type: cache.TypeNumber},
	cache.Field{Key: "inStock", Type: cache.TypeBoolean},
	cache.Field{Key: "launch", Type: cache.TypeDateTime},
)

var (
	genCategories = []string{"Tools", "garden", "Kitchen", "décor", "tools", "Bath"}
	genWords      = []string{"oak", "Linen", "brass", "Café", "stool", "LAMP", "rug", "Über"}
)

// genSnapshot builds n rows over several chunks, then removes about one row in twenty, so that
// queries meet dictionary and plain chunks, empty cells and dead slots.
func genSnapshot(tb testing.TB, n int, seed uint64) *cache.Snapshot {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]*cache.ColumnBuilder, genSchema.Len())
	for i := range b {
		b[i] = cache.NewColumnBuilder(genSchema.Field(i).Type)
	}
	for i := range n {
		b[0].Append(txt(fmt.Sprintf("id%07d", i)))
		b[1].Append(txt(fmt.Sprintf("%s %s %d", genWords[rng.IntN(len(genWords))], genWords[rng.IntN(len(genWords))], i)))
		b[2].Append(txt(genCategories[rng.IntN(len(genCategories))]))
		if rng.IntN(10) == 0 {
			b[3].Append(null)
		} else {
			b[3].Append(num(float64(rng.IntN(20000)) / 100))
		}
		switch rng.IntN(3) {
		case 0:
			b[4].Append(null)
		default:
			b[4].Append(cache.Bool(rng.IntN(2) == 0))
		}
		if rng.IntN(8) == 0 {
			b[5].Append(null)
		} else {
			b[5].Append(cache.Time(int64(rng.IntN(2000)) * 86400000))
		}
	}
	cols := make([]*cache.Column, len(b))
	for i := range b {
		cols[i] = b[i].Build()
	}
	s := cache.NewStore()
	var remove []string
	for i := 0; i < n; i += 1 + rng.IntN(40) {
		remove = append(remove, fmt.Sprintf("id%07d", i))
	}
	if _, err := s.Commit(context.Background(), cache.ChangeSet{Collection: "gen", Replace: &cache.Table{Schema: genSchema, Columns: cols}, Remove: remove}); err != nil {
		tb.Fatal(err)
	}
	snap, _ := s.Snapshot("gen")
	return snap
}

// eval is a plain, row-at-a-time reading of the filter semantics, the reference the engine is
// checked against.
func eval(snap *cache.Snapshot, r cache.RowID, f query.Filter) bool {
	switch g := f.(type) {
	case nil:
		return true
	case query.And:
		for _, x := range g {
			if !eval(snap, r, x) {
				return false
			}
		}
		return true
	case query.Or:
		for _, x := range g {
			if eval(snap, r, x) {
				return true
			}
		}
		return false
	case query.Not:
		return !eval(snap, r, g.Filter)
	case *query.Cond:
		i, _ := snap.Schema().Index(g.Field)
		v := snap.Value(r, i)
		switch g.Op {
		case query.OpEq:
			return v.Equal(g.Value)
		case query.OpNe:
			return !v.Equal(g.Value)
		case query.OpGt:
			return !v.IsNull() && v.Compare(g.Value) > 0
		case query.OpGte:
			return !v.IsNull() && v.Compare(g.Value) >= 0
		case query.OpLt:
			return !v.IsNull() && v.Compare(g.Value) < 0
		case query.OpLte:
			return !v.IsNull() && v.Compare(g.Value) <= 0
		case query.OpIn:
			for _, x := range g.Values {
				if v.Equal(x) {
					return true
				}
			}
			return false
		case query.OpContains, query.OpStartsWith, query.OpEndsWith:
			if v.IsNull() {
				return false
			}
			s, x := strings.ToLower(v.Str()), strings.ToLower(g.Value.Str())
			switch g.Op {
			case query.OpStartsWith:
				return strings.HasPrefix(s, x)
			case query.OpEndsWith:
				return strings.HasSuffix(s, x)
			}
			return strings.Contains(s, x)
		case query.OpExists:
			return v.IsNull() != g.Value.Bool()
		}
	}
	panic(fmt.Sprintf("eval: %T", f))
}

// randomFilter makes a filter of the operators eval knows, with operands of the right kinds.
func randomFilter(rng *rand.Rand, depth int) query.Filter {
	if depth > 0 && rng.IntN(3) == 0 {
		var fs []query.Filter
		for range 1 + rng.IntN(3) {
			fs = append(fs, randomFilter(rng, depth-1))
		}
		switch rng.IntN(3) {
		case 0:
			return query.And(fs)
		case 1:
			return query.Or(fs)
		}
		return query.Not{Filter: fs[0]}
	}
	ops := []query.Op{query.OpEq, query.OpNe, query.OpGt, query.OpGte, query.OpLt, query.OpLte}
	op := ops[rng.IntN(len(ops))]
	switch rng.IntN(7) {
	case 0:
		return cond("price", op, num(float64(rng.IntN(20000))/100))
	case 1:
		return cond("launch", op, cache.Time(int64(rng.IntN(2000))*86400000))
	case 2:
		return cond("inStock", []query.Op{query.OpEq, query.OpNe}[rng.IntN(2)], cache.Bool(rng.IntN(2) == 0))
	case 3:
		return cond("category", op, txt(genCategories[rng.IntN(len(genCategories))]))
	case 4:
		textOps := []query.Op{query.OpContains, query.OpStartsWith, query.OpEndsWith}
		w := genWords[rng.IntN(len(genWords))]
		if rng.IntN(2) == 0 {
			w = strings.ToUpper(w[:2])
		}
		field := []string{"name", "category"}[rng.IntN(2)]
		return cond(field, textOps[rng.IntN(3)], txt(w))
	case 5:
		return list("category", query.OpIn, txt(genCategories[rng.IntN(6)]), txt(genCategories[rng.IntN(6)]))
	}
	return cond([]string{"price", "inStock", "launch"}[rng.IntN(3)], query.OpExists, cache.Bool(rng.IntN(2) == 0))
}

// TestFindMatchesReference runs random filters, sorts and pages on a multi-chunk snapshot with
// one and with two workers and compares every answer with the row-at-a-time reference.
func TestFindMatchesReference(t *testing.T) {
	snap := genSnapshot(t, 3*cache.ChunkSize+777, 7)
	rng := rand.New(rand.NewPCG(3, 4))
	rounds := 300
	if testing.Short() {
		rounds = 60
	}
	for round := range rounds {
		f := randomFilter(rng, 3)
		var want []cache.RowID
		snap.Rows(func(r cache.RowID) bool {
			if eval(snap, r, f) {
				want = append(want, r)
			}
			return true
		})
		q := query.Query{Filter: f, Offset: rng.IntN(20), Limit: 1 + rng.IntN(60), Total: true}
		if rng.IntN(2) == 0 {
			q.Sort = []query.Sort{{Field: []string{"price", "name", "launch", "category", "inStock"}[rng.IntN(5)], Desc: rng.IntN(2) == 0}}
			want = sortRows(snap, want, q.Sort[0])
		}
		for _, workers := range []int{1, 2} {
			page, err := (&query.Engine{Workers: workers}).Find(context.Background(), snap, q)
			if err != nil {
				t.Fatalf("round %d %s: %v", round, query.Key(f), err)
			}
			if page.Total != len(want) {
				t.Fatalf("round %d workers %d %s: total %d, want %d", round, workers, query.Key(f), page.Total, len(want))
			}
			lo, hi := min(q.Offset, len(want)), min(q.Offset+q.Limit, len(want))
			if fmt.Sprint(page.Rows) != fmt.Sprint(want[lo:hi]) {
				t.Fatalf("round %d workers %d %s: page %v, want %v", round, workers, query.Key(f), page.Rows, want[lo:hi])
			}
		}
	}
}

// sortRows orders rows by one key the reference way: a stable sort of the rows in natural
// order, missing values lowest.
func sortRows(snap *cache.Snapshot, rows []cache.RowID, s query.Sort) []cache.RowID {
	i, _ := snap.Schema().Index(s.Field)
	out := append([]cache.RowID(nil), rows...)
	slices.SortStableFunc(out, func(a, b cache.RowID) int {
		c := snap.Value(a, i).Compare(snap.Value(b, i))
		if s.Desc {
			return -c
		}
		return c
	})
	return out
}

func TestAggregate(t *testing.T) {
	snap := MustFixture(t)
	e := &query.Engine{}
	g, err := e.Aggregate(context.Background(), snap, query.Aggregation{
		GroupBy: []string{"category"},
		Ops: []query.AggOp{
			{Name: "n", Func: query.AggCount},
			{Name: "total", Func: query.AggSum, Field: "price"},
			{Name: "avg", Func: query.AggAvg, Field: "price"},
			{Name: "cheapest", Func: query.AggMin, Field: "price"},
			{Name: "latest", Func: query.AggMax, Field: "launch"},
		},
		Limit: 50, Total: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := groupRows(g)
	want := []string{
		"decor 1 0 0 0 1999-12-31T23:59:59.999Z",
		"furniture 2 165.5 82.75 45.5 2022-07-15T00:00:00.000Z",
		"garden 1 0 null null 2023-05-05T00:00:00.000Z",
		"lighting 1 89 89 89 null",
		"textiles 1 19.9 19.9 19.9 2020-01-10T00:00:00.000Z",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || g.Total != 5 {
		t.Errorf("groups:\n%s\ntotal %d\nwant:\n%s", strings.Join(got, "\n"), g.Total, strings.Join(want, "\n"))
	}

	g, err = e.Aggregate(context.Background(), snap, query.Aggregation{
		Filter:  cond("inStock", query.OpExists, yes),
		GroupBy: []string{"inStock"},
		Ops:     []query.AggOp{{Name: "n", Func: query.AggCount}, {Name: "total", Func: query.AggSum, Field: "price"}},
		Having:  cond("n", query.OpGte, num(3)),
		Sort:    []query.Sort{{Field: "total", Desc: true}},
		Limit:   50, Total: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := groupRows(g); strings.Join(got, "|") != "true 3 228.9" || g.Total != 1 {
		t.Errorf("having: %v total %d", got, g.Total)
	}

	// no grouping: one row over the whole filtered collection, even when nothing matches
	g, err = e.Aggregate(context.Background(), snap, query.Aggregation{
		Filter: cond("price", query.OpGt, num(1000)),
		Ops:    []query.AggOp{{Name: "n", Func: query.AggCount}, {Name: "avg", Func: query.AggAvg, Field: "price"}},
		Limit:  50,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := groupRows(g); strings.Join(got, "|") != "0 null" {
		t.Errorf("empty aggregation: %v", got)
	}

	bad := []query.Aggregation{
		{GroupBy: []string{"colour"}},
		{Ops: []query.AggOp{{Name: "s", Func: query.AggSum, Field: "name"}}},
		{Ops: []query.AggOp{{Name: "s", Func: query.AggSum, Field: "colour"}}},
		{GroupBy: []string{"category"}, Ops: []query.AggOp{{Name: "category", Func: query.AggCount}}},
		{Ops: []query.AggOp{{Name: "n", Func: query.AggCount}}, Having: cond("m", query.OpGt, num(1))},
	}
	for i, a := range bad {
		if _, err := e.Aggregate(context.Background(), snap, a); err == nil {
			t.Errorf("bad aggregation %d: no error", i)
		}
	}
}

func groupRows(g *query.Grouped) []string {
	var out []string
	for _, row := range g.Rows {
		var parts []string
		for _, v := range row {
			if v.IsNull() {
				parts = append(parts, "null")
			} else {
				parts = append(parts, v.String())
			}
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

func TestDistinct(t *testing.T) {
	snap := MustFixture(t)
	e := &query.Engine{}
	vals, err := e.Distinct(context.Background(), snap, query.Distinct{Field: "category", Limit: 50, Total: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := valuesString(vals.Values); got != "decor furniture garden lighting textiles" || vals.Total != 5 {
		t.Errorf("distinct = %q total %d", got, vals.Total)
	}
	vals, err = e.Distinct(context.Background(), snap, query.Distinct{Field: "inStock", Desc: true, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if got := valuesString(vals.Values); got != "true false" {
		t.Errorf("distinct booleans = %q (empty cells are not a value)", got)
	}
	vals, err = e.Distinct(context.Background(), snap, query.Distinct{Field: "category", Filter: cond("price", query.OpGt, num(50)), Offset: 1, Limit: 1, Total: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := valuesString(vals.Values); got != "lighting" || vals.Total != 2 {
		t.Errorf("filtered page = %q total %d", got, vals.Total)
	}
	if _, err := e.Distinct(context.Background(), snap, query.Distinct{Field: "colour", Limit: 5}); err == nil {
		t.Error("distinct of an unknown field: no error")
	}
}

func valuesString(vs []cache.Value) string {
	var parts []string
	for _, v := range vs {
		parts = append(parts, v.String())
	}
	return strings.Join(parts, " ")
}
