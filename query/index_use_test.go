package query_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/query"
)

var ixSchema = cache.MustSchema(
	cache.Field{Key: cache.FieldID, Type: cache.TypeText},
	cache.Field{Key: "code", Type: cache.TypeText},
	cache.Field{Key: "num", Type: cache.TypeNumber},
	cache.Field{Key: "qty", Type: cache.TypeNumber},
	cache.Field{Key: "name", Type: cache.TypeText},
	cache.Field{Key: "cat", Type: cache.TypeText},
	cache.Field{Key: "when", Type: cache.TypeDateTime},
	cache.Field{Key: "flag", Type: cache.TypeBoolean},
)

var (
	ixNames = []string{"apple", "Apple", "APPLE", "banana", "Banana", "cherry pie", "Cherry Pie", "Ünïcode", "ünïcode",
		"ÜNÏCODE", "zeta", "a", "", "apple turnover with a long name", "Apple turnover with a long name", "KELVIN", "\u212aelvin"}
	ixCats = []string{"Tools", "tools", "garden", "Kitchen", "décor", "Décor"}
)

// ixGen makes random rows and changes for the differential tests.
type ixGen struct {
	rng  *rand.Rand
	next int // the next new _id

	idsOf *cache.Snapshot // the snapshot ids lists
	ids   []string
}

// live returns the _id of every live row of snap.
func (g *ixGen) live(snap *cache.Snapshot) []string {
	if g.idsOf != snap {
		g.idsOf, g.ids = snap, liveIDs(snap)
	}
	return g.ids
}

func (g *ixGen) maybe(v cache.Value, nullOneIn int) cache.Value {
	if g.rng.IntN(nullOneIn) == 0 {
		return null
	}
	return v
}

func (g *ixGen) value(field string) cache.Value {
	r := g.rng
	switch field {
	case "code":
		return g.maybe(txt(fmt.Sprintf("C%05d", r.IntN(1<<20))), 20)
	case "num":
		x := float64(r.IntN(2000)-500) / 4
		switch r.IntN(50) {
		case 0:
			x = math.Copysign(0, -1)
		case 1:
			x = math.NaN() // a filter matches it with nothing; an index puts it first
		}
		return g.maybe(num(x), 10)
	case "qty":
		return g.maybe(num(float64(r.IntN(20))), 8)
	case "name":
		s := ixNames[r.IntN(len(ixNames))]
		if r.IntN(4) == 0 {
			s += fmt.Sprint(r.IntN(300))
		}
		return g.maybe(txt(s), 10)
	case "cat":
		return g.maybe(txt(ixCats[r.IntN(len(ixCats))]), 12)
	case "when":
		return g.maybe(cache.Time(int64(r.IntN(3000)-1000)*3600000), 10)
	case "flag":
		return g.maybe(cache.Bool(r.IntN(2) == 0), 3)
	}
	panic(field)
}

func (g *ixGen) item() cache.Item {
	it := cache.Item{cache.FieldID: txt(fmt.Sprintf("r%06d", g.next))}
	g.next++
	for i := 1; i < ixSchema.Len(); i++ {
		key := ixSchema.Field(i).Key
		if v := g.value(key); !v.IsNull() {
			it[key] = v
		}
	}
	return it
}

// snapshot returns n random rows over several chunks.
func (g *ixGen) snapshot(tb testing.TB, n int) *cache.Snapshot {
	tb.Helper()
	rows := make([][]cache.Value, n)
	for i := range rows {
		it := g.item()
		row := make([]cache.Value, ixSchema.Len())
		for j := range row {
			row[j] = it[ixSchema.Field(j).Key]
		}
		rows[i] = row
	}
	snap, err := cache.FromRows("ix", ixSchema, rows)
	if err != nil {
		tb.Fatal(err)
	}
	return snap
}

// liveIDs returns the _id of every live row.
func liveIDs(snap *cache.Snapshot) []string {
	var ids []string
	snap.Rows(func(r cache.RowID) bool {
		ids = append(ids, snap.Value(r, 0).Str())
		return true
	})
	return ids
}

// change is a random commit: removes, updates of random fields, inserts. Big ones are rare and
// may make the store compact the collection (new RowIDs throughout).
func (g *ixGen) change(snap *cache.Snapshot) cache.ChangeSet {
	r := g.rng
	ids := g.live(snap)
	size := 1 + r.IntN(5)
	if r.IntN(6) == 0 {
		size = 200 + r.IntN(1500)
	}
	cs := cache.ChangeSet{Collection: snap.Name()}
	used := map[string]bool{}
	pick := func() (string, bool) {
		id := ids[r.IntN(len(ids))]
		if used[id] {
			return "", false
		}
		used[id] = true
		return id, true
	}
	for range size {
		switch r.IntN(3) {
		case 0:
			if id, ok := pick(); ok {
				cs.Remove = append(cs.Remove, id)
			}
		case 1:
			if id, ok := pick(); ok {
				it := cache.Item{cache.FieldID: txt(id)}
				for range 1 + r.IntN(2) {
					key := ixSchema.Field(1 + r.IntN(ixSchema.Len()-1)).Key
					it[key] = g.value(key)
				}
				cs.Update = append(cs.Update, it)
			}
		default:
			cs.Insert = append(cs.Insert, g.item())
		}
	}
	return cs
}

// pickValue returns a value of field from a random live row, so that conditions find rows.
func (g *ixGen) pickValue(snap *cache.Snapshot, field string) cache.Value {
	i, _ := snap.Schema().Index(field)
	ids := g.live(snap)
	r, _ := snap.Lookup(ids[g.rng.IntN(len(ids))])
	v := snap.Value(r, i)
	if v.IsNull() || g.rng.IntN(4) == 0 {
		return g.value(field)
	}
	return v
}

var ixFields = []string{"code", "num", "qty", "name", "cat", "when", "flag"}

// term makes one condition, mostly of the kinds indexes narrow.
func (g *ixGen) term(snap *cache.Snapshot) query.Filter {
	r := g.rng
	field := ixFields[r.IntN(len(ixFields))]
	v := g.pickValue(snap, field)
	for v.IsNull() {
		v = g.value(field)
	}
	switch r.IntN(12) {
	case 0, 1, 2:
		return cond(field, query.OpEq, v)
	case 3:
		return list(field, query.OpIn, v, g.pickValue(snap, field), g.pickValue(snap, field))
	case 4, 5, 6, 7:
		ops := []query.Op{query.OpGt, query.OpGte, query.OpLt, query.OpLte}
		return cond(field, ops[r.IntN(4)], v)
	case 8:
		return cond(field, query.OpExists, cache.Bool(r.IntN(2) == 0))
	case 9:
		return cond(field, query.OpEq, null)
	case 10:
		if ids := g.live(snap); r.IntN(2) == 0 {
			return cond(cache.FieldID, query.OpEq, txt(ids[r.IntN(len(ids))]))
		} else {
			return list(cache.FieldID, query.OpIn, txt(ids[r.IntN(len(ids))]), txt("missing"), txt(ids[r.IntN(len(ids))]))
		}
	}
	switch r.IntN(3) {
	case 0:
		return cond(field, query.OpNe, v)
	case 1:
		return cond("name", query.OpContains, txt([]string{"app", "PIE", "ün", "k"}[r.IntN(4)]))
	}
	return query.Or{cond("qty", query.OpLt, num(3)), cond("cat", query.OpEq, txt("garden"))}
}

func (g *ixGen) query(snap *cache.Snapshot) query.Query {
	r := g.rng
	if r.IntN(4) == 0 {
		return g.indexQuery(snap)
	}
	var q query.Query
	switch n := r.IntN(5); n {
	case 0:
	case 1:
		q.Filter = g.term(snap)
	default:
		and := query.And{}
		for range n {
			and = append(and, g.term(snap))
		}
		if r.IntN(5) == 0 {
			and = query.And{and[0], query.And(and[1:])}
		}
		q.Filter = and
	}
	for range r.IntN(3) {
		q.Sort = append(q.Sort, query.Sort{Field: ixFields[r.IntN(len(ixFields))], Desc: r.IntN(2) == 0})
	}
	q.Offset = []int{0, 0, 0, 3, 17, 100}[r.IntN(6)]
	q.Limit = []int{0, 1, 10, 50, 50, 200}[r.IntN(6)]
	q.Total = r.IntN(3) != 0
	return q
}

// indexQuery makes a query shaped after one of ixDefs: its leading fields bounded (mostly by
// $eq, which pins them), sorted by the fields after, in or against the index's directions.
func (g *ixGen) indexQuery(snap *cache.Snapshot) query.Query {
	r := g.rng
	def := ixDefs[r.IntN(len(ixDefs))]
	var and query.And
	pinned := r.IntN(len(def.Fields))
	for _, f := range def.Fields[:pinned] {
		v := g.pickValue(snap, f.Path)
		switch r.IntN(5) {
		case 0:
			and = append(and, list(f.Path, query.OpIn, v, g.pickValue(snap, f.Path)))
		case 1:
			and = append(and, cond(f.Path, query.OpGte, v))
		default:
			and = append(and, cond(f.Path, query.OpEq, v))
		}
	}
	if r.IntN(3) == 0 {
		and = append(and, g.term(snap))
	}
	q := query.Query{Filter: and, Limit: []int{1, 10, 50}[r.IntN(3)], Offset: r.IntN(20), Total: r.IntN(2) == 0}
	flip := r.IntN(2) == 0
	for _, f := range def.Fields[pinned:][:1+r.IntN(len(def.Fields)-pinned)] {
		desc := f.Order == query.Desc
		if flip != (r.IntN(8) == 0) {
			desc = !desc
		}
		q.Sort = append(q.Sort, query.Sort{Field: f.Path, Desc: desc})
	}
	return q
}

// ixDefs are the indexes the differential tests create: every field alone, in both directions,
// compound keys, case-insensitive text, and unique ones (one of which fails).
var ixDefs = []query.Index{
	{Name: "num", Fields: []query.IndexField{{Path: "num"}}},
	{Name: "qty_desc", Fields: []query.IndexField{{Path: "qty", Order: query.Desc}}},
	{Name: "name", Fields: []query.IndexField{{Path: "name"}}},
	{Name: "name_ci", Fields: []query.IndexField{{Path: "name"}, {Path: "num", Order: query.Desc}}, CaseInsensitive: true},
	{Name: "cat_num", Fields: []query.IndexField{{Path: "cat", Order: query.Desc}, {Path: "num"}}},
	{Name: "when_desc", Fields: []query.IndexField{{Path: "when", Order: query.Desc}}},
	{Name: "flag_when", Fields: []query.IndexField{{Path: "flag"}, {Path: "when"}}},
	{Name: "qty_cat_name", Fields: []query.IndexField{{Path: "qty"}, {Path: "cat"}, {Path: "name", Order: query.Desc}}},
	{Name: "code_u", Fields: []query.IndexField{{Path: "code"}}, Unique: true},
	{Name: "cat_ci_u", Fields: []query.IndexField{{Path: "cat"}}, Unique: true, CaseInsensitive: true}, // fails: categories repeat
}

// TestIndexedMatchesScan runs random filters, sorts and pages through an engine with indexes and
// one without, on a collection that changes between rounds (so indexes are derived version
// after version, through tombstones and compactions), and requires identical pages and totals.
// It runs under three policies: the default, indexes always narrowing, and walks preferred,
// the last two with small index blocks.
func TestIndexedMatchesScan(t *testing.T) {
	policies := []struct {
		name                string
		narrow, walk, block int
	}{
		{"Default", 16, 8, 4096},
		{"AlwaysNarrow", 1, 1, 100},
		{"PreferWalk", 1 << 30, 1, 33},
	}
	rounds := 40
	if testing.Short() {
		rounds = 12
	}
	for _, pol := range policies {
		t.Run(pol.name, func(t *testing.T) {
			defer query.SetIndexPolicy(pol.narrow, pol.walk)()
			defer query.SetBlockSize(pol.block)()
			g := &ixGen{rng: rand.New(rand.NewPCG(11, uint64(pol.narrow)))}
			snap := g.snapshot(t, 3*cache.ChunkSize+901)
			x := query.NewIndexes()
			for _, def := range ixDefs {
				if _, err := x.Create(snap, def); err != nil {
					t.Fatal(err)
				}
			}
			ctx := context.Background()
			plain, indexed := &query.Engine{}, &query.Engine{Indexes: x}
			used, asked := 0, 0
			for round := range rounds {
				for range 40 {
					q := g.query(snap)
					want, err := plain.Find(ctx, snap, q)
					if err != nil {
						t.Fatalf("round %d %s: %v", round, q.Key(), err)
					}
					got, ok, err := indexed.FindIndexed(ctx, snap, q)
					if err != nil {
						t.Fatalf("round %d %s: indexed: %v", round, q.Key(), err)
					}
					asked++
					if ok {
						used++
						comparePages(t, fmt.Sprintf("round %d %s", round, q.Key()), got, want)
					}
					full, err := indexed.Find(ctx, snap, q)
					if err != nil {
						t.Fatal(err)
					}
					comparePages(t, fmt.Sprintf("round %d find %s", round, q.Key()), full, want)
				}
				next, err := snap.Apply(g.change(snap))
				if err != nil {
					t.Fatal(err)
				}
				snap = next
			}
			t.Logf("%d of %d queries answered from an index", used, asked)
			if used < asked/10 {
				t.Errorf("only %d of %d queries used an index", used, asked)
			}
		})
	}
}

func comparePages(t *testing.T, what string, got, want *query.Page) {
	t.Helper()
	if got.Total != want.Total || fmt.Sprint(got.Rows) != fmt.Sprint(want.Rows) {
		t.Fatalf("%s:\ngot  total %d %v\nwant total %d %v", what, got.Total, got.Rows, want.Total, want.Rows)
	}
}

// TestIndexedCount checks Count through indexes against the scan for the narrowable conditions.
func TestIndexedCount(t *testing.T) {
	defer query.SetIndexPolicy(1, 1)()
	g := &ixGen{rng: rand.New(rand.NewPCG(5, 6))}
	snap := g.snapshot(t, 2*cache.ChunkSize+100)
	x := query.NewIndexes()
	for _, def := range ixDefs {
		if _, err := x.Create(snap, def); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for i := range 300 {
		f := g.term(snap)
		want, err := (&query.Engine{}).Count(ctx, snap, f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := (&query.Engine{Indexes: x}).Count(ctx, snap, f)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%d %s: count %d, want %d", i, query.Key(f), got, want)
		}
	}
}
