package query

import (
	"context"
	"runtime"
	"slices"
	"sync"

	"github.com/sheetsync/sheetsync/cache"
)

// MaxLimit is the largest page a query returns; larger limits are clamped (spec v3 §13.11).
const MaxLimit = 1000

// minChunksPerWorker keeps small collections on one goroutine, where spreading the work would
// cost more than it saves.
const minChunksPerWorker = 16

// Engine runs queries over snapshots, memoising answers in Results (which may be nil).
type Engine struct {
	Results *cache.Results
	// Workers bounds the goroutines one query may use; 0 means GOMAXPROCS.
	Workers int
	// Indexes, when set, holds secondary indexes that Find and Count use where they help
	// (index_use.go); answers are the same with or without them.
	Indexes *Indexes
}

// Find returns the page of rows that q asks for. Errors: *Error for an unknown field or an
// operand that does not fit, or the context's error when the caller gave up.
func (e *Engine) Find(ctx context.Context, snap *cache.Snapshot, q Query) (*Page, error) {
	q.Offset = max(q.Offset, 0)
	q.Limit = min(max(q.Limit, 0), MaxLimit)
	key := cache.ResultKey(snap.Name(), snap.Version(), "find", q.Key())
	if v, ok := e.Results.Get(key); ok {
		return v.(*Page), nil
	}
	p, err := compile(snap, q.Filter, e.Results)
	if err != nil {
		return nil, err
	}
	order, err := orderOf(snap, q.Sort)
	if err != nil {
		return nil, err
	}
	page, indexed, err := e.findIndexed(ctx, snap, p, order, q)
	if err == nil && !indexed {
		page, err = e.find(ctx, snap, p, order, q)
	}
	if err != nil {
		return nil, err
	}
	e.Results.Set(key, page, int64(64+4*len(page.Rows)))
	return page, nil
}

// Count returns the number of rows that match f.
func (e *Engine) Count(ctx context.Context, snap *cache.Snapshot, f Filter) (int, error) {
	page, err := e.Find(ctx, snap, Query{Filter: f, Total: true})
	if err != nil {
		return 0, err
	}
	return page.Total, nil
}

// part is one worker's share of a query: a range of chunks, and what it found there.
type part struct {
	from, to int
	count    int
	rows     []cache.RowID // natural order: the first k matches of the range
	top      *topK         // sorted: the best k matches of the range
}

func (e *Engine) find(ctx context.Context, snap *cache.Snapshot, p pred, order func(a, b cache.RowID) int, q Query) (*Page, error) {
	k := q.Offset + q.Limit
	if k == 0 && !q.Total {
		return &Page{Total: -1}, nil
	}
	parts := e.split(snap.NumChunks())
	// without a sort or a total, the first k matches in natural order settle it: scan in order
	// and stop early
	if order == nil && !q.Total {
		parts = []*part{{from: 0, to: snap.NumChunks()}}
	}
	scan := func(pt *part) error {
		var bs bitset
		if order != nil && k > 0 {
			pt.top = &topK{k: k, cmp: order}
		}
		for c := pt.from; c < pt.to; c++ {
			if (c-pt.from)&15 == 15 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			n := snap.ChunkLen(c)
			p.eval(c, n, &bs)
			if live := snap.Live(c); live != nil {
				bs.andSlice(live)
			}
			pt.count += bs.count()
			switch {
			case k == 0:
			case pt.top != nil:
				bs.each(func(i int) { pt.top.push(cache.MakeRowID(c, i)) })
			case len(pt.rows) < k:
				bs.each(func(i int) {
					if len(pt.rows) < k {
						pt.rows = append(pt.rows, cache.MakeRowID(c, i))
					}
				})
			case !q.Total:
				return nil
			}
		}
		return nil
	}
	if err := run(parts, scan); err != nil {
		return nil, err
	}
	page := &Page{Total: -1}
	var rows []cache.RowID
	total := 0
	for _, pt := range parts {
		total += pt.count
		if pt.top != nil {
			rows = append(rows, pt.top.rows...)
		} else {
			rows = append(rows, pt.rows...)
		}
	}
	if order != nil {
		slices.SortFunc(rows, order)
	}
	if q.Offset < len(rows) {
		page.Rows = rows[q.Offset:min(len(rows), k)]
	}
	if q.Total {
		page.Total = total
	}
	return page, nil
}

// split divides n chunks into contiguous ranges, one per worker.
func (e *Engine) split(n int) []*part {
	w := e.Workers
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	w = max(1, min(w, n/minChunksPerWorker))
	parts := make([]*part, w)
	for i := range parts {
		parts[i] = &part{from: n * i / w, to: n * (i + 1) / w}
	}
	return parts
}

// run calls fn for every part, in parallel when there are several, and returns the first error.
func run(parts []*part, fn func(*part) error) error {
	if len(parts) == 1 {
		return fn(parts[0])
	}
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, pt := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(pt)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
