package replica_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/sheetsync/sheetsync/cache"
)

// diffChange returns the first difference between two changes, or "" when they are the same.
// Same is stricter than cache.Value.Equal: numbers compare bit for bit (a NaN's payload, -0
// against 0), null differs from "", and an absent cell from a present empty one. A nil list
// or item is the same as an empty one: no change means anything different by them. Tables
// compare by cells, not by how the cache happened to chunk them.
func diffChange(got, want cache.ChangeSet) string {
	switch {
	case got.Collection != want.Collection:
		return fmt.Sprintf("collection %q, want %q", got.Collection, want.Collection)
	case got.Origin != want.Origin:
		return fmt.Sprintf("origin %+v, want %+v", got.Origin, want.Origin)
	case got.BaseVersion != want.BaseVersion:
		return fmt.Sprintf("base version %d, want %d", got.BaseVersion, want.BaseVersion)
	case got.Drop != want.Drop:
		return fmt.Sprintf("drop %v, want %v", got.Drop, want.Drop)
	case got.Truncate != want.Truncate:
		return fmt.Sprintf("truncate %v, want %v", got.Truncate, want.Truncate)
	case !slices.Equal(got.Remove, want.Remove):
		return fmt.Sprintf("remove %q, want %q", got.Remove, want.Remove)
	}
	if d := diffSchema(got.Schema, want.Schema); d != "" {
		return "schema: " + d
	}
	if d := diffItems(got.Update, want.Update); d != "" {
		return "update: " + d
	}
	if d := diffItems(got.Insert, want.Insert); d != "" {
		return "insert: " + d
	}
	if d := diffTable(got.Replace, want.Replace); d != "" {
		return "replace: " + d
	}
	return ""
}

func diffSchema(got, want *cache.Schema) string {
	switch {
	case got == nil && want == nil:
		return ""
	case got == nil || want == nil:
		return fmt.Sprintf("got %v, want %v", got != nil, want != nil)
	}
	if g, w := got.Fields(), want.Fields(); !slices.Equal(g, w) {
		return fmt.Sprintf("fields %+v, want %+v", g, w)
	}
	return ""
}

func diffItems(got, want []cache.Item) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d items, want %d", len(got), len(want))
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			return fmt.Sprintf("item %d: %d fields, want %d", i, len(got[i]), len(want[i]))
		}
		for k, w := range want[i] {
			g, ok := got[i][k]
			if !ok {
				return fmt.Sprintf("item %d: field %q missing", i, k)
			}
			if !sameValue(g, w) {
				return fmt.Sprintf("item %d: field %q is %s, want %s", i, k, describe(g), describe(w))
			}
		}
	}
	return ""
}

func diffTable(got, want *cache.Table) string {
	switch {
	case got == nil && want == nil:
		return ""
	case got == nil || want == nil:
		return fmt.Sprintf("got a table %v, want one %v", got != nil, want != nil)
	}
	if d := diffSchema(got.Schema, want.Schema); d != "" {
		return "schema: " + d
	}
	if len(got.Columns) != len(want.Columns) {
		return fmt.Sprintf("%d columns, want %d", len(got.Columns), len(want.Columns))
	}
	for f := range got.Columns {
		g, w := got.Columns[f], want.Columns[f]
		if g.Type() != w.Type() {
			return fmt.Sprintf("column %d is %s, want %s", f, g.Type(), w.Type())
		}
		gc, wc := cells(g), cells(w)
		if len(gc) != len(wc) {
			return fmt.Sprintf("column %d has %d cells, want %d", f, len(gc), len(wc))
		}
		for i := range gc {
			if !sameValue(gc[i], wc[i]) {
				return fmt.Sprintf("column %d, row %d: %s, want %s", f, i, describe(gc[i]), describe(wc[i]))
			}
		}
	}
	return ""
}

// cells returns a column's cells in order, read the way the cache reads them.
func cells(col *cache.Column) []cache.Value {
	out := make([]cache.Value, 0, col.Len())
	for c := range col.NumChunks() {
		for i := range col.Chunk(c).Len() {
			out = append(out, col.Value(cache.MakeRowID(c, i)))
		}
	}
	return out
}

func sameValue(a, b cache.Value) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	switch a.Kind() {
	case cache.KindText:
		return a.Str() == b.Str()
	case cache.KindNumber:
		return math.Float64bits(a.Num()) == math.Float64bits(b.Num())
	case cache.KindBool:
		return a.Bool() == b.Bool()
	case cache.KindTime:
		return a.Millis() == b.Millis()
	}
	return true
}

func describe(v cache.Value) string {
	switch v.Kind() {
	case cache.KindText:
		return fmt.Sprintf("text %q", v.Str())
	case cache.KindNumber:
		return fmt.Sprintf("number %v (%#016x)", v.Num(), math.Float64bits(v.Num()))
	case cache.KindBool:
		return fmt.Sprintf("boolean %v", v.Bool())
	case cache.KindTime:
		return fmt.Sprintf("datetime %d", v.Millis())
	}
	return "null"
}

// TestDiffChange checks that the helper the other tests trust sees the differences that
// matter, and none that do not.
func TestDiffChange(t *testing.T) {
	schema := cache.MustSchema(cache.Field{Key: "a", Type: cache.TypeNumber}, cache.Field{Key: "b", Type: cache.TypeText})
	table := func(a, b cache.Value) *cache.Table {
		t.Helper()
		na, nb := cache.NewColumnBuilder(cache.TypeNumber), cache.NewColumnBuilder(cache.TypeText)
		na.Append(a)
		nb.Append(b)
		return &cache.Table{Schema: schema, Columns: []*cache.Column{na.Build(), nb.Build()}}
	}
	nan1, nan2 := math.Float64frombits(0x7ff8000000000001), math.Float64frombits(0x7ff8000000000002)
	base := cache.ChangeSet{Collection: "c", Update: []cache.Item{{"x": cache.Number(nan1)}}}
	differ := []struct {
		name string
		a, b cache.ChangeSet
	}{
		{"NaN payload", base, cache.ChangeSet{Collection: "c", Update: []cache.Item{{"x": cache.Number(nan2)}}}},
		{"minus zero", cache.ChangeSet{Insert: []cache.Item{{"x": cache.Number(0)}}}, cache.ChangeSet{Insert: []cache.Item{{"x": cache.Number(math.Copysign(0, -1))}}}},
		{"null and empty text", cache.ChangeSet{Insert: []cache.Item{{"x": cache.Null()}}}, cache.ChangeSet{Insert: []cache.Item{{"x": cache.Text("")}}}},
		{"field left out and null", cache.ChangeSet{Update: []cache.Item{{}}}, cache.ChangeSet{Update: []cache.Item{{"x": cache.Null()}}}},
		{"origin path", cache.ChangeSet{Origin: cache.Origin{Path: "a"}}, cache.ChangeSet{Origin: cache.Origin{Path: "b"}}},
		{"read-only", cache.ChangeSet{Schema: cache.MustSchema(cache.Field{Key: "a", Type: cache.TypeText})}, cache.ChangeSet{Schema: cache.MustSchema(cache.Field{Key: "a", Type: cache.TypeText, ReadOnly: true})}},
		{"no schema", cache.ChangeSet{Schema: cache.MustSchema()}, cache.ChangeSet{}},
		{"absent and empty cell", cache.ChangeSet{Replace: table(cache.Null(), cache.Null())}, cache.ChangeSet{Replace: table(cache.Null(), cache.Text(""))}},
		{"cell NaN payload", cache.ChangeSet{Replace: table(cache.Number(nan1), cache.Null())}, cache.ChangeSet{Replace: table(cache.Number(nan2), cache.Null())}},
		{"no table", cache.ChangeSet{Replace: table(cache.Null(), cache.Null())}, cache.ChangeSet{}},
	}
	for _, tt := range differ {
		if diffChange(tt.a, tt.b) == "" || diffChange(tt.b, tt.a) == "" {
			t.Errorf("%s: no difference found", tt.name)
		}
	}
	same := []struct {
		name string
		a, b cache.ChangeSet
	}{
		{"nil and empty lists", cache.ChangeSet{Remove: []string{}, Update: []cache.Item{}}, cache.ChangeSet{}},
		{"nil and empty item", cache.ChangeSet{Insert: []cache.Item{nil}}, cache.ChangeSet{Insert: []cache.Item{{}}}},
		{"same NaN", base, base},
		{"equal tables", cache.ChangeSet{Replace: table(cache.Number(1), cache.Text(""))}, cache.ChangeSet{Replace: table(cache.Number(1), cache.Text(""))}},
	}
	for _, tt := range same {
		if d := diffChange(tt.a, tt.b); d != "" {
			t.Errorf("%s: %s", tt.name, d)
		}
	}
}
