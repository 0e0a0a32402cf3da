package query

import (
	"sort"

	"github.com/sheetsync/sheetsync/cache"
)

// perm is an index over one snapshot: the snapshot's live rows sorted by the index's key, 4
// bytes a row. It is kept in blocks of up to 2*blockSize rows so that the next version, derived
// after a commit, copies only the blocks the commit touched and shares the rest: keeping the
// version before for readers that still hold it costs a few blocks, not another 4 bytes a row,
// and a one-row commit costs the next reader microseconds, not a copy of every row. Blocks are
// never written once the perm is published.
type perm struct {
	blocks [][]cache.RowID
	starts []int // starts[b] is the position of blocks[b][0]; one more entry, the length
}

// blockSize is the size of the blocks a build makes; a block that grows past twice that splits.
// A variable for tests.
var blockSize = 4096

// newPerm returns rows, in order, as a perm. It copies them, so blocks are freed one by one.
func newPerm(rows []cache.RowID) *perm {
	p := &perm{starts: []int{0}}
	for lo := 0; lo < len(rows); lo += blockSize {
		p.add(append([]cache.RowID(nil), rows[lo:min(lo+blockSize, len(rows))]...))
	}
	return p
}

// add appends a block; empty ones are dropped.
func (p *perm) add(b []cache.RowID) {
	if len(b) > 0 {
		p.blocks = append(p.blocks, b)
		p.starts = append(p.starts, p.starts[len(p.starts)-1]+len(b))
	}
}

func (p *perm) len() int { return p.starts[len(p.starts)-1] }

// block returns the block holding position i < p.len().
func (p *perm) block(i int) int {
	return sort.Search(len(p.blocks), func(b int) bool { return p.starts[b+1] > i })
}

func (p *perm) at(i int) cache.RowID {
	b := p.block(i)
	return p.blocks[b][i-p.starts[b]]
}

// search returns the first position in [lo, hi) whose row satisfies ok, or hi; ok must be false
// then true along the positions.
func (p *perm) search(lo, hi int, ok func(cache.RowID) bool) int {
	return lo + sort.Search(hi-lo, func(i int) bool { return ok(p.at(lo + i)) })
}

// each calls fn with the rows at positions [lo, hi), backwards when reverse is set, until fn
// returns false.
func (p *perm) each(lo, hi int, reverse bool, fn func(cache.RowID) bool) {
	if lo >= hi {
		return
	}
	if !reverse {
		for b := p.block(lo); b < len(p.blocks) && p.starts[b] < hi; b++ {
			blk := p.blocks[b][max(lo-p.starts[b], 0):min(hi-p.starts[b], len(p.blocks[b]))]
			for _, r := range blk {
				if !fn(r) {
					return
				}
			}
		}
		return
	}
	for b := p.block(hi - 1); b >= 0 && p.starts[b+1] > lo; b-- {
		blk := p.blocks[b][max(lo-p.starts[b], 0):min(hi-p.starts[b], len(p.blocks[b]))]
		for i := len(blk) - 1; i >= 0; i-- {
			if !fn(blk[i]) {
				return
			}
		}
	}
}

// appendRange appends the rows at positions [lo, hi).
func (p *perm) appendRange(dst []cache.RowID, lo, hi int) []cache.RowID {
	p.each(lo, hi, false, func(r cache.RowID) bool { dst = append(dst, r); return true })
	return dst
}

// flat returns all rows in order.
func (p *perm) flat() []cache.RowID {
	return p.appendRange(make([]cache.RowID, 0, p.len()), 0, p.len())
}

// edit is a change to one block of a perm: positions (in the old perm) whose rows leave, and
// rows that come in before a position.
type edit struct {
	gone []int // ascending
	at   []int // ascending, one per row of in
	in   []cache.RowID
}

// apply returns p with the edits made, copying only the blocks they touch. edits maps a block
// to its edit; insertions at p.len() belong to the last block.
func (p *perm) apply(edits map[int]*edit) *perm {
	out := &perm{starts: []int{0}}
	if len(p.blocks) == 0 {
		if e := edits[0]; e != nil {
			out.add(e.in) // nothing to interleave with; in is sorted
		}
		return out.split()
	}
	for b, blk := range p.blocks {
		e := edits[b]
		if e == nil {
			out.add(blk)
			continue
		}
		nb := make([]cache.RowID, 0, len(blk)-len(e.gone)+len(e.in))
		gone, at, in := e.gone, e.at, e.in
		for i, r := range blk {
			pos := p.starts[b] + i
			for len(at) > 0 && at[0] <= pos {
				nb, at, in = append(nb, in[0]), at[1:], in[1:]
			}
			if len(gone) > 0 && gone[0] == pos {
				gone = gone[1:]
				continue
			}
			nb = append(nb, r)
		}
		nb = append(nb, in...) // at the end of the last block
		out.add(nb)
	}
	return out.split()
}

// split halves every block longer than twice blockSize.
func (p *perm) split() *perm {
	var big bool
	for _, b := range p.blocks {
		big = big || len(b) > 2*blockSize
	}
	if !big {
		return p
	}
	out := &perm{starts: []int{0}}
	for _, b := range p.blocks {
		for len(b) > 2*blockSize {
			half := len(b) / 2
			out.add(b[:half:half])
			b = b[half:]
		}
		out.add(b)
	}
	return out
}
