package query

import (
	"context"
	"fmt"
	"slices"

	"github.com/sheetsync/sheetsync/cache"
)

// Distinct asks for the distinct non-empty values of Field among the rows that match Filter,
// sorted ascending (or descending) and paged.
type Distinct struct {
	Filter Filter
	Field  string
	Desc   bool
	Offset int
	Limit  int
	Total  bool
}

// Values is the answer to Distinct: a page of values and, when asked, how many there are in all
// (-1 otherwise).
type Values struct {
	Values []cache.Value
	Total  int
}

// Distinct runs d. Errors: *Error for an unknown field or a filter that does not fit.
func (e *Engine) Distinct(ctx context.Context, snap *cache.Snapshot, d Distinct) (*Values, error) {
	d.Offset = max(d.Offset, 0)
	d.Limit = min(max(d.Limit, 0), MaxLimit)
	key := cache.ResultKey(snap.Name(), snap.Version(), "distinct",
		fmt.Sprintf("%s|%q|%t|%d|%d|%t", Key(d.Filter), d.Field, d.Desc, d.Offset, d.Limit, d.Total))
	if v, ok := e.Results.Get(key); ok {
		return v.(*Values), nil
	}
	idx, ok := snap.Schema().Index(d.Field)
	if !ok {
		return nil, &Error{Field: d.Field, Op: "fieldName", Err: ErrUnknownField}
	}
	col := snap.Column(idx)
	p, err := compile(snap, d.Filter, e.Results)
	if err != nil {
		return nil, err
	}
	seen := map[cache.Value]bool{}
	var bs bitset
	for c := 0; c < snap.NumChunks(); c++ {
		if c&15 == 15 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		p.eval(c, snap.ChunkLen(c), &bs)
		if live := snap.Live(c); live != nil {
			bs.andSlice(live)
		}
		bs.andSlice(col.Chunk(c).Present())
		bs.each(func(i int) { seen[col.Value(cache.MakeRowID(c, i))] = true })
	}
	all := make([]cache.Value, 0, len(seen))
	for v := range seen {
		all = append(all, v)
	}
	slices.SortFunc(all, func(a, b cache.Value) int {
		if d.Desc {
			return b.Compare(a)
		}
		return a.Compare(b)
	})
	out := &Values{Total: -1}
	if d.Total {
		out.Total = len(all)
	}
	if d.Offset < len(all) {
		out.Values = all[d.Offset:min(len(all), d.Offset+d.Limit)]
	}
	e.Results.Set(key, out, int64(64+40*len(out.Values)))
	return out, nil
}
