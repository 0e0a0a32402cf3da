package ingest

import (
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"strconv"
	"strings"

	"github.com/sheetsync/sheetsync/cache"
)

// tableBuilder reads the rows of one table (a CSV file or a worksheet) into typed columns
// (DESIGN §3): the first non-empty row names the fields; system columns are recognised by name
// wherever they are and added at the right when missing; rows without _id are listed so they
// can be given one; a row repeating an earlier _id is reported and left out.
type tableBuilder struct {
	path, sheet string

	header     bool            // the header row has been read
	headerR    int             // physical record of the header
	headerLine int             // its line, for messages
	spelled    map[string]bool // names the header spells out, not to be taken by renaming
	cols       []*colBuilder   // by file position; nil where a header cell is empty and no cell has data
	byKey      map[string]*colBuilder
	width      int           // widest row seen
	hwidth     int           // cells in the header row
	added      []*colBuilder // system columns the file lacks, added at the right

	rows    int
	offsets chunked[int64] // where each record starts in the file (CSV only; for the incremental path)
	records chunked[int32] // physical record of each data row
	lines   chunked[int32] // line of each data row, for messages

	dialect     csvDialect // a CSV file's dialect
	missing     []int      // data rows without _id
	dropped     []int      // data rows left out (duplicate _id)
	problems    []Problem
	ragged      int // data rows wider than the header
	firstRagged int // the line of the first of them
}

func newTableBuilder(path, sheet string) *tableBuilder {
	return &tableBuilder{path: path, sheet: sheet, byKey: map[string]*colBuilder{}}
}

// read consumes every row of r, checking ctx and reporting progress (data rows so far) every
// few thousand rows.
func (t *tableBuilder) read(ctx context.Context, r rowReader, progress func(rows int)) error {
	at, offsets := r.(interface{ offset() int64 })
	for n := 1; ; n++ {
		if n&(1<<14-1) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if progress != nil {
				progress(t.rows)
			}
		}
		row, err := r.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		record, line := r.pos()
		if offsets {
			t.offsets.add(at.offset())
		}
		if isBlank(row) {
			continue
		}
		if !t.header {
			t.readHeader(row, record, line)
			continue
		}
		t.addRow(row, record, line)
	}
}

func isBlank(row []cell) bool {
	for i := range row {
		if row[i].kind != cellEmpty {
			return false
		}
	}
	return true
}

// readHeader names the fields from the first non-empty row: the header text, trimmed; an empty
// header cell is named column_N after its position; a repeated name gets _2, _3, ... skipping
// names that other header cells spell out (so "a,a,a_2" serves a, a_3 and a_2).
func (t *tableBuilder) readHeader(row []cell, record, line int) {
	t.header, t.headerR, t.headerLine = true, record, line
	t.cols = make([]*colBuilder, len(row))
	t.width, t.hwidth = len(row), len(row)
	t.spelled = map[string]bool{}
	for pos := range row {
		t.spelled[strings.TrimSpace(string(row[pos].text))] = true
	}
	for pos := range row {
		name := strings.TrimSpace(string(row[pos].text))
		if name == "" {
			continue // named later, if any row has data in this column
		}
		t.addColumn(name, pos)
	}
}

func (t *tableBuilder) addColumn(name string, pos int) *colBuilder {
	key := name
	for n := 2; t.byKey[key] != nil || (key != name && t.spelled[key]); n++ {
		key = name + "_" + strconv.Itoa(n)
	}
	if key != name {
		t.problem(t.headerLine, pos+1, key, fmt.Sprintf("the header %q repeats; this column is served as %q", name, key))
	}
	fixed, _ := cache.SystemFieldType(key)
	c := newColBuilder(key, pos, fixed, t.rows)
	for len(t.cols) <= pos {
		t.cols = append(t.cols, nil)
	}
	t.cols[pos] = c
	t.byKey[key] = c
	return c
}

func (t *tableBuilder) addRow(row []cell, record, line int) {
	i := t.rows
	if len(row) > t.width {
		t.width = len(row)
	}
	if lastNonEmpty(row) >= t.hwidth {
		if t.ragged == 0 {
			t.firstRagged = line
		}
		t.ragged++
	}
	for pos := range row {
		if pos >= len(t.cols) || t.cols[pos] == nil {
			if row[pos].kind == cellEmpty {
				continue
			}
			t.addColumn("column_"+strconv.Itoa(pos+1), pos)
		}
		if msg := t.cols[pos].add(&row[pos]); msg != "" {
			t.problem(line, pos+1, t.cols[pos].key, msg)
		}
	}
	for pos := len(row); pos < len(t.cols); pos++ {
		if t.cols[pos] != nil {
			t.cols[pos].addEmpty()
		}
	}
	t.rows++
	t.records.add(int32(record))
	t.lines.add(int32(line))
	if c := t.byKey[cache.FieldID]; c == nil || !c.has(i) {
		t.missing = append(t.missing, i)
	}
}

func lastNonEmpty(row []cell) int {
	for i := len(row) - 1; i >= 0; i-- {
		if row[i].kind != cellEmpty {
			return i
		}
	}
	return -1
}

func (t *tableBuilder) problem(line, col int, field, msg string) {
	t.problems = append(t.problems, Problem{Path: t.path, Sheet: t.sheet, Row: line, Column: col, Field: field, Message: msg})
}

// finish adds missing system columns, checks sizes and finds duplicate ids. After it, missing
// lists the rows that need an _id and dropped the rows left out.
func (t *tableBuilder) finish() error {
	switch {
	case t.ragged == 1:
		t.problem(t.firstRagged, 0, "", "this row has more cells than the header names; the extra cells are served as column_N fields")
	case t.ragged > 1:
		t.problem(t.firstRagged, 0, "", fmt.Sprintf("this row and %d more have more cells than the header names; the extra cells are served as column_N fields", t.ragged-1))
	}
	next := t.width
	for _, f := range cache.SystemFields {
		if t.byKey[f.Key] == nil {
			t.added = append(t.added, t.addColumn(f.Key, next))
			next++
		}
	}
	for _, c := range t.cols {
		if c != nil && c.tooLarge {
			return &ParseError{Path: t.path, Sheet: t.sheet, Column: c.pos + 1, Err: fmt.Errorf("column %s holds more than 4 GiB of text", c.key)}
		}
	}
	t.findDuplicates()
	return nil
}

// findDuplicates leaves out every row whose _id an earlier row already has ("does not
// overwrite the first").
func (t *tableBuilder) findDuplicates() {
	ids := t.byKey[cache.FieldID]
	seed := maphash.MakeSeed()
	first := make(map[uint64]int32, ids.counts.values)
	var collide map[string]int
	for i := 0; i < t.rows; i++ {
		if !ids.has(i) {
			continue
		}
		id := ids.text(i)
		h := maphash.String(seed, id)
		j, seen := first[h]
		if !seen {
			first[h] = int32(i)
			continue
		}
		if ids.text(int(j)) != id {
			// two ids with one hash: fall back to an exact map for these
			if collide == nil {
				collide = map[string]int{}
			}
			if k, ok := collide[id]; ok {
				t.duplicate(i, k, id)
			} else {
				collide[id] = i
			}
			continue
		}
		t.duplicate(i, int(j), id)
	}
	if len(t.dropped) == 0 {
		return
	}
	for _, c := range t.cols {
		if c != nil {
			c.drop(t.dropped)
		}
	}
	t.records = t.records.without(t.dropped)
	t.lines = t.lines.without(t.dropped)
	t.rows -= len(t.dropped)
	// rows without _id keep their order; renumber them past the dropped rows (both lists are
	// ascending, so one merge pass does it)
	d := 0
	for k, i := range t.missing {
		for d < len(t.dropped) && t.dropped[d] < i {
			d++
		}
		t.missing[k] = i - d
	}
}

func (t *tableBuilder) duplicate(i, first int, id string) {
	t.dropped = append(t.dropped, i)
	t.problem(int(t.lines.at(i)), t.byKey[cache.FieldID].pos+1, cache.FieldID,
		fmt.Sprintf("_id %q repeats row %d; this row is left out until one of them changes", id, t.lines.at(first)))
}

// served returns the columns that are served, in file order.
func (t *tableBuilder) served() []*colBuilder {
	var out []*colBuilder
	for _, c := range t.cols {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// declare sets the declared types of the table's fields (system fields keep their own).
func (t *tableBuilder) declare(fields map[string]cache.Field) {
	for key, f := range fields {
		if c := t.byKey[key]; c != nil && c.fixed == 0 {
			c.declared, c.ref = f.Type, f.Ref
		}
	}
}

// table returns the decoded table. Every row must have an _id by now.
func (t *tableBuilder) table() (cache.Table, error) {
	cols := t.served()
	fields := make([]cache.Field, len(cols))
	columns := make([]*cache.Column, len(cols))
	for i, c := range cols {
		fields[i] = cache.Field{Key: c.key, Type: c.fieldType(), ReadOnly: c.formula}
		if fields[i].Type == cache.TypeText {
			fields[i].Ref = c.ref
		}
		columns[i] = c.column()
	}
	schema, err := cache.NewSchema(fields)
	if err != nil {
		return cache.Table{}, &ParseError{Path: t.path, Sheet: t.sheet, Err: err}
	}
	return cache.Table{Schema: schema, Columns: columns}, nil
}
