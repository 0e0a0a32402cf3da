package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// The products fixture, as the filter cases below read it:
//
//	_id  name                   price  inStock  released                  sku    category  note
//	p-1  Chisel                 38.5   true     2024-05-01T09:00:00Z      00123  tools     -
//	p-2  Rake "XL"              12     false    2023-01-15                00456  garden    "two\nlines"
//	p-3  Crème brûlée torch 🔥   24.99  true     -                         01000  kitchen   "=SUM(A1:A2)"
//	p-4  Hammer                 -      true     2022-12-31T23:59:59.999Z  00789  tools     "Ünïcödé ✓"
//	p-5  hoe                    9      -        2021-03-03T10:00:00Z      -      garden    -
//	p-6  Red Oak Table          1500   false    2020-02-29                00042  -         Café, "the best"
//
// _createdDate runs from 2024-05-01 (p-1) down to 2020-02-29 (p-6); _owner is u-1, u-2, u-1, -,
// u-2, u-3.
var allProducts = []string{"p-1", "p-2", "p-3", "p-4", "p-5", "p-6"}

// filterCase is a filter in one of the wire forms and what it must select from products, or the
// error it must get (spec v3 §9, legacy §9).
type filterCase struct {
	name   string
	filter string
	ids    []string // wanted ids, in _id order; nil with code set means an error

	code string // wanted v3 errorCode
	msg  string // a substring of the message
	prop string // for FIELD_DOESNT_EXIST: the wanted data.propertyName
}

func ids(s ...string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// nested returns a filter of depth n: $and inside $and inside ... around one condition.
func nested(n int) string {
	return strings.Repeat(`{"$and": [`, n) + `{"price": {"$gt": 1}}` + strings.Repeat(`]}`, n)
}

// nestedNot returns a field-level $not chain of depth n.
func nestedNot(n int) string {
	return `{"price": ` + strings.Repeat(`{"$not": `, n) + `{"$gt": 1}` + strings.Repeat(`}`, n) + `}`
}

// longList returns {"price": {"op": [0, 1, ..., n-1]}}.
func longList(op string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"price": {%q: [`, op)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, i)
	}
	b.WriteString("]}}")
	return b.String()
}

// manyOr returns {"$or": [n conditions]}.
func manyOr(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"price": %d}`, i)
	}
	return `{"$or": [` + strings.Join(parts, ",") + `]}`
}

var filterCases = []filterCase{
	// The "no filter" spellings (legacy §9.2, §13.25; spec v3 §9.1).
	{name: "Absent", filter: "", ids: allProducts},
	{name: "Null", filter: `null`, ids: allProducts},
	{name: "EmptyString", filter: `""`, ids: allProducts},
	{name: "EmptyObject", filter: `{}`, ids: allProducts},
	{name: "EmptyList", filter: `[]`, ids: allProducts},
	{name: "Number", filter: `555`, ids: allProducts},

	// v3 / legacy v2 Mongo-like form: short form equality.
	{name: "ShortText", filter: `{"category": "tools"}`, ids: ids("p-1", "p-4")},
	{name: "ShortNumber", filter: `{"price": 12}`, ids: ids("p-2")},
	{name: "ShortBool", filter: `{"inStock": true}`, ids: ids("p-1", "p-3", "p-4")},
	{name: "ShortDate", filter: `{"released": {"$date": "2020-02-29T00:00:00.000Z"}}`, ids: ids("p-6")},
	{name: "ShortCaseSensitive", filter: `{"name": "HOE"}`, ids: ids()},
	{name: "ShortQuotes", filter: `{"name": "Rake \"XL\""}`, ids: ids("p-2")},
	{name: "ShortUnicode", filter: `{"name": "Crème brûlée torch 🔥"}`, ids: ids("p-3")},
	{name: "ShortNewline", filter: `{"note": "two\nlines"}`, ids: ids("p-2")},
	{name: "ShortApostropheDropped", filter: `{"note": "=SUM(A1:A2)"}`, ids: ids("p-3")},
	{name: "ShortNoMatch", filter: `{"_id": "wrong"}`, ids: ids()},

	// Operator objects.
	{name: "Eq", filter: `{"price": {"$eq": 9}}`, ids: ids("p-5")},
	{name: "EqID", filter: `{"_id": {"$eq": "p-3"}}`, ids: ids("p-3")},
	{name: "NeIncludesMissing", filter: `{"category": {"$ne": "tools"}}`, ids: ids("p-2", "p-3", "p-5", "p-6")},
	{name: "NeBool", filter: `{"inStock": {"$ne": true}}`, ids: ids("p-2", "p-5", "p-6")},
	{name: "Gt", filter: `{"price": {"$gt": 20}}`, ids: ids("p-1", "p-3", "p-6")},
	{name: "Lte", filter: `{"price": {"$lte": 9}}`, ids: ids("p-5")},
	{name: "GtText", filter: `{"name": {"$gt": "a"}}`, ids: ids("p-5")},
	{name: "GtBool", filter: `{"inStock": {"$gt": false}}`, ids: ids("p-1", "p-3", "p-4")},
	{name: "LtBool", filter: `{"inStock": {"$lt": true}}`, ids: ids("p-2", "p-6")},
	{name: "LtTextMissingExcluded", filter: `{"category": {"$lt": "h"}}`, ids: ids("p-2", "p-5")},
	{name: "LtTextCodePoint", filter: `{"name": {"$lt": "D"}}`, ids: ids("p-1", "p-3")},
	{name: "GteDate", filter: `{"released": {"$gte": {"$date": "2023-01-01T00:00:00Z"}}}`, ids: ids("p-1", "p-2")},
	{name: "LtDateISOString", filter: `{"released": {"$lt": "2021-01-01"}}`, ids: ids("p-6")},
	{name: "DateOffset", filter: `{"released": {"$date": "2021-03-03T12:00:00+02:00"}}`, ids: ids("p-5")},
	{name: "SystemDate", filter: `{"_createdDate": {"$gte": {"$date": "2022-07-04T12:00:00.000Z"}}}`, ids: ids("p-1", "p-2", "p-3")},

	// Several keys, several operators: AND (spec v3 §9.1, §13.14).
	{name: "SeveralKeys", filter: `{"category": "tools", "inStock": true, "price": {"$gt": 30}}`, ids: ids("p-1")},
	{name: "SeveralOperators", filter: `{"price": {"$gte": 12, "$lt": 38.5}}`, ids: ids("p-2", "p-3")},
	{name: "SeveralOperatorsEmpty", filter: `{"price": {"$gt": 100, "$lt": 10}}`, ids: ids()},

	// $and, $or, $not.
	{name: "And", filter: `{"$and": [{"category": "garden"}, {"price": {"$lt": 10}}]}`, ids: ids("p-5")},
	{name: "AndEmpty", filter: `{"$and": []}`, ids: allProducts},
	{name: "AndOfEmpty", filter: `{"$and": [{}, {"category": "kitchen"}]}`, ids: ids("p-3")},
	{name: "Or", filter: `{"$or": [{"category": "kitchen"}, {"price": {"$gt": 100}}]}`, ids: ids("p-3", "p-6")},
	{name: "OrOfOne", filter: `{"$or": [{"price": 9}]}`, ids: ids("p-5")},
	{name: "NotObject", filter: `{"$not": {"category": "tools"}}`, ids: ids("p-2", "p-3", "p-5", "p-6")},
	{name: "NotOneElementList", filter: `{"$not": [{"category": "tools"}]}`, ids: ids("p-2", "p-3", "p-5", "p-6")},
	{name: "NotManyElementList", filter: `{"$not": [{"inStock": true}, {"price": {"$gt": 30}}]}`, ids: ids("p-2", "p-3", "p-4", "p-5", "p-6")},
	{name: "NotBesideField", filter: `{"$not": [{"price": {"$gt": 20}}], "category": "tools"}`, ids: ids("p-4")},
	{name: "FieldNot", filter: `{"price": {"$not": {"$gt": 20}}}`, ids: ids("p-2", "p-4", "p-5")},
	{name: "FieldNotValue", filter: `{"category": {"$not": "garden"}}`, ids: ids("p-1", "p-3", "p-4", "p-6")},
	{name: "FieldNotBesideOperator", filter: `{"price": {"$not": {"$gt": 20}, "$gte": 10}}`, ids: ids("p-2")},
	{name: "Nested", filter: `{"$or": [
		{"$and": [{"category": "tools"}, {"$not": [{"price": {"$exists": true}}]}]},
		{"name": {"$startsWith": "red"}}
	]}`, ids: ids("p-4", "p-6")},
	{name: "DepthAtLimit", filter: nested(32), ids: ids("p-1", "p-2", "p-3", "p-5", "p-6")},

	// null is "is empty", $ne null "is not empty" (spec v3 §9.1).
	{name: "NullIsEmpty", filter: `{"price": null}`, ids: ids("p-4")},
	{name: "NullIsEmptyText", filter: `{"category": null}`, ids: ids("p-6")},
	{name: "EqNull", filter: `{"_owner": {"$eq": null}}`, ids: ids("p-4")},
	{name: "NeNull", filter: `{"price": {"$ne": null}}`, ids: ids("p-1", "p-2", "p-3", "p-5", "p-6")},
	{name: "IsEmpty", filter: `{"sku": {"$isEmpty": true}}`, ids: ids("p-5")},
	{name: "IsNotEmpty", filter: `{"note": {"$isNotEmpty": true}}`, ids: ids("p-2", "p-3", "p-4", "p-6")},
	{name: "IsEmptyFalse", filter: `{"price": {"$isEmpty": false}}`, ids: ids("p-1", "p-2", "p-3", "p-5", "p-6")},

	// List operators.
	{name: "In", filter: `{"_id": {"$in": ["p-1", "p-3", "nope"]}}`, ids: ids("p-1", "p-3")},
	{name: "InMixedTypes", filter: `{"price": {"$in": ["12", 12, 9]}}`, ids: ids("p-2", "p-5")},
	{name: "InNull", filter: `{"price": {"$in": [null, 9]}}`, ids: ids("p-4", "p-5")},
	{name: "InEmpty", filter: `{"price": {"$in": []}}`, ids: ids()},
	{name: "InDates", filter: `{"released": {"$in": [{"$date": "2023-01-15T00:00:00.000Z"}, "2020-02-29"]}}`, ids: ids("p-2", "p-6")},
	{name: "InAtLimit", filter: longList("$in", 10000), ids: ids("p-2", "p-5", "p-6")},
	{name: "HasSome", filter: `{"category": {"$hasSome": ["garden", "kitchen"]}}`, ids: ids("p-2", "p-3", "p-5")},
	{name: "HasSomeBool", filter: `{"inStock": {"$hasSome": [false]}}`, ids: ids("p-2", "p-6")},
	{name: "InBoth", filter: `{"inStock": {"$in": [true, false]}}`, ids: ids("p-1", "p-2", "p-3", "p-4", "p-6")},
	{name: "HasAllOne", filter: `{"category": {"$hasAll": ["tools"]}}`, ids: ids("p-1", "p-4")},
	{name: "HasAllTwo", filter: `{"category": {"$hasAll": ["tools", "garden"]}}`, ids: ids()},
	{name: "ExistsTrue", filter: `{"note": {"$exists": true}}`, ids: ids("p-2", "p-3", "p-4", "p-6")},
	{name: "ExistsFalse", filter: `{"note": {"$exists": false}}`, ids: ids("p-1", "p-5")},

	// Text matches: case-insensitive (spec v3 §9.2).
	{name: "Contains", filter: `{"name": {"$contains": "ak"}}`, ids: ids("p-2", "p-6")},
	{name: "ContainsUpper", filter: `{"name": {"$contains": "RAKE"}}`, ids: ids("p-2")},
	{name: "ContainsUnicodeFold", filter: `{"name": {"$contains": "CRÈME"}}`, ids: ids("p-3")},
	{name: "ContainsQuote", filter: `{"note": {"$contains": "\"the"}}`, ids: ids("p-6")},
	{name: "StartsWith", filter: `{"name": {"$startsWith": "h"}}`, ids: ids("p-4", "p-5")},
	{name: "StartsWithTextNumber", filter: `{"sku": {"$startsWith": "00"}}`, ids: ids("p-1", "p-2", "p-4", "p-6")},
	{name: "EndsWith", filter: `{"name": {"$endsWith": "TABLE"}}`, ids: ids("p-6")},
	{name: "EndsWithEmoji", filter: `{"name": {"$endsWith": "🔥"}}`, ids: ids("p-3")},
	{name: "Matches", filter: `{"name": {"$matches": {"ignoreCase": true, "spec": [
		{"type": "literal", "value": "red"}, {"type": "anyOf", "value": " \t\n-"},
		{"type": "literal", "value": "oak"}, {"type": "anyOf", "value": " \t\n-"},
		{"type": "literal", "value": "table"}
	]}}}`, ids: ids("p-6")},
	{name: "MatchesWhole", filter: `{"name": {"$matches": {"ignoreCase": true, "spec": [{"type": "literal", "value": "red"}]}}}`, ids: ids()},
	{name: "MatchesCase", filter: `{"name": {"$matches": {"ignoreCase": false, "spec": [{"type": "literal", "value": "hoe"}]}}}`, ids: ids("p-5")},
	{name: "UrlizedList", filter: `{"name": {"$urlized": ["red", "oak"]}}`, ids: ids("p-6")},
	{name: "UrlizedString", filter: `{"name": {"$urlized": "oak-table"}}`, ids: ids("p-6")},

	// Legacy v1 trees, recognised by shape (legacy §9.3).
	{name: "V1Eq", filter: `{"operator": "$eq", "fieldName": "category", "value": "tools"}`, ids: ids("p-1", "p-4")},
	{name: "V1KindIgnored", filter: `{"kind": "filter", "operator": "$gt", "fieldName": "price", "value": 20}`, ids: ids("p-1", "p-3", "p-6")},
	{name: "V1And", filter: `{"operator": "$and", "value": [
		{"operator": "$eq", "fieldName": "category", "value": "garden"},
		{"operator": "$lt", "fieldName": "price", "value": 10}
	]}`, ids: ids("p-5")},
	{name: "V1Or", filter: `{"operator": "$or", "value": [
		{"operator": "$eq", "fieldName": "category", "value": "kitchen"},
		{"kind": "filter", "operator": "$gt", "fieldName": "price", "value": 100}
	]}`, ids: ids("p-3", "p-6")},
	{name: "V1Not", filter: `{"operator": "$not", "value": {"operator": "$eq", "fieldName": "category", "value": "tools"}}`, ids: ids("p-2", "p-3", "p-5", "p-6")},
	{name: "V1Date", filter: `{"operator": "$gte", "fieldName": "_createdDate", "value": {"$date": "2023-01-01T00:00:00.000Z"}}`, ids: ids("p-1", "p-2")},
	{name: "V1DateString", filter: `{"operator": "$lt", "fieldName": "released", "value": "2021-01-01T00:00:00.000Z"}`, ids: ids("p-6")},
	{name: "V1HasSome", filter: `{"operator": "$hasSome", "fieldName": "_id", "value": ["p-2", "p-6"]}`, ids: ids("p-2", "p-6")},
	{name: "V1InsideV2", filter: `{"$and": [{"operator": "$eq", "fieldName": "category", "value": "tools"}, {"inStock": true}]}`, ids: ids("p-1", "p-4")},
	{name: "V1NullValue", filter: `{"operator": "$eq", "fieldName": "price", "value": null}`, ids: ids("p-4")},

	// Rejections: each names the problem (DESIGN §7).
	{name: "ErrUnknownOperator", filter: `{"price": {"$foo": 1}}`, code: "VALIDATION_ERROR", msg: "unknown operator $foo"},
	{name: "ErrUnknownTopOperator", filter: `{"$nor": [{"price": 1}]}`, code: "VALIDATION_ERROR", msg: "unknown operator $nor"},
	{name: "ErrRegex", filter: `{"name": {"$regex": "^C"}}`, code: "VALIDATION_ERROR", msg: "$regex is not supported"},
	{name: "ErrInNotList", filter: `{"price": {"$in": 5}}`, code: "VALIDATION_ERROR", msg: "$in takes a list, got a number"},
	{name: "ErrHasAllNotList", filter: `{"category": {"$hasAll": "tools"}}`, code: "VALIDATION_ERROR", msg: "$hasAll takes a list, got text"},
	{name: "ErrHasSomeEmpty", filter: `{"price": {"$hasSome": []}}`, code: "VALIDATION_ERROR", msg: "$hasSome cannot have an empty list"},
	{name: "ErrInObjectElement", filter: `{"price": {"$in": [1, {"a": 1}]}}`, code: "VALIDATION_ERROR", msg: "price.$in[1]: expected text, a number, a boolean, null or {\"$date\": ...}, got an object"},
	{name: "ErrExistsNotBool", filter: `{"note": {"$exists": "yes"}}`, code: "VALIDATION_ERROR", msg: "$exists takes true or false, got text"},
	{name: "ErrMatchesNoSpec", filter: `{"name": {"$matches": {"ignoreCase": true}}}`, code: "VALIDATION_ERROR", msg: "$matches needs a spec list"},
	{name: "ErrMatchesNotObject", filter: `{"name": {"$matches": "red"}}`, code: "VALIDATION_ERROR", msg: "$matches takes {\"ignoreCase\": bool, \"spec\": [...]}, got text"},
	{name: "ErrMatchesSegmentType", filter: `{"name": {"$matches": {"spec": [{"type": "regex", "value": "a"}]}}}`, code: "VALIDATION_ERROR", msg: `expected "literal" or "anyOf", got regex`},
	{name: "ErrMatchesTooLong", filter: `{"name": {"$matches": {"spec": [{"type": "literal", "value": "` + strings.Repeat("a", 1025) + `"}]}}}`, code: "VALIDATION_ERROR", msg: "$matches pattern longer than 1024 bytes"},
	{name: "ErrMatchesNumberField", filter: `{"price": {"$matches": {"spec": [{"type": "literal", "value": "1"}]}}}`, code: "VALIDATION_ERROR", msg: "applies to text fields"},
	{name: "ErrUrlizedNotWords", filter: `{"name": {"$urlized": [1]}}`, code: "VALIDATION_ERROR", msg: "expected a word"},
	{name: "ErrObjectValue", filter: `{"name": {"first": "Chisel"}}`, code: "VALIDATION_ERROR", msg: `name: expected text, a number, a boolean, null or {"$date": ...}, got an object`},
	{name: "ErrListValue", filter: `{"name": ["Chisel"]}`, code: "VALIDATION_ERROR", msg: "got a list"},
	{name: "ErrObjectOperand", filter: `{"name": {"$eq": {"first": "Chisel"}}}`, code: "VALIDATION_ERROR", msg: "got an object"},
	{name: "ErrMixedKeys", filter: `{"price": {"$gt": 1, "max": 5}}`, code: "VALIDATION_ERROR", msg: `cannot mix operators and plain keys in the condition on "price"`},
	{name: "ErrBadDate", filter: `{"released": {"$gt": {"$date": "yesterday"}}}`, code: "VALIDATION_ERROR", msg: `$date "yesterday" is not an ISO 8601 date-time`},
	{name: "ErrBadDateShort", filter: `{"released": {"$date": "2023-02-30T00:00:00Z"}}`, code: "VALIDATION_ERROR", msg: "is not an ISO 8601 date-time"},
	{name: "ErrDateNotString", filter: `{"released": {"$date": 1700000000}}`, code: "VALIDATION_ERROR", msg: "is not an ISO 8601 date-time"},
	{name: "ErrDepth", filter: nested(33), code: "VALIDATION_ERROR", msg: "nested deeper than 32 levels"},
	{name: "ErrDepthFieldNot", filter: nestedNot(40), code: "VALIDATION_ERROR", msg: "nested deeper than 32 levels"},
	{name: "ErrListTooLong", filter: longList("$in", 10001), code: "VALIDATION_ERROR", msg: "$in lists at most 10000 values, got 10001"},
	{name: "ErrHasSomeTooLong", filter: longList("$hasSome", 10001), code: "VALIDATION_ERROR", msg: "$hasSome lists at most 10000 values, got 10001"},
	{name: "ErrOrTooLong", filter: manyOr(10001), code: "VALIDATION_ERROR", msg: "10000"},
	{name: "ErrNotEmptyList", filter: `{"$not": []}`, code: "VALIDATION_ERROR", msg: "$not needs a filter"},
	{name: "ErrNotNumber", filter: `{"$not": 5}`, code: "VALIDATION_ERROR", msg: "$not needs a filter, got a number"},
	{name: "ErrAndNotList", filter: `{"$and": 5}`, code: "VALIDATION_ERROR", msg: "$and: expected a list of filters, got a number"},
	{name: "ErrOrElementNotObject", filter: `{"$or": ["tools"]}`, code: "VALIDATION_ERROR", msg: "$or[0]: expected an object, got text"},
	{name: "ErrContainsNumber", filter: `{"name": {"$contains": 5}}`, code: "VALIDATION_ERROR", msg: "$contains takes text, got a number"},
	{name: "ErrContainsOnNumber", filter: `{"price": {"$contains": "1"}}`, code: "VALIDATION_ERROR", msg: "applies to text fields, and price is number"},
	{name: "ErrWrongValueType", filter: `{"price": "cheap"}`, code: "VALIDATION_ERROR", msg: `price is a number field, got text "cheap"`},
	{name: "ErrWrongValueTypeBool", filter: `{"inStock": {"$eq": "yes"}}`, code: "VALIDATION_ERROR", msg: "inStock is a boolean field"},
	{name: "ErrDateFieldText", filter: `{"released": {"$gt": "last year"}}`, code: "VALIDATION_ERROR", msg: "released is a datetime field"},
	{name: "ErrCompareNull", filter: `{"price": {"$gt": null}}`, code: "VALIDATION_ERROR", msg: "cannot compare with null"},
	{name: "ErrUnknownField", filter: `{"colour": "red"}`, code: "FIELD_DOESNT_EXIST", msg: `field "colour" does not exist in collection "products"`, prop: "colour"},
	{name: "ErrUnknownFieldNested", filter: `{"$or": [{"price": 1}, {"$not": {"weight": {"$gt": 1}}}]}`, code: "FIELD_DOESNT_EXIST", msg: "weight", prop: "weight"},
	{name: "ErrV1NoFieldName", filter: `{"operator": "$eq", "value": 1}`, code: "VALIDATION_ERROR", msg: "$eq needs a fieldName"},
	{name: "ErrV1AndNotList", filter: `{"operator": "$and", "value": {"operator": "$eq", "fieldName": "price", "value": 1}}`, code: "VALIDATION_ERROR", msg: "$and takes a list of nodes, got an object"},
	{name: "ErrV1UnknownOperator", filter: `{"operator": "$like", "fieldName": "name", "value": "C%"}`, code: "VALIDATION_ERROR", msg: "unknown operator $like"},
	{name: "ErrV1UnknownField", filter: `{"operator": "$eq", "fieldName": "colour", "value": "red"}`, code: "FIELD_DOESNT_EXIST", msg: "colour", prop: "colour"},
}

// TestFilter runs every filter case through the four endpoints that take a filter on their own
// (v3 query and count, legacy find and count), which share one decoder: each must select the
// same items or fail the same way, in its protocol's shape.
func TestFilter(t *testing.T) {
	s := MustOpenServer(t, openConfig(), nil)
	for _, tc := range filterCases {
		t.Run(tc.name, func(t *testing.T) {
			filter := json.RawMessage(tc.filter)
			if tc.filter == "" {
				filter = nil
			}
			t.Run("V3Query", func(t *testing.T) {
				q := map[string]any{"fields": []string{"_id"}, "sort": []map[string]string{{"fieldName": "_id"}}, "paging": map[string]int{"limit": 1000}}
				if filter != nil {
					q["filter"] = filter
				}
				r := s.PostJSON(t, "/v3/items/query", map[string]any{"collectionId": "products", "query": q, "returnTotalCount": true})
				if tc.code != "" {
					checkFilterError(t, tc, r)
					return
				}
				got, total := v3IDs(t, r)
				if !slices.Equal(got, tc.ids) || total != len(tc.ids) {
					t.Fatalf("got %q (total %d), want %q", got, total, tc.ids)
				}
			})
			t.Run("V3Count", func(t *testing.T) {
				req := map[string]any{"collectionId": "products"}
				if filter != nil {
					req["filter"] = filter
				}
				r := s.PostJSON(t, "/v3/items/count", req)
				if tc.code != "" {
					checkFilterError(t, tc, r)
					return
				}
				if got := countOf(t, r); got != len(tc.ids) {
					t.Fatalf("got totalCount %d, want %d", got, len(tc.ids))
				}
			})
			t.Run("LegacyFind", func(t *testing.T) {
				req := map[string]any{"collectionName": "products", "projection": []string{"_id"},
					"sort": []map[string]string{{"fieldName": "_id"}}, "skip": 0, "limit": 1000}
				if filter != nil {
					req["filter"] = filter
				}
				r := s.PostJSON(t, "/data/find", req)
				if tc.code != "" {
					legacyError(t, r, http.StatusBadRequest, tc.msg)
					return
				}
				got, total := legacyIDs(t, r)
				if !slices.Equal(got, tc.ids) || total != len(tc.ids) {
					t.Fatalf("got %q (totalCount %d), want %q", got, total, tc.ids)
				}
			})
			t.Run("LegacyCount", func(t *testing.T) {
				req := map[string]any{"collectionName": "products"}
				if filter != nil {
					req["filter"] = filter
				}
				r := s.PostJSON(t, "/data/count", req)
				if tc.code != "" {
					legacyError(t, r, http.StatusBadRequest, tc.msg)
					return
				}
				if got := countOf(t, r); got != len(tc.ids) {
					t.Fatalf("got totalCount %d, want %d", got, len(tc.ids))
				}
			})
		})
	}
}

func checkFilterError(t *testing.T, tc filterCase, r *Response) {
	t.Helper()
	m := v3Error(t, r, http.StatusBadRequest, tc.code, tc.msg)
	data, _ := m["data"].(map[string]any)
	switch tc.code {
	case "FIELD_DOESNT_EXIST":
		if data["propertyName"] != tc.prop || data["collectionId"] != "products" {
			t.Fatalf("data %v, want propertyName %q and collectionId products", data, tc.prop)
		}
	case "VALIDATION_ERROR":
		v, _ := data["violations"].([]any)
		if len(v) != 1 {
			t.Fatalf("data.violations %v, want one violation", data["violations"])
		}
		if msg, _ := v[0].(map[string]any)["message"].(string); !strings.Contains(msg, tc.msg) {
			t.Fatalf("violation message %q does not contain %q", msg, tc.msg)
		}
	}
}

// v3IDs returns the _id of every item of a v3 query answer, and pagingMetadata.total.
func v3IDs(tb testing.TB, r *Response) ([]string, int) {
	tb.Helper()
	var page struct {
		Items []struct {
			ID string `json:"_id"`
		} `json:"items"`
		PagingMetadata struct {
			Total *int `json:"total"`
		} `json:"pagingMetadata"`
	}
	if r.Status != http.StatusOK {
		tb.Fatalf("got status %d, want 200\n%s", r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		tb.Fatalf("%v\n%s", err, r.Body)
	}
	out := []string{}
	for _, it := range page.Items {
		out = append(out, it.ID)
	}
	total := -1
	if page.PagingMetadata.Total != nil {
		total = *page.PagingMetadata.Total
	}
	return out, total
}

// legacyIDs returns the _id of every item of a legacy find answer, and totalCount.
func legacyIDs(tb testing.TB, r *Response) ([]string, int) {
	tb.Helper()
	var page struct {
		Items []struct {
			ID string `json:"_id"`
		} `json:"items"`
		TotalCount *int `json:"totalCount"`
	}
	if r.Status != http.StatusOK {
		tb.Fatalf("got status %d, want 200\n%s", r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		tb.Fatalf("%v\n%s", err, r.Body)
	}
	out := []string{}
	for _, it := range page.Items {
		out = append(out, it.ID)
	}
	total := -1
	if page.TotalCount != nil {
		total = *page.TotalCount
	}
	return out, total
}

// countOf returns totalCount of a count answer.
func countOf(tb testing.TB, r *Response) int {
	tb.Helper()
	var c struct {
		TotalCount *int `json:"totalCount"`
	}
	if r.Status != http.StatusOK {
		tb.Fatalf("got status %d, want 200\n%s", r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body, &c); err != nil || c.TotalCount == nil {
		tb.Fatalf("no totalCount: %v\n%s", err, r.Body)
	}
	return *c.TotalCount
}

// FuzzFilter sends arbitrary filters through v3 query and legacy find: whatever arrives, the
// answer is 200 or a 4xx in the protocol's shape, never a 500 (DESIGN §7).
func FuzzFilter(f *testing.F) {
	for _, tc := range filterCases {
		if len(tc.filter) < 2000 {
			f.Add(tc.filter)
		}
	}
	s := MustOpenServer(f, openConfig(), nil)
	f.Fuzz(func(t *testing.T, filter string) {
		if !json.Valid([]byte(filter)) {
			filter = strings.TrimSpace(filter)
			if filter != "" {
				b, _ := json.Marshal(filter) // a string filter: still "no filter"
				filter = string(b)
			}
		}
		v3 := `{"collectionId": "products", "query": {"filter": ` + orNull(filter) + `}, "returnTotalCount": true}`
		r := s.Post(t, "/v3/items/query", v3)
		if r.Status != http.StatusOK && (r.Status < 400 || r.Status >= 500) {
			t.Fatalf("v3 query of %s: status %d\n%s", filter, r.Status, r.Body)
		}
		if r.Status != http.StatusOK {
			if m := r.JSON(t); m["errorCode"] == nil || m["errorMessage"] == "" {
				t.Fatalf("v3 error without errorCode: %s", r.Body)
			}
		}
		legacy := `{"collectionName": "products", "filter": ` + orNull(filter) + `}`
		r = s.Post(t, "/data/find", legacy)
		if r.Status != http.StatusOK && (r.Status < 400 || r.Status >= 500) {
			t.Fatalf("legacy find of %s: status %d\n%s", filter, r.Status, r.Body)
		}
		if r.Status != http.StatusOK {
			if m := r.JSON(t); m["message"] == nil {
				t.Fatalf("legacy error without message: %s", r.Body)
			}
		}
	})
}

func orNull(s string) string {
	if strings.TrimSpace(s) == "" {
		return "null"
	}
	return s
}
