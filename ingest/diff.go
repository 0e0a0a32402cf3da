package ingest

import (
	"github.com/sheetsync/sheetsync/cache"
)

// diffStats counts what a diff found.
type diffStats struct {
	inserted, updated, removed int
	schema                     bool
	// dated holds the rows whose system dates the diff set to now because the file had none
	// to give: they are served but not in the file.
	dated map[string]servedDates
}

func (d diffStats) empty() bool {
	return d.inserted == 0 && d.updated == 0 && d.removed == 0 && !d.schema
}

// diffTables compares two decodes of one table, base (as last synced) and next (as the file is
// now), row by row by _id, and returns the change that turns base into next (DESIGN §4, the
// file's side of the three-way merge): rows only in next are inserts, rows only in base are
// removals, and rows in both are updates of just the fields whose cells changed. New, removed or
// retyped columns make a schema change.
//
// System dates follow the file where a person edited them. Otherwise a row that really changed
// gets _updatedDate now, and an inserted row without dates gets both dates now; rows that did
// not change are not touched, so their _updatedDate stays as it was.
func diffTables(base, next *cache.Snapshot, now int64) (cache.ChangeSet, diffStats) {
	var cs cache.ChangeSet
	st := diffStats{dated: map[string]servedDates{}}
	bs, ns := base.Schema(), next.Schema()
	// where each of next's fields was in base; -1 for a field that is new or changed type
	from := make([]int, ns.Len())
	for i := range from {
		f := ns.Field(i)
		from[i] = -1
		if j, ok := bs.Index(f.Key); ok && bs.Field(j).Type == f.Type {
			from[i] = j
		}
	}
	if !sameFields(bs, ns) {
		cs.Schema, st.schema = ns, true
	}
	nextID, _ := ns.Index(cache.FieldID)
	baseID, _ := bs.Index(cache.FieldID)

	compare := func(nr, br cache.RowID) {
		var item cache.Item
		for i, j := range from {
			nv := next.Value(nr, i)
			if j >= 0 {
				if nv.Equal(base.Value(br, j)) {
					continue
				}
			} else if nv.IsNull() {
				continue // a new column's empty cell is already empty
			}
			if item == nil {
				item = cache.Item{cache.FieldID: next.Value(nr, nextID)}
			}
			item[ns.Field(i).Key] = nv
		}
		if item == nil {
			return
		}
		if _, edited := item[cache.FieldUpdatedDate]; !edited {
			item[cache.FieldUpdatedDate] = cache.Time(now)
			st.dated[item.ID()] = servedDates{Updated: now}
		}
		cs.Update = append(cs.Update, item)
	}
	if sameRowOrder(base, next, baseID, nextID) {
		// rows are where they were: only the rows of chunks that differ can have changed
		changed := make([]bool, next.NumChunks())
		for i, j := range from {
			for c := range changed {
				if !changed[c] && (j < 0 || !next.Column(i).Chunk(c).Equal(ns.Field(i).Type, base.Column(j).Chunk(c))) {
					changed[c] = true
				}
			}
		}
		for c, ok := range changed {
			for k := 0; ok && k < next.ChunkLen(c); k++ {
				r := cache.MakeRowID(c, k)
				compare(r, r)
			}
		}
	} else {
		base.Rows(func(r cache.RowID) bool {
			if id := base.Value(r, baseID).Str(); !hasID(next, id) {
				cs.Remove = append(cs.Remove, id)
			}
			return true
		})
		next.Rows(func(nr cache.RowID) bool {
			id := next.Value(nr, nextID).Str()
			if br, ok := base.Lookup(id); ok {
				compare(nr, br)
				return true
			}
			item := cache.Item{}
			for i := 0; i < ns.Len(); i++ {
				if v := next.Value(nr, i); !v.IsNull() {
					item[ns.Field(i).Key] = v
				}
			}
			var d servedDates
			if _, ok := item[cache.FieldCreatedDate]; !ok {
				item[cache.FieldCreatedDate], d.Created = cache.Time(now), now
			}
			if _, ok := item[cache.FieldUpdatedDate]; !ok {
				item[cache.FieldUpdatedDate], d.Updated = cache.Time(now), now
			}
			if d != (servedDates{}) {
				st.dated[item.ID()] = d
			}
			cs.Insert = append(cs.Insert, item)
			return true
		})
	}
	st.inserted, st.updated, st.removed = len(cs.Insert), len(cs.Update), len(cs.Remove)
	return cs, st
}

func hasID(s *cache.Snapshot, id string) bool {
	_, ok := s.Lookup(id)
	return ok
}

// sameFields reports whether two schemas have the same fields, types and read-only flags, in
// the same order.
func sameFields(a, b *cache.Schema) bool {
	if a.Len() != b.Len() {
		return false
	}
	for i := 0; i < a.Len(); i++ {
		if a.Field(i) != b.Field(i) {
			return false
		}
	}
	return true
}

// sameRowOrder reports whether base and next hold the same ids in the same slots, the common
// case of cells edited in place, where the diff can compare chunk by chunk.
func sameRowOrder(base, next *cache.Snapshot, baseID, nextID int) bool {
	if base.NumChunks() != next.NumChunks() || base.Len() != next.Len() {
		return false
	}
	for c := 0; c < base.NumChunks(); c++ {
		if base.ChunkLen(c) != next.ChunkLen(c) || base.Live(c) != nil || next.Live(c) != nil {
			return false
		}
		if !base.Column(baseID).Chunk(c).Equal(cache.TypeText, next.Column(nextID).Chunk(c)) {
			return false
		}
	}
	return true
}
