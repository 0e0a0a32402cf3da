package cache

// Column is one field's cells across a snapshot, in chunks. Columns are immutable: changes
// build a new Column that shares every untouched chunk with the old one.
type Column struct {
	typ    FieldType
	chunks []*Chunk
}

// Type returns the column's field type.
func (c *Column) Type() FieldType { return c.typ }

// NumChunks returns the number of chunks.
func (c *Column) NumChunks() int { return len(c.chunks) }

// Chunk returns the i-th chunk.
func (c *Column) Chunk(i int) *Chunk { return c.chunks[i] }

// Len returns the number of cells.
func (c *Column) Len() int {
	n := 0
	for _, ch := range c.chunks {
		n += ch.n
	}
	return n
}

// Value returns the cell at row r.
func (c *Column) Value(r RowID) Value { return c.chunks[r.Chunk()].Value(c.typ, r.Offset()) }

// The bulk constructors below build a column without copying the cells: each chunk keeps the
// caller's slices (or a window onto them), which the caller must not change afterwards. present
// is the bitmap of non-empty cells of the whole column; it must have at least (n+63)/64 words.

// Chunks whose cells are all empty share one array of zeros instead of holding their own: a
// column a file leaves blank (often _createdDate and _updatedDate) then costs nothing per row.
// Chunk slices are never written to, so sharing is safe.
var (
	zeroNums  [ChunkSize]float64
	zeroTimes [ChunkSize]int64
	zeroWords [ChunkWords]uint64
	zeroOffs  [ChunkSize + 1]uint32
)

// emptyColumn returns a column of type t whose chunks have the given lengths and no values. It
// allocates nothing per row: every chunk points at the shared zero arrays.
func emptyColumn(t FieldType, lens []int) *Column {
	col := &Column{typ: t}
	for _, n := range lens {
		ch := newChunk(n, zeroWords[:words(n):words(n)])
		switch t {
		case TypeNumber:
			ch.nums = zeroNums[:n:n]
		case TypeDateTime:
			ch.times = zeroTimes[:n:n]
		case TypeBoolean:
			ch.bools = zeroWords[:words(n):words(n)]
		default:
			ch.offs = zeroOffs[: n+1 : n+1]
		}
		col.chunks = append(col.chunks, ch)
	}
	return col
}

// NewNumberColumn returns a number column from per-chunk slices, taken as they are (every
// chunk but the last holds ChunkSize cells).
func NewNumberColumn(vals [][]float64, present []uint64) *Column {
	return newOrderedColumn(TypeNumber, vals, present, zeroNums[:], func(ch *Chunk, v []float64) { ch.nums = v })
}

// NewTimeColumn returns a datetime column, in Unix milliseconds, from per-chunk slices taken as
// they are (every chunk but the last holds ChunkSize cells).
func NewTimeColumn(vals [][]int64, present []uint64) *Column {
	return newOrderedColumn(TypeDateTime, vals, present, zeroTimes[:], func(ch *Chunk, v []int64) { ch.times = v })
}

func newOrderedColumn[T any](t FieldType, vals [][]T, present []uint64, zeros []T, set func(*Chunk, []T)) *Column {
	col := &Column{typ: t}
	for k, v := range vals {
		ch := newChunk(len(v), window(present, k*ChunkSize, k*ChunkSize+len(v)))
		if popcount(ch.present) == 0 {
			v = zeros[:len(v):len(v)]
		}
		set(ch, v)
		col.chunks = append(col.chunks, ch)
	}
	return col
}

// NewBoolColumn returns a boolean column of n cells whose true cells are set in vals.
func NewBoolColumn(n int, vals, present []uint64) *Column {
	col := &Column{typ: TypeBoolean}
	forEachWindow(n, func(lo, hi int) {
		ch := newChunk(hi-lo, window(present, lo, hi))
		ch.bools = window(vals, lo, hi)
		col.chunks = append(col.chunks, ch)
	})
	return col
}

// NewTextColumnChunks returns a text column from per-chunk arenas, taken as they are: chunk k
// holds len(offs[k])-1 cells, cell j being data[k][offs[k][j]:offs[k][j+1]]. Every chunk but the
// last must hold ChunkSize cells. Chunks that repeat few distinct strings are
// dictionary-encoded instead.
func NewTextColumnChunks(data [][]byte, offs [][]uint32, present []uint64) *Column {
	col := &Column{typ: TypeText}
	tryDict := true
	misses := 0
	for k := range data {
		n := len(offs[k]) - 1
		lo := k * ChunkSize
		ch := newChunk(n, window(present, lo, lo+n))
		ch.data, ch.offs = data[k], offs[k]
		if tryDict {
			if ch.dictEncode() {
				misses = 0
			} else if misses++; misses >= 2 {
				tryDict = false // two chunks in a row did not pay: this column is not categorical
			}
		}
		col.chunks = append(col.chunks, ch)
	}
	return col
}

func forEachWindow(n int, fn func(lo, hi int)) {
	for lo := 0; lo < n; lo += ChunkSize {
		fn(lo, min(lo+ChunkSize, n))
	}
}

// window returns the bitmap words of cells [lo, hi); lo is a multiple of ChunkSize.
func window(bits []uint64, lo, hi int) []uint64 {
	a, b := lo>>6, lo>>6+words(hi-lo)
	return bits[a:b:b]
}

// ColumnBuilder builds a column from values one at a time, for changes, query results and
// tests. Bulk loads use the New*Column constructors instead.
type ColumnBuilder struct {
	typ    FieldType
	chunks []*Chunk
	buf    []Value
}

// NewColumnBuilder returns a builder for a column of type t.
func NewColumnBuilder(t FieldType) *ColumnBuilder { return &ColumnBuilder{typ: t} }

// Append adds a cell. v must be null or of the column type's kind (see FieldType.Check).
func (b *ColumnBuilder) Append(v Value) {
	b.buf = append(b.buf, v)
	if len(b.buf) == ChunkSize {
		b.flush()
	}
}

func (b *ColumnBuilder) flush() {
	if len(b.buf) > 0 {
		b.chunks = append(b.chunks, encodeChunk(b.typ, b.buf))
		b.buf = b.buf[:0]
	}
}

// Build returns the column. The builder must not be used afterwards.
func (b *ColumnBuilder) Build() *Column {
	b.flush()
	return &Column{typ: b.typ, chunks: b.chunks}
}
