package query

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/sheetsync/sheetsync/cache"
)

// AggFunc is an aggregation function.
type AggFunc uint8

// The aggregation functions of both protocols (spec v3 §6.3, legacy §11).
const (
	AggSum AggFunc = iota + 1
	AggAvg
	AggMin
	AggMax
	AggCount
)

var aggNames = map[AggFunc]string{AggSum: "sum", AggAvg: "average", AggMin: "min", AggMax: "max", AggCount: "count"}

// String names the function as v3 spells it.
func (f AggFunc) String() string { return aggNames[f] }

// AggOp computes Func over Field (unused for AggCount) into the result field Name.
type AggOp struct {
	Name  string
	Func  AggFunc
	Field string
}

// Aggregation groups the rows that match Filter by the GroupBy fields (one group of every row
// when there are none), computes Ops per group, then filters the groups with Having and pages
// them like a Query. Without a sort, groups come in ascending order of their grouping values.
type Aggregation struct {
	Filter  Filter
	GroupBy []string
	Ops     []AggOp
	Having  Filter
	Sort    []Sort
	Offset  int
	Limit   int
	Total   bool
}

// Grouped is an aggregation's answer: a schema of the grouping fields then the results, a page
// of rows in that order, and the number of groups after Having when asked (-1 otherwise).
type Grouped struct {
	Schema *cache.Schema
	Rows   [][]cache.Value
	Total  int
}

func (a *Aggregation) key() string {
	var b strings.Builder
	b.WriteString(Key(a.Filter))
	b.WriteString("|by")
	for _, g := range a.GroupBy {
		b.WriteString(":" + strconv.Quote(g))
	}
	for _, op := range a.Ops {
		fmt.Fprintf(&b, "|%q=%s(%q)", op.Name, op.Func, op.Field)
	}
	q := Query{Filter: a.Having, Sort: a.Sort, Offset: a.Offset, Limit: a.Limit, Total: a.Total}
	b.WriteString("|" + q.Key())
	return b.String()
}

// Aggregate runs a. Errors: *Error for unknown fields, sum or average over a field that is not
// a number, result names that collide, or a Having filter that does not fit the results.
func (e *Engine) Aggregate(ctx context.Context, snap *cache.Snapshot, a Aggregation) (*Grouped, error) {
	key := cache.ResultKey(snap.Name(), snap.Version(), "aggregate", a.key())
	if v, ok := e.Results.Get(key); ok {
		return v.(*Grouped), nil
	}
	schema, cols, err := a.plan(snap)
	if err != nil {
		return nil, err
	}
	p, err := compile(snap, a.Filter, e.Results)
	if err != nil {
		return nil, err
	}
	groups, err := a.group(ctx, snap, p, cols)
	if err != nil {
		return nil, err
	}
	if schema.Len() == 0 {
		// nothing grouped and nothing computed: the one group of all items, which has no fields
		// (a snapshot of no fields cannot hold it)
		if a.Having != nil {
			return nil, &Error{Op: "finalFilter", Err: ErrUnknownField, Detail: "the aggregation has no fields to filter on"}
		}
		out := &Grouped{Schema: schema, Total: -1}
		if a.Offset == 0 && a.Limit > 0 {
			out.Rows = [][]cache.Value{{}}
		}
		if a.Total {
			out.Total = 1
		}
		return out, nil
	}
	// the groups become a small collection of their own, so Having, sorting and paging are the
	// same code that serves every query
	result, err := cache.FromRows(snap.Name(), schema, groups)
	if err != nil {
		return nil, err
	}
	bare := &Engine{Workers: 1}
	page, err := bare.Find(ctx, result, Query{Filter: a.Having, Sort: a.Sort, Offset: a.Offset, Limit: max(a.Limit, 0), Total: a.Total})
	if err != nil {
		var qe *Error
		if ok := asError(err, &qe); ok && qe.Op != "sort" {
			qe.Detail = strings.TrimSpace(qe.Detail + " (in the filter on aggregated rows)")
		}
		return nil, err
	}
	out := &Grouped{Schema: schema, Total: page.Total}
	for _, r := range page.Rows {
		out.Rows = append(out.Rows, result.Row(r))
	}
	e.Results.Set(key, out, int64(128+len(out.Rows)*schema.Len()*40))
	return out, nil
}

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}

// plan checks the request and returns the result schema and the source column of each
// grouping field and operation (nil for a count).
func (a *Aggregation) plan(snap *cache.Snapshot) (*cache.Schema, []*cache.Column, error) {
	var fields []cache.Field
	var cols []*cache.Column
	names := map[string]bool{}
	for _, g := range a.GroupBy {
		idx, ok := snap.Schema().Index(g)
		if !ok {
			return nil, nil, &Error{Field: g, Op: "groupingFields", Err: ErrUnknownField}
		}
		if names[g] {
			return nil, nil, &Error{Field: g, Op: "groupingFields", Err: ErrInvalidValue, Detail: "grouped by twice"}
		}
		names[g] = true
		f := snap.Schema().Field(idx)
		fields = append(fields, cache.Field{Key: f.Key, Type: f.Type})
		cols = append(cols, snap.Column(idx))
	}
	for _, op := range a.Ops {
		if op.Name == "" {
			return nil, nil, &Error{Op: op.Func.String(), Err: ErrInvalidValue, Detail: "the result needs a name"}
		}
		if names[op.Name] {
			return nil, nil, &Error{Field: op.Name, Op: op.Func.String(), Err: ErrInvalidValue, Detail: "the result name is already used by a grouping field or another result"}
		}
		names[op.Name] = true
		if op.Func == AggCount {
			fields = append(fields, cache.Field{Key: op.Name, Type: cache.TypeNumber})
			cols = append(cols, nil)
			continue
		}
		idx, ok := snap.Schema().Index(op.Field)
		if !ok {
			return nil, nil, &Error{Field: op.Field, Op: op.Func.String(), Err: ErrUnknownField}
		}
		src := snap.Schema().Field(idx)
		t := src.Type
		if op.Func == AggSum || op.Func == AggAvg {
			if src.Type != cache.TypeNumber {
				return nil, nil, &Error{Field: op.Field, Op: op.Func.String(), Err: ErrUnsupportedOperator, Detail: fmt.Sprintf("it applies to number fields, and %s is %s", op.Field, src.Type)}
			}
		}
		if op.Func == AggSum || op.Func == AggAvg {
			t = cache.TypeNumber
		}
		fields = append(fields, cache.Field{Key: op.Name, Type: t})
		cols = append(cols, snap.Column(idx))
	}
	schema, err := cache.NewSchema(fields)
	if err != nil {
		return nil, nil, &Error{Op: "aggregation", Err: ErrInvalidValue, Detail: err.Error()}
	}
	return schema, cols, nil
}

type acc struct {
	sum   float64
	n     int
	best  cache.Value // min or max so far
	seen  bool
	count int
}

// group reads every matching row once and returns one row per group: the grouping values,
// then each operation's result, groups in ascending order of their grouping values.
func (a *Aggregation) group(ctx context.Context, snap *cache.Snapshot, p pred, cols []*cache.Column) ([][]cache.Value, error) {
	ng := len(a.GroupBy)
	type group struct {
		vals []cache.Value
		accs []acc
	}
	groups := map[string]*group{}
	var order []*group
	var keyBuf []byte
	var bs bitset
	for c := 0; c < snap.NumChunks(); c++ {
		if c&15 == 15 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		n := snap.ChunkLen(c)
		p.eval(c, n, &bs)
		if live := snap.Live(c); live != nil {
			bs.andSlice(live)
		}
		bs.each(func(i int) {
			r := cache.MakeRowID(c, i)
			keyBuf = keyBuf[:0]
			for _, col := range cols[:ng] {
				keyBuf = appendKey(keyBuf, col.Value(r))
			}
			g := groups[string(keyBuf)]
			if g == nil {
				g = &group{accs: make([]acc, len(a.Ops))}
				for _, col := range cols[:ng] {
					g.vals = append(g.vals, col.Value(r))
				}
				groups[string(keyBuf)] = g
				order = append(order, g)
			}
			for j, op := range a.Ops {
				g.accs[j].add(op.Func, cols[ng+j], r)
			}
		})
	}
	if ng == 0 && len(order) == 0 {
		order = append(order, &group{accs: make([]acc, len(a.Ops))}) // one row even for no rows
	}
	slices.SortStableFunc(order, func(x, y *group) int {
		for i := range x.vals {
			if c := x.vals[i].Compare(y.vals[i]); c != 0 {
				return c
			}
		}
		return 0
	})
	rows := make([][]cache.Value, len(order))
	for i, g := range order {
		row := append([]cache.Value(nil), g.vals...)
		for j, op := range a.Ops {
			row = append(row, g.accs[j].result(op.Func))
		}
		rows[i] = row
	}
	return rows, nil
}

func (x *acc) add(f AggFunc, col *cache.Column, r cache.RowID) {
	if f == AggCount {
		x.count++
		return
	}
	v := col.Value(r)
	if v.IsNull() {
		return // missing values are left out of sums, averages, minimums and maximums
	}
	switch f {
	case AggSum, AggAvg:
		x.sum += v.Num()
		x.n++
	case AggMin:
		if !x.seen || v.Compare(x.best) < 0 {
			x.best, x.seen = v, true
		}
	case AggMax:
		if !x.seen || v.Compare(x.best) > 0 {
			x.best, x.seen = v, true
		}
	}
}

func (x *acc) result(f AggFunc) cache.Value {
	switch f {
	case AggCount:
		return cache.Number(float64(x.count))
	case AggSum:
		return cache.Number(x.sum)
	case AggAvg:
		if x.n == 0 {
			return cache.Null()
		}
		return cache.Number(x.sum / float64(x.n))
	}
	return x.best // min, max: null when the group had no value
}

// appendKey appends an unambiguous encoding of v for grouping.
func appendKey(b []byte, v cache.Value) []byte {
	b = append(b, byte(v.Kind()))
	switch v.Kind() {
	case cache.KindText:
		b = strconv.AppendInt(b, int64(len(v.Str())), 10)
		b = append(b, ':')
		b = append(b, v.Str()...)
	case cache.KindNumber:
		b = strconv.AppendUint(b, math.Float64bits(v.Num()+0), 16) // +0 folds -0 into 0
	case cache.KindBool:
		b = strconv.AppendBool(b, v.Bool())
	case cache.KindTime:
		b = strconv.AppendInt(b, v.Millis(), 10)
	}
	return append(b, 0)
}
