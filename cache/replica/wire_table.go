package replica

import (
	"encoding/binary"
	"fmt"

	"github.com/sheetsync/sheetsync/cache"
)

// A table is its schema, its row count, then one column after another, each prefixed with its
// size in bytes. Column by column is how the cache holds a table, so encoding copies typed runs
// instead of building rows, and a column of one type compresses (numbers as scaled integers,
// instants as deltas) where rows of mixed types would not.

// Field types on the wire, numbered here so that renumbering cache's constants cannot change the
// meaning of logged messages.
const (
	wireText     = 1
	wireNumber   = 2
	wireBoolean  = 3
	wireDateTime = 4
)

// Field flag bits.
const (
	fieldReadOnly   = 1 << 0
	knownFieldFlags = fieldReadOnly
)

func appendSchema(b []byte, s *cache.Schema) ([]byte, error) {
	if s.Len() > maxFields {
		return nil, fmt.Errorf("%d fields, over the limit of %d", s.Len(), maxFields)
	}
	b = binary.AppendUvarint(b, uint64(s.Len()))
	for i := range s.Len() {
		f := s.Field(i)
		t, err := wireType(f.Type)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Key, err)
		}
		b = appendString(b, f.Key)
		var flags byte
		if f.ReadOnly {
			flags |= fieldReadOnly
		}
		b = append(b, t, flags)
		b = appendString(b, f.Ref)
	}
	return b, nil
}

func wireType(t cache.FieldType) (byte, error) {
	switch t {
	case cache.TypeText:
		return wireText, nil
	case cache.TypeNumber:
		return wireNumber, nil
	case cache.TypeBoolean:
		return wireBoolean, nil
	case cache.TypeDateTime:
		return wireDateTime, nil
	}
	return 0, fmt.Errorf("field type %s has no wire encoding", t)
}

func readSchema(r *reader) (*cache.Schema, error) {
	at := r.off
	// a field takes at least four bytes: key length, type, flags, ref length
	n, err := r.count("field count", 4, maxFields)
	if err != nil {
		return nil, err
	}
	fields := make([]cache.Field, n)
	for i := range fields {
		if fields[i], err = readField(r); err != nil {
			return nil, fmt.Errorf("field %d: %w", i, err)
		}
	}
	s, err := cache.NewSchema(fields)
	if err != nil {
		return nil, r.errorAt(at, "invalid schema: %v", err)
	}
	return s, nil
}

func readField(r *reader) (f cache.Field, err error) {
	if f.Key, err = r.string("key"); err != nil {
		return f, err
	}
	t, err := r.byte("type")
	if err != nil {
		return f, err
	}
	switch t {
	case wireText:
		f.Type = cache.TypeText
	case wireNumber:
		f.Type = cache.TypeNumber
	case wireBoolean:
		f.Type = cache.TypeBoolean
	case wireDateTime:
		f.Type = cache.TypeDateTime
	default:
		return f, r.errorf("type: unknown %d", t)
	}
	flags, err := r.byte("flags")
	if err != nil {
		return f, err
	}
	if flags&^knownFieldFlags != 0 {
		return f, r.errorf("flags: unknown bits %#x", flags&^knownFieldFlags)
	}
	f.ReadOnly = flags&fieldReadOnly != 0
	f.Ref, err = r.string("ref")
	return f, err
}

// tableRows checks that t is a table a store could take: a schema, and one column per field of
// the field's type, all of one length. It returns that length.
func tableRows(t *cache.Table) (int, error) {
	if t.Schema == nil {
		return 0, fmt.Errorf("no schema")
	}
	if len(t.Columns) != t.Schema.Len() {
		return 0, fmt.Errorf("%d columns for %d fields", len(t.Columns), t.Schema.Len())
	}
	n := 0
	for i, col := range t.Columns {
		f := t.Schema.Field(i)
		switch {
		case col == nil:
			return 0, fmt.Errorf("field %q: no column", f.Key)
		case col.Type() != f.Type:
			return 0, fmt.Errorf("field %q: column is %s, field is %s", f.Key, col.Type(), f.Type)
		case i == 0:
			n = col.Len()
		case col.Len() != n:
			return 0, fmt.Errorf("field %q: %d cells, the first column has %d", f.Key, col.Len(), n)
		}
	}
	if n > maxRows {
		return 0, fmt.Errorf("%d rows, over the limit of %d", n, maxRows)
	}
	return n, nil
}

func appendTable(b []byte, t *cache.Table) ([]byte, error) {
	n, err := tableRows(t)
	if err != nil {
		return nil, err
	}
	if b, err = appendSchema(b, t.Schema); err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, uint64(n))
	for _, col := range t.Columns {
		at := len(b)
		b = binary.LittleEndian.AppendUint64(b, 0) // the column's size, set below
		switch col.Type() {
		case cache.TypeNumber:
			b = appendNumberColumn(b, col, n)
		case cache.TypeDateTime:
			b = appendTimeColumn(b, col, n)
		case cache.TypeBoolean:
			b = appendBoolColumn(b, col, n)
		default:
			b = appendTextColumn(b, col, n)
		}
		binary.LittleEndian.PutUint64(b[at:], uint64(len(b)-at-8))
	}
	return b, nil
}

func readTable(r *reader) (*cache.Table, error) {
	s, err := readSchema(r)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	v, err := r.uvarint("row count")
	if err != nil {
		return nil, err
	}
	switch {
	case v > maxRows:
		return nil, r.errorf("row count: %d is over the limit of %d", v, maxRows)
	case s.Len() == 0 && v != 0:
		return nil, r.errorf("row count: %d rows in a table of no fields", v)
	}
	n := int(v)
	t := &cache.Table{Schema: s, Columns: make([]*cache.Column, s.Len())}
	for i := range t.Columns {
		f := s.Field(i)
		if t.Columns[i], err = readColumn(r, f.Type, n); err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Key, err)
		}
	}
	return t, nil
}

// readColumn reads one size-prefixed column through a reader bounded to its bytes, which must
// all be used: a column that ends early or late is corrupt, whatever the rest says.
func readColumn(r *reader, t cache.FieldType, n int) (*cache.Column, error) {
	size, err := r.uint64("column size")
	if err != nil {
		return nil, err
	}
	if size > uint64(r.left()) {
		return nil, r.errorf("column size: %d bytes, %d left", size, r.left())
	}
	end := r.off + int(size)
	cr := &reader{b: r.b[:end], off: r.off} // offsets stay those of the whole message
	var col *cache.Column
	switch t {
	case cache.TypeNumber:
		col, err = readNumberColumn(cr, n)
	case cache.TypeDateTime:
		col, err = readTimeColumn(cr, n)
	case cache.TypeBoolean:
		col, err = readBoolColumn(cr, n)
	default:
		col, err = readTextColumn(cr, n)
	}
	if err == nil && cr.left() != 0 {
		err = cr.errorAt(cr.off, "%d bytes left over at the end of the column", cr.left())
	}
	r.off = end
	return col, err
}

// tableSizeHint guesses a table's encoded size from its columns without visiting its cells.
func tableSizeHint(t *cache.Table) int {
	n := 16
	for _, col := range t.Columns {
		if col == nil {
			continue
		}
		cells := col.Len()
		n += 16 + cells/8
		switch col.Type() {
		case cache.TypeNumber, cache.TypeDateTime:
			n += 9 * cells
		case cache.TypeBoolean:
			n += cells / 8
		default:
			n += textSizeHint(col)
		}
	}
	return n
}
