package cache

import "fmt"

// Snapshot is one immutable version of a collection: its schema, one column per field, which
// rows are live, and the _id index. Readers hold a *Snapshot for as long as they like; changes
// produce a new Snapshot that shares every untouched chunk with this one.
//
// Rows are addressed by RowID. Removed rows stay in their chunk as dead slots until the
// collection is compacted, so a row keeps its RowID for the life of a snapshot chain and the
// _id index never has to move entries.
type Snapshot struct {
	name    string
	version uint64
	schema  *Schema
	cols    []*Column
	lens    []int      // slots per chunk, dead ones included
	live    [][]uint64 // per chunk; nil means every slot of that chunk is live
	rows    int        // live rows
	ids     *idIndex
	idCol   int // index of _id in cols, -1 when the schema has none
}

// Table is a collection's content as columns, the input of NewSnapshot: what a decoder produces
// from a file, or a query from a computed result.
type Table struct {
	Schema  *Schema
	Columns []*Column // one per field, in schema order, all of equal length

	shareIDs *idIndex // set by NewSnapshotLike: an index known to match the _id column
}

// NewSnapshot checks t and returns it as version 0 of collection name. Every row must have a
// unique _id when the schema has that field (ErrDuplicateID names the first repeat).
func NewSnapshot(name string, t Table) (*Snapshot, error) {
	if t.Schema == nil || len(t.Columns) != t.Schema.Len() {
		return nil, &ValidationError{Collection: name, Reason: "columns do not match the schema"}
	}
	s := &Snapshot{name: name, schema: t.Schema, cols: t.Columns, idCol: -1}
	for i, col := range t.Columns {
		f := t.Schema.Field(i)
		if col.typ != f.Type {
			return nil, &ValidationError{Collection: name, Field: f.Key, Reason: fmt.Sprintf("column is %s, field is %s", col.typ, f.Type)}
		}
		if i == 0 {
			for _, ch := range col.chunks {
				s.lens = append(s.lens, ch.n)
				s.rows += ch.n
			}
			continue
		}
		if len(col.chunks) != len(s.lens) {
			return nil, &ValidationError{Collection: name, Field: f.Key, Reason: "column length differs from the others"}
		}
		for c, ch := range col.chunks {
			if ch.n != s.lens[c] {
				return nil, &ValidationError{Collection: name, Field: f.Key, Reason: "column length differs from the others"}
			}
		}
	}
	for c, n := range s.lens {
		if n != ChunkSize && c != len(s.lens)-1 {
			return nil, &ValidationError{Collection: name, Reason: "only the last chunk may be partial"}
		}
	}
	s.live = make([][]uint64, len(s.lens))
	if i, ok := t.Schema.Index(FieldID); ok {
		s.idCol = i
		for c, ch := range s.cols[i].chunks {
			if popcount(ch.present) != ch.n {
				return nil, &ValidationError{Collection: name, Field: FieldID, Reason: fmt.Sprintf("row %d has no _id", c*ChunkSize+firstClear(ch.present, ch.n)+1)}
			}
		}
		if t.shareIDs != nil {
			s.ids = t.shareIDs // immutable, and shards are copied before any change
		} else {
			ids, dup, found := buildIDIndex(s.cols[i], s.liveChunk)
			if found {
				return nil, fmt.Errorf("collection %s: %w %q", name, ErrDuplicateID, dup)
			}
			s.ids = ids
		}
	}
	return s, nil
}

// NewSnapshotLike is NewSnapshot for a table that is likely a new read of like's: when its _id
// column holds the same ids in the same places (a file edited in place), like's _id index is
// shared instead of built again, which on a million rows saves a fifth of a second.
func NewSnapshotLike(name string, t Table, like *Snapshot) (*Snapshot, error) {
	if like == nil || like.ids == nil || !sameIDs(t, like) {
		return NewSnapshot(name, t)
	}
	s, err := NewSnapshot(name, Table{Schema: t.Schema, Columns: t.Columns, shareIDs: like.ids})
	return s, err
}

func sameIDs(t Table, like *Snapshot) bool {
	i, ok := t.Schema.Index(FieldID)
	if !ok || len(t.Columns) != t.Schema.Len() {
		return false
	}
	col, old := t.Columns[i], like.cols[like.idCol]
	if col.NumChunks() != old.NumChunks() {
		return false
	}
	for c := range col.chunks {
		if like.live[c] != nil || !col.chunks[c].Equal(TypeText, old.chunks[c]) {
			return false
		}
	}
	return true
}

// Name returns the collection name.
func (s *Snapshot) Name() string { return s.name }

// Version identifies this snapshot. Versions are unique across all collections of a Store, so
// (name, version) keys derived data that never goes stale.
func (s *Snapshot) Version() uint64 { return s.version }

// Schema returns the collection's fields.
func (s *Snapshot) Schema() *Schema { return s.schema }

// Len returns the number of live rows.
func (s *Snapshot) Len() int { return s.rows }

// NumChunks returns the number of chunks every column has.
func (s *Snapshot) NumChunks() int { return len(s.lens) }

// ChunkLen returns the number of slots, live or dead, in chunk c.
func (s *Snapshot) ChunkLen(c int) int { return s.lens[c] }

// Live returns the bitmap of live slots in chunk c, or nil when all of them are live.
func (s *Snapshot) Live(c int) []uint64 { return s.live[c] }

func (s *Snapshot) liveChunk(c int) []uint64 { return s.live[c] }

// Column returns the column of the i-th field.
func (s *Snapshot) Column(i int) *Column { return s.cols[i] }

// Value returns the cell of field i at row r.
func (s *Snapshot) Value(r RowID, field int) Value { return s.cols[field].Value(r) }

// ID returns the _id of row r, "" when the collection has no _id field.
func (s *Snapshot) ID(r RowID) string {
	if s.idCol < 0 {
		return ""
	}
	return s.cols[s.idCol].Value(r).Str()
}

// Lookup returns the live row whose _id is id.
func (s *Snapshot) Lookup(id string) (RowID, bool) {
	if s.ids == nil {
		return 0, false
	}
	return s.ids.find(s.cols[s.idCol], id)
}

// Rows calls fn for every live row in natural order until fn returns false.
func (s *Snapshot) Rows(fn func(RowID) bool) {
	for c, n := range s.lens {
		lv := s.live[c]
		for i := 0; i < n; i++ {
			if lv != nil && lv[i>>6]&(1<<(uint(i)&63)) == 0 {
				continue
			}
			if !fn(MakeRowID(c, i)) {
				return
			}
		}
	}
}

// Row returns the values of row r in schema order.
func (s *Snapshot) Row(r RowID) []Value {
	out := make([]Value, len(s.cols))
	for i, col := range s.cols {
		out[i] = col.Value(r)
	}
	return out
}

// Empty returns a snapshot of collection name with the given schema and no rows.
func Empty(name string, schema *Schema) *Snapshot {
	cols := make([]*Column, schema.Len())
	for i := range cols {
		cols[i] = &Column{typ: schema.Field(i).Type}
	}
	s, err := NewSnapshot(name, Table{Schema: schema, Columns: cols})
	if err != nil {
		panic(err) // cannot happen: no rows, and the schema was already checked
	}
	return s
}

// FromRows builds a snapshot from rows of values in schema order, checking each value's type.
// It is for small tables: tests, fixtures and computed results.
func FromRows(name string, schema *Schema, rows [][]Value) (*Snapshot, error) {
	builders := make([]*ColumnBuilder, schema.Len())
	for i := range builders {
		builders[i] = NewColumnBuilder(schema.Field(i).Type)
	}
	for r, row := range rows {
		if len(row) != schema.Len() {
			return nil, &ValidationError{Collection: name, Reason: fmt.Sprintf("row %d has %d values for %d fields", r+1, len(row), schema.Len())}
		}
		for i, v := range row {
			f := schema.Field(i)
			if !f.Type.Check(v) {
				return nil, &ValidationError{Collection: name, Field: f.Key, Reason: fmt.Sprintf("row %d: %s value in a %s field", r+1, v.Kind(), f.Type)}
			}
			builders[i].Append(v)
		}
	}
	cols := make([]*Column, len(builders))
	for i, b := range builders {
		cols[i] = b.Build()
	}
	return NewSnapshot(name, Table{Schema: schema, Columns: cols})
}
