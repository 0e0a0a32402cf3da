package query_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/query"
)

var fixtureSchema = cache.MustSchema(
	cache.Field{Key: cache.FieldID, Type: cache.TypeText},
	cache.Field{Key: "name", Type: cache.TypeText},
	cache.Field{Key: "category", Type: cache.TypeText},
	cache.Field{Key: "price", Type: cache.TypeNumber},
	cache.Field{Key: "inStock", Type: cache.TypeBoolean},
	cache.Field{Key: "launch", Type: cache.TypeDateTime},
	cache.Field{Key: "sku", Type: cache.TypeText},
)

func date(s string) cache.Value {
	ms, ok := cache.ParseTime(s)
	if !ok {
		panic(s)
	}
	return cache.Time(ms)
}

var (
	null = cache.Null()
	txt  = cache.Text
	num  = cache.Number
	yes  = cache.Bool(true)
	no   = cache.Bool(false)
)

// MustFixture returns the small collection the filter tests run on.
func MustFixture(tb testing.TB) *cache.Snapshot {
	tb.Helper()
	snap, err := cache.FromRows("products", fixtureSchema, [][]cache.Value{
		{txt("a"), txt("Oak Table"), txt("furniture"), num(120), yes, date("2021-03-01"), txt("00123")},
		{txt("b"), txt("oak chair"), txt("furniture"), num(45.5), no, date("2022-07-15"), txt("00456")},
		{txt("c"), txt("Linen Cushion"), txt("textiles"), num(19.9), yes, date("2020-01-10"), txt("01000")},
		{txt("d"), txt("Brass Lamp"), txt("lighting"), num(89), yes, null, null},
		{txt("e"), null, txt("garden"), null, null, date("2023-05-05"), txt("99999")},
		{txt("f"), txt("Ünïcode Ößé"), txt("decor"), num(0), no, date("1999-12-31T23:59:59.999Z"), txt("Text")},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return snap
}

func cond(field string, op query.Op, v cache.Value) *query.Cond {
	return &query.Cond{Field: field, Op: op, Value: v}
}

func list(field string, op query.Op, vs ...cache.Value) *query.Cond {
	return &query.Cond{Field: field, Op: op, Values: vs}
}

func TestFilter(t *testing.T) {
	tests := []struct {
		name   string
		filter query.Filter
		want   string // ids in natural order
		err    error
	}{
		{"NoFilter", nil, "abcdef", nil},
		{"EmptyAnd", query.And{}, "abcdef", nil},
		{"EmptyOr", query.Or{}, "", nil},
		{"EqText", cond("name", query.OpEq, txt("Oak Table")), "a", nil},
		{"EqTextCaseSensitive", cond("name", query.OpEq, txt("oak table")), "", nil},
		{"EqNumber", cond("price", query.OpEq, num(120)), "a", nil},
		{"EqZero", cond("price", query.OpEq, num(0)), "f", nil},
		{"EqBool", cond("inStock", query.OpEq, yes), "acd", nil},
		{"EqBoolFalse", cond("inStock", query.OpEq, no), "bf", nil},
		{"EqDate", cond("launch", query.OpEq, date("2021-03-01")), "a", nil},
		{"EqDateAsText", cond("launch", query.OpEq, txt("2021-03-01T00:00:00Z")), "a", nil},
		{"EqNull", cond("name", query.OpEq, null), "e", nil},
		{"NeNull", cond("name", query.OpNe, null), "abcdf", nil},
		{"NeIncludesMissing", cond("price", query.OpNe, num(120)), "bcdef", nil},
		{"NeBool", cond("inStock", query.OpNe, yes), "bef", nil},
		{"Gt", cond("price", query.OpGt, num(45.5)), "ad", nil},
		{"Gte", cond("price", query.OpGte, num(45.5)), "abd", nil},
		{"Lt", cond("price", query.OpLt, num(19.9)), "f", nil},
		{"Lte", cond("price", query.OpLte, num(19.9)), "cf", nil},
		{"RangeDate", cond("launch", query.OpGte, date("2021-01-01")), "abe", nil},
		{"RangeDateMillis", cond("launch", query.OpLt, date("2000-01-01")), "f", nil},
		{"RangeTextCodePoint", cond("name", query.OpGt, txt("Oak")), "abf", nil},
		{"RangeBool", cond("inStock", query.OpGt, no), "acd", nil},
		{"In", list("category", query.OpIn, txt("furniture"), txt("garden")), "abe", nil},
		{"InMixedKinds", list("category", query.OpIn, txt("furniture"), num(5)), "ab", nil},
		{"InNumbers", list("price", query.OpIn, num(120), txt("45.5"), num(0)), "af", nil},
		{"InWithNull", list("name", query.OpIn, null, txt("Oak Table")), "ae", nil},
		{"InEmpty", list("name", query.OpIn), "", nil},
		{"InDates", list("launch", query.OpIn, date("2021-03-01"), date("2023-05-05")), "ae", nil},
		{"InBools", list("inStock", query.OpIn, no), "bf", nil},
		{"HasSome", list("sku", query.OpHasSome, txt("00123"), txt("99999")), "ae", nil},
		{"HasAllOne", list("category", query.OpHasAll, txt("furniture"), txt("furniture")), "ab", nil},
		{"HasAllTwo", list("category", query.OpHasAll, txt("furniture"), txt("garden")), "", nil},
		{"Contains", cond("name", query.OpContains, txt("OAK")), "ab", nil},
		{"ContainsEmpty", cond("name", query.OpContains, txt("")), "abcdf", nil},
		{"ContainsUnicode", cond("name", query.OpContains, txt("ÖSS")), "", nil},
		{"ContainsUnicodeFold", cond("name", query.OpContains, txt("ößÉ")), "f", nil},
		{"StartsWith", cond("name", query.OpStartsWith, txt("oak")), "ab", nil},
		{"EndsWith", cond("name", query.OpEndsWith, txt("LAMP")), "d", nil},
		{"ContainsDoesNotSpanCells", cond("category", query.OpContains, txt("furniturefurn")), "", nil},
		{"ExistsTrue", cond("sku", query.OpExists, yes), "abcef", nil},
		{"ExistsFalse", cond("sku", query.OpExists, no), "d", nil},
		{"IsEmpty", cond("price", query.OpIsEmpty, null), "e", nil},
		{"IsNotEmpty", cond("price", query.OpIsNotEmpty, null), "abcdf", nil},
		{"Matches", &query.Cond{Field: "name", Op: query.OpMatches, Pattern: &query.Pattern{IgnoreCase: true, Segments: []query.Segment{
			{Text: "oak"}, {AnyOf: true, Text: " -"}, {Text: "chair"}}}}, "b", nil},
		{"MatchesWholeValue", &query.Cond{Field: "name", Op: query.OpMatches, Pattern: &query.Pattern{IgnoreCase: true, Segments: []query.Segment{
			{Text: "oak"}}}}, "", nil},
		{"MatchesCaseSensitive", &query.Cond{Field: "name", Op: query.OpMatches, Pattern: &query.Pattern{Segments: []query.Segment{
			{Text: "oak"}, {AnyOf: true, Text: " "}, {Text: "Table"}}}}, "", nil},
		{"Urlized", &query.Cond{Field: "name", Op: query.OpUrlized, Words: []string{"oak", "TABLE"}}, "a", nil},
		{"And", query.And{cond("category", query.OpEq, txt("furniture")), cond("price", query.OpGt, num(50))}, "a", nil},
		{"Or", query.Or{cond("category", query.OpEq, txt("garden")), cond("price", query.OpLt, num(1))}, "ef", nil},
		{"Not", query.Not{Filter: cond("inStock", query.OpEq, yes)}, "bef", nil},
		{"NotOr", query.Not{Filter: query.Or{cond("category", query.OpEq, txt("furniture")), cond("sku", query.OpExists, no)}}, "cef", nil},
		{"Nested", query.Or{query.And{cond("inStock", query.OpEq, yes), cond("price", query.OpLt, num(100))}, query.Not{Filter: cond("launch", query.OpExists, yes)}}, "cd", nil},

		{"ErrUnknownField", cond("colour", query.OpEq, txt("red")), "", query.ErrUnknownField},
		{"ErrUnknownFieldNested", query.Or{cond("name", query.OpEq, txt("x")), query.Not{Filter: cond("colour", query.OpEq, txt("red"))}}, "", query.ErrUnknownField},
		{"ErrTextOnNumber", cond("price", query.OpEq, txt("cheap")), "", query.ErrInvalidValue},
		{"ErrNumberOnText", cond("sku", query.OpEq, num(123)), "", query.ErrInvalidValue},
		{"ErrBadDate", cond("launch", query.OpGt, txt("yesterday")), "", query.ErrInvalidValue},
		{"ErrRangeNull", cond("price", query.OpGt, null), "", query.ErrInvalidValue},
		{"ErrContainsNumber", cond("price", query.OpContains, txt("1")), "", query.ErrUnsupportedOperator},
		{"ErrContainsNonText", cond("name", query.OpContains, num(1)), "", query.ErrInvalidValue},
		{"ErrExistsNonBool", cond("name", query.OpExists, txt("yes")), "", query.ErrInvalidValue},
		{"ErrMatchesNumber", &query.Cond{Field: "price", Op: query.OpMatches, Pattern: &query.Pattern{}}, "", query.ErrUnsupportedOperator},
	}
	snap := MustFixture(t)
	e := &query.Engine{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := e.Find(context.Background(), snap, query.Query{Filter: tt.filter, Limit: 100, Total: true})
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				var qe *query.Error
				if !errors.As(err, &qe) || qe.Field == "" {
					t.Errorf("err %v does not name the field", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(snap, page.Rows); got != tt.want {
				t.Errorf("rows = %q, want %q", got, tt.want)
			}
			if page.Total != len(tt.want) {
				t.Errorf("total = %d, want %d", page.Total, len(tt.want))
			}
		})
	}
}

func ids(snap *cache.Snapshot, rows []cache.RowID) string {
	id, _ := snap.Schema().Index(cache.FieldID)
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(snap.Value(r, id).Str())
	}
	return b.String()
}

func TestSortAndPage(t *testing.T) {
	snap := MustFixture(t)
	e := &query.Engine{}
	tests := []struct {
		name string
		q    query.Query
		want string
		tot  int
	}{
		{"NaturalOrder", query.Query{Limit: 50}, "abcdef", -1},
		{"PriceAscMissingFirst", query.Query{Sort: []query.Sort{{Field: "price"}}, Limit: 50}, "efcbda", -1},
		{"PriceDescMissingLast", query.Query{Sort: []query.Sort{{Field: "price", Desc: true}}, Limit: 50}, "adbcfe", -1},
		{"TextByCodePoint", query.Query{Sort: []query.Sort{{Field: "name"}}, Limit: 50}, "edcabf", -1},
		{"TwoKeys", query.Query{Sort: []query.Sort{{Field: "inStock"}, {Field: "price", Desc: true}}, Limit: 50}, "ebfadc", -1},
		{"BoolTiesNaturalOrder", query.Query{Sort: []query.Sort{{Field: "category"}}, Limit: 50}, "fabedc", -1},
		{"Dates", query.Query{Sort: []query.Sort{{Field: "launch", Desc: true}}, Limit: 50}, "ebacfd", -1},
		{"Page", query.Query{Sort: []query.Sort{{Field: "price"}}, Offset: 2, Limit: 2, Total: true}, "cb", 6},
		{"PagePastEnd", query.Query{Offset: 10, Limit: 5, Total: true}, "", 6},
		{"NaturalPage", query.Query{Offset: 4, Limit: 5}, "ef", -1},
		{"CountOnly", query.Query{Filter: cond("inStock", query.OpEq, yes), Total: true}, "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := e.Find(context.Background(), snap, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(snap, page.Rows); got != tt.want || page.Total != tt.tot {
				t.Errorf("rows = %q total %d, want %q total %d", got, page.Total, tt.want, tt.tot)
			}
		})
	}
	if _, err := e.Find(context.Background(), snap, query.Query{Sort: []query.Sort{{Field: "colour"}}, Limit: 5}); !errors.Is(err, query.ErrUnknownField) {
		t.Errorf("sort on unknown field: err = %v", err)
	}
}

func TestFindIsMemoised(t *testing.T) {
	snap := MustFixture(t)
	results, err := cache.NewResults(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer results.Close()
	e := &query.Engine{Results: results}
	q := query.Query{Filter: query.And{cond("price", query.OpGt, num(1)), cond("inStock", query.OpEq, yes)}, Limit: 10, Total: true}
	first, err := e.Find(context.Background(), snap, q)
	if err != nil {
		t.Fatal(err)
	}
	results.Wait()
	// the same query with its conditions in the other order shares the entry
	q.Filter = query.And{cond("inStock", query.OpEq, yes), cond("price", query.OpGt, num(1))}
	second, err := e.Find(context.Background(), snap, q)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Error("a repeated query was not answered from the result cache")
	}
}

func TestKeyIsCanonical(t *testing.T) {
	a, b := cond("a", query.OpEq, num(1)), cond("b", query.OpGt, txt("x"))
	same := [][2]query.Filter{
		{query.And{a, b}, query.And{b, a}},
		{query.And{a, query.And{b}}, query.And{a, b}},
		{query.And{a, a, b}, query.And{b, a}},
		{list("c", query.OpIn, num(1), txt("2")), list("c", query.OpIn, txt("2"), num(1))},
	}
	for _, p := range same {
		if query.Key(p[0]) != query.Key(p[1]) {
			t.Errorf("Key(%s) != Key(%s)", query.Key(p[0]), query.Key(p[1]))
		}
	}
	different := [][2]query.Filter{
		{query.And{a, b}, query.Or{a, b}},
		{cond("a", query.OpEq, num(1)), cond("a", query.OpEq, txt("1"))},
		{cond("a", query.OpEq, txt("x")), cond("a", query.OpContains, txt("x"))},
		{nil, query.Or{}},
	}
	for _, p := range different {
		if query.Key(p[0]) == query.Key(p[1]) {
			t.Errorf("Key(%s) == Key(%s) for different filters", query.Key(p[0]), query.Key(p[1]))
		}
	}
}

func TestFindStopsWhenCancelled(t *testing.T) {
	snap := genSnapshot(t, 200_000, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := (&query.Engine{}).Find(ctx, snap, query.Query{Filter: cond("price", query.OpGt, num(1)), Limit: 10, Total: true})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestProjectionIsNotPartOfRows(t *testing.T) {
	// a sanity check of the helper used across tests
	snap := MustFixture(t)
	var got []string
	snap.Rows(func(r cache.RowID) bool { got = append(got, ids(snap, []cache.RowID{r})); return true })
	if !slices.Equal(got, []string{"a", "b", "c", "d", "e", "f"}) {
		t.Errorf("natural order = %v", got)
	}
}
