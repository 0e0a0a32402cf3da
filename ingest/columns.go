package ingest

// sheetColumns is where a sheet's fields are in its file, for writing rows back: the header's
// record (CSV record from 0, XLSX row from 1), each field's column, and the system fields the
// file has no header cell for yet (served anyway, at the right of the widest row; their header
// is written with the first value written into them).
type sheetColumns struct {
	header int
	pos    map[string]int
	absent map[string]bool
}

// columns returns the sheet's columns as read; named says the header cells of the added system
// columns were written (with the ids of rows that had none).
func (t *tableBuilder) columns(named bool) *sheetColumns {
	c := &sheetColumns{header: t.headerR, pos: map[string]int{}, absent: map[string]bool{}}
	for _, col := range t.served() {
		c.pos[col.key] = col.pos
	}
	if !named {
		for _, col := range t.added {
			c.absent[col.key] = true
		}
	}
	return c
}

// named returns a copy of c with the given absent fields' header cells written.
func (c *sheetColumns) named(keys []string) *sheetColumns {
	if len(keys) == 0 {
		return c
	}
	out := &sheetColumns{header: c.header, pos: c.pos, absent: map[string]bool{}}
	for k := range c.absent {
		out.absent[k] = true
	}
	for _, k := range keys {
		delete(out.absent, k)
	}
	return out
}

// width returns the number of columns the sheet's fields span.
func (c *sheetColumns) width() int {
	w := 0
	for _, pos := range c.pos {
		w = max(w, pos+1)
	}
	return w
}

// headerWidth returns the number of columns up to the last one the header names.
func (c *sheetColumns) headerWidth() int {
	w := 0
	for key, pos := range c.pos {
		if !c.absent[key] {
			w = max(w, pos+1)
		}
	}
	return w
}
