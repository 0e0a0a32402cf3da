package query_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/query"
)

func item(id string, kv ...any) cache.Item {
	it := cache.Item{cache.FieldID: txt(id)}
	for i := 0; i < len(kv); i += 2 {
		it[kv[i].(string)] = kv[i+1].(cache.Value)
	}
	return it
}

// uniqueFixture is MustFixture with unique indexes on sku, on name case-insensitively, and on
// (category, inStock).
func uniqueFixture(t *testing.T) (*cache.Snapshot, *query.Indexes) {
	t.Helper()
	snap := MustFixture(t)
	x := query.NewIndexes()
	for _, def := range []query.Index{
		{Name: "u_sku", Fields: fields("sku"), Unique: true},
		{Name: "u_name", Fields: fields("name"), Unique: true, CaseInsensitive: true},
		{Name: "u_cat_stock", Fields: fields("category", "-inStock"), Unique: true},
		{Name: "price", Fields: fields("price")}, // not unique: never checked
	} {
		if ix, err := x.Create(snap, def); err != nil || ix.Status != query.StatusActive {
			t.Fatalf("%s: %v %v", def.Name, ix.Failure, err)
		}
	}
	return snap, x
}

func TestCheckUnique(t *testing.T) {
	// rows: a Oak Table furniture 120 true 00123 | b oak chair furniture 45.5 false 00456 |
	// c Linen Cushion textiles 19.9 true 01000 | d Brass Lamp lighting 89 true (no sku) |
	// e (no name) garden (no stock) 99999 | f Ünïcode Ößé decor 0 false Text
	tests := []struct {
		name string
		cs   cache.ChangeSet
		want string // "" or the *UniqueError: index, item, existing
	}{
		{"InsertNew", cache.ChangeSet{Insert: []cache.Item{item("g", "sku", txt("777"), "name", txt("New"))}}, ""},
		{"InsertDuplicate", cache.ChangeSet{Insert: []cache.Item{item("g", "sku", txt("00456"))}}, "u_sku g b"},
		{"InsertDuplicateCaseFolded", cache.ChangeSet{Insert: []cache.Item{item("g", "name", txt("LINEN cushion"))}}, "u_name g c"},
		{"InsertCaseDiffersOnCaseSensitive", cache.ChangeSet{Insert: []cache.Item{item("g", "sku", txt("text"))}}, ""},
		{"InsertEmptyCellsExempt", cache.ChangeSet{Insert: []cache.Item{item("g"), item("h"), item("i", "category", txt("garden"))}}, ""},
		{"InsertCompoundPartial", cache.ChangeSet{Insert: []cache.Item{item("g", "category", txt("furniture"))}}, ""},
		{"InsertCompoundDuplicate", cache.ChangeSet{Insert: []cache.Item{item("g", "category", txt("furniture"), "inStock", no)}}, "u_cat_stock g b"},
		{"BatchDuplicate", cache.ChangeSet{Insert: []cache.Item{item("g", "sku", txt("5")), item("h", "sku", txt("6")), item("i", "sku", txt("5"))}}, "u_sku i g"},
		{"BatchDuplicateCaseFolded", cache.ChangeSet{Insert: []cache.Item{item("g", "name", txt("Zed")), item("h", "name", txt("zED"))}}, "u_name h g"},
		{"UpdateOntoAnother", cache.ChangeSet{Update: []cache.Item{item("a", "sku", txt("01000"))}}, "u_sku a c"},
		{"UpdateKeepsOwn", cache.ChangeSet{Update: []cache.Item{item("a", "sku", txt("00123"), "name", txt("OAK TABLE"))}}, ""},
		{"UpdateOtherField", cache.ChangeSet{Update: []cache.Item{item("b", "price", num(1))}}, ""},
		{"UpdateCompoundFromRow", cache.ChangeSet{Update: []cache.Item{item("a", "inStock", no)}}, "u_cat_stock a b"},
		{"UpdateSwap", cache.ChangeSet{Update: []cache.Item{item("a", "sku", txt("00456")), item("b", "sku", txt("00123"))}}, ""},
		{"UpdateThenInsertSame", cache.ChangeSet{Update: []cache.Item{item("a", "sku", txt("9"))}, Insert: []cache.Item{item("g", "sku", txt("9"))}}, "u_sku g a"},
		{"UpdateFreesForInsert", cache.ChangeSet{Update: []cache.Item{item("a", "sku", txt("9"))}, Insert: []cache.Item{item("g", "sku", txt("00123"))}}, ""},
		{"RemoveFrees", cache.ChangeSet{Remove: []string{"b"}, Insert: []cache.Item{item("g", "sku", txt("00456"))}}, ""},
		{"UpdateToEmpty", cache.ChangeSet{Update: []cache.Item{item("a", "sku", null), item("b", "sku", null)}}, ""},
		{"TruncateFreesAll", cache.ChangeSet{Truncate: true, Insert: []cache.Item{item("g", "sku", txt("00456"))}}, ""},
		{"TruncateBatchDuplicate", cache.ChangeSet{Truncate: true, Insert: []cache.Item{item("g", "sku", txt("1")), item("h", "sku", txt("1"))}}, "u_sku h g"},
		{"WrongKindLeftToStore", cache.ChangeSet{Insert: []cache.Item{item("g", "sku", num(123))}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap, x := uniqueFixture(t)
			tt.cs.Collection = "products"
			err := x.CheckUnique(snap, tt.cs)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var ue *query.UniqueError
			if !errors.As(err, &ue) || !errors.Is(err, query.ErrDuplicateKey) {
				t.Fatalf("err = %v, want a *UniqueError", err)
			}
			if got := fmt.Sprintf("%s %s %s", ue.Index, ue.ItemID, ue.ExistingID); got != tt.want {
				t.Errorf("got %s, want %s (%v)", got, tt.want, err)
			}
		})
	}
}

func TestUniqueErrorMessage(t *testing.T) {
	snap, x := uniqueFixture(t)
	err := x.CheckUnique(snap, cache.ChangeSet{Insert: []cache.Item{item("g", "category", txt("furniture"), "inStock", yes)}})
	want := `collection products: unique index "u_cat_stock": item "g" would repeat (category, inStock) ("furniture", true) of item "a"`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
	err = x.CheckUnique(snap, cache.ChangeSet{Insert: []cache.Item{item("g", "sku", txt("00123"))}})
	if err == nil || !strings.Contains(err.Error(), `item "g" would repeat sku "00123" of item "a"`) {
		t.Errorf("err = %v", err)
	}
}

// TestCheckUniqueAfterCommits checks that enforcement follows the collection through commits
// (its index is derived version after version), and that FAILED indexes enforce nothing.
func TestCheckUniqueAfterCommits(t *testing.T) {
	snap, x := uniqueFixture(t)
	store := cache.NewStore()
	ctx := context.Background()
	if _, err := store.Commit(ctx, cache.ChangeSet{Collection: "products", Replace: &cache.Table{Schema: fixtureSchema, Columns: columnsOf(snap)}}); err != nil {
		t.Fatal(err)
	}
	commit := func(cs cache.ChangeSet) error {
		cs.Collection = "products"
		cur, _ := store.Snapshot("products")
		if err := x.CheckUnique(cur, cs); err != nil {
			return err
		}
		cs.BaseVersion = cur.Version()
		_, err := store.Commit(ctx, cs)
		return err
	}
	steps := []struct {
		cs      cache.ChangeSet
		wantErr bool
	}{
		{cache.ChangeSet{Insert: []cache.Item{item("g", "sku", txt("A-1"))}}, false},
		{cache.ChangeSet{Insert: []cache.Item{item("h", "sku", txt("A-1"))}}, true},
		{cache.ChangeSet{Update: []cache.Item{item("b", "sku", txt("A-1"))}}, true},
		{cache.ChangeSet{Remove: []string{"g"}}, false},
		{cache.ChangeSet{Update: []cache.Item{item("b", "sku", txt("A-1"))}}, false},
		{cache.ChangeSet{Insert: []cache.Item{item("g", "sku", txt("00456"))}}, false}, // b moved off it
		{cache.ChangeSet{Insert: []cache.Item{item("i", "sku", txt("A-1"))}}, true},
	}
	for i, s := range steps {
		err := commit(s.cs)
		if (err != nil) != s.wantErr || (err != nil && !errors.Is(err, query.ErrDuplicateKey)) {
			t.Fatalf("step %d: err = %v, want error %t", i, err, s.wantErr)
		}
	}
	failed, err := x.Create(snap, query.Index{Name: "u_price_cat", Fields: fields("category"), Unique: true})
	if err != nil || failed.Status != query.StatusFailed {
		t.Fatalf("%v %v", failed.Status, err)
	}
	cur, _ := store.Snapshot("products")
	if err := x.CheckUnique(cur, cache.ChangeSet{Insert: []cache.Item{item("z", "category", txt("decor"))}}); err != nil {
		t.Errorf("a FAILED index enforced: %v", err)
	}
}
