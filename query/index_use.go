package query

import (
	"cmp"
	"context"
	"slices"

	"github.com/sheetsync/sheetsync/cache"
)

// When an index serves a query. The numbers trade an index's per-row cost (random access, one
// row at a time, one core) against the scan's (a chunk's bitmap at a time, on every core).
var (
	// narrowShare: candidates from an index must be at most one live row in narrowShare for
	// testing them to beat a scan. On a million rows and two cores the two cost the same at
	// about one row in ten.
	narrowShare = 16
	// walkShare: a walk along an index in sort order gives up after visiting one live row in
	// walkShare without filling its page (the filter is too selective along that order), and
	// the scan answers.
	walkShare = 8
	// maxWalkRows is the deepest page (offset + limit) a walk serves; deeper ones are sorted.
	maxWalkRows = 10 * MaxLimit
)

// plan is one index's possible use for a query.
type plan struct {
	b     *built
	spans []span // the rows the filter can match, as positions in b.perm
	n     int    // rows in spans
	used  bool   // the filter bounds the index, so spans may be narrower than all rows
	// residual is the part of the filter the spans do not settle: a row in the spans matches
	// the filter exactly when it matches residual. nil when the spans are the matches.
	residual Filter
	walk     bool // the spans, in order, are in the query's sort order
	reverse  bool // ... backwards
}

// findIndexed answers q from an index when one helps, and reports false when the scan should
// answer instead. Candidates from an index are tested against the filter, or against the part
// of it the index does not settle exactly, and ordered with the scan's comparison, so answers
// are the scan's, row for row.
func (e *Engine) findIndexed(ctx context.Context, snap *cache.Snapshot, p pred, order func(a, b cache.RowID) int, q Query) (*Page, bool, error) {
	k := q.Offset + q.Limit
	if e.Indexes == nil || (k == 0 && !q.Total) {
		return nil, false, nil
	}
	conds, rest := andTerms(q.Filter)
	if rows, ok := idRows(snap, conds); ok {
		page, err := e.candidates(ctx, snap, p, order, q, rows)
		return page, true, err
	}
	plans := e.plans(snap, conds, rest, q.Sort)
	slices.SortStableFunc(plans, func(a, b *plan) int { return a.n - b.n })
	few := func(pl *plan) bool { return pl.n <= snap.Len()/narrowShare }
	// an index that settles the whole filter: the total is the size of its spans, and the
	// page a walk or a ranking of few rows
	for _, pl := range plans {
		if pl.used && pl.residual == nil && (k == 0 || few(pl) || (order != nil && pl.walk)) {
			if page, ok, err := e.settled(ctx, snap, order, q, pl, few(pl)); ok || err != nil {
				return page, true, err
			}
		}
	}
	// the narrowest index, when it leaves few candidates: test them
	for _, pl := range plans {
		if pl.used && few(pl) {
			rp, err := compile(snap, pl.residual, e.Results)
			if err != nil {
				return nil, true, err
			}
			page, err := e.candidates(ctx, snap, rp, order, q, pl.rows())
			return page, true, err
		}
	}
	// an index in the sort's order: walk it until the page is full
	for _, pl := range plans {
		if pl.walk && k > 0 && k <= maxWalkRows {
			rp, err := compile(snap, pl.residual, e.Results)
			if err != nil {
				return nil, true, err
			}
			if !rowMatchable(rp) {
				continue
			}
			total := -1
			if pl.residual == nil {
				total = pl.n
			}
			return e.walk(ctx, snap, rp, p, q, pl, total)
		}
	}
	return nil, false, nil
}

// rows returns the rows of the plan's spans.
func (pl *plan) rows() []cache.RowID {
	out := make([]cache.RowID, 0, pl.n)
	for _, s := range pl.spans {
		out = pl.b.perm.appendRange(out, s.lo, s.hi)
	}
	return out
}

// settled answers q from a plan whose spans are exactly the matches. It reports false when
// neither a walk nor ranking the spans (allowed when rank is set) can give the page cheaply.
func (e *Engine) settled(ctx context.Context, snap *cache.Snapshot, order func(a, b cache.RowID) int, q Query, pl *plan, rank bool) (*Page, bool, error) {
	k := q.Offset + q.Limit
	page := &Page{Total: -1}
	if q.Total {
		page.Total = pl.n
	}
	if k == 0 {
		return page, true, nil
	}
	if order != nil && pl.walk {
		if page, ok, err := e.walk(ctx, snap, allPred{}, nil, q, pl, pl.n); ok || err != nil || !rank {
			return page, ok, err
		}
	}
	if !rank {
		return nil, false, nil
	}
	if order == nil {
		order = func(a, b cache.RowID) int { return cmp.Compare(a, b) } // natural order
	}
	top := &topK{k: k, cmp: order}
	for _, s := range pl.spans {
		pl.b.perm.each(s.lo, s.hi, false, func(r cache.RowID) bool { top.push(r); return true })
	}
	rows := top.rows
	slices.SortFunc(rows, order)
	if q.Offset < len(rows) {
		page.Rows = rows[q.Offset:min(len(rows), k)]
	}
	return page, true, nil
}

// plans returns the indexes of snap's collection that the conditions bound or that may walk in
// the sort's order, each with what it offers. Others are not built. rest is the part of the
// filter's top-level AND that is not a condition.
func (e *Engine) plans(snap *cache.Snapshot, conds []*Cond, rest []Filter, sorts []Sort) []*plan {
	bounded := map[string]bool{}
	for _, c := range conds {
		bounded[c.Field] = true
	}
	var out []*plan
	for _, ent := range e.Indexes.entries(snap.Name()) {
		if !relevant(&ent.def, bounded, sorts) {
			continue
		}
		b := ent.get(snap, false)
		if b == nil {
			continue
		}
		nw := narrow(b, &ent.def, conds)
		pl := &plan{b: b, spans: nw.spans, n: count(nw.spans), used: nw.used}
		if len(sorts) > 0 {
			pl.walk, pl.reverse = walkOrder(&ent.def, b.key, nw.pinned, sorts)
		}
		residual := And(slices.Clone(rest))
		for t, c := range conds {
			if !nw.absorbed[t] {
				residual = append(residual, c)
			}
		}
		if len(residual) > 0 {
			pl.residual = residual
		}
		if pl.used || pl.walk {
			out = append(out, pl)
		}
	}
	return out
}

// relevant reports, from its definition alone, whether an index might serve: the filter bounds
// its leading field, or the sort's first field follows a run of bounded fields.
func relevant(def *Index, bounded map[string]bool, sorts []Sort) bool {
	if bounded[def.Fields[0].Path] {
		return true
	}
	for _, f := range def.Fields {
		if len(sorts) > 0 && f.Path == sorts[0].Field {
			return true
		}
		if !bounded[f.Path] {
			return false
		}
	}
	return false
}

// idRows returns the rows an $eq or $in on _id names, found in the store's own _id index.
func idRows(snap *cache.Snapshot, terms []*Cond) ([]cache.RowID, bool) {
	if _, ok := snap.Schema().Index(cache.FieldID); !ok {
		return nil, false
	}
	for _, c := range terms {
		if c.Field != cache.FieldID {
			continue
		}
		var ids []cache.Value
		switch c.Op {
		case OpEq:
			ids = []cache.Value{c.Value}
		case OpIn, OpHasSome:
			ids = c.Values
		}
		if len(ids) == 0 || slices.ContainsFunc(ids, cache.Value.IsNull) {
			continue // matches empty _id cells, which a hash index does not hold
		}
		var rows []cache.RowID // a repeated id repeats a row, which candidates absorbs
		for _, v := range ids {
			if v.Kind() != cache.KindText {
				continue // compile drops elements of the wrong kind; they match nothing
			}
			if r, ok := snap.Lookup(v.Str()); ok {
				rows = append(rows, r)
			}
		}
		return rows, true
	}
	return nil, false
}

// candidates answers q from the live rows that may match (in any order): it tests them against
// p, a chunk at a time in natural order, then pages them as the scan does.
func (e *Engine) candidates(ctx context.Context, snap *cache.Snapshot, p pred, order func(a, b cache.RowID) int, q Query, rows []cache.RowID) (*Page, error) {
	k := q.Offset + q.Limit
	cand := make(map[int]*bitset)
	var chunks []int
	for _, r := range rows {
		c := r.Chunk()
		b := cand[c]
		if b == nil {
			b = new(bitset)
			cand[c] = b
			chunks = append(chunks, c)
		}
		b[r.Offset()>>6] |= 1 << (uint(r.Offset()) & 63)
	}
	slices.Sort(chunks)
	rowWise := rowMatchable(p)
	var top *topK
	if order != nil && k > 0 {
		top = &topK{k: k, cmp: order}
	}
	var found []cache.RowID
	total := 0
	var bs bitset
	for n, c := range chunks {
		if n&15 == 15 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		matchChunk(p, rowWise, c, snap.ChunkLen(c), cand[c], &bs)
		total += bs.count()
		switch {
		case k == 0:
		case top != nil:
			bs.each(func(i int) { top.push(cache.MakeRowID(c, i)) })
		case len(found) < k:
			bs.each(func(i int) {
				if len(found) < k {
					found = append(found, cache.MakeRowID(c, i))
				}
			})
		}
		if top == nil && len(found) >= k && !q.Total {
			break
		}
	}
	if top != nil {
		found = top.rows
		slices.SortFunc(found, order)
	}
	page := &Page{Total: -1}
	if q.Offset < len(found) {
		page.Rows = found[q.Offset:min(len(found), k)]
	}
	if q.Total {
		page.Total = total
	}
	return page, nil
}

// walk answers a sorted q by visiting the plan's rows in index order, testing each against
// match (the filter, or what the plan leaves of it), and stopping once the page is full instead
// of ranking every match. Rows the sort calls equal must come in natural order (the scan's tie
// rule), and an index walked backwards, or sorted by later fields, does not give that, so each
// run of equal sort keys is put in natural order before it counts. total is the number of
// matches when known, else -1, and then, if q asks for it, a bitmap scan of the whole filter p
// counts them. It reports false, and the scan answers, when the page would take too long to fill.
func (e *Engine) walk(ctx context.Context, snap *cache.Snapshot, match, p pred, q Query, pl *plan, total int) (*Page, bool, error) {
	k := q.Offset + q.Limit
	budget := max(snap.Len()/walkShare, 4*k)
	if q.Total && total < 0 {
		if _, all := p.(allPred); all {
			total = snap.Len()
		} else {
			counted, err := e.find(ctx, snap, p, nil, Query{Total: true})
			if err != nil {
				return nil, true, err
			}
			total = counted.Total
		}
	}
	// matches lie in the spans only; a page of k takes about k*n/total visits
	if total > 0 && k*pl.n/total > budget {
		return nil, false, nil
	}
	if !q.Total {
		total = -1
	}
	keys := sortKeys(snap, q.Sort)
	same := func(a, b cache.RowID) bool {
		for i := range keys {
			if keys[i].compare(a, b) != 0 {
				return false
			}
		}
		return true
	}
	var out, run []cache.RowID
	visited := 0
	stop := false
	var err error
	visit := func(r cache.RowID) bool {
		if visited++; visited > budget {
			stop = true
			return false
		}
		if visited&4095 == 0 {
			if err = ctx.Err(); err != nil {
				stop = true
				return false
			}
		}
		if !matchRow(match, r.Chunk(), r.Offset()) {
			return true
		}
		if len(run) > 0 && !same(run[0], r) {
			slices.Sort(run)
			out = append(out, run...)
			run = run[:0]
			if len(out) >= k {
				stop = true
				return false
			}
		}
		run = append(run, r)
		return true
	}
	for s := range pl.spans {
		sp := pl.spans[s]
		if pl.reverse {
			sp = pl.spans[len(pl.spans)-1-s]
		}
		if pl.b.perm.each(sp.lo, sp.hi, pl.reverse, visit); stop {
			break
		}
	}
	switch {
	case err != nil:
		return nil, true, err
	case visited > budget:
		return nil, false, nil
	}
	slices.Sort(run)
	out = append(out, run...)
	page := &Page{Total: total}
	if q.Offset < len(out) {
		page.Rows = out[q.Offset:min(len(out), k)]
	}
	return page, true, nil
}

// sortKeys returns the keys of sorts, whose fields orderOf has checked.
func sortKeys(snap *cache.Snapshot, sorts []Sort) []sortKey {
	keys := make([]sortKey, len(sorts))
	for i, s := range sorts {
		idx, _ := snap.Schema().Index(s.Field)
		keys[i] = sortKey{col: snap.Column(idx), desc: s.Desc}
	}
	return keys
}
