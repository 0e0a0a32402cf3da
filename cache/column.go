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

// The bulk constructors below build a column from whole-column slices without copying the
// cells: each chunk is a window onto the caller's slices, which the caller must not change
// afterwards. present is the bitmap of non-empty cells; it must have at least (n+63)/64 words.

// NewNumberColumn returns a number column over vals.
func NewNumberColumn(vals []float64, present []uint64) *Column {
	col := &Column{typ: TypeNumber}
	forEachWindow(len(vals), func(lo, hi int) {
		ch := newChunk(hi-lo, window(present, lo, hi))
		ch.nums = vals[lo:hi:hi]
		col.chunks = append(col.chunks, ch)
	})
	return col
}

// NewTimeColumn returns a datetime column over vals, in Unix milliseconds.
func NewTimeColumn(vals []int64, present []uint64) *Column {
	col := &Column{typ: TypeDateTime}
	forEachWindow(len(vals), func(lo, hi int) {
		ch := newChunk(hi-lo, window(present, lo, hi))
		ch.times = vals[lo:hi:hi]
		col.chunks = append(col.chunks, ch)
	})
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

// NewTextColumn returns a text column of len(offs)-1 cells: cell i is data[offs[i]:offs[i+1]].
// Chunks that repeat few distinct strings are dictionary-encoded; the others keep a window onto
// data.
func NewTextColumn(data []byte, offs []uint32, present []uint64) *Column {
	col := &Column{typ: TypeText}
	n := len(offs) - 1
	tryDict := true
	misses := 0
	forEachWindow(n, func(lo, hi int) {
		base := offs[lo]
		ch := newChunk(hi-lo, window(present, lo, hi))
		ch.data = data[base:offs[hi]:offs[hi]]
		ch.offs = make([]uint32, hi-lo+1)
		for i := range ch.offs {
			ch.offs[i] = offs[lo+i] - base
		}
		if tryDict {
			if ch.dictEncode() {
				misses = 0
			} else if misses++; misses >= 2 {
				// two chunks in a row did not pay: this column is not categorical
				tryDict = false
			}
		}
		col.chunks = append(col.chunks, ch)
	})
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

// AppendChunk adds a whole, full chunk as is (shared, not copied). The builder must be at a
// chunk boundary.
func (b *ColumnBuilder) appendChunk(c *Chunk) {
	b.flush()
	b.chunks = append(b.chunks, c)
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
