package cache

import (
	"sync/atomic"
	"unsafe"
)

// Rows are stored in chunks of ChunkSize cells per column. A change copies only the chunks it
// touches, so a one-row write on a million-row collection copies a few kilobytes, not the
// collection (copy-on-write).
const (
	ChunkBits  = 12
	ChunkSize  = 1 << ChunkBits
	ChunkWords = ChunkSize / 64
)

// RowID addresses a row within one snapshot: its chunk and its position in the chunk. RowIDs
// ascend in the collection's natural order (the order of the rows in the file).
type RowID uint32

// MakeRowID returns the address of the off-th row of chunk c.
func MakeRowID(c, off int) RowID { return RowID(c<<ChunkBits | off) }

// Chunk returns the chunk index of the row.
func (r RowID) Chunk() int { return int(r >> ChunkBits) }

// Offset returns the row's position within its chunk.
func (r RowID) Offset() int { return int(r & (ChunkSize - 1)) }

var chunkSeq atomic.Uint64

// Chunk holds up to ChunkSize consecutive cells of one column. Exactly one representation is
// set, by the column's type: nums (number), times (datetime, Unix milliseconds), bools
// (boolean, a bitmap), or text, either plain (data and offs) or dictionary-encoded (dict and
// codes) when a chunk repeats few distinct strings. Chunks are immutable once built; query
// reads their slices directly.
type Chunk struct {
	n       int
	id      uint64
	present []uint64
	nums    []float64
	times   []int64
	bools   []uint64
	data    []byte
	offs    []uint32
	dict    []string
	codes   []uint8
}

func newChunk(n int, present []uint64) *Chunk {
	return &Chunk{n: n, id: chunkSeq.Add(1), present: present}
}

// Len returns the number of cells.
func (c *Chunk) Len() int { return c.n }

// ID is unique to this chunk for the life of the process, so derived data about a chunk (such
// as case-folded text) can be memoised under it without ever being stale.
func (c *Chunk) ID() uint64 { return c.id }

// Present is the bitmap of non-empty cells: bit i of word i/64 is cell i.
func (c *Chunk) Present() []uint64 { return c.present }

// Has reports whether cell i is non-empty.
func (c *Chunk) Has(i int) bool { return c.present[i>>6]&(1<<(uint(i)&63)) != 0 }

// Numbers returns the cells of a number chunk; empty cells hold 0.
func (c *Chunk) Numbers() []float64 { return c.nums }

// Times returns the cells of a datetime chunk in Unix milliseconds; empty cells hold 0.
func (c *Chunk) Times() []int64 { return c.times }

// Bools returns the bitmap of true cells of a boolean chunk.
func (c *Chunk) Bools() []uint64 { return c.bools }

// Arena returns the bytes and the n+1 offsets of a plain text chunk: cell i is
// data[offs[i]:offs[i+1]]. It returns nils for a dictionary-encoded chunk.
func (c *Chunk) Arena() ([]byte, []uint32) { return c.data, c.offs }

// Dict returns the dictionary and the per-cell codes of a dictionary-encoded text chunk, and
// nils for a plain one.
func (c *Chunk) Dict() ([]string, []uint8) { return c.dict, c.codes }

// Text returns cell i of a text chunk without copying; "" when empty.
func (c *Chunk) Text(i int) string {
	if c.dict != nil {
		return c.dict[c.codes[i]]
	}
	a, b := c.offs[i], c.offs[i+1]
	if a == b {
		return ""
	}
	return unsafe.String(&c.data[a], int(b-a))
}

// Value returns cell i as a Value, given the column's type.
func (c *Chunk) Value(t FieldType, i int) Value {
	if !c.Has(i) {
		return Value{}
	}
	switch t {
	case TypeNumber:
		return Number(c.nums[i])
	case TypeDateTime:
		return Time(c.times[i])
	case TypeBoolean:
		return Bool(c.bools[i>>6]&(1<<(uint(i)&63)) != 0)
	default:
		return Text(c.Text(i))
	}
}

// encodeChunk builds a chunk of type t from at most ChunkSize values, which must be null or of
// the type's kind.
func encodeChunk(t FieldType, vals []Value) *Chunk {
	n := len(vals)
	present := make([]uint64, words(n))
	for i, v := range vals {
		if v.k != KindNull {
			present[i>>6] |= 1 << (uint(i) & 63)
		}
	}
	c := newChunk(n, present)
	switch t {
	case TypeNumber:
		c.nums = make([]float64, n)
		for i, v := range vals {
			c.nums[i] = v.Num()
		}
	case TypeDateTime:
		c.times = make([]int64, n)
		for i, v := range vals {
			c.times[i] = v.Millis()
		}
	case TypeBoolean:
		c.bools = make([]uint64, words(n))
		for i, v := range vals {
			if v.Bool() {
				c.bools[i>>6] |= 1 << (uint(i) & 63)
			}
		}
	default:
		size := 0
		for _, v := range vals {
			size += len(v.s)
		}
		data := make([]byte, 0, size)
		offs := make([]uint32, n+1)
		for i, v := range vals {
			data = append(data, v.s...)
			offs[i+1] = uint32(len(data))
		}
		c.data, c.offs = data, offs
		c.dictEncode()
	}
	return c
}

// A text chunk is dictionary-encoded when it holds at most maxDict distinct strings, each
// repeated dictMinRepeat times on average: a category or a city column then costs one byte per
// row, and filters test each distinct string once instead of once per row.
const (
	maxDict       = 255
	dictMinRepeat = 8
)

// dictEncode switches a plain text chunk to a dictionary when that pays; it reports whether it
// did. It gives up as soon as the chunk has too many distinct strings, so high-cardinality
// columns (ids, names) pay little for the attempt.
func (c *Chunk) dictEncode() bool {
	if c.n < dictMinRepeat*2 {
		return false
	}
	limit := min(maxDict, c.n/dictMinRepeat)
	index := make(map[string]uint8, 16)
	codes := make([]uint8, c.n)
	var dict []string
	for i := 0; i < c.n; i++ {
		s := c.Text(i)
		code, ok := index[s]
		if !ok {
			if len(dict) == limit {
				return false
			}
			code = uint8(len(dict))
			// copy: the dictionary must not keep the plain arena alive
			dict = append(dict, string([]byte(s)))
			index[dict[code]] = code
		}
		codes[i] = code
	}
	c.dict, c.codes, c.data, c.offs = dict, codes, nil, nil
	return true
}

func words(n int) int { return (n + 63) >> 6 }

// cellEdit sets cell off of a chunk to v.
type cellEdit struct {
	off int
	v   Value
}

// patched returns a copy of c, grown to n cells, with the edits applied in order (a later edit
// of the same cell wins); cells past c's end that no edit sets are empty. It copies the typed
// slices and sets the cells, keeping a dictionary-encoded chunk encoded while its dictionary has
// room, so a one-cell change costs a copy of one chunk of one column.
func (c *Chunk) patched(t FieldType, n int, edits []cellEdit) *Chunk {
	present := make([]uint64, words(n))
	copy(present, c.present)
	for _, e := range edits {
		if e.v.k == KindNull {
			present[e.off>>6] &^= 1 << (uint(e.off) & 63)
		} else {
			present[e.off>>6] |= 1 << (uint(e.off) & 63)
		}
	}
	out := newChunk(n, present)
	switch t {
	case TypeNumber:
		out.nums = make([]float64, n)
		copy(out.nums, c.nums)
		for _, e := range edits {
			out.nums[e.off] = e.v.Num()
		}
	case TypeDateTime:
		out.times = make([]int64, n)
		copy(out.times, c.times)
		for _, e := range edits {
			out.times[e.off] = e.v.Millis()
		}
	case TypeBoolean:
		out.bools = make([]uint64, words(n))
		copy(out.bools, c.bools)
		for _, e := range edits {
			if e.v.Bool() {
				out.bools[e.off>>6] |= 1 << (uint(e.off) & 63)
			} else {
				out.bools[e.off>>6] &^= 1 << (uint(e.off) & 63)
			}
		}
	default:
		if c.dict != nil && out.patchDict(c, edits) {
			break
		}
		out.patchText(c, edits)
	}
	return out
}

// patchDict sets out's cells from c's dictionary and the edits; it reports false, having done
// nothing, when the new strings would overflow the dictionary.
func (out *Chunk) patchDict(c *Chunk, edits []cellEdit) bool {
	dict := c.dict
	copied := false
	codes := make([]uint8, out.n)
	copy(codes, c.codes)
	empty := -1 // code of "", for cells past c's end
	for _, e := range edits {
		code := slicesIndex(dict, e.v.s)
		if code < 0 {
			if len(dict) == maxDict {
				return false
			}
			if !copied {
				dict, copied = append([]string(nil), dict...), true
			}
			code = len(dict)
			dict = append(dict, e.v.s)
		}
		codes[e.off] = uint8(code)
	}
	if out.n > c.n {
		if empty = slicesIndex(dict, ""); empty < 0 {
			if len(dict) == maxDict {
				return false
			}
			if !copied {
				dict = append([]string(nil), dict...)
			}
			empty = len(dict)
			dict = append(dict, "")
		}
		set := make([]bool, out.n-c.n)
		for _, e := range edits {
			if e.off >= c.n {
				set[e.off-c.n] = true
			}
		}
		for i, ok := range set {
			if !ok {
				codes[c.n+i] = uint8(empty)
			}
		}
	}
	out.dict, out.codes = dict, codes
	return true
}

// patchText rebuilds a plain arena with the edits applied.
func (out *Chunk) patchText(c *Chunk, edits []cellEdit) {
	override := make(map[int]string, len(edits))
	size := len(c.data)
	for _, e := range edits {
		override[e.off] = e.v.s
		size += len(e.v.s)
	}
	data := make([]byte, 0, size)
	offs := make([]uint32, out.n+1)
	for i := 0; i < out.n; i++ {
		if s, ok := override[i]; ok {
			data = append(data, s...)
		} else if i < c.n {
			data = append(data, c.Text(i)...)
		}
		offs[i+1] = uint32(len(data))
	}
	out.data, out.offs = data, offs
}

func slicesIndex(dict []string, s string) int {
	for i, d := range dict {
		if d == s {
			return i
		}
	}
	return -1
}

// Equal reports whether two chunks of type t hold the same cells. Chunks of one representation
// compare their slices directly, which is how a diff of two decodes of a big file skips the
// chunks an edit did not touch.
func (c *Chunk) Equal(t FieldType, o *Chunk) bool {
	if c == o {
		return true
	}
	if c.n != o.n || !wordsEqual(c.present, o.present, c.n) {
		return false
	}
	switch t {
	case TypeNumber:
		for i, v := range c.nums[:c.n] {
			if v != o.nums[i] && c.Has(i) {
				return false
			}
		}
		return true
	case TypeDateTime:
		for i, v := range c.times[:c.n] {
			if v != o.times[i] && c.Has(i) {
				return false
			}
		}
		return true
	case TypeBoolean:
		for w := 0; w < words(c.n); w++ {
			if (c.bools[w]^o.bools[w])&c.present[w] != 0 {
				return false
			}
		}
		return true
	}
	if c.dict == nil && o.dict == nil {
		return string(c.data) == string(o.data) && slicesEqual(c.offs[:c.n+1], o.offs[:c.n+1])
	}
	for i := 0; i < c.n; i++ {
		if c.Text(i) != o.Text(i) {
			return false
		}
	}
	return true
}

// wordsEqual compares the first n bits of two bitmaps.
func wordsEqual(a, b []uint64, n int) bool {
	for w := 0; w < words(n); w++ {
		x := a[w] ^ b[w]
		if w == words(n)-1 && n&63 != 0 {
			x &= 1<<(uint(n)&63) - 1
		}
		if x != 0 {
			return false
		}
	}
	return true
}

func slicesEqual(a, b []uint32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
