package replica_test

import (
	"math"
	"math/rand/v2"
	"strings"

	"github.com/sheetsync/sheetsync/cache"
)

// gen makes random changes for the property and fuzz tests, leaning on the values an encoding
// gets wrong: NaNs with payloads, -0, infinities, decimals with many digits, the extremes of
// int64, empty text against null, unicode, invalid UTF-8, lengths around varint boundaries,
// and tables around block and chunk boundaries.
type gen struct{ r *rand.Rand }

func newGen(seed uint64) *gen { return &gen{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

var oddNumbers = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.1, 0.1 + 0.2, 1.005, 12.5, 123.45, -999.99,
	math.NaN(), math.Float64frombits(0x7ff8000000000001), math.Float64frombits(0x7ff0000000000001),
	math.Float64frombits(0xfff8dead00000000), math.Inf(1), math.Inf(-1),
	math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64,
	1 << 53, 1<<53 + 2, -(1 << 53), 1 << 62, 1e22, 1e23, 1e-7, 1.5e-20, 123456789012345678,
}

var oddTimes = []int64{0, -1, 1, math.MinInt64, math.MaxInt64, math.MinInt64 + 1, 1700000000000,
	1700000000123, 86_400_000, -86_400_000 * 365, 253402300799999}

var oddTexts = []string{"", " ", "a", "0", "00123", "=1+1", "ünïcødé", "日本語のテキスト", "🎉🎈", "\x00",
	"\xff\xfe\xfd", "a\xc3", "\xed\xa0\x80", "line\nbreak", "tab\tand,comma\"quote",
	strings.Repeat("x", 127), strings.Repeat("y", 128), strings.Repeat("é", 8192)}

func (g *gen) number() float64 {
	switch g.r.IntN(5) {
	case 0:
		return oddNumbers[g.r.IntN(len(oddNumbers))]
	case 1:
		return math.Float64frombits(g.r.Uint64())
	case 2:
		return float64(g.r.IntN(2000) - 1000)
	default:
		return float64(g.r.IntN(1_000_000)-500_000) / math.Pow10(g.r.IntN(4))
	}
}

func (g *gen) millis() int64 {
	switch g.r.IntN(5) {
	case 0:
		return oddTimes[g.r.IntN(len(oddTimes))]
	case 1:
		return int64(g.r.Uint64())
	case 2:
		return (16000 + g.r.Int64N(5000)) * 86_400_000
	case 3:
		return 1600000000000 + g.r.Int64N(1e9)*1000
	}
	return 1600000000000 + g.r.Int64N(1e12)
}

func (g *gen) text() string {
	switch g.r.IntN(4) {
	case 0:
		return oddTexts[g.r.IntN(len(oddTexts))]
	case 1:
		b := make([]byte, g.r.IntN(40))
		for i := range b {
			b[i] = byte(g.r.Uint32())
		}
		return string(b)
	case 2:
		return []string{"red", "green", "blue"}[g.r.IntN(3)] // categorical: dictionary chunks
	}
	return "item-" + string(rune('a'+g.r.IntN(26))) + strings.Repeat("z", g.r.IntN(20))
}

func (g *gen) value(k cache.Kind) cache.Value {
	switch k {
	case cache.KindText:
		return cache.Text(g.text())
	case cache.KindNumber:
		return cache.Number(g.number())
	case cache.KindBool:
		return cache.Bool(g.r.IntN(2) == 0)
	case cache.KindTime:
		return cache.Time(g.millis())
	}
	return cache.Null()
}

func (g *gen) anyValue() cache.Value { return g.value(cache.Kind(g.r.IntN(5))) }

func (g *gen) key() string {
	if g.r.IntN(3) == 0 {
		return []string{cache.FieldID, "name", "price", "ünï", "a,b", "\xff", "x"}[g.r.IntN(7)]
	}
	return g.text()
}

func (g *gen) schema() *cache.Schema {
	var fields []cache.Field
	seen := map[string]bool{}
	for range g.r.IntN(9) {
		k := g.key()
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		f := cache.Field{Key: k, Type: cache.FieldType(1 + g.r.IntN(4)), ReadOnly: g.r.IntN(4) == 0}
		if t, ok := cache.SystemFieldType(k); ok {
			f.Type = t
		}
		if f.Type == cache.TypeText && g.r.IntN(4) == 0 {
			f.Ref = g.text()
		}
		fields = append(fields, f)
	}
	return cache.MustSchema(fields...)
}

// rows picks a table length, often around the 4096-cell blocks and chunks.
func (g *gen) rows() int {
	switch g.r.IntN(8) {
	case 0:
		return 0
	case 1:
		return []int{1, 63, 64, 65, 4095, 4096, 4097, 8192, 9001}[g.r.IntN(9)]
	case 2:
		return g.r.IntN(10_000)
	}
	return g.r.IntN(100)
}

// presence returns a rule for which cells are present: all, none, or a random share.
func (g *gen) presence() func() bool {
	switch g.r.IntN(4) {
	case 0:
		return func() bool { return true }
	case 1:
		return func() bool { return false }
	}
	p := g.r.Float64()
	return func() bool { return g.r.Float64() < p }
}

func (g *gen) table() *cache.Table {
	s := g.schema()
	n := g.rows()
	if s.Len() == 0 {
		n = 0
	}
	t := &cache.Table{Schema: s}
	for i := range s.Len() {
		t.Columns = append(t.Columns, g.column(s.Field(i).Type, n))
	}
	return t
}

func (g *gen) column(t cache.FieldType, n int) *cache.Column {
	present := g.presence()
	if t == cache.TypeNumber && g.r.IntN(3) == 0 {
		return g.bulkNumbers(n, present)
	}
	if t == cache.TypeText && g.r.IntN(3) == 0 {
		return g.bulkText(n, present)
	}
	b := cache.NewColumnBuilder(t)
	for range n {
		if present() {
			b.Append(g.value(t.Kind()))
		} else {
			b.Append(cache.Null())
		}
	}
	return b.Build()
}

// bulkNumbers builds a column the way a file decoder does, with junk under the absent cells:
// only the present ones may reach the wire.
func (g *gen) bulkNumbers(n int, present func() bool) *cache.Column {
	bits := make([]uint64, (n+63)/64)
	all := make([]float64, n)
	for i := range n {
		all[i] = g.number()
		if present() {
			bits[i/64] |= 1 << (i % 64)
		}
	}
	var chunks [][]float64
	for lo := 0; lo < n; lo += cache.ChunkSize {
		chunks = append(chunks, all[lo:min(lo+cache.ChunkSize, n)])
	}
	return cache.NewNumberColumn(chunks, bits)
}

// bulkText builds a text column from arenas in which absent cells may hold bytes.
func (g *gen) bulkText(n int, present func() bool) *cache.Column {
	bits := make([]uint64, (n+63)/64)
	var data [][]byte
	var offs [][]uint32
	for lo := 0; lo < n; lo += cache.ChunkSize {
		var d []byte
		o := []uint32{0}
		for i := lo; i < min(lo+cache.ChunkSize, n); i++ {
			d = append(d, g.text()...)
			o = append(o, uint32(len(d)))
			if present() {
				bits[i/64] |= 1 << (i % 64)
			}
		}
		data, offs = append(data, d), append(offs, o)
	}
	return cache.NewTextColumnChunks(data, offs, bits)
}

func (g *gen) items() []cache.Item {
	if g.r.IntN(3) == 0 {
		return nil
	}
	keys := make([]string, 1+g.r.IntN(20))
	for i := range keys {
		keys[i] = g.key()
	}
	items := make([]cache.Item, g.r.IntN(30))
	for i := range items {
		items[i] = cache.Item{}
		for range g.r.IntN(len(keys) + 1) {
			items[i][keys[g.r.IntN(len(keys))]] = g.anyValue()
		}
	}
	return items
}

func (g *gen) change() cache.ChangeSet {
	cs := cache.ChangeSet{
		Collection:  g.text(),
		Origin:      cache.Origin{Kind: cache.OriginKind(g.r.IntN(3)), Replica: g.text(), Path: g.text()},
		BaseVersion: []uint64{0, 1, 127, 128, math.MaxUint64, g.r.Uint64()}[g.r.IntN(6)],
		Drop:        g.r.IntN(8) == 0,
		Truncate:    g.r.IntN(4) == 0,
		Update:      g.items(),
		Insert:      g.items(),
	}
	if g.r.IntN(3) == 0 {
		cs.Replace = g.table()
	}
	if g.r.IntN(4) == 0 {
		cs.Schema = g.schema()
	}
	for range g.r.IntN(4) * g.r.IntN(4) {
		cs.Remove = append(cs.Remove, g.text())
	}
	return cs
}
