package query

import (
	"cmp"
	"slices"
	"sort"

	"github.com/sheetsync/sheetsync/cache"
)

// An index over one snapshot is a permutation of its live rows, sorted by the index's key
// (index_perm.go). Snapshots never change, so neither does a permutation once built; the next
// version's is derived from it (derive) rather than sorted again.

// buildPerm sorts the live rows of snap by k from scratch.
func buildPerm(snap *cache.Snapshot, k indexKey) *perm {
	if len(k) == 1 && k[0].exact() {
		return newPerm(buildExact(snap, &k[0]))
	}
	rows := make([]cache.RowID, 0, snap.Len())
	snap.Rows(func(r cache.RowID) bool { rows = append(rows, r); return true })
	sortByKey(rows, k)
	return newPerm(rows)
}

// buildExact is buildPerm for an index of one number, datetime or boolean field, whose cells
// map to 64-bit keys of the same order: one radix sort, which keeps rows of equal keys in
// RowID order, and the empty cells put first (or last when DESC).
func buildExact(snap *cache.Snapshot, f *keyField) []cache.RowID {
	n := snap.Len()
	keys := make([]uint64, 0, n)
	rows := make([]cache.RowID, 0, n)
	var nulls []cache.RowID
	for c := 0; c < snap.NumChunks(); c++ {
		ch, live := f.col.Chunk(c), snap.Live(c)
		for i := 0; i < snap.ChunkLen(c); i++ {
			if live != nil && live[i>>6]&(1<<(uint(i)&63)) == 0 {
				continue
			}
			r := cache.MakeRowID(c, i)
			if !ch.Has(i) {
				nulls = append(nulls, r)
				continue
			}
			keys = append(keys, f.prefix(ch, i))
			rows = append(rows, r)
		}
	}
	radixSort(keys, rows, make([]uint64, len(keys)), make([]cache.RowID, len(rows)))
	if len(nulls) == 0 {
		return rows
	}
	out := make([]cache.RowID, 0, n)
	if f.desc { // empty cells are lowest, so last when the order is reversed
		return append(append(out, rows...), nulls...)
	}
	return append(append(out, nulls...), rows...)
}

// maxDeriveShare bounds the share of rows that may have changed for derive to pay: past it,
// a build from scratch is about as fast.
const maxDeriveShare = 8

// derive returns the live rows of snap in k's order, given prev, the same index's permutation of
// an older snapshot of the collection (prevKey resolving the index there). Columns share every
// chunk a change did not touch, so comparing chunk pointers finds the few chunks to look at, and
// within them comparing cells finds the rows whose key moved. Those leave the permutation and
// come back at their new places: a few binary searches and copies of the blocks they touch
// (editPerm), or for bigger changes one merging pass over all rows, instead of a sort of them
// all. It reports false when too much changed (a compaction renumbers every row, a file
// replaced in full shares nothing), and the caller builds from scratch.
func derive(prev *perm, old *cache.Snapshot, prevKey indexKey, snap *cache.Snapshot, k indexKey) (*perm, bool) {
	for j := range k {
		if k[j].col.Type() != prevKey[j].col.Type() {
			return nil, false
		}
	}
	nOld, nNew := old.NumChunks(), snap.NumChunks()
	removed := make([]*bitset, nOld) // per old chunk: rows whose entries leave
	var added, gone []cache.RowID
	changed, limit := 0, max(snap.Len(), old.Len())/maxDeriveShare+1
	for c := 0; c < max(nOld, nNew); c++ {
		if c < nOld && c < nNew && sameChunk(old, prevKey, snap, k, c) {
			continue
		}
		var lenOld, lenNew int
		var liveOld, liveNew []uint64
		if c < nOld {
			lenOld, liveOld = old.ChunkLen(c), old.Live(c)
		}
		if c < nNew {
			lenNew, liveNew = snap.ChunkLen(c), snap.Live(c)
		}
		for i := 0; i < max(lenOld, lenNew); i++ {
			wasLive := i < lenOld && (liveOld == nil || liveOld[i>>6]&(1<<(uint(i)&63)) != 0)
			isLive := i < lenNew && (liveNew == nil || liveNew[i>>6]&(1<<(uint(i)&63)) != 0)
			if wasLive && isLive && sameCells(prevKey, k, c, i) {
				continue
			}
			if wasLive {
				if removed[c] == nil {
					removed[c] = new(bitset)
				}
				removed[c][i>>6] |= 1 << (uint(i) & 63)
				gone = append(gone, cache.MakeRowID(c, i))
			}
			if isLive {
				added = append(added, cache.MakeRowID(c, i))
			}
			if changed++; changed > limit {
				return nil, false
			}
		}
	}
	sortByKey(added, k)
	if len(gone)+len(added) <= maxEdits {
		if p, ok := editPerm(prev, gone, added, prevKey, k); ok {
			return p, p.len() == snap.Len()
		}
	}
	m := merger{prev: prev.flat(), out: make([]cache.RowID, 0, snap.Len())}
	if len(gone) > 0 {
		m.removed = removed
	}
	m.merge(added, prevKey, k)
	return newPerm(m.out), len(m.out) == snap.Len()
}

// sameChunk reports whether chunk c holds the same slots, live rows and key cells in both
// snapshots, judging by identity: untouched chunks are shared, not copied.
func sameChunk(old *cache.Snapshot, prevKey indexKey, snap *cache.Snapshot, k indexKey, c int) bool {
	if old.ChunkLen(c) != snap.ChunkLen(c) || !sameLive(old.Live(c), snap.Live(c)) {
		return false
	}
	for j := range k {
		if k[j].col.Chunk(c) != prevKey[j].col.Chunk(c) {
			return false
		}
	}
	return true
}

func sameLive(a, b []uint64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return slices.Equal(a, b)
}

// sameCells reports whether slot i of chunk c has the same key in both snapshots, "same"
// meaning equal in the index's order, so that the row keeps its place.
func sameCells(prevKey, k indexKey, c, i int) bool {
	for j := range k {
		a, b := prevKey[j].col.Chunk(c), k[j].col.Chunk(c)
		if a != b && k[j].compareCells(a, i, b, i) != 0 {
			return false
		}
	}
	return true
}

// maxEdits bounds the rows that may change for a derived perm to be edited in place, block by
// block, each found by a binary search; past it, all rows are copied in one merge. A variable
// for tests.
var maxEdits = 4096

// editPerm returns prev without the rows of gone and with the rows of added (sorted by k) at
// their places, copying only the blocks they touch. prev is sorted by prevKey over the old
// snapshot, so a row that leaves is found by its old key, and an added row's place by
// comparing its new key with prev's old keys. It reports false if a row that leaves is not
// where its key says.
func editPerm(prev *perm, gone, added []cache.RowID, prevKey, k indexKey) (*perm, bool) {
	edits := map[int]*edit{}
	editOf := func(pos int) *edit {
		b := len(prev.blocks) - 1
		if pos < prev.len() {
			b = prev.block(pos)
		}
		b = max(b, 0)
		if edits[b] == nil {
			edits[b] = &edit{}
		}
		return edits[b]
	}
	n := prev.len()
	for _, r := range gone {
		pos := prev.search(0, n, func(x cache.RowID) bool { return prevKey.compare(x, r) >= 0 })
		if pos == n || prev.at(pos) != r {
			return nil, false
		}
		e := editOf(pos)
		e.gone = append(e.gone, pos)
	}
	for _, e := range edits {
		slices.Sort(e.gone)
	}
	p := 0
	for _, a := range added {
		p = prev.search(p, n, func(x cache.RowID) bool { return crossCompare(prevKey, x, k, a) > 0 })
		e := editOf(p)
		e.at, e.in = append(e.at, p), append(e.in, a)
	}
	return prev.apply(edits), true
}

// merger builds a derived permutation in one pass over the old one: the rows of prev that
// stay, in order, with the added rows at their places.
type merger struct {
	prev    []cache.RowID
	out     []cache.RowID
	removed []*bitset // per chunk, rows of prev that leave; nil when none do
}

// keep appends prev[p:q] without the rows that leave.
func (m *merger) keep(p, q int) {
	if m.removed == nil {
		m.out = append(m.out, m.prev[p:q]...)
		return
	}
	for _, r := range m.prev[p:q] {
		if b := m.removed[r.Chunk()]; b == nil || b[r.Offset()>>6]&(1<<(uint(r.Offset())&63)) == 0 {
			m.out = append(m.out, r)
		}
	}
}

// merge places added (sorted by k), each found by galloping from the previous one's place.
func (m *merger) merge(added []cache.RowID, prevKey, k indexKey) {
	prev := m.prev
	p := 0
	for _, a := range added {
		before := func(r cache.RowID) bool { return crossCompare(prevKey, r, k, a) < 0 }
		lo, hi, step := p, p, 1
		for hi < len(prev) && before(prev[hi]) {
			lo = hi + 1
			hi += step
			step *= 2
		}
		hi = min(hi, len(prev))
		q := lo + sort.Search(hi-lo, func(i int) bool { return !before(prev[lo+i]) })
		m.keep(p, q)
		m.out = append(m.out, a)
		p = q
	}
	m.keep(p, len(prev))
}

// crossCompare orders row r of an older snapshot (keyed by prevKey) against row a of a newer
// one (keyed by k), each by its own cells.
func crossCompare(prevKey indexKey, r cache.RowID, k indexKey, a cache.RowID) int {
	for j := range k {
		c := k[j].compareCells(prevKey[j].col.Chunk(r.Chunk()), r.Offset(), k[j].col.Chunk(a.Chunk()), a.Offset())
		if k[j].desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(r, a)
}

// firstDuplicate returns the first two neighbours of p with one key and no empty cell in it:
// the proof that a unique index cannot hold over the data.
func firstDuplicate(p *perm, k indexKey) (a, b cache.RowID, found bool) {
	prev, first := cache.RowID(0), true
	p.each(0, p.len(), false, func(r cache.RowID) bool {
		if !first && k.compareKeys(prev, r) == 0 && !k.hasNull(r) {
			a, b, found = prev, r, true
			return false
		}
		prev, first = r, false
		return true
	})
	return a, b, found
}
