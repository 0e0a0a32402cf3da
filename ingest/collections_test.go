package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/sheetsync/sheetsync/cache"
)

// fieldTypes returns a snapshot's fields as "key:type" in order.
func fieldTypes(s *cache.Snapshot) string {
	var out []string
	for i := 0; i < s.Schema().Len(); i++ {
		f := s.Schema().Field(i)
		out = append(out, f.Key+":"+f.Type.String())
	}
	return strings.Join(out, " ")
}

// trashed returns the names of the files in the state dir's trash.
func (h *folderTest) trashed() []string {
	entries, _ := os.ReadDir(filepath.Join(h.state, "trash"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestCreateCollection: a new collection is a new CSV file with its fields and the system
// fields, served at once with the declared types, also after a restart; bad ids, types and
// existing names are refused.
func TestCreateCollection(t *testing.T) {
	h := newFolderTest(t, map[string]string{"products.csv": productsV1}, withWriteBack)
	ctx := context.Background()
	fields := []cache.Field{{Key: "title", Type: cache.TypeText}, {Key: "price", Type: cache.TypeNumber},
		{Key: "due", Type: cache.TypeDateTime}, {Key: cache.FieldID, Type: cache.TypeText}}
	if err := h.f.CreateCollection(ctx, "orders", fields); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(h.path("orders.csv"))
	if want := "title,price,due,_id,_createdDate,_updatedDate,_owner\n"; string(got) != want {
		t.Errorf("orders.csv holds %q, want %q", got, want)
	}
	want := "title:text price:number due:datetime _id:text _createdDate:datetime _updatedDate:datetime _owner:text"
	if got := fieldTypes(h.snap("orders")); got != want {
		t.Errorf("orders served as %s, want %s", got, want)
	}
	h.apiCommit(cache.ChangeSet{Collection: "orders", Insert: []cache.Item{{cache.FieldID: cache.Text("o1"), "title": cache.Text("first"), "price": cache.Number(5)}}})
	h.waitFile("orders.csv", "title,price,due,_id,_createdDate,_updatedDate,_owner\nfirst,5,,o1,,,\n")

	for _, tt := range []struct {
		id     string
		fields []cache.Field
		want   error
	}{
		{"orders", fields, cache.ErrCollectionExists},
		{"products", fields, cache.ErrCollectionExists},
		{"bad/name", fields, new(cache.ValidationError)},
		{"pics", []cache.Field{{Key: "photo", Type: 0}}, new(cache.ValidationError)},
		{"pics", []cache.Field{{Key: "=x", Type: cache.TypeText}}, new(cache.ValidationError)},
		{"pics", []cache.Field{{Key: "a", Type: cache.TypeText}, {Key: "a", Type: cache.TypeText}}, new(cache.ValidationError)},
	} {
		err := h.f.CreateCollection(ctx, tt.id, tt.fields)
		var ve *cache.ValidationError
		if _, isVE := tt.want.(*cache.ValidationError); isVE && !errors.As(err, &ve) || !isVE && !errors.Is(err, tt.want) {
			t.Errorf("create %s %v: %v, want %T %v", tt.id, tt.fields, err, tt.want, tt.want)
		}
	}
	if _, err := os.Stat(h.path("pics.csv")); err == nil {
		t.Error("a refused create left a file")
	}

	// the declared types outlive a restart: price stays a number while it has no cell
	if err := h.f.CreateCollection(ctx, "empty", []cache.Field{{Key: "n", Type: cache.TypeNumber}}); err != nil {
		t.Fatal(err)
	}
	h.f.Close()
	again := openFolderTest(t, h.dir, h.state, h.clock)
	if got := fieldTypes(again.snap("empty")); !strings.HasPrefix(got, "n:number ") {
		t.Errorf("after a restart, empty is served as %s", got)
	}
}

// TestUpdateCollection: fields added become columns at the right (the system columns the file
// lacked are named first), removed fields leave the file (kept in the trash), a type change is
// made when every cell fits and refused, changing nothing, when one does not.
func TestUpdateCollection(t *testing.T) {
	h := newFolderTest(t, map[string]string{"products.csv": productsV1}, withWriteBack)
	ctx := context.Background()
	err := h.f.UpdateCollection(ctx, "products", []cache.Field{{Key: "name", Type: cache.TypeText},
		{Key: "price", Type: cache.TypeNumber}, {Key: "stock", Type: cache.TypeNumber}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(h.path("products.csv"))
	want := "_id,name,price,_createdDate,_updatedDate,_owner,stock\n" +
		"p1,Apple,1.5,2024-01-01T00:00:00.000Z,2024-01-02T00:00:00.000Z\n"
	if !strings.HasPrefix(string(got), want) {
		t.Errorf("after adding stock the file is\n%s", got)
	}
	if got := fieldTypes(h.snap("products")); !strings.Contains(got, "stock:number") {
		t.Errorf("served as %s", got)
	}

	// name to number: refused, nothing changes
	before, _ := os.ReadFile(h.path("products.csv"))
	err = h.f.UpdateCollection(ctx, "products", []cache.Field{{Key: "name", Type: cache.TypeNumber},
		{Key: "price", Type: cache.TypeNumber}, {Key: "stock", Type: cache.TypeNumber}})
	var sce *cache.SchemaChangeError
	if !errors.As(err, &sce) || len(sce.Fields) != 1 || sce.Fields[0].Key != "name" || !strings.Contains(sce.Fields[0].Message, "Apple") {
		t.Fatalf("retyping name to number: %v", err)
	}
	if after, _ := os.ReadFile(h.path("products.csv")); string(after) != string(before) {
		t.Error("a refused change changed the file")
	}

	// price to text (always fits), stock removed
	err = h.f.UpdateCollection(ctx, "products", []cache.Field{{Key: "name", Type: cache.TypeText}, {Key: "price", Type: cache.TypeText}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(h.path("products.csv"))
	if !strings.HasPrefix(string(got), "_id,name,price,_createdDate,_updatedDate,_owner\np1,Apple,1.5,") {
		t.Errorf("after removing stock the file is\n%s", got)
	}
	if got := fieldTypes(h.snap("products")); !strings.Contains(got, "price:text") || strings.Contains(got, "stock") {
		t.Errorf("served as %s", got)
	}
	if v := h.row("products", "p1")["price"]; v.Str() != "1.5" {
		t.Errorf("p1 price %v, want the text 1.5", v)
	}
	if n := len(h.trashed()); n != 1 {
		t.Errorf("%d files in the trash after removing a column, want 1", n)
	}
	if err := h.f.UpdateCollection(ctx, "nothing", nil); !errors.Is(err, cache.ErrCollectionNotFound) {
		t.Errorf("update of a missing collection: %v", err)
	}
}

// TestDeleteCollection: a CSV's file goes to the trash; a later sheet leaves its workbook,
// which keeps the other sheets; the first sheet of a workbook with others cannot go.
func TestDeleteCollection(t *testing.T) {
	h := newFolderTest(t, map[string]string{"products.csv": productsV1, "stock.xlsx": string(inventoryBook(t, nil))}, withWriteBack)
	ctx := context.Background()
	if err := h.f.DeleteCollection(ctx, "products"); err != nil {
		t.Fatal(err)
	}
	if h.snap("products") != nil {
		t.Error("products is still served")
	}
	if _, err := os.Stat(h.path("products.csv")); err == nil {
		t.Error("products.csv is still in the folder")
	}
	if trash := h.trashed(); len(trash) != 1 || !strings.HasSuffix(trash[0], "-products.csv") {
		t.Errorf("trash holds %v", trash)
	}
	var sce *cache.SchemaChangeError
	if err := h.f.DeleteCollection(ctx, "stock"); !errors.As(err, &sce) {
		t.Errorf("deleting the first sheet of two: %v", err)
	}
	if err := h.f.DeleteCollection(ctx, "stock-Staff"); err != nil {
		t.Fatal(err)
	}
	if h.snap("stock-Staff") != nil || h.snap("stock") == nil {
		t.Errorf("after deleting stock-Staff: %v", h.collections())
	}
	book, err := excelize.OpenFile(h.path("stock.xlsx"))
	mustXLSX(t, err)
	defer book.Close()
	if got := fmt.Sprint(book.GetSheetList()); got != "[Stock]" {
		t.Errorf("workbook sheets %s", got)
	}
	if err := h.f.DeleteCollection(ctx, "products"); !errors.Is(err, cache.ErrCollectionNotFound) {
		t.Errorf("deleting again: %v", err)
	}
	h.settle()
	eventually(t, time.Second, func() (bool, string) { return len(h.f.Problems()) == 0, fmt.Sprint(h.f.Problems()) })
}

// TestReferenceField: a field declared as a reference to another collection is a text column of
// ids, served with its Ref, also after a restart, and can become plain text again.
func TestReferenceField(t *testing.T) {
	h := newFolderTest(t, map[string]string{"products.csv": productsV1}, withWriteBack)
	ctx := context.Background()
	fields := []cache.Field{{Key: "product", Type: cache.TypeText, Ref: "products"}, {Key: "qty", Type: cache.TypeNumber}}
	if err := h.f.CreateCollection(ctx, "orders", fields); err != nil {
		t.Fatal(err)
	}
	ref := func(h *folderTest) string {
		f, _ := h.snap("orders").Schema().Lookup("product")
		return f.Ref
	}
	if got := ref(h); got != "products" {
		t.Fatalf("product refers to %q", got)
	}
	h.f.Close()
	h = openFolderTest(t, h.dir, h.state, h.clock, withWriteBack)
	if got := ref(h); got != "products" {
		t.Errorf("after a restart product refers to %q", got)
	}
	if err := h.f.UpdateCollection(ctx, "orders", []cache.Field{{Key: "product", Type: cache.TypeText}, {Key: "qty", Type: cache.TypeNumber}}); err != nil {
		t.Fatal(err)
	}
	if got := ref(h); got != "" {
		t.Errorf("after the update product still refers to %q", got)
	}
}
