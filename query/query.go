// Package query answers reads over cache snapshots: filters, sorting, paging, projection checks,
// totals, aggregation and distinct values (DESIGN §4, the read path). Filters compile once per
// request into predicates over typed columns, evaluated a chunk at a time into bitmaps and
// spread over the machine's cores for large collections; results are memoised in
// cache.Results under the snapshot's version and the query's canonical key.
//
// It imports only cache. Wire formats are httpapi's business.
package query

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sheetsync/sheetsync/cache"
)

// Errors of a query that cannot be run as asked. They come wrapped in *Error, which names the
// field and operator.
var (
	ErrUnknownField        = errors.New("no such field")
	ErrUnsupportedOperator = errors.New("operator not supported")
	ErrInvalidValue        = errors.New("invalid value")
)

// Error is a query that cannot be run: which field, which operator, and why.
type Error struct {
	Field  string
	Op     string // "$gt", or a non-filter part: "sort", "fields", "groupBy", ...
	Err    error  // one of the sentinels above
	Detail string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q", e.Field)
	}
	if e.Op != "" {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(e.Op)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Sort orders by one field; missing values come first in ascending order, last in descending.
type Sort struct {
	Field string
	Desc  bool
}

// Query asks for a page of the rows that match a filter.
type Query struct {
	Filter Filter
	Sort   []Sort // empty: the collection's natural order (the order of rows in the file)
	Offset int
	Limit  int  // 0 asks for no rows (a count)
	Total  bool // count all matching rows
}

// Page is the answer to a Query: the rows of the page, in order, and the total when asked.
type Page struct {
	Rows  []cache.RowID
	Total int // -1 when not asked
}

// Key returns the query's canonical form, for the result cache.
func (q *Query) Key() string {
	var b strings.Builder
	b.WriteString(Key(q.Filter))
	b.WriteString("|sort")
	for _, s := range q.Sort {
		b.WriteString(":" + strconv.Quote(s.Field) + strconv.FormatBool(s.Desc))
	}
	fmt.Fprintf(&b, "|%d|%d|%t", q.Offset, q.Limit, q.Total)
	return b.String()
}
