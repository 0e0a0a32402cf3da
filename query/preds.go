package query

import (
	"bytes"
	"sync"
	"unsafe"

	"github.com/sheetsync/sheetsync/cache"
)

// eqPred matches rows whose value equals x, which is of the column's kind.
func eqPred(col *cache.Column, x cache.Value) pred {
	switch col.Type() {
	case cache.TypeNumber:
		return numPred(col, OpEq, x.Num(), nil)
	case cache.TypeDateTime:
		return timePred(col, OpEq, x.Millis(), nil)
	case cache.TypeBoolean:
		return &boolPred{col: col, want: x.Bool()}
	}
	return &textEq{col: col, x: x.Str()}
}

// rangePred matches rows whose value compares to x as op says. Booleans order false < true;
// text orders by code point, case-sensitively (spec v3 §9.2).
func rangePred(col *cache.Column, op Op, x cache.Value) pred {
	switch col.Type() {
	case cache.TypeNumber:
		return numPred(col, op, x.Num(), nil)
	case cache.TypeDateTime:
		return timePred(col, op, x.Millis(), nil)
	case cache.TypeBoolean:
		return &textFunc{col: col, boolean: true, match: func(s string) bool {
			return compareOp(op, boolRank(s == "true")-boolRank(x.Bool()))
		}}
	}
	xs := x.Str()
	return &textFunc{col: col, match: func(s string) bool {
		switch {
		case s < xs:
			return compareOp(op, -1)
		case s > xs:
			return compareOp(op, 1)
		}
		return compareOp(op, 0)
	}}
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// compareOp reports whether a comparison result (negative, zero, positive) satisfies op.
func compareOp(op Op, c int) bool {
	switch op {
	case OpGt:
		return c > 0
	case OpGte:
		return c >= 0
	case OpLt:
		return c < 0
	case OpLte:
		return c <= 0
	}
	return c == 0
}

// inPred matches rows whose value is one of vals (at least two, of the column's kind).
func inPred(col *cache.Column, vals []cache.Value) pred {
	switch col.Type() {
	case cache.TypeNumber:
		set := make(map[float64]bool, len(vals))
		for _, v := range vals {
			set[v.Num()] = true
		}
		return numPred(col, OpIn, 0, set)
	case cache.TypeDateTime:
		set := make(map[int64]bool, len(vals))
		for _, v := range vals {
			set[v.Millis()] = true
		}
		return timePred(col, OpIn, 0, set)
	case cache.TypeBoolean:
		ps := make(orPred, len(vals))
		for i, v := range vals {
			ps[i] = &boolPred{col: col, want: v.Bool()}
		}
		return ps
	}
	set := make(map[string]bool, len(vals))
	for _, v := range vals {
		set[v.Str()] = true
	}
	return &textFunc{col: col, match: func(s string) bool { return set[s] }}
}

type ordered interface{ ~float64 | ~int64 }

// cmpBits sets bit i of out when vals[i] op x, for the first n values. It is generic over the
// two numeric column kinds and branch-free in the inner loop, which is what keeps a range
// filter over a million rows at about a millisecond.
func cmpBits[T ordered](vals []T, n int, op Op, x T, out *bitset) {
	nw := words(n)
	for w := 0; w < nw; w++ {
		base := w << 6
		seg := vals[base:min(base+64, n)]
		var bits uint64
		switch op {
		case OpEq:
			for i, v := range seg {
				bits |= b2u(v == x) << uint(i)
			}
		case OpGt:
			for i, v := range seg {
				bits |= b2u(v > x) << uint(i)
			}
		case OpGte:
			for i, v := range seg {
				bits |= b2u(v >= x) << uint(i)
			}
		case OpLt:
			for i, v := range seg {
				bits |= b2u(v < x) << uint(i)
			}
		case OpLte:
			for i, v := range seg {
				bits |= b2u(v <= x) << uint(i)
			}
		}
		out[w] = bits
	}
	clear(out[nw:])
}

func setBits[T comparable](vals []T, n int, set map[T]bool, out *bitset) {
	*out = bitset{}
	for i, v := range vals[:n] {
		if set[v] {
			out[i>>6] |= 1 << (uint(i) & 63)
		}
	}
}

// orderedPred compares the cells of a number or datetime column with x (or, for OpIn, looks
// them up in set). values picks the chunk's typed slice.
type orderedPred[T ordered] struct {
	col    *cache.Column
	values func(*cache.Chunk) []T
	op     Op
	x      T
	set    map[T]bool // OpIn
}

func (p *orderedPred[T]) eval(c, n int, out *bitset) {
	ch := p.col.Chunk(c)
	if p.op == OpIn {
		setBits(p.values(ch), n, p.set, out)
	} else {
		cmpBits(p.values(ch), n, p.op, p.x, out)
	}
	out.andSlice(ch.Present())
}

func numPred(col *cache.Column, op Op, x float64, set map[float64]bool) pred {
	return &orderedPred[float64]{col: col, values: (*cache.Chunk).Numbers, op: op, x: x, set: set}
}

func timePred(col *cache.Column, op Op, x int64, set map[int64]bool) pred {
	return &orderedPred[int64]{col: col, values: (*cache.Chunk).Times, op: op, x: x, set: set}
}

type boolPred struct {
	col  *cache.Column
	want bool
}

func (p *boolPred) eval(c, n int, out *bitset) {
	ch := p.col.Chunk(c)
	out.setFrom(ch.Bools(), n)
	if !p.want {
		out.invert(n)
	}
	out.andSlice(ch.Present())
}

// textEq compares cells with x byte for byte (case-sensitive, spec v3 §13.15).
type textEq struct {
	col *cache.Column
	x   string
}

func (p *textEq) eval(c, n int, out *bitset) {
	ch := p.col.Chunk(c)
	*out = bitset{}
	if dict, codes := ch.Dict(); dict != nil {
		for k, s := range dict {
			if s == p.x {
				code := uint8(k)
				for i, cd := range codes[:n] {
					out[i>>6] |= b2u(cd == code) << (uint(i) & 63)
				}
				break
			}
		}
	} else {
		data, offs := ch.Arena()
		x := p.x
		for i := 0; i < n; i++ {
			a, b := offs[i], offs[i+1]
			if int(b-a) == len(x) && string(data[a:b]) == x {
				out[i>>6] |= 1 << (uint(i) & 63)
			}
		}
	}
	out.andSlice(ch.Present())
}

// textFunc matches text cells for which match is true. On a dictionary-encoded chunk, match runs
// once per distinct string, not once per row. With boolean set, it runs over a boolean column,
// giving match "true" or "false".
type textFunc struct {
	col     *cache.Column
	match   func(string) bool
	boolean bool
}

func (p *textFunc) eval(c, n int, out *bitset) {
	ch := p.col.Chunk(c)
	*out = bitset{}
	switch {
	case p.boolean:
		t, f := p.match("true"), p.match("false")
		bools := ch.Bools()
		for w := 0; w < words(n); w++ {
			var bits uint64
			if t {
				bits |= bools[w]
			}
			if f {
				bits |= ^bools[w]
			}
			out[w] = bits
		}
		var mask bitset
		mask.fill(n)
		out.and(&mask)
	default:
		if dict, codes := ch.Dict(); dict != nil {
			var hit [256]bool
			for k, s := range dict {
				hit[k] = p.match(s)
			}
			for i, cd := range codes[:n] {
				out[i>>6] |= b2u(hit[cd]) << (uint(i) & 63)
			}
		} else {
			for i := 0; i < n; i++ {
				if p.match(ch.Text(i)) {
					out[i>>6] |= 1 << (uint(i) & 63)
				}
			}
		}
	}
	out.andSlice(ch.Present())
}

// textFold is $contains, $startsWith and $endsWith: case-insensitive (spec v3 §9.2) by
// comparing case-folded bytes. A plain chunk's folded text is derived data, kept in
// cache.Results under the chunk's id, so repeated searches scan it directly with bytes.Index
// instead of folding every cell again.
type textFold struct {
	col     *cache.Column
	op      Op
	needle  []byte
	results *cache.Results
}

func (p *textFold) eval(c, n int, out *bitset) {
	ch := p.col.Chunk(c)
	*out = bitset{}
	if dict, codes := ch.Dict(); dict != nil {
		var hit [256]bool
		var buf []byte
		for k, s := range dict {
			buf = fold(buf[:0], s)
			hit[k] = p.matchFolded(buf)
		}
		for i, cd := range codes[:n] {
			out[i>>6] |= b2u(hit[cd]) << (uint(i) & 63)
		}
		out.andSlice(ch.Present())
		return
	}
	data, offs := ch.Arena()
	folded, release := p.folded(ch, data)
	defer release()
	switch {
	case len(p.needle) == 0:
		out.setFrom(ch.Present(), n)
		return
	case p.op == OpContains:
		// one scan over the whole chunk; a hit that spans two cells does not count
		i, pos := 0, 0
		for pos < len(folded) {
			j := bytes.Index(folded[pos:], p.needle)
			if j < 0 {
				break
			}
			at := uint32(pos + j)
			for offs[i+1] <= at {
				i++
			}
			if int(at)+len(p.needle) <= int(offs[i+1]) {
				out[i>>6] |= 1 << (uint(i) & 63)
				pos = int(offs[i+1])
				i++
			} else {
				pos = int(at) + 1
			}
		}
	default:
		for i := 0; i < n; i++ {
			if p.matchFolded(folded[offs[i]:offs[i+1]]) {
				out[i>>6] |= 1 << (uint(i) & 63)
			}
		}
	}
	out.andSlice(ch.Present())
}

func (p *textFold) matchFolded(s []byte) bool {
	switch p.op {
	case OpStartsWith:
		return bytes.HasPrefix(s, p.needle)
	case OpEndsWith:
		return bytes.HasSuffix(s, p.needle)
	}
	return bytes.Contains(s, p.needle)
}

// folded returns the chunk's case-folded arena: from the result cache when it is there, else
// folded now and offered to the cache. Without a cache it folds into a pooled buffer, which
// release gives back.
func (p *textFold) folded(ch *cache.Chunk, data []byte) (folded []byte, release func()) {
	if !hasUpper(data) {
		return data, func() {} // nothing to fold
	}
	text := unsafe.String(unsafe.SliceData(data), len(data))
	if p.results == nil {
		buf := foldPool.Get().(*[]byte)
		*buf = fold((*buf)[:0], text)
		return *buf, func() { foldPool.Put(buf) }
	}
	key := foldKey(ch.ID())
	if v, ok := p.results.Get(key); ok {
		return v.([]byte), func() {}
	}
	f := fold(make([]byte, 0, len(data)), text)
	p.results.Set(key, f, int64(len(f)))
	return f, func() {}
}

var foldPool = sync.Pool{New: func() any { return new([]byte) }}
