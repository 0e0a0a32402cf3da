package query_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/query"
)

func fields(paths ...string) []query.IndexField {
	out := make([]query.IndexField, len(paths))
	for i, p := range paths {
		out[i] = query.IndexField{Path: p}
		if rest, ok := strings.CutPrefix(p, "-"); ok {
			out[i] = query.IndexField{Path: rest, Order: query.Desc}
		}
	}
	return out
}

func TestCreateIndex(t *testing.T) {
	snap := MustFixture(t)
	tests := []struct {
		name   string
		def    query.Index
		err    error
		detail string // part of the error message
	}{
		{"OK", query.Index{Name: "by_price", Fields: fields("price")}, nil, ""},
		{"OKCompound", query.Index{Name: "cat_price", Fields: fields("category", "-price"), CaseInsensitive: true}, nil, ""},
		{"OKLowerCaseOrder", query.Index{Name: "lower", Fields: []query.IndexField{{Path: "price", Order: "desc"}}}, nil, ""},
		{"ErrNoName", query.Index{Fields: fields("price")}, query.ErrInvalidIndex, "no name"},
		{"ErrNoFields", query.Index{Name: "x"}, query.ErrInvalidIndex, "no fields"},
		{"ErrEmptyPath", query.Index{Name: "x", Fields: fields("")}, query.ErrInvalidIndex, "empty path"},
		{"ErrUnknownField", query.Index{Name: "x", Fields: fields("colour")}, query.ErrInvalidIndex, `field "colour": invalid index: no such field`},
		{"ErrNestedPath", query.Index{Name: "x", Fields: fields("options.price")}, query.ErrInvalidIndex, "nested paths are not supported"},
		{"ErrFieldTwice", query.Index{Name: "x", Fields: fields("price", "-price")}, query.ErrInvalidIndex, "listed twice"},
		{"ErrBadOrder", query.Index{Name: "x", Fields: []query.IndexField{{Path: "price", Order: "UP"}}}, query.ErrInvalidIndex, `order "UP"`},
		{"ErrIDIndexName", query.Index{Name: query.IDIndexName, Fields: fields("price")}, query.ErrIndexExists, "built-in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := query.NewIndexes()
			got, err := x.Create(snap, tt.def)
			if !errors.Is(err, tt.err) || (err != nil && !strings.Contains(err.Error(), tt.detail)) {
				t.Fatalf("err = %v, want %v with %q", err, tt.err, tt.detail)
			}
			if err != nil {
				var ie *query.IndexError
				if !errors.As(err, &ie) || ie.Collection != "products" {
					t.Errorf("err = %#v, want an *IndexError naming the collection", err)
				}
				if n := len(x.List(snap)); n != 1 {
					t.Errorf("a refused index is listed: %d indexes", n)
				}
				return
			}
			if got.Status != query.StatusActive || got.Failure != nil {
				t.Errorf("status %s %v, want ACTIVE", got.Status, got.Failure)
			}
			for _, f := range got.Fields {
				if f.Order != query.Asc && f.Order != query.Desc {
					t.Errorf("order %q not normalised", f.Order)
				}
			}
		})
	}
}

func TestIndexLimits(t *testing.T) {
	snap := MustFixture(t)
	x := query.NewIndexes()
	create := func(name string, unique bool) error {
		_, err := x.Create(snap, query.Index{Name: name, Fields: fields("sku"), Unique: unique})
		return err
	}
	for i := range query.MaxRegularIndexes {
		if err := create(fmt.Sprint("r", i), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := create("r-extra", false); !errors.Is(err, query.ErrTooManyIndexes) || !strings.Contains(err.Error(), "10 regular") {
		t.Errorf("11th regular index: %v", err)
	}
	if err := create("r0", true); !errors.Is(err, query.ErrIndexExists) {
		t.Errorf("name in use: %v", err)
	}
	for i := range query.MaxUniqueIndexes {
		if err := create(fmt.Sprint("u", i), true); err != nil {
			t.Fatal(err)
		}
	}
	if err := create("u-extra", true); !errors.Is(err, query.ErrTooManyIndexes) || !strings.Contains(err.Error(), "at most 20") {
		t.Errorf("21st index: %v", err)
	}
	if err := x.Remove("products", "u3"); err != nil {
		t.Fatal(err)
	}
	if err := create("r-extra", false); !errors.Is(err, query.ErrTooManyIndexes) {
		t.Errorf("11th regular index with room in total: %v", err)
	}
	if err := create("u-again", true); err != nil {
		t.Errorf("unique index after a removal: %v", err)
	}
	// other collections have their own limits
	other, err := cache.FromRows("other", fixtureSchema, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Create(other, query.Index{Name: "r0", Fields: fields("sku")}); err != nil {
		t.Errorf("same name in another collection: %v", err)
	}
}

func TestListAndRemoveIndexes(t *testing.T) {
	snap := MustFixture(t)
	x := query.NewIndexes()
	for _, def := range []query.Index{
		{Name: "b", Fields: fields("price")},
		{Name: "a", Fields: fields("category"), Unique: true},
	} {
		if _, err := x.Create(snap, def); err != nil {
			t.Fatal(err)
		}
	}
	names := func() string {
		var out []string
		for _, ix := range x.List(snap) {
			out = append(out, fmt.Sprintf("%s:%s", ix.Name, ix.Status))
		}
		return strings.Join(out, " ")
	}
	// category repeats "furniture", so the unique index fails
	if got, want := names(), "_id_:ACTIVE b:ACTIVE a:FAILED"; got != want {
		t.Errorf("list = %s, want %s", got, want)
	}
	if err := x.Remove("products", "b"); err != nil {
		t.Fatal(err)
	}
	if err := x.Remove("products", "b"); !errors.Is(err, query.ErrIndexNotFound) {
		t.Errorf("remove twice: %v", err)
	}
	if err := x.Remove("products", query.IDIndexName); !errors.Is(err, query.ErrInvalidIndex) {
		t.Errorf("remove _id_: %v", err)
	}
	if got, want := names(), "_id_:ACTIVE a:FAILED"; got != want {
		t.Errorf("list = %s, want %s", got, want)
	}
	// a FAILED index gives way to a new one of its name
	if ix, err := x.Create(snap, query.Index{Name: "a", Fields: fields("sku"), Unique: true}); err != nil || ix.Status != query.StatusActive {
		t.Fatalf("re-create over FAILED: %v %v", ix.Status, err)
	}
	if got, want := names(), "_id_:ACTIVE a:ACTIVE"; got != want {
		t.Errorf("list = %s, want %s", got, want)
	}
	x.Drop("products")
	if got, want := names(), "_id_:ACTIVE"; got != want {
		t.Errorf("after drop: %s, want %s", got, want)
	}
}

func TestUniqueIndexOverDuplicates(t *testing.T) {
	snap := MustFixture(t)
	tests := []struct {
		name   string
		def    query.Index
		status query.Status
		msg    string
	}{
		{"Duplicated", query.Index{Name: "u", Fields: fields("category"), Unique: true}, query.StatusFailed,
			`cannot build unique index "u": items "a" and "b" both have category "furniture"`},
		{"Compound", query.Index{Name: "u", Fields: fields("category", "inStock"), Unique: true}, query.StatusActive, ""},
		{"EmptyCellsExempt", query.Index{Name: "u", Fields: fields("price"), Unique: true}, query.StatusActive, ""},
		{"CaseSensitive", query.Index{Name: "u", Fields: fields("name"), Unique: true}, query.StatusActive, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix, err := query.NewIndexes().Create(snap, tt.def)
			if err != nil {
				t.Fatal(err)
			}
			if ix.Status != tt.status {
				t.Fatalf("status = %s, want %s (%+v)", ix.Status, tt.status, ix.Failure)
			}
			if tt.status != query.StatusFailed {
				return
			}
			f := ix.Failure
			if f == nil || f.ErrorCode != "ITEM_ALREADY_EXISTS" || f.ErrorMessage != tt.msg {
				t.Fatalf("failure = %+v, want message %q", f, tt.msg)
			}
			if got := fmt.Sprint(f.Data["itemIds"], f.Data["values"], f.Data["fields"]); got != "[a b] [furniture] [category]" {
				t.Errorf("failure data = %s", got)
			}
		})
	}

	// case-insensitively, "Oak" and "oak" are one key
	rows, err := cache.FromRows("ci", fixtureSchema, [][]cache.Value{
		{txt("a"), txt("Oak"), null, null, null, null, null},
		{txt("b"), txt("oak"), null, null, null, null, null},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ci := range []bool{false, true} {
		ix, err := query.NewIndexes().Create(rows, query.Index{Name: "u", Fields: fields("name"), Unique: true, CaseInsensitive: ci})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]query.Status{false: query.StatusActive, true: query.StatusFailed}[ci]; ix.Status != want {
			t.Errorf("caseInsensitive %t: status %s, want %s", ci, ix.Status, want)
		}
	}
}

func TestIndexesPersist(t *testing.T) {
	snap := MustFixture(t)
	x := query.NewIndexes()
	for _, def := range []query.Index{
		{Name: "price", Fields: fields("-price")},
		{Name: "u_cat", Fields: fields("category"), Unique: true},
		{Name: "u_name", Fields: fields("name", "sku"), Unique: true, CaseInsensitive: true},
	} {
		if _, err := x.Create(snap, def); err != nil {
			t.Fatal(err)
		}
	}
	data, err := x.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	y := query.NewIndexes()
	if err := y.Load(data); err != nil {
		t.Fatal(err)
	}
	got, want := y.List(snap), x.List(snap)
	if !reflect.DeepEqual(got[:2], want[:2]) || !reflect.DeepEqual(got[3], want[3]) {
		t.Errorf("after load:\n%+v\nwant\n%+v", got, want)
	}
	// JSON gives the failure's data back as []any for []string: compare it as JSON
	gj, _ := json.Marshal(got[2])
	wj, _ := json.Marshal(want[2])
	if string(gj) != string(wj) || got[2].Status != query.StatusFailed {
		t.Errorf("failed index after load:\n%s\nwant\n%s", gj, wj)
	}
	// a loaded index serves queries
	defer query.SetIndexPolicy(1, 1)()
	page, ok, err := (&query.Engine{Indexes: y}).FindIndexed(context.Background(), snap, query.Query{
		Filter: cond("price", query.OpGt, num(50)), Sort: []query.Sort{{Field: "price"}}, Limit: 10})
	if err != nil || !ok || len(page.Rows) != 2 {
		t.Errorf("query on a loaded index: %v %v %v", page, ok, err)
	}

	for _, bad := range []string{`{`, `{"version":2,"collections":{}}`,
		`{"version":1,"collections":{"products":[{"name":"x","fields":[]}]}}`} {
		if err := y.Load([]byte(bad)); err == nil {
			t.Errorf("Load(%s): no error", bad)
		}
	}
	if len(y.List(snap)) != 4 {
		t.Error("a failed Load changed the indexes")
	}
}

// TestIndexesConcurrent exercises the registry from many goroutines while the collection
// changes; run it with -race.
func TestIndexesConcurrent(t *testing.T) {
	g := &ixGen{rng: rand.New(rand.NewPCG(9, 9))}
	store := cache.NewStore()
	first := g.snapshot(t, cache.ChunkSize+500)
	ctx := context.Background()
	if _, err := store.Commit(ctx, cache.ChangeSet{Collection: "ix", Replace: &cache.Table{Schema: ixSchema, Columns: columnsOf(first)}}); err != nil {
		t.Fatal(err)
	}
	x := query.NewIndexes()
	snap, _ := store.Snapshot("ix")
	for _, def := range ixDefs[:4] {
		if _, err := x.Create(snap, def); err != nil {
			t.Fatal(err)
		}
	}
	var changes []cache.ChangeSet
	for range 30 {
		cs := g.change(snap)
		next, err := snap.Apply(cs)
		if err != nil {
			t.Fatal(err)
		}
		changes, snap = append(changes, cs), next
	}
	var queries []query.Query
	for range 200 {
		queries = append(queries, g.query(snap))
	}

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	wg.Add(1)
	go func() { // the writer
		defer wg.Done()
		for _, cs := range changes {
			if _, err := store.Commit(ctx, cs); err != nil {
				errs <- err
				return
			}
		}
	}()
	for w := range 4 {
		wg.Add(1)
		go func() { // readers, comparing with the scan
			defer wg.Done()
			plain, indexed := &query.Engine{}, &query.Engine{Indexes: x}
			for i := w; i < len(queries); i += 4 {
				s, _ := store.Snapshot("ix")
				want, err := plain.Find(ctx, s, queries[i])
				if err != nil {
					errs <- err
					return
				}
				got, err := indexed.Find(ctx, s, queries[i])
				if err != nil {
					errs <- err
					return
				}
				if got.Total != want.Total || fmt.Sprint(got.Rows) != fmt.Sprint(want.Rows) {
					errs <- fmt.Errorf("%s: got %v, want %v", queries[i].Key(), got, want)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // index admin and unique checks
		defer wg.Done()
		for i := range 20 {
			s, _ := store.Snapshot("ix")
			name := fmt.Sprint("extra", i%3)
			_ = x.Remove("ix", name)
			if _, err := x.Create(s, query.Index{Name: name, Fields: fields("qty", "-num")}); err != nil {
				errs <- err
				return
			}
			_ = x.List(s)
			if _, err := x.Marshal(); err != nil {
				errs <- err
				return
			}
			if err := x.CheckUnique(s, cache.ChangeSet{Insert: []cache.Item{g.item()}}); err != nil && !errors.Is(err, query.ErrDuplicateKey) {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// columnsOf returns the columns of snap, whose rows are all live.
func columnsOf(snap *cache.Snapshot) []*cache.Column {
	cols := make([]*cache.Column, snap.Schema().Len())
	for i := range cols {
		cols[i] = snap.Column(i)
	}
	return cols
}
