package ingest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/sheetsync/sheetsync/cache"
)

const diffNow = int64(1_800_000_000_000)

var diffSchema = cache.MustSchema(
	cache.Field{Key: "name", Type: cache.TypeText},
	cache.Field{Key: "price", Type: cache.TypeNumber},
	cache.Field{Key: cache.FieldID, Type: cache.TypeText},
	cache.Field{Key: cache.FieldCreatedDate, Type: cache.TypeDateTime},
	cache.Field{Key: cache.FieldUpdatedDate, Type: cache.TypeDateTime},
)

// row builds a row of diffSchema; created and updated are days since the epoch.
func row(id, name string, price float64, created, updated int64) []cache.Value {
	return []cache.Value{cache.Text(name), cache.Number(price), cache.Text(id), cache.Time(created * 86400000), cache.Time(updated * 86400000)}
}

func mustSnap(t *testing.T, schema *cache.Schema, rows ...[]cache.Value) *cache.Snapshot {
	t.Helper()
	s, err := cache.FromRows("c", schema, rows)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// describe renders a change set in a stable, readable order.
func describe(cs cache.ChangeSet) string {
	var parts []string
	if cs.Schema != nil {
		var keys []string
		for _, f := range cs.Schema.Fields() {
			keys = append(keys, f.Key+":"+f.Type.String())
		}
		parts = append(parts, "schema "+strings.Join(keys, ","))
	}
	for _, id := range cs.Remove {
		parts = append(parts, "remove "+id)
	}
	for _, kind := range []struct {
		name  string
		items []cache.Item
	}{{"update", cs.Update}, {"insert", cs.Insert}} {
		for _, it := range kind.items {
			var kv []string
			for k, v := range it {
				if k == cache.FieldID {
					continue
				}
				s := v.String()
				if v.Kind() == cache.KindTime && v.Millis() == diffNow {
					s = "now"
				}
				if v.IsNull() {
					s = "null"
				}
				kv = append(kv, k+"="+s)
			}
			sort.Strings(kv)
			parts = append(parts, kind.name+" "+it.ID()+" "+strings.Join(kv, " "))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "\n")
}

func TestDiffTables(t *testing.T) {
	base := mustSnap(t, diffSchema, row("a", "Oak", 10, 1, 2), row("b", "Ash", 20, 1, 3), row("c", "Elm", 30, 2, 2))
	other := cache.MustSchema(
		cache.Field{Key: "name", Type: cache.TypeText},
		cache.Field{Key: "price", Type: cache.TypeText},
		cache.Field{Key: cache.FieldID, Type: cache.TypeText},
		cache.Field{Key: cache.FieldCreatedDate, Type: cache.TypeDateTime},
		cache.Field{Key: cache.FieldUpdatedDate, Type: cache.TypeDateTime},
	)
	withColour := cache.MustSchema(append(diffSchema.Fields(), cache.Field{Key: "colour", Type: cache.TypeText})...)
	noPrice := cache.MustSchema(diffSchema.Field(0), diffSchema.Field(2), diffSchema.Field(3), diffSchema.Field(4))
	tests := []struct {
		name string
		next *cache.Snapshot
		want string
	}{
		{"Same", mustSnap(t, diffSchema, row("a", "Oak", 10, 1, 2), row("b", "Ash", 20, 1, 3), row("c", "Elm", 30, 2, 2)), ""},
		{"CellChanged", mustSnap(t, diffSchema, row("a", "Oak", 10, 1, 2), row("b", "Ash", 25, 1, 3), row("c", "Elm", 30, 2, 2)),
			"update b _updatedDate=now price=25"},
		{"CellEmptied", mustSnap(t, diffSchema, row("a", "Oak", 10, 1, 2), append(row("b", "", 20, 1, 3)[:0:0], cache.Null(), cache.Number(20), cache.Text("b"), cache.Time(86400000), cache.Time(3*86400000)), row("c", "Elm", 30, 2, 2)),
			"update b _updatedDate=now name=null"},
		{"RowsReordered", mustSnap(t, diffSchema, row("c", "Elm", 30, 2, 2), row("a", "Oak", 10, 1, 2), row("b", "Ash", 20, 1, 3)), ""},
		{"ReorderedAndChanged", mustSnap(t, diffSchema, row("c", "Elm", 31, 2, 2), row("a", "Oak", 10, 1, 2), row("b", "Ash", 20, 1, 3)),
			"update c _updatedDate=now price=31"},
		{"Inserted", mustSnap(t, diffSchema, row("a", "Oak", 10, 1, 2), row("b", "Ash", 20, 1, 3), row("c", "Elm", 30, 2, 2), row("d", "Yew", 40, 5, 6)),
			"insert d _createdDate=1970-01-06T00:00:00.000Z _updatedDate=1970-01-07T00:00:00.000Z name=Yew price=40"},
		{"InsertedWithoutDates", mustSnap(t, diffSchema, row("a", "Oak", 10, 1, 2), row("b", "Ash", 20, 1, 3), row("c", "Elm", 30, 2, 2),
			[]cache.Value{cache.Text("Yew"), cache.Number(40), cache.Text("d"), cache.Null(), cache.Null()}),
			"insert d _createdDate=now _updatedDate=now name=Yew price=40"},
		{"Removed", mustSnap(t, diffSchema, row("a", "Oak", 10, 1, 2), row("c", "Elm", 30, 2, 2)), "remove b"},
		{"PersonEditedUpdatedDate", mustSnap(t, diffSchema, row("a", "Oak", 11, 1, 9), row("b", "Ash", 20, 1, 3), row("c", "Elm", 30, 2, 2)),
			"update a _updatedDate=1970-01-10T00:00:00.000Z price=11"},
		{"PersonEditedCreatedDate", mustSnap(t, diffSchema, row("a", "Oak", 10, 7, 2), row("b", "Ash", 20, 1, 3), row("c", "Elm", 30, 2, 2)),
			"update a _createdDate=1970-01-08T00:00:00.000Z _updatedDate=now"},
		{"ColumnAdded", mustSnap(t, withColour, append(row("a", "Oak", 10, 1, 2), cache.Text("red")), append(row("b", "Ash", 20, 1, 3), cache.Null()), append(row("c", "Elm", 30, 2, 2), cache.Null())),
			"schema name:text,price:number,_id:text,_createdDate:datetime,_updatedDate:datetime,colour:text\nupdate a _updatedDate=now colour=red"},
		{"ColumnRemoved", mustSnap(t, noPrice,
			[]cache.Value{cache.Text("Oak"), cache.Text("a"), cache.Time(86400000), cache.Time(2 * 86400000)},
			[]cache.Value{cache.Text("Ash"), cache.Text("b"), cache.Time(86400000), cache.Time(3 * 86400000)},
			[]cache.Value{cache.Text("Elm"), cache.Text("c"), cache.Time(2 * 86400000), cache.Time(2 * 86400000)}),
			"schema name:text,_id:text,_createdDate:datetime,_updatedDate:datetime"},
		{"ColumnRetyped", mustSnap(t, other,
			[]cache.Value{cache.Text("Oak"), cache.Text("10"), cache.Text("a"), cache.Time(86400000), cache.Time(2 * 86400000)},
			[]cache.Value{cache.Text("Ash"), cache.Text("cheap"), cache.Text("b"), cache.Time(86400000), cache.Time(3 * 86400000)},
			[]cache.Value{cache.Text("Elm"), cache.Null(), cache.Text("c"), cache.Time(2 * 86400000), cache.Time(2 * 86400000)}),
			"schema name:text,price:text,_id:text,_createdDate:datetime,_updatedDate:datetime\nupdate a _updatedDate=now price=10\nupdate b _updatedDate=now price=cheap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, st := diffTables(base, tt.next, diffNow)
			if got := describe(cs); got != tt.want {
				t.Errorf("diff:\n%s\nwant:\n%s", got, tt.want)
			}
			if st.empty() != (tt.want == "") {
				t.Errorf("stats %+v for diff %q", st, tt.want)
			}
			// the change turns base into next
			store := cache.NewStore()
			table := tableOf(base)
			ctx := context.Background()
			if _, err := store.Commit(ctx, cache.ChangeSet{Collection: "c", Replace: &table}); err != nil {
				t.Fatal(err)
			}
			cs.Collection = "c"
			if _, err := store.Commit(ctx, cs); err != nil {
				t.Fatalf("applying the diff: %v", err)
			}
			got, _ := store.Snapshot("c")
			if g, w := contentOf(got, st.dated), contentOf(tt.next, st.dated); g != w {
				t.Errorf("base + diff:\n%s\nnext:\n%s", g, w)
			}
		})
	}
}

// tableOf returns a snapshot's columns as a table.
func tableOf(s *cache.Snapshot) cache.Table {
	cols := make([]*cache.Column, s.Schema().Len())
	for i := range cols {
		cols[i] = s.Column(i)
	}
	return cache.Table{Schema: s.Schema(), Columns: cols}
}

// contentOf renders every row by _id, with the dates the diff set to now shown as the file has
// them (so that base+diff can be compared with next).
func contentOf(s *cache.Snapshot, dated map[string]servedDates) string {
	id, _ := s.Schema().Index(cache.FieldID)
	var lines []string
	s.Rows(func(r cache.RowID) bool {
		var kv []string
		rowID := s.Value(r, id).Str()
		for i := 0; i < s.Schema().Len(); i++ {
			key, v := s.Schema().Field(i).Key, s.Value(r, i)
			if d, ok := dated[rowID]; ok && ((key == cache.FieldUpdatedDate && d.Updated != 0) || (key == cache.FieldCreatedDate && d.Created != 0)) {
				continue // served, not in the file
			}
			kv = append(kv, fmt.Sprintf("%s=%v/%v", key, v.Kind(), v))
		}
		sort.Strings(kv)
		lines = append(lines, strings.Join(kv, " "))
		return true
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestDiffTablesRandom edits random rows of a table spanning several chunks, in place and with
// inserts and removals, and checks that base plus the diff is next, and that the diff names
// exactly the rows that changed.
func TestDiffTablesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	n := 2*cache.ChunkSize + 300
	var baseRows [][]cache.Value
	for i := range n {
		baseRows = append(baseRows, row(fmt.Sprintf("id%05d", i), fmt.Sprintf("item %d", i%97), float64(i%50), 1, 2))
	}
	base := mustSnap(t, diffSchema, baseRows...)
	for round := range 20 {
		next := make([][]cache.Value, 0, n)
		changed := map[string]bool{}
		reorder := round%2 == 1
		for _, r := range baseRows {
			r := append([]cache.Value(nil), r...)
			switch rng.IntN(200) {
			case 0:
				r[1] = cache.Number(r[1].Num() + 1)
				changed[r[2].Str()] = true
			case 1:
				if reorder {
					changed[r[2].Str()] = true
					continue // removed
				}
			}
			next = append(next, r)
		}
		if reorder {
			rng.Shuffle(len(next), func(i, j int) { next[i], next[j] = next[j], next[i] })
			next = append(next, row(fmt.Sprintf("new%d", round), "new", 1, 3, 3))
			changed[fmt.Sprintf("new%d", round)] = true
		}
		nextSnap := mustSnap(t, diffSchema, next...)
		cs, _ := diffTables(base, nextSnap, diffNow)
		named := map[string]bool{}
		for _, id := range cs.Remove {
			named[id] = true
		}
		for _, it := range append(cs.Update, cs.Insert...) {
			named[it.ID()] = true
		}
		if len(named) != len(changed) {
			t.Fatalf("round %d: the diff names %d rows, %d changed", round, len(named), len(changed))
		}
		for id := range changed {
			if !named[id] {
				t.Fatalf("round %d: row %s changed but the diff does not name it", round, id)
			}
		}
	}
}
