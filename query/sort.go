package query

import (
	"cmp"
	"strings"

	"github.com/sheetsync/sheetsync/cache"
)

// sortKey reads one sort field straight from its column's chunks.
type sortKey struct {
	col  *cache.Column
	desc bool
}

// orderOf checks the sort fields and returns the comparison of two rows: by each key in turn,
// then by natural order, so every query has one deterministic answer for paging.
func orderOf(snap *cache.Snapshot, sorts []Sort) (func(a, b cache.RowID) int, error) {
	if len(sorts) == 0 {
		return nil, nil
	}
	keys := make([]sortKey, len(sorts))
	for i, s := range sorts {
		idx, ok := snap.Schema().Index(s.Field)
		if !ok {
			return nil, &Error{Field: s.Field, Op: "sort", Err: ErrUnknownField}
		}
		keys[i] = sortKey{col: snap.Column(idx), desc: s.Desc}
	}
	return func(a, b cache.RowID) int {
		for i := range keys {
			if c := keys[i].compare(a, b); c != 0 {
				return c
			}
		}
		return cmp.Compare(a, b)
	}, nil
}

// compare orders two rows by this key; a missing value is the lowest.
func (k *sortKey) compare(a, b cache.RowID) int {
	ca, cb := k.col.Chunk(a.Chunk()), k.col.Chunk(b.Chunk())
	ia, ib := a.Offset(), b.Offset()
	ha, hb := ca.Has(ia), cb.Has(ib)
	var c int
	switch {
	case !ha || !hb:
		c = cmp.Compare(b2i(ha), b2i(hb))
	default:
		switch k.col.Type() {
		case cache.TypeNumber:
			c = cmp.Compare(ca.Numbers()[ia], cb.Numbers()[ib])
		case cache.TypeDateTime:
			c = cmp.Compare(ca.Times()[ia], cb.Times()[ib])
		case cache.TypeBoolean:
			c = cmp.Compare(b2i(ca.Value(cache.TypeBoolean, ia).Bool()), b2i(cb.Value(cache.TypeBoolean, ib).Bool()))
		default:
			c = strings.Compare(ca.Text(ia), cb.Text(ib))
		}
	}
	if k.desc {
		return -c
	}
	return c
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// topK keeps the k smallest rows seen under less, as a max-heap with the worst kept row at the
// root: a candidate that is not better than the root costs one comparison, so selecting a page
// from a large match set is O(n log k) and mostly O(n).
type topK struct {
	k    int
	cmp  func(a, b cache.RowID) int
	rows []cache.RowID
}

func (h *topK) push(r cache.RowID) {
	if len(h.rows) < h.k {
		h.rows = append(h.rows, r)
		h.up(len(h.rows) - 1)
		return
	}
	if h.cmp(r, h.rows[0]) >= 0 {
		return
	}
	h.rows[0] = r
	h.down(0)
}

func (h *topK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h.cmp(h.rows[i], h.rows[p]) <= 0 {
			return
		}
		h.rows[i], h.rows[p] = h.rows[p], h.rows[i]
		i = p
	}
}

func (h *topK) down(i int) {
	n := len(h.rows)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.cmp(h.rows[r], h.rows[l]) > 0 {
			m = r
		}
		if h.cmp(h.rows[m], h.rows[i]) <= 0 {
			return
		}
		h.rows[i], h.rows[m] = h.rows[m], h.rows[i]
		i = m
	}
}
