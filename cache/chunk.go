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

// values decodes the whole chunk, for rebuilding it with changes.
func (c *Chunk) values(t FieldType) []Value {
	out := make([]Value, c.n)
	for i := range out {
		out[i] = c.Value(t, i)
	}
	return out
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
