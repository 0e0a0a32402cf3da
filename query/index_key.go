package query

import (
	"bytes"
	"cmp"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sheetsync/sheetsync/cache"
)

// keyField is one field of an index resolved against a snapshot.
type keyField struct {
	col  *cache.Column
	desc bool
	fold bool // a text field of a case-insensitive index: compared case-folded
}

// indexKey is an index resolved against one snapshot. Rows order by each field in turn (an
// empty cell lowest, the whole comparison reversed for a DESC field, exactly as a Sort orders
// them) and then by RowID, which is the engine's tie rule (sort.go): so a walk along an index
// and a top-k scan agree on every tie.
type indexKey []keyField

// resolveKey returns def's key over snap, or false when a field is missing from its schema
// (a column was removed from the file after the index was made).
func resolveKey(def *Index, snap *cache.Snapshot) (indexKey, bool) {
	k := make(indexKey, len(def.Fields))
	for j, f := range def.Fields {
		i, ok := snap.Schema().Index(f.Path)
		if !ok {
			return nil, false
		}
		col := snap.Column(i)
		k[j] = keyField{col: col, desc: f.Order == Desc, fold: def.CaseInsensitive && col.Type() == cache.TypeText}
	}
	return k, true
}

// compare orders two rows of the key's snapshot; it is never 0 for distinct rows.
func (k indexKey) compare(a, b cache.RowID) int {
	if c := k.compareKeys(a, b); c != 0 {
		return c
	}
	return cmp.Compare(a, b)
}

// compareKeys orders two rows by the index's fields alone.
func (k indexKey) compareKeys(a, b cache.RowID) int {
	for j := range k {
		f := &k[j]
		c := f.compareCells(f.col.Chunk(a.Chunk()), a.Offset(), f.col.Chunk(b.Chunk()), b.Offset())
		if f.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// compareProbe orders row r against a key given as values, one per field (each null or of the
// field's kind).
func (k indexKey) compareProbe(r cache.RowID, vals []cache.Value) int {
	for j := range k {
		if c := k[j].compareValue(r, vals[j]); c != 0 {
			return c
		}
	}
	return 0
}

// hasNull reports whether row r has an empty cell in any field of the key.
func (k indexKey) hasNull(r cache.RowID) bool {
	for j := range k {
		if !k[j].col.Chunk(r.Chunk()).Has(r.Offset()) {
			return true
		}
	}
	return false
}

// compareCells orders two cells of the field's type, empty lowest, ignoring the direction.
// The chunks may come from two snapshots of one column.
func (f *keyField) compareCells(ca *cache.Chunk, ia int, cb *cache.Chunk, ib int) int {
	ha, hb := ca.Has(ia), cb.Has(ib)
	if !ha || !hb {
		return cmp.Compare(b2i(ha), b2i(hb))
	}
	switch f.col.Type() {
	case cache.TypeNumber:
		return cmp.Compare(ca.Numbers()[ia], cb.Numbers()[ib])
	case cache.TypeDateTime:
		return cmp.Compare(ca.Times()[ia], cb.Times()[ib])
	case cache.TypeBoolean:
		return cmp.Compare(bit(ca.Bools(), ia), bit(cb.Bools(), ib))
	}
	if f.fold {
		return foldCompare(ca.Text(ia), cb.Text(ib))
	}
	return strings.Compare(ca.Text(ia), cb.Text(ib))
}

// compareValue orders row r's cell against x (null, or of the field's kind) in index order:
// direction included.
func (f *keyField) compareValue(r cache.RowID, x cache.Value) int {
	ch, i := f.col.Chunk(r.Chunk()), r.Offset()
	var c int
	switch has := ch.Has(i); {
	case !has || x.IsNull():
		c = cmp.Compare(b2i(has), b2i(!x.IsNull()))
	case f.col.Type() == cache.TypeNumber:
		c = cmp.Compare(ch.Numbers()[i], x.Num())
	case f.col.Type() == cache.TypeDateTime:
		c = cmp.Compare(ch.Times()[i], x.Millis())
	case f.col.Type() == cache.TypeBoolean:
		c = cmp.Compare(bit(ch.Bools(), i), b2i(x.Bool()))
	case f.fold:
		c = foldCompare(ch.Text(i), x.Str())
	default:
		c = strings.Compare(ch.Text(i), x.Str())
	}
	if f.desc {
		return -c
	}
	return c
}

func bit(w []uint64, i int) int { return int(w[i>>6] >> (uint(i) & 63) & 1) }

// foldCompare orders fold(a) against fold(b) byte-wise (the order of a case-insensitive index)
// without allocating. fold keeps every character's length, so the two folds can be read in step,
// a character at a time.
func foldCompare(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if ca < utf8.RuneSelf && cb < utf8.RuneSelf {
			ca, cb = lowerASCII(ca), lowerASCII(cb)
			if ca != cb {
				return cmp.Compare(ca, cb)
			}
			i++
			j++
			continue
		}
		if ca < utf8.RuneSelf || cb < utf8.RuneSelf {
			// fold keeps ASCII below 0x80 and everything else at or above it
			return cmp.Compare(ca, cb)
		}
		var bufA, bufB [utf8.UTFMax]byte
		ua, na := foldRune(bufA[:0], a[i:])
		ub, nb := foldRune(bufB[:0], b[j:])
		if c := bytes.Compare(ua, ub); c != 0 {
			if bytes.HasPrefix(ua, ub) || bytes.HasPrefix(ub, ua) {
				// only invalid UTF-8 makes one character's bytes a prefix of another's
				return bytes.Compare(fold(nil, a), fold(nil, b))
			}
			return c
		}
		i += na
		j += nb
	}
	return cmp.Compare(len(a)-i, len(b)-j)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// foldRune appends the fold of the non-ASCII character s starts with, as fold does, and
// returns how many bytes of s it read.
func foldRune(dst []byte, s string) ([]byte, int) {
	r, size := utf8.DecodeRuneInString(s)
	if l := unicode.ToLower(r); l != r && utf8.RuneLen(l) == size {
		return utf8.AppendRune(dst, l), size
	}
	return append(dst, s[:size]...), size
}

// prefix returns a 64-bit key for cell i of chunk ch, which must be non-empty and not text,
// such that keys order as the index orders the field alone (buildExact sorts by it).
func (f *keyField) prefix(ch *cache.Chunk, i int) uint64 {
	var u uint64
	switch f.col.Type() {
	case cache.TypeNumber:
		u = floatKey(ch.Numbers()[i])
	case cache.TypeDateTime:
		u = timeKey(ch.Times()[i])
	case cache.TypeBoolean:
		u = uint64(bit(ch.Bools(), i))
	}
	if f.desc {
		return ^u
	}
	return u
}

// floatKey maps a float64 to a uint64 of the same order as cmp.Compare: NaN lowest, -0 equal
// to 0.
func floatKey(x float64) uint64 {
	switch {
	case x != x:
		return 0
	case x == 0:
		x = 0
	}
	b := math.Float64bits(x)
	if b>>63 != 0 {
		return ^b
	}
	return b | 1<<63
}

func timeKey(ms int64) uint64 { return uint64(ms) ^ 1<<63 }

// exact reports whether prefix applies: equal prefixes mean equal cells.
func (f *keyField) exact() bool { return f.col.Type() != cache.TypeText }
