package ingest

import (
	"cmp"
	"maps"
	"slices"

	"github.com/sheetsync/sheetsync/cache"
)

// sheetWrite is the write-back of one sheet, found by comparing the rows API writes changed in
// the store with the sheet's last-synced content: cells to set on rows found by _id, rows to
// leave out, rows to append, and header cells to name. change is the same edit as a ChangeSet,
// which turns the last-synced content into what the file holds once written.
type sheetWrite struct {
	cols    *sheetColumns // the sheet's columns once written
	set     map[string][]cellPatch
	drop    map[string]bool
	appends [][]cellPatch
	header  []cellPatch
	change  cache.ChangeSet
	// formulas are the columns of formula fields: a new row of a workbook gets the formula of
	// the row above, filled down
	formulas []int
}

func (w *sheetWrite) empty() bool {
	return len(w.set) == 0 && len(w.drop) == 0 && len(w.appends) == 0
}

// planWrite compares the store's rows (cur) that d names with the sheet's last-synced content.
// Only cells whose value differs are written, so a write never touches a cell it did not
// change: a formula column (read-only to the API) and every other cell keep their bytes.
func planWrite(sh *trackedSheet, cur *cache.Snapshot, d *dirtyRows) *sheetWrite {
	base := sh.base
	w := &sheetWrite{cols: sh.cols, set: map[string][]cellPatch{}, drop: map[string]bool{}}
	ids := d.ids
	if d.truncate {
		ids = make(map[string]struct{}, len(d.ids)+base.Len())
		for id := range d.ids {
			ids[id] = struct{}{}
		}
		base.Rows(func(r cache.RowID) bool {
			ids[base.ID(r)] = struct{}{}
			return true
		})
	}
	named := map[string]bool{}
	place := func(key string, v cache.Value) (cellPatch, bool) {
		pos, ok := w.cols.pos[key]
		if !ok {
			return cellPatch{}, false // a field the file has no column for
		}
		if w.cols.absent[key] && !v.IsNull() {
			named[key] = true
		}
		return cellPatch{col: pos, value: v}, true
	}
	schema := cur.Schema()
	for i := 0; i < schema.Len(); i++ {
		if fd := schema.Field(i); fd.ReadOnly {
			if pos, ok := w.cols.pos[fd.Key]; ok {
				w.formulas = append(w.formulas, pos)
			}
		}
	}
	// rows go in the order the store holds them, so new rows are appended in the order they
	// were inserted
	order := slices.Sorted(maps.Keys(ids))
	rowOf := make(map[string]int64, len(order))
	for _, id := range order {
		rowOf[id] = -1
		if r, ok := cur.Lookup(id); ok {
			rowOf[id] = int64(r)
		}
	}
	slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(rowOf[a], rowOf[b]) })
	for _, id := range order {
		br, inBase := base.Lookup(id)
		cr, inCur := cur.Lookup(id)
		switch {
		case inBase && !inCur:
			w.drop[id] = true
			w.change.Remove = append(w.change.Remove, id)
		case inCur && !inBase:
			var row []cellPatch
			item := cache.Item{}
			for i := 0; i < schema.Len(); i++ {
				key, v := schema.Field(i).Key, cur.Value(cr, i)
				if v.IsNull() {
					continue
				}
				if p, ok := place(key, v); ok {
					row = append(row, p)
					item[key] = v
				}
			}
			sortPatches(row)
			w.appends = append(w.appends, row)
			w.change.Insert = append(w.change.Insert, item)
		case inCur && inBase:
			var cells []cellPatch
			var item cache.Item
			for i := 0; i < schema.Len(); i++ {
				key, v := schema.Field(i).Key, cur.Value(cr, i)
				was := cache.Value{}
				if j, ok := base.Schema().Index(key); ok {
					was = base.Value(br, j)
				}
				if v.Equal(was) || sh.servedDate(id, key, v) {
					continue
				}
				if p, ok := place(key, v); ok {
					cells = append(cells, p)
					if item == nil {
						item = cache.Item{cache.FieldID: cache.Text(id)}
					}
					item[key] = v
				}
			}
			if len(cells) == 0 {
				continue
			}
			sortPatches(cells)
			w.set[id] = cells
			w.change.Update = append(w.change.Update, item)
		}
	}
	var keys []string
	for key := range named {
		keys = append(keys, key)
		w.header = append(w.header, cellPatch{record: w.cols.header, col: w.cols.pos[key], value: cache.Text(key)})
	}
	sortPatches(w.header)
	w.cols = w.cols.named(keys)
	return w
}

// servedDate reports whether v is the date sheetsync serves for a row's system date field while
// the file holds another (a row edited in the file gets _updatedDate then, which is not written
// into a file a person may have open): that difference is not a change to write.
func (sh *trackedSheet) servedDate(id, key string, v cache.Value) bool {
	d, ok := sh.dates[id]
	switch {
	case !ok:
		return false
	case key == cache.FieldUpdatedDate:
		return d.Updated != 0 && v.Equal(cache.Time(d.Updated))
	case key == cache.FieldCreatedDate:
		return d.Created != 0 && v.Equal(cache.Time(d.Created))
	}
	return false
}

// sortPatches orders one row's patches by column.
func sortPatches(ps []cellPatch) {
	slices.SortFunc(ps, func(a, b cellPatch) int { return cmp.Compare(a.col, b.col) })
}
