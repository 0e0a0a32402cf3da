package query_test

import (
	"reflect"
	"testing"

	"github.com/sheetsync/sheetsync/query"
)

// TestIndexesReplace: one collection's definitions, taken from another replica, replace this
// one's: the same list (a FAILED index stays FAILED), the other collections untouched, an
// empty list drops them, and a bad definition changes nothing.
func TestIndexesReplace(t *testing.T) {
	snap := MustFixture(t)
	x := query.NewIndexes()
	for _, def := range []query.Index{
		{Name: "price", Fields: fields("-price")},
		{Name: "u_cat", Fields: fields("category"), Unique: true}, // the fixture repeats categories: FAILED
	} {
		if _, err := x.Create(snap, def); err != nil {
			t.Fatal(err)
		}
	}
	y := query.NewIndexes()
	if _, err := y.Create(snap, query.Index{Name: "sku", Fields: fields("sku")}); err != nil {
		t.Fatal(err)
	}
	if err := y.Replace(snap.Name(), x.Definitions(snap.Name())); err != nil {
		t.Fatal(err)
	}
	if got, want := y.List(snap), x.List(snap); !reflect.DeepEqual(got, want) {
		t.Errorf("after Replace:\n%+v\nwant\n%+v", got, want)
	}
	if err := y.Replace(snap.Name(), []query.Index{{Name: "bad"}}); err == nil {
		t.Error("Replace with a definition without fields: no error")
	}
	if got := len(y.List(snap)); got != 3 {
		t.Errorf("a failed Replace left %d indexes, want 3", got)
	}
	if err := y.Replace(snap.Name(), nil); err != nil {
		t.Fatal(err)
	}
	if got := y.Collections(); len(got) != 0 {
		t.Errorf("after Replace with none: collections with indexes %v", got)
	}
}
