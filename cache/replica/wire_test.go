package replica_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/cache/replica"
)

var productSchema = cache.MustSchema(
	cache.Field{Key: cache.FieldID, Type: cache.TypeText},
	cache.Field{Key: "name", Type: cache.TypeText},
	cache.Field{Key: "price", Type: cache.TypeNumber},
	cache.Field{Key: "inStock", Type: cache.TypeBoolean},
	cache.Field{Key: "launch", Type: cache.TypeDateTime},
	cache.Field{Key: "total", Type: cache.TypeNumber, ReadOnly: true},
	cache.Field{Key: "maker", Type: cache.TypeText, Ref: "makers"},
)

// mustTable builds a table from rows in schema order.
func mustTable(tb testing.TB, s *cache.Schema, rows ...[]cache.Value) *cache.Table {
	tb.Helper()
	bs := make([]*cache.ColumnBuilder, s.Len())
	for i := range bs {
		bs[i] = cache.NewColumnBuilder(s.Field(i).Type)
	}
	for _, row := range rows {
		if len(row) != len(bs) {
			tb.Fatalf("row of %d values for %d fields", len(row), len(bs))
		}
		for i, v := range row {
			bs[i].Append(v)
		}
	}
	t := &cache.Table{Schema: s}
	for _, b := range bs {
		t.Columns = append(t.Columns, b.Build())
	}
	return t
}

// bigTable is a table of n rows in which every column has absent cells, categorical text (the
// cache dictionary-encodes it), decimals, whole days, and one odd value per block.
func bigTable(tb testing.TB, n int) *cache.Table {
	tb.Helper()
	rows := make([][]cache.Value, n)
	for i := range rows {
		row := []cache.Value{
			cache.Text("id-" + string(rune('a'+i%26)) + strings.Repeat("0", i%7) + string(rune(0x4e00+i))),
			cache.Text([]string{"lamp", "chair", "", "desk"}[i%4]),
			cache.Number(float64(i%1000) / 100),
			cache.Bool(i%3 == 0),
			cache.Time(int64(17000+i%365) * 86_400_000),
			cache.Number(float64(i)),
			cache.Text("maker-" + string(rune('a'+i%5))),
		}
		for f := 1; f < len(row); f++ {
			if (i+f)%(f+3) == 0 {
				row[f] = cache.Null()
			}
		}
		if i%4096 == 1000 {
			row[2], row[4] = cache.Number(math.NaN()), cache.Time(math.MinInt64)
		}
		rows[i] = row
	}
	return mustTable(tb, productSchema, rows...)
}

func roundTripCases(tb testing.TB) []struct {
	name string
	cs   cache.ChangeSet
} {
	nullRow := make([]cache.Value, productSchema.Len())
	nullRow[0] = cache.Text("only-id")
	return []struct {
		name string
		cs   cache.ChangeSet
	}{
		{"empty", cache.ChangeSet{}},
		{"insert", cache.ChangeSet{
			Collection: "products", Origin: cache.Origin{Kind: cache.OriginAPI, Replica: "replica-a"}, BaseVersion: 41,
			Insert: []cache.Item{
				{cache.FieldID: cache.Text("p1"), "name": cache.Text("Lamp"), "price": cache.Number(12.5), "inStock": cache.Bool(true),
					"launch": cache.Time(1714521600000), "maker": cache.Text("m1")},
				{cache.FieldID: cache.Text("p2"), "name": cache.Text(""), "price": cache.Number(math.Copysign(0, -1)), "inStock": cache.Bool(false)},
			}}},
		{"update with nulls", cache.ChangeSet{
			Collection: "products", Origin: cache.Origin{Kind: cache.OriginAPI, Replica: "b"}, BaseVersion: math.MaxUint64,
			Update: []cache.Item{
				{cache.FieldID: cache.Text("p1"), "name": cache.Null(), "price": cache.Null(), "launch": cache.Null()},
				{cache.FieldID: cache.Text("p2"), "name": cache.Text("ünïcødé 日本 🎉"), "price": cache.Number(math.NaN())},
				{cache.FieldID: cache.Text("p3"), "name": cache.Text("\xff\xfe bad utf-8"), "price": cache.Number(math.Inf(-1))},
			}}},
		{"remove", cache.ChangeSet{Collection: "products", Origin: cache.Origin{Kind: cache.OriginFile, Replica: "a", Path: "/data/products.csv"},
			Remove: []string{"p1", "", "p\x003", strings.Repeat("long", 100)}}},
		{"truncate", cache.ChangeSet{Collection: "products", Truncate: true}},
		{"truncate and insert", cache.ChangeSet{Collection: "products", Truncate: true,
			Insert: []cache.Item{{cache.FieldID: cache.Text("p9")}}}},
		{"drop", cache.ChangeSet{Collection: "old", Drop: true, Origin: cache.Origin{Kind: cache.OriginFile, Path: "old.csv"}}},
		{"schema", cache.ChangeSet{Collection: "products", Schema: productSchema,
			Update: []cache.Item{{cache.FieldID: cache.Text("p1"), "total": cache.Number(3)}}}},
		{"schema of no fields", cache.ChangeSet{Collection: "products", Schema: cache.MustSchema()}},
		{"replace", cache.ChangeSet{Collection: "products", Origin: cache.Origin{Kind: cache.OriginFile, Path: "products.csv"},
			Replace: mustTable(tb, productSchema,
				[]cache.Value{cache.Text("p1"), cache.Text("Lamp"), cache.Number(12.5), cache.Bool(true), cache.Time(1714521600000), cache.Number(25), cache.Text("m1")},
				[]cache.Value{cache.Text("p2"), cache.Text(""), cache.Number(math.Inf(1)), cache.Bool(false), cache.Time(-1), cache.Null(), cache.Null()},
				nullRow,
			)}},
		{"replace of no rows", cache.ChangeSet{Collection: "products", Replace: mustTable(tb, productSchema)}},
		{"replace of no fields", cache.ChangeSet{Collection: "empty", Replace: mustTable(tb, cache.MustSchema())}},
		{"replace then insert", cache.ChangeSet{Collection: "products",
			Replace: mustTable(tb, productSchema, nullRow),
			Insert:  []cache.Item{{cache.FieldID: cache.Text("p2"), "maker": cache.Text("m2")}}}},
		{"replace of 3 blocks", cache.ChangeSet{Collection: "big", Replace: bigTable(tb, 3*4096+17)}},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tt := range roundTripCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			b, err := replica.EncodeChange(tt.cs)
			if err != nil {
				t.Fatal(err)
			}
			got, err := replica.DecodeChange(b)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffChange(got, tt.cs); d != "" {
				t.Fatal(d)
			}
			again, err := replica.EncodeChange(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, b) {
				t.Fatal("encoding the decoded change gives other bytes: the encoding is not deterministic")
			}
		})
	}
}

// TestRoundTripRandom is the property test: random changes, with random schemas and the odd
// values of gen, come back exactly and encode to the same bytes again.
func TestRoundTripRandom(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 60
	}
	for seed := range uint64(n) {
		cs := newGen(seed).change()
		b, err := replica.EncodeChange(cs)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		got, err := replica.DecodeChange(b)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if d := diffChange(got, cs); d != "" {
			t.Fatalf("seed %d: %s", seed, d)
		}
		if again, err := replica.EncodeChange(got); err != nil || !bytes.Equal(again, b) {
			t.Fatalf("seed %d: encoding the decoded change gives other bytes (%v)", seed, err)
		}
	}
}

// TestCompact checks that the compact forms are taken where they should be: a column of
// prices with two decimals, and one of whole days, take far less than 8 bytes a cell.
func TestCompact(t *testing.T) {
	s := cache.MustSchema(cache.Field{Key: "price", Type: cache.TypeNumber}, cache.Field{Key: "day", Type: cache.TypeDateTime})
	const n = 10_000
	rows := make([][]cache.Value, n)
	for i := range rows {
		rows[i] = []cache.Value{cache.Number(float64(i%100_000) / 100), cache.Time(int64(18000+i%3650) * 86_400_000)}
	}
	b, err := replica.EncodeChange(cache.ChangeSet{Replace: mustTable(t, s, rows...)})
	if err != nil {
		t.Fatal(err)
	}
	if perRow := float64(len(b)) / n; perRow > 4 {
		t.Errorf("%.1f bytes a row, want at most 4", perRow)
	}
}

func TestEncodeErrors(t *testing.T) {
	num := func(vals ...float64) *cache.Column {
		b := cache.NewColumnBuilder(cache.TypeNumber)
		for _, v := range vals {
			b.Append(cache.Number(v))
		}
		return b.Build()
	}
	two := cache.MustSchema(cache.Field{Key: "a", Type: cache.TypeNumber}, cache.Field{Key: "b", Type: cache.TypeNumber})
	tests := []struct {
		name string
		cs   cache.ChangeSet
		want string
	}{
		{"ErrOriginKind", cache.ChangeSet{Origin: cache.Origin{Kind: 9}}, "origin kind 9"},
		{"ErrNoSchema", cache.ChangeSet{Replace: &cache.Table{}}, "no schema"},
		{"ErrColumnCount", cache.ChangeSet{Replace: &cache.Table{Schema: two, Columns: []*cache.Column{num(1)}}}, "1 columns for 2 fields"},
		{"ErrNilColumn", cache.ChangeSet{Replace: &cache.Table{Schema: two, Columns: []*cache.Column{num(1), nil}}}, `field "b": no column`},
		{"ErrColumnType", cache.ChangeSet{Replace: &cache.Table{Schema: two, Columns: []*cache.Column{num(1), cache.NewColumnBuilder(cache.TypeText).Build()}}}, `column is text, field is number`},
		{"ErrColumnLength", cache.ChangeSet{Replace: &cache.Table{Schema: two, Columns: []*cache.Column{num(1, 2), num(1)}}}, `1 cells, the first column has 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := replica.EncodeChange(tt.cs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestRoundTripOddChunks encodes columns whose chunks are not the cache's usual full 4096
// cells, so that blocks straddle chunks and presence bits land off word boundaries. A store
// would refuse such a table; the encoding still carries its cells exactly.
func TestRoundTripOddChunks(t *testing.T) {
	lens := []int{3000, 100, 4096, 7, 1}
	r := newGen(7)
	var nums [][]float64
	var data [][]byte
	var offs [][]uint32
	present := make([]uint64, len(lens)*cache.ChunkSize/64)
	for k, n := range lens {
		vals := make([]float64, n)
		var d []byte
		o := []uint32{0}
		for i := range n {
			vals[i] = r.number()
			d = append(d, r.text()...)
			o = append(o, uint32(len(d)))
			if r.r.IntN(5) != 0 {
				bit := k*cache.ChunkSize + i
				present[bit/64] |= 1 << (bit % 64)
			}
		}
		nums, data, offs = append(nums, vals), append(data, d), append(offs, o)
	}
	s := cache.MustSchema(cache.Field{Key: "n", Type: cache.TypeNumber}, cache.Field{Key: "t", Type: cache.TypeText})
	cs := cache.ChangeSet{Replace: &cache.Table{Schema: s, Columns: []*cache.Column{
		cache.NewNumberColumn(nums, present), cache.NewTextColumnChunks(data, offs, present)}}}
	b, err := replica.EncodeChange(cs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := replica.DecodeChange(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffChange(got, cs); d != "" {
		t.Fatal(d)
	}
}
