package query

// A compiled pred evaluates a whole chunk into a bitmap, which is what a scan wants. An index
// hands the engine instead a few rows scattered over many chunks, or rows in key order; testing
// each of those alone costs far less than a chunk's bitmap apiece. rowMatchable and matchRow
// give the common preds that second way of being read, with the same meaning: each case below
// mirrors its pred's eval. Preds without one (case-insensitive text matching, which eval runs
// over a chunk's folded arena) make the engine evaluate whole chunks.

// rowMatchable reports whether matchRow can evaluate p.
func rowMatchable(p pred) bool {
	switch q := p.(type) {
	case allPred, nonePred, presentPred, *orderedPred[float64], *orderedPred[int64], *boolPred, *textEq, *textFunc:
		return true
	case notPred:
		return rowMatchable(q.p)
	case andPred:
		return allMatchable(q)
	case orPred:
		return allMatchable(q)
	}
	return false
}

func allMatchable(ps []pred) bool {
	for _, p := range ps {
		if !rowMatchable(p) {
			return false
		}
	}
	return true
}

// matchRow reports whether slot i of chunk c matches p, live or not; p is rowMatchable.
func matchRow(p pred, c, i int) bool {
	switch q := p.(type) {
	case allPred:
		return true
	case nonePred:
		return false
	case presentPred:
		return q.col.Chunk(c).Has(i)
	case notPred:
		return !matchRow(q.p, c, i)
	case andPred:
		for _, x := range q {
			if !matchRow(x, c, i) {
				return false
			}
		}
		return true
	case orPred:
		for _, x := range q {
			if matchRow(x, c, i) {
				return true
			}
		}
		return false
	case *orderedPred[float64]:
		return matchOrdered(q, c, i)
	case *orderedPred[int64]:
		return matchOrdered(q, c, i)
	case *boolPred:
		ch := q.col.Chunk(c)
		return ch.Has(i) && (bit(ch.Bools(), i) == 1) == q.want
	case *textEq:
		ch := q.col.Chunk(c)
		return ch.Has(i) && ch.Text(i) == q.x
	case *textFunc:
		ch := q.col.Chunk(c)
		if !ch.Has(i) {
			return false
		}
		if q.boolean {
			if bit(ch.Bools(), i) == 1 {
				return q.match("true")
			}
			return q.match("false")
		}
		return q.match(ch.Text(i))
	}
	panic("query: matchRow on a pred that is not row-matchable")
}

// matchOrdered is orderedPred.eval for one cell: cmpBits's comparisons, or setBits's lookup.
func matchOrdered[T ordered](p *orderedPred[T], c, i int) bool {
	ch := p.col.Chunk(c)
	if !ch.Has(i) {
		return false
	}
	v := p.values(ch)[i]
	switch p.op {
	case OpIn:
		return p.set[v]
	case OpEq:
		return v == p.x
	case OpGt:
		return v > p.x
	case OpGte:
		return v >= p.x
	case OpLt:
		return v < p.x
	case OpLte:
		return v <= p.x
	}
	return false
}

// matchChunk sets out to the candidates of chunk c (of n slots) that match p: row by row when
// p allows and the candidates are few, else by evaluating the chunk and masking.
func matchChunk(p pred, rowWise bool, c, n int, cand *bitset, out *bitset) {
	if rowWise && cand.count() <= n/rowWiseShare {
		*out = bitset{}
		cand.each(func(i int) {
			if matchRow(p, c, i) {
				out[i>>6] |= 1 << (uint(i) & 63)
			}
		})
		return
	}
	p.eval(c, n, out)
	out.and(cand)
}

// rowWiseShare: below one candidate in this many slots, testing rows one by one beats
// evaluating the chunk's bitmap.
const rowWiseShare = 8
