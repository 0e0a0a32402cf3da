package cache_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/sheetsync/sheetsync/cache"
)

var testSchema = cache.MustSchema(
	cache.Field{Key: "name", Type: cache.TypeText},
	cache.Field{Key: "price", Type: cache.TypeNumber},
	cache.Field{Key: "inStock", Type: cache.TypeBoolean},
	cache.Field{Key: "launch", Type: cache.TypeDateTime},
	cache.Field{Key: "category", Type: cache.TypeText},
	cache.Field{Key: cache.FieldID, Type: cache.TypeText},
)

// MustStore returns a store holding one collection of n generated rows.
func MustStore(tb testing.TB, name string, n int) *cache.Store {
	tb.Helper()
	s := cache.NewStore()
	var items []cache.Item
	for i := range n {
		items = append(items, genItem(i))
	}
	if _, err := s.Commit(context.Background(), cache.ChangeSet{Collection: name,
		Replace: &cache.Table{Schema: testSchema, Columns: emptyColumns(testSchema)}, Insert: items}); err != nil {
		tb.Fatal(err)
	}
	return s
}

func emptyColumns(s *cache.Schema) []*cache.Column {
	cols := make([]*cache.Column, s.Len())
	for i := range cols {
		cols[i] = cache.NewColumnBuilder(s.Field(i).Type).Build()
	}
	return cols
}

func genItem(i int) cache.Item {
	it := cache.Item{
		cache.FieldID: cache.Text(fmt.Sprintf("id-%06d", i)),
		"name":        cache.Text(fmt.Sprintf("Product %d", i)),
		"price":       cache.Number(float64(i%500) + 0.5),
		"inStock":     cache.Bool(i%3 != 0),
		"launch":      cache.Time(int64(i) * 86400000),
		"category":    cache.Text([]string{"tools", "garden", "kitchen"}[i%3]),
	}
	if i%7 == 0 {
		delete(it, "name") // some empty cells
	}
	return it
}

// dump renders a snapshot as sorted lines "id: field=value ...", to compare with a model.
func dump(snap *cache.Snapshot) []string {
	var out []string
	snap.Rows(func(r cache.RowID) bool {
		var b strings.Builder
		row := snap.Row(r)
		id, _ := snap.Schema().Index(cache.FieldID)
		b.WriteString(row[id].Str() + ":")
		for i, v := range row {
			if !v.IsNull() && i != id {
				fmt.Fprintf(&b, " %s=%s", snap.Schema().Field(i).Key, v)
			}
		}
		out = append(out, b.String())
		return true
	})
	sort.Strings(out)
	return out
}

func modelDump(m map[string]cache.Item) []string {
	var out []string
	for id, it := range m {
		var b strings.Builder
		b.WriteString(id + ":")
		for i := 0; i < testSchema.Len(); i++ {
			k := testSchema.Field(i).Key
			if v, ok := it[k]; ok && !v.IsNull() && k != cache.FieldID {
				fmt.Fprintf(&b, " %s=%s", k, v)
			}
		}
		out = append(out, b.String())
	}
	sort.Strings(out)
	return out
}

func TestStoreSnapshotsAreImmutable(t *testing.T) {
	ctx := context.Background()
	s := MustStore(t, "products", 10000)
	before, _ := s.Snapshot("products")
	want := dump(before)
	_, err := s.Commit(ctx, cache.ChangeSet{Collection: "products",
		Update: []cache.Item{{cache.FieldID: cache.Text("id-000005"), "price": cache.Number(1)}},
		Remove: []string{"id-000006"},
		Insert: []cache.Item{{cache.FieldID: cache.Text("new"), "name": cache.Text("New")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := s.Snapshot("products")
	if got := dump(before); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatal("a commit changed an older snapshot")
	}
	if after.Version() <= before.Version() {
		t.Errorf("version went from %d to %d", before.Version(), after.Version())
	}
	if after.Len() != before.Len() {
		t.Errorf("Len = %d, want %d (one removed, one added)", after.Len(), before.Len())
	}
	r, ok := after.Lookup("id-000005")
	price, _ := after.Schema().Index("price")
	if !ok || after.Value(r, price).Num() != 1 {
		t.Errorf("update not applied")
	}
	if _, ok := after.Lookup("id-000006"); ok {
		t.Error("removed row still found")
	}
	if _, ok := before.Lookup("id-000006"); !ok {
		t.Error("removed row gone from the old snapshot")
	}
}

func TestStoreCommitErrors(t *testing.T) {
	ctx := context.Background()
	s := MustStore(t, "products", 10)
	snap, _ := s.Snapshot("products")
	tests := []struct {
		name string
		cs   cache.ChangeSet
		want error
	}{
		{"ErrCollectionNotFound", cache.ChangeSet{Collection: "nope", Remove: []string{"x"}}, cache.ErrCollectionNotFound},
		{"ErrDropMissing", cache.ChangeSet{Collection: "nope", Drop: true}, cache.ErrCollectionNotFound},
		{"ErrItemNotFoundRemove", cache.ChangeSet{Collection: "products", Remove: []string{"missing"}}, cache.ErrItemNotFound},
		{"ErrItemNotFoundUpdate", cache.ChangeSet{Collection: "products", Update: []cache.Item{{cache.FieldID: cache.Text("missing")}}}, cache.ErrItemNotFound},
		{"ErrDuplicateID", cache.ChangeSet{Collection: "products", Insert: []cache.Item{{cache.FieldID: cache.Text("id-000001")}}}, cache.ErrDuplicateID},
		{"ErrDuplicateInBatch", cache.ChangeSet{Collection: "products", Insert: []cache.Item{{cache.FieldID: cache.Text("a")}, {cache.FieldID: cache.Text("a")}}}, cache.ErrDuplicateID},
		{"ErrVersionConflict", cache.ChangeSet{Collection: "products", BaseVersion: snap.Version() + 1, Remove: []string{"id-000001"}}, cache.ErrVersionConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Commit(ctx, tt.cs); !errors.Is(err, tt.want) {
				t.Errorf("Commit = %v, want %v", err, tt.want)
			}
			if now, _ := s.Snapshot("products"); now != snap {
				t.Error("a failed commit changed the collection")
			}
		})
	}
	var ve *cache.ValidationError
	bad := []cache.ChangeSet{
		{Collection: "products", Insert: []cache.Item{{cache.FieldID: cache.Text("z"), "price": cache.Text("cheap")}}},
		{Collection: "products", Insert: []cache.Item{{cache.FieldID: cache.Text("z"), "nope": cache.Text("x")}}},
		{Collection: "products", Insert: []cache.Item{{"name": cache.Text("no id")}}},
		{Collection: "products", Update: []cache.Item{{cache.FieldID: cache.Text("id-000001"), "launch": cache.Number(3)}}},
	}
	for i, cs := range bad {
		if _, err := s.Commit(ctx, cs); !errors.As(err, &ve) {
			t.Errorf("bad change %d: err = %v, want a ValidationError", i, err)
		}
	}
	if _, err := s.Commit(ctx, cache.ChangeSet{Collection: "products", BaseVersion: snap.Version(), Remove: []string{"id-000001"}}); err != nil {
		t.Errorf("commit at the current base version: %v", err)
	}
}

func TestStoreDropAndTruncate(t *testing.T) {
	ctx := context.Background()
	s := MustStore(t, "products", 100)
	if _, err := s.Commit(ctx, cache.ChangeSet{Collection: "products", Truncate: true,
		Insert: []cache.Item{{cache.FieldID: cache.Text("id-000001")}}}); err != nil {
		t.Fatal(err)
	}
	snap, _ := s.Snapshot("products")
	if snap.Len() != 1 {
		t.Errorf("after truncate and one insert, Len = %d", snap.Len())
	}
	if _, err := s.Commit(ctx, cache.ChangeSet{Collection: "products", Drop: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Snapshot("products"); !errors.Is(err, cache.ErrCollectionNotFound) {
		t.Errorf("dropped collection: err = %v", err)
	}
	if len(s.Collections()) != 0 {
		t.Error("Collections still lists the dropped collection")
	}
}

// TestStoreRandomChanges applies random inserts, updates and removals and compares every
// snapshot with a plain map, through chunk boundaries, dead slots and compaction.
func TestStoreRandomChanges(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	s := MustStore(t, "c", 0)
	model := map[string]cache.Item{}
	next := 0
	rounds := 300
	if testing.Short() {
		rounds = 60
	}
	for round := 0; round < rounds; round++ {
		var cs cache.ChangeSet
		cs.Collection = "c"
		ids := make([]string, 0, len(model))
		for id := range model {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		removed := map[string]bool{}
		for _, id := range ids[:min(len(ids), rng.IntN(300))] {
			cs.Remove = append(cs.Remove, id)
			removed[id] = true
		}
		for _, id := range ids[len(cs.Remove):min(len(ids), len(cs.Remove)+rng.IntN(50))] {
			cs.Update = append(cs.Update, cache.Item{cache.FieldID: cache.Text(id), "price": cache.Number(float64(round)), "name": cache.Null()})
		}
		for range rng.IntN(700) {
			it := genItem(next)
			next++
			cs.Insert = append(cs.Insert, it)
		}
		if _, err := s.Commit(ctx, cs); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for _, id := range cs.Remove {
			delete(model, id)
		}
		for _, up := range cs.Update {
			it := model[up.ID()]
			for k, v := range up {
				it[k] = v
			}
		}
		for _, it := range cs.Insert {
			model[it.ID()] = it
		}
		snap, _ := s.Snapshot("c")
		if snap.Len() != len(model) {
			t.Fatalf("round %d: Len = %d, model has %d", round, snap.Len(), len(model))
		}
		if round%25 == 0 || round == rounds-1 {
			got, want := dump(snap), modelDump(model)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("round %d: snapshot differs from the model", round)
			}
			for id := range model {
				if _, ok := snap.Lookup(id); !ok {
					t.Fatalf("round %d: Lookup(%q) failed", round, id)
				}
			}
		}
		for id := range removed {
			if _, ok := snap.Lookup(id); ok {
				t.Fatalf("round %d: removed id %q still found", round, id)
			}
		}
	}
}

func TestNewSnapshotChecks(t *testing.T) {
	schema := cache.MustSchema(cache.Field{Key: cache.FieldID, Type: cache.TypeText}, cache.Field{Key: "n", Type: cache.TypeNumber})
	_, err := cache.FromRows("c", schema, [][]cache.Value{{cache.Text("a"), cache.Number(1)}, {cache.Text("a"), cache.Number(2)}})
	if !errors.Is(err, cache.ErrDuplicateID) {
		t.Errorf("duplicate ids: err = %v", err)
	}
	_, err = cache.FromRows("c", schema, [][]cache.Value{{cache.Null(), cache.Number(1)}})
	var ve *cache.ValidationError
	if !errors.As(err, &ve) {
		t.Errorf("row without _id: err = %v", err)
	}
	if _, err := cache.NewSchema([]cache.Field{{Key: cache.FieldID, Type: cache.TypeNumber}}); !errors.As(err, &ve) {
		t.Errorf("_id as a number: err = %v", err)
	}
	if _, err := cache.NewSchema([]cache.Field{{Key: "a", Type: cache.TypeText}, {Key: "a", Type: cache.TypeText}}); !errors.As(err, &ve) {
		t.Errorf("duplicate keys: err = %v", err)
	}
}

func TestTextColumnDictionary(t *testing.T) {
	// a categorical column becomes dictionary-encoded; a unique one stays plain
	n := 3 * cache.ChunkSize
	data := make([][]byte, 3)
	offs := make([][]uint32, 3)
	present := make([]uint64, (n+63)/64)
	for i := range n {
		k := i / cache.ChunkSize
		if offs[k] == nil {
			offs[k] = []uint32{0}
		}
		data[k] = append(data[k], []string{"tools", "garden", "kitchen", ""}[i%4]...)
		offs[k] = append(offs[k], uint32(len(data[k])))
		if i%4 != 3 {
			present[i/64] |= 1 << (i % 64)
		}
	}
	col := cache.NewTextColumnChunks(data, offs, present)
	for c := 0; c < col.NumChunks(); c++ {
		if dict, _ := col.Chunk(c).Dict(); dict == nil {
			t.Errorf("chunk %d not dictionary-encoded", c)
		}
	}
	for _, i := range []int{0, 1, 2, 3, n - 1} {
		got := col.Value(cache.MakeRowID(i/cache.ChunkSize, i%cache.ChunkSize))
		want := []string{"tools", "garden", "kitchen", ""}[i%4]
		if got.Str() != want || got.IsNull() != (want == "") {
			t.Errorf("cell %d = %v, want %q", i, got, want)
		}
	}
}

func BenchmarkCommitUpdateOneRow(b *testing.B) {
	ctx := context.Background()
	s := MustStore(b, "c", 1_000_000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("id-%06d", (i*7919)%1_000_000)
		if _, err := s.Commit(ctx, cache.ChangeSet{Collection: "c", Update: []cache.Item{{cache.FieldID: cache.Text(id), "price": cache.Number(float64(i))}}}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCommitInsertOneRow(b *testing.B) {
	ctx := context.Background()
	s := MustStore(b, "c", 1_000_000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		it := genItem(2_000_000 + i)
		if _, err := s.Commit(ctx, cache.ChangeSet{Collection: "c", Insert: []cache.Item{it}}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStoreSchemaChange(t *testing.T) {
	ctx := context.Background()
	s := MustStore(t, "c", 3*cache.ChunkSize)
	before, _ := s.Snapshot("c")
	// drop category, add colour, and make price text
	next := cache.MustSchema(
		cache.Field{Key: "name", Type: cache.TypeText},
		cache.Field{Key: "price", Type: cache.TypeText},
		cache.Field{Key: "inStock", Type: cache.TypeBoolean},
		cache.Field{Key: "launch", Type: cache.TypeDateTime},
		cache.Field{Key: "colour", Type: cache.TypeText},
		cache.Field{Key: cache.FieldID, Type: cache.TypeText},
	)
	_, err := s.Commit(ctx, cache.ChangeSet{Collection: "c", Schema: next, Update: []cache.Item{
		{cache.FieldID: cache.Text("id-000001"), "price": cache.Text("cheap"), "colour": cache.Text("red")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := s.Snapshot("c")
	if snap.Schema() != next || snap.Len() != before.Len() {
		t.Fatalf("schema or length not applied")
	}
	r, _ := snap.Lookup("id-000001")
	get := func(r cache.RowID, key string) cache.Value {
		i, _ := snap.Schema().Index(key)
		return snap.Value(r, i)
	}
	if get(r, "price").Str() != "cheap" || get(r, "colour").Str() != "red" || get(r, "name").Str() != "Product 1" {
		t.Errorf("row after the change: %v", snap.Row(r))
	}
	r2, _ := snap.Lookup("id-000002")
	if !get(r2, "price").IsNull() || !get(r2, "colour").IsNull() || get(r2, "name").Str() != "Product 2" {
		t.Errorf("an untouched row: %v", snap.Row(r2))
	}
	// the new empty column answers queries and takes writes like any other
	if _, err := s.Commit(ctx, cache.ChangeSet{Collection: "c", Update: []cache.Item{{cache.FieldID: cache.Text("id-000002"), "colour": cache.Text("blue")}}}); err != nil {
		t.Fatal(err)
	}
	noID := cache.MustSchema(cache.Field{Key: "name", Type: cache.TypeText})
	var ve *cache.ValidationError
	if _, err := s.Commit(ctx, cache.ChangeSet{Collection: "c", Schema: noID}); !errors.As(err, &ve) {
		t.Errorf("dropping _id from a collection with items: %v", err)
	}
}

func TestNewSnapshotLike(t *testing.T) {
	ctx := context.Background()
	s := MustStore(t, "c", 2*cache.ChunkSize+10)
	like, _ := s.Snapshot("c")
	table := func(snap *cache.Snapshot) cache.Table {
		cols := make([]*cache.Column, snap.Schema().Len())
		for i := range cols {
			cols[i] = snap.Column(i)
		}
		return cache.Table{Schema: snap.Schema(), Columns: cols}
	}
	// same ids in the same places: lookups work through the shared index
	same, err := cache.NewSnapshotLike("c", table(like), like)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"id-000000", "id-004100", "id-008201"} {
		r, ok := same.Lookup(id)
		idx, _ := same.Schema().Index(cache.FieldID)
		if !ok || same.Value(r, idx).Str() != id {
			t.Errorf("Lookup(%q) through a shared index: %v %v", id, r, ok)
		}
	}
	// different ids: the index is built again, and a change to the first snapshot's successor
	// leaves the shared one intact
	if _, err := s.Commit(ctx, cache.ChangeSet{Collection: "c", Remove: []string{"id-000000"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := same.Lookup("id-000000"); !ok {
		t.Error("a commit on the store changed an index shared with another snapshot")
	}
	shifted := MustStore(t, "c", 2*cache.ChunkSize+10) // the same ids, one place further on
	if _, err := shifted.Commit(ctx, cache.ChangeSet{Collection: "c", Truncate: true, Insert: append([]cache.Item{genItem(99999)}, itemsOf(2*cache.ChunkSize+10)...)}); err != nil {
		t.Fatal(err)
	}
	moved, _ := shifted.Snapshot("c")
	other, err := cache.NewSnapshotLike("c", table(moved), like)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"id-099999", "id-000000", "id-008201"} {
		r, ok := other.Lookup(id)
		idx, _ := other.Schema().Index(cache.FieldID)
		if !ok || other.Value(r, idx).Str() != id {
			t.Errorf("Lookup(%q) after the rows moved: %v %v (the index must not be shared)", id, r, ok)
		}
	}
}

func itemsOf(n int) []cache.Item {
	items := make([]cache.Item, n)
	for i := range items {
		items[i] = genItem(i)
	}
	return items
}

// TestStoreListen: listeners see every commit, in order, with the snapshot it made, and a
// failed commit is not reported.
func TestStoreListen(t *testing.T) {
	s := cache.NewStore()
	var seen []cache.Committed
	s.Listen(func(c cache.Committed) { seen = append(seen, c) })
	ctx := context.Background()
	schema, err := cache.NewSchema([]cache.Field{{Key: cache.FieldID, Type: cache.TypeText}})
	if err != nil {
		t.Fatal(err)
	}
	table := cache.Table{Schema: schema, Columns: emptyColumns(schema)}
	if _, err := s.Commit(ctx, cache.ChangeSet{Collection: "a", Replace: &table}); err != nil {
		t.Fatal(err)
	}
	v, err := s.Commit(ctx, cache.ChangeSet{Collection: "a", Origin: cache.Origin{Kind: cache.OriginAPI}, Insert: []cache.Item{{cache.FieldID: cache.Text("x")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, cache.ChangeSet{Collection: "a", Insert: []cache.Item{{cache.FieldID: cache.Text("x")}}}); err == nil {
		t.Fatal("a duplicate id was committed")
	}
	if _, err := s.Commit(ctx, cache.ChangeSet{Collection: "a", Drop: true}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 {
		t.Fatalf("saw %d commits, want 3", len(seen))
	}
	if c := seen[1]; c.Version != v || c.Change.Origin.Kind != cache.OriginAPI || c.Snapshot.Len() != 1 || c.Snapshot.Version() != v {
		t.Errorf("insert seen as version %d origin %v, want %d api with one row", c.Version, c.Change.Origin.Kind, v)
	}
	if !seen[2].Change.Drop || seen[2].Snapshot != nil {
		t.Errorf("drop seen as %+v", seen[2])
	}
}
