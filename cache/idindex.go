package cache

import "hash/maphash"

// idIndex maps _id to RowID. It is an open-addressing hash table of RowIDs (4 bytes a slot, at
// most half full, so about 8 bytes per row) split into shards, so that a change copies only the
// shards it touches. Slots hold RowID+1 (0 is empty); the id itself is read from the _id column,
// which is why every operation takes it.
type idIndex struct {
	shards [idShards]*idShard
}

const (
	idShards     = 256
	idShardShift = 56 // the top 8 bits of the hash pick the shard
	idMinSlots   = 8
)

type idShard struct {
	slots []uint32
	n     int
}

var idSeed = maphash.MakeSeed()

func idHash(id string) uint64 { return maphash.String(idSeed, id) }

// buildIDIndex indexes every non-empty cell of col at the RowIDs yield gives. It returns the
// first id seen twice, if any.
func buildIDIndex(col *Column, live func(c int) []uint64) (*idIndex, string, bool) {
	var counts [idShards]int
	forEachID(col, live, func(id string, _ RowID) {
		counts[idHash(id)>>idShardShift]++
	})
	x := &idIndex{}
	for i, n := range counts {
		if n > 0 {
			x.shards[i] = &idShard{slots: make([]uint32, slotsFor(n))}
		}
	}
	dup, found := "", false
	forEachID(col, live, func(id string, r RowID) {
		if !found && !x.shard(id).insert(col, id, r) {
			dup, found = id, true
		}
	})
	return x, dup, found
}

func forEachID(col *Column, live func(c int) []uint64, fn func(string, RowID)) {
	for c, ch := range col.chunks {
		lv := live(c)
		for i := 0; i < ch.n; i++ {
			if !ch.Has(i) || (lv != nil && lv[i>>6]&(1<<(uint(i)&63)) == 0) {
				continue
			}
			fn(ch.Text(i), MakeRowID(c, i))
		}
	}
}

func slotsFor(n int) int {
	s := idMinSlots
	for s < 2*n {
		s <<= 1
	}
	return s
}

func (x *idIndex) shard(id string) *idShard { return x.shards[idHash(id)>>idShardShift] }

// find returns the row holding id.
func (x *idIndex) find(col *Column, id string) (RowID, bool) {
	h := idHash(id)
	s := x.shards[h>>idShardShift]
	if s == nil {
		return 0, false
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		v := s.slots[i]
		if v == 0 {
			return 0, false
		}
		if r := RowID(v - 1); col.Value(r).s == id {
			return r, true
		}
	}
}

// clone returns an index sharing every shard with x; the caller copies a shard before changing
// it (see idWriter).
func (x *idIndex) clone() *idIndex {
	y := *x
	return &y
}

// idWriter changes a clone of an index, copying each shard the first time it is touched.
type idWriter struct {
	x      *idIndex
	col    *Column // the _id column of the snapshot being built
	copied [idShards]bool
}

func (w *idWriter) own(h uint64) *idShard {
	i := h >> idShardShift
	if !w.copied[i] {
		w.copied[i] = true
		if s := w.x.shards[i]; s != nil {
			w.x.shards[i] = &idShard{slots: append([]uint32(nil), s.slots...), n: s.n}
		} else {
			w.x.shards[i] = &idShard{slots: make([]uint32, idMinSlots)}
		}
	}
	return w.x.shards[i]
}

// insert adds id at r; it reports false when id is already present.
func (w *idWriter) insert(id string, r RowID) bool {
	return w.own(idHash(id)).insert(w.col, id, r)
}

// remove deletes id; it reports false when id was absent.
func (w *idWriter) remove(id string) bool {
	return w.own(idHash(id)).remove(w.col, id)
}

func (s *idShard) insert(col *Column, id string, r RowID) bool {
	if 2*(s.n+1) > len(s.slots) {
		s.grow(col)
	}
	mask := uint64(len(s.slots) - 1)
	for i := idHash(id) & mask; ; i = (i + 1) & mask {
		v := s.slots[i]
		if v == 0 {
			s.slots[i] = uint32(r) + 1
			s.n++
			return true
		}
		if col.Value(RowID(v-1)).s == id {
			return false
		}
	}
}

func (s *idShard) grow(col *Column) {
	old := s.slots
	s.slots = make([]uint32, len(old)*2)
	mask := uint64(len(s.slots) - 1)
	for _, v := range old {
		if v == 0 {
			continue
		}
		i := idHash(col.Value(RowID(v-1)).s) & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = v
	}
}

// remove deletes id with backward-shift deletion, so lookups never meet tombstones.
func (s *idShard) remove(col *Column, id string) bool {
	mask := uint64(len(s.slots) - 1)
	i := idHash(id) & mask
	for {
		v := s.slots[i]
		if v == 0 {
			return false
		}
		if col.Value(RowID(v-1)).s == id {
			break
		}
		i = (i + 1) & mask
	}
	// shift later members of the probe run back over the hole
	hole := i
	for j := (hole + 1) & mask; s.slots[j] != 0; j = (j + 1) & mask {
		home := idHash(col.Value(RowID(s.slots[j]-1)).s) & mask
		// move j into the hole unless its home lies cyclically in (hole, j]
		if (j > hole && (home <= hole || home > j)) || (j < hole && home <= hole && home > j) {
			s.slots[hole] = s.slots[j]
			hole = j
		}
	}
	s.slots[hole] = 0
	s.n--
	return true
}
