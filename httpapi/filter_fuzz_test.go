package httpapi

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/query"
)

// decodeFilterSeeds are filters Wix sends, in the v3/legacy v2 Mongo-like form and in the old
// legacy v1 trees (spec v3 §9, legacy §9), plus the "no filter" spellings.
var decodeFilterSeeds = []string{
	``, `""`, `null`, `{}`, `[]`, `0`,
	`{"price": {"$gt": 10}}`,
	`{"$or": [{"category": "tools"}, {"price": {"$lt": 20}}]}`,
	`{"$and": [{"inStock": true}, {"$not": [{"category": {"$in": ["tools", "garden"]}}]}]}`,
	`{"_owner": {"$ne": "u-3"}, "released": {"$gte": {"$date": "2024-01-01T00:00:00.000Z"}}}`,
	`{"name": {"$contains": "ra", "$startsWith": "R", "$endsWith": "e"}}`,
	`{"tags": {"$hasSome": ["a", "b"]}, "tags2": {"$hasAll": ["c"]}}`,
	`{"note": {"$exists": false}, "n2": {"$isEmpty": true}, "n3": {"$isNotEmpty": false}}`,
	`{"slug": {"$matches": {"ignoreCase": true, "spec": [{"type": "literal", "value": "ab"}, {"type": "anyOf", "value": "-_ "}]}}}`,
	`{"title": {"$urlized": ["a", "b"]}}`,
	`{"title": {"$urlized": "a b"}}`,
	`{"price": {"$not": {"$gt": 5}}}`,
	`{"$not": {"price": 3}}`,
	`[{"a": 1}, {"b": null}]`,
	`{"operator": "$gt", "fieldName": "price", "value": 0}`,
	`{"operator": "$and", "value": [{"operator": "$ne", "fieldName": "category", "value": "tools"},
		{"operator": "$not", "value": {"operator": "$eq", "fieldName": "inStock", "value": true}}]}`,
	`{"operator": "$or", "value": [{"operator": "$in", "fieldName": "c", "value": ["x", 1, true, null]},
		{"operator": "$lt", "fieldName": "released", "value": {"$date": "2025-03-01T10:00:00Z"}}]}`,
	`{"operator": "$not", "value": [{"operator": "$contains", "fieldName": "name", "value": "a"}]}`,
	`{"operator": "$urlized", "fieldName": "t", "value": "a b c"}`,
	`{"$regex": "x"}`, `{"a": {"$regex": ".*"}}`, `{"a": {"$gt": 1, "b": 2}}`,
}

// FuzzDecodeFilter feeds decodeFilter arbitrary bytes. It must not panic; a failure is a
// *filterError (so errors.Is errBadFilter) with a message; a decoded filter keeps within the
// depth limit, decodes the same way twice, and survives a round trip through the v2 wire form
// (encodeFilterV2) with the same canonical key, so v1 trees and v2 objects mean the same thing.
func FuzzDecodeFilter(f *testing.F) {
	for _, s := range decodeFilterSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := decodeFilter(raw)
		if err != nil {
			checkFilterError(t, raw, err)
			return
		}
		if got == nil {
			return
		}
		if d := filterDepth(got); d > 3*(maxFilterDepth+2) {
			t.Fatalf("%s: decoded filter is %d levels deep, over the limit of %d", raw, d, maxFilterDepth)
		}
		key := query.Key(got)
		again, err := decodeFilter(raw)
		if err != nil || query.Key(again) != key {
			t.Fatalf("%s: second decoding differs: %v %q, first %q", raw, err, query.Key(again), key)
		}
		enc, ok := encodeFilterV2(got)
		if !ok {
			return // a v1 fieldName that v2 cannot spell
		}
		b, err := json.Marshal(enc)
		if err != nil {
			t.Fatalf("%s: encoding %#v: %v", raw, enc, err)
		}
		back, err := decodeFilter(b)
		if err != nil {
			var fe *filterError
			if errors.As(err, &fe) && (strings.Contains(fe.msg, "nested deeper") || strings.Contains(fe.msg, "more than")) {
				return // the v2 form of a v1 tree nests a little deeper
			}
			t.Fatalf("%s: its v2 form %s does not decode: %v", raw, b, err)
		}
		if k := query.Key(back); k != key {
			t.Fatalf("%s: round trip through %s changed the filter:\n got %s\nwant %s", raw, b, k, key)
		}
	})
}

func checkFilterError(t *testing.T, raw []byte, err error) {
	t.Helper()
	var fe *filterError
	if !errors.As(err, &fe) || !errors.Is(err, errBadFilter) {
		t.Fatalf("%s: error %T %v, want a *filterError", raw, err, err)
	}
	if fe.msg == "" || err.Error() == "" {
		t.Fatalf("%s: filter error without a message", raw)
	}
}

func filterDepth(f query.Filter) int {
	switch g := f.(type) {
	case query.And:
		return 1 + maxDepth(g)
	case query.Or:
		return 1 + maxDepth(g)
	case query.Not:
		return 1 + filterDepth(g.Filter)
	}
	return 1
}

func maxDepth(fs []query.Filter) int {
	d := 0
	for _, f := range fs {
		d = max(d, filterDepth(f))
	}
	return d
}

// encodeFilterV2 writes a decoded filter in the v3/legacy v2 wire form. ok is false for a
// condition on a field whose name v2 reads as an operator.
func encodeFilterV2(f query.Filter) (v any, ok bool) {
	list := func(fs []query.Filter) ([]any, bool) {
		out := make([]any, 0, len(fs))
		for _, g := range fs {
			e, ok := encodeFilterV2(g)
			if !ok {
				return nil, false
			}
			out = append(out, e)
		}
		return out, true
	}
	switch g := f.(type) {
	case query.And:
		items, ok := list(g)
		return map[string]any{"$and": items}, ok
	case query.Or:
		items, ok := list(g)
		return map[string]any{"$or": items}, ok
	case query.Not:
		inner, ok := encodeFilterV2(g.Filter)
		return map[string]any{"$not": []any{inner}}, ok
	case *query.Cond:
		if strings.HasPrefix(g.Field, "$") {
			return nil, false
		}
		var operand any
		switch g.Op {
		case query.OpIn, query.OpHasSome, query.OpHasAll:
			vals := make([]any, len(g.Values))
			for i, v := range g.Values {
				vals[i] = wireValue(v)
			}
			operand = vals
		case query.OpExists:
			operand = g.Value.Bool()
		case query.OpIsEmpty, query.OpIsNotEmpty:
			operand = true
		case query.OpMatches:
			spec := []any{}
			for _, s := range g.Pattern.Segments {
				typ := "literal"
				if s.AnyOf {
					typ = "anyOf"
				}
				spec = append(spec, map[string]any{"type": typ, "value": s.Text})
			}
			operand = map[string]any{"ignoreCase": g.Pattern.IgnoreCase, "spec": spec}
		case query.OpUrlized:
			operand = append([]string{}, g.Words...)
		default:
			operand = wireValue(g.Value)
		}
		return map[string]any{g.Field: map[string]any{g.Op.String(): operand}}, true
	}
	panic("unknown filter type " + reflect.TypeOf(f).String())
}

func wireValue(v cache.Value) any {
	switch v.Kind() {
	case cache.KindText:
		return v.Str()
	case cache.KindNumber:
		return v.Num()
	case cache.KindBool:
		return v.Bool()
	case cache.KindTime:
		return map[string]any{"$date": string(cache.AppendTime(nil, v.Millis()))}
	}
	return nil
}

// FuzzDecodeCursor feeds decodeCursor arbitrary text: a failure is a 400 *apiError with a
// message, and a cursor that decodes encodes to one that decodes to the same query.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(v3Cursor{Collection: "products", Filter: json.RawMessage(`{"price":{"$gt":10}}`),
		Sort: []v3Sort{{FieldName: "name", Order: "ASC"}}, Fields: []string{"name", "price"}, Offset: 2, Limit: 2}))
	f.Add(encodeCursor(v3Cursor{Collection: "products", Limit: 50}))
	f.Add(encodeCursor(v3Cursor{Collection: "orders", Offset: 1, Limit: 1}))
	f.Add("")
	f.Add("not a cursor")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s, "products")
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != 400 || ae.message == "" {
				t.Fatalf("%q: error %T %v, want a 400 *apiError", s, err, err)
			}
			return
		}
		if c.Collection != "products" || c.Offset < 0 || c.Limit < 0 {
			t.Fatalf("%q: accepted %+v", s, c)
		}
		enc := encodeCursor(*c)
		c2, err := decodeCursor(enc, "products")
		if err != nil {
			t.Fatalf("%q: re-encoded cursor %q does not decode: %v", s, enc, err)
		}
		if enc2 := encodeCursor(*c2); enc2 != enc {
			t.Fatalf("%q: round trip changed the cursor:\n%q\n%q", s, enc, enc2)
		}
	})
}
