package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/query"
)

// defaultLimit is the page size when a request names none (spec v3 §5.1, legacy §10).
const defaultLimit = 50

type v3Sort struct {
	FieldName string `json:"fieldName"`
	Order     string `json:"order,omitempty"`
}

type v3Paging struct {
	Limit  *int `json:"limit"`
	Offset *int `json:"offset"`
}

type v3CursorPaging struct {
	Limit  *int   `json:"limit"`
	Cursor string `json:"cursor"`
}

type v3Query struct {
	Filter       json.RawMessage `json:"filter"`
	Sort         []v3Sort        `json:"sort"`
	Fields       []string        `json:"fields"`
	Paging       *v3Paging       `json:"paging"`
	CursorPaging *v3CursorPaging `json:"cursorPaging"`
}

type v3QueryRequest struct {
	CollectionID     string  `json:"collectionId"`
	Query            v3Query `json:"query"`
	ReturnTotalCount bool    `json:"returnTotalCount"`
	ConsistentRead   bool    `json:"consistentRead"`
}

func (r *v3QueryRequest) collection() string { return r.CollectionID }

// handleItemsQuery is POST /v3/items/query (spec v3 §6.1).
func (s *Server) handleItemsQuery(ctx context.Context, req *v3QueryRequest, _ *v3Metadata) ([]byte, error) {
	snap, err := s.snapshot(req.CollectionID)
	if err != nil {
		return nil, err
	}
	q := req.Query
	offset, limit := 0, defaultLimit
	cursorMode := q.CursorPaging != nil
	if cursorMode {
		if q.CursorPaging.Cursor != "" {
			cur, err := decodeCursor(q.CursorPaging.Cursor, req.CollectionID)
			if err != nil {
				return nil, err
			}
			// follow-up requests carry only the cursor (spec v3 §5.1): it holds the query
			q = v3Query{Filter: cur.Filter, Sort: cur.Sort, Fields: cur.Fields, CursorPaging: q.CursorPaging}
			offset, limit = cur.Offset, cur.Limit
		}
		if l := q.CursorPaging.Limit; l != nil {
			limit = *l
		}
	} else if offset, limit, err = v3Page(q.Paging); err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, errBadRequest("paging limit must not be negative")
	}
	if limit == 0 {
		limit = defaultLimit // proto3 JSON omits zero, so 0 cannot mean "no items"
	}
	limit = min(limit, query.MaxLimit)
	filter, err := decodeFilter(q.Filter)
	if err != nil {
		return nil, err
	}
	sorts, err := v3Sorts(q.Sort)
	if err != nil {
		return nil, err
	}
	if err := checkFields(snap, q.Fields); err != nil {
		return nil, err
	}
	page, err := s.query.Find(ctx, snap, query.Query{Filter: filter, Sort: sorts, Offset: offset, Limit: limit,
		Total: req.ReturnTotalCount || cursorMode})
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 256+len(page.Rows)*64*snap.Schema().Len())
	b = append(b, `{"items":[`...)
	fields := itemFields(snap.Schema(), q.Fields)
	for i, r := range page.Rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendItem(b, snap, r, fields)
	}
	b = append(b, `],"pagingMetadata":{"count":`...)
	b = strconv.AppendInt(b, int64(len(page.Rows)), 10)
	if !cursorMode {
		b = append(b, `,"offset":`...)
		b = strconv.AppendInt(b, int64(offset), 10)
	}
	if req.ReturnTotalCount {
		b = append(b, `,"total":`...)
		b = strconv.AppendInt(b, int64(page.Total), 10)
	}
	if cursorMode {
		b = append(b, `,"cursors":{`...)
		sep := ""
		if next := offset + len(page.Rows); next < page.Total {
			b = append(b, `"next":`...)
			b = appendString(b, encodeCursor(v3Cursor{Collection: req.CollectionID, Filter: q.Filter, Sort: q.Sort, Fields: q.Fields, Offset: next, Limit: limit}))
			sep = ","
		}
		if offset > 0 {
			b = append(b, sep+`"prev":`...)
			b = appendString(b, encodeCursor(v3Cursor{Collection: req.CollectionID, Filter: q.Filter, Sort: q.Sort, Fields: q.Fields, Offset: max(0, offset-limit), Limit: limit}))
		}
		b = append(b, '}')
	}
	return append(b, "}}"...), nil
}

// v3Page reads offset paging: absent members default to offset 0 and limit 50.
func v3Page(p *v3Paging) (offset, limit int, err error) {
	offset, limit = 0, defaultLimit
	if p == nil {
		return offset, limit, nil
	}
	if p.Offset != nil {
		if *p.Offset < 0 {
			return 0, 0, errBadRequest("paging offset must not be negative")
		}
		offset = *p.Offset
	}
	if p.Limit != nil {
		limit = *p.Limit
	}
	return offset, limit, nil
}

// v3Sorts reads sort entries; order is ASC or DESC, ASC when absent (spec v3 §5.2).
func v3Sorts(in []v3Sort) ([]query.Sort, error) {
	out := make([]query.Sort, 0, len(in))
	for i, s := range in {
		if s.FieldName == "" {
			return nil, errBadRequest("sort[%d]: fieldName is required", i)
		}
		switch s.Order {
		case "", "ASC", "asc":
			out = append(out, query.Sort{Field: s.FieldName})
		case "DESC", "desc":
			out = append(out, query.Sort{Field: s.FieldName, Desc: true})
		default:
			return nil, errBadRequest("sort[%d]: order must be ASC or DESC, got %q", i, s.Order)
		}
	}
	return out, nil
}

// checkFields reports the first projected field that the collection lacks.
func checkFields(snap *cache.Snapshot, fields []string) error {
	for _, f := range fields {
		if _, ok := snap.Schema().Index(f); !ok {
			return &query.Error{Field: f, Op: "fields", Err: query.ErrUnknownField}
		}
	}
	return nil
}

// v3Cursor is what a cursor carries: the whole query, since follow-up requests send only the
// cursor (spec v3 §5.1, §13.12). It is opaque to Wix.
type v3Cursor struct {
	Collection string          `json:"c"`
	Filter     json.RawMessage `json:"f,omitempty"`
	Sort       []v3Sort        `json:"s,omitempty"`
	Fields     []string        `json:"p,omitempty"`
	Offset     int             `json:"o"`
	Limit      int             `json:"l"`
}

func encodeCursor(c v3Cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, collection string) (*v3Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c v3Cursor
	if err != nil || json.Unmarshal(b, &c) != nil || c.Offset < 0 || c.Limit < 0 {
		return nil, errBadRequest("cursorPaging.cursor is not a cursor this server issued")
	}
	if c.Collection != collection {
		return nil, errBadRequest("cursorPaging.cursor belongs to collection %q, not %q", c.Collection, collection)
	}
	return &c, nil
}

type v3CountRequest struct {
	CollectionID   string          `json:"collectionId"`
	Filter         json.RawMessage `json:"filter"`
	ConsistentRead bool            `json:"consistentRead"`
}

func (r *v3CountRequest) collection() string { return r.CollectionID }

// handleItemsCount is POST /v3/items/count (spec v3 §6.2).
func (s *Server) handleItemsCount(ctx context.Context, req *v3CountRequest, _ *v3Metadata) ([]byte, error) {
	snap, err := s.snapshot(req.CollectionID)
	if err != nil {
		return nil, err
	}
	return s.countAnswer(ctx, snap, req.Filter)
}

// countAnswer is {"totalCount": n}, the answer of both protocols' count endpoints.
func (s *Server) countAnswer(ctx context.Context, snap *cache.Snapshot, rawFilter json.RawMessage) ([]byte, error) {
	filter, err := decodeFilter(rawFilter)
	if err != nil {
		return nil, err
	}
	n, err := s.query.Count(ctx, snap, filter)
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, `{"totalCount":%d}`, n), nil
}

type v3AggField struct {
	ItemFieldName string `json:"itemFieldName"`
}

type v3AggOp struct {
	ResultFieldName string      `json:"resultFieldName"`
	Average         *v3AggField `json:"average"`
	Min             *v3AggField `json:"min"`
	Max             *v3AggField `json:"max"`
	Sum             *v3AggField `json:"sum"`
	ItemCount       *struct{}   `json:"itemCount"`
	Count           *struct{}   `json:"count"` // the reference adaptor's name for itemCount (spec v3 §6.3)
}

type v3AggregateRequest struct {
	CollectionID  string          `json:"collectionId"`
	InitialFilter json.RawMessage `json:"initialFilter"`
	Aggregation   struct {
		GroupingFields []string  `json:"groupingFields"`
		Operations     []v3AggOp `json:"operations"`
	} `json:"aggregation"`
	FinalFilter      json.RawMessage `json:"finalFilter"`
	Sort             []v3Sort        `json:"sort"`
	Paging           *v3Paging       `json:"paging"`
	ReturnTotalCount bool            `json:"returnTotalCount"`
	ConsistentRead   bool            `json:"consistentRead"`
}

func (r *v3AggregateRequest) collection() string { return r.CollectionID }

// handleItemsAggregate is POST /v3/items/aggregate (spec v3 §6.3, §10): total is the number of
// groups after finalFilter, not the reference adaptor's count of items.
func (s *Server) handleItemsAggregate(ctx context.Context, req *v3AggregateRequest, _ *v3Metadata) ([]byte, error) {
	snap, err := s.snapshot(req.CollectionID)
	if err != nil {
		return nil, err
	}
	var a query.Aggregation
	if a.Filter, err = decodeFilter(req.InitialFilter); err != nil {
		return nil, err
	}
	if a.Having, err = decodeFilter(req.FinalFilter); err != nil {
		return nil, err
	}
	a.GroupBy = req.Aggregation.GroupingFields
	for i, op := range req.Aggregation.Operations {
		aop, err := v3AggregateOp(i, op)
		if err != nil {
			return nil, err
		}
		a.Ops = append(a.Ops, aop)
	}
	if a.Sort, err = v3Sorts(req.Sort); err != nil {
		return nil, err
	}
	if a.Offset, a.Limit, err = v3Page(req.Paging); err != nil {
		return nil, err
	}
	a.Limit = min(max(a.Limit, 0), query.MaxLimit)
	if a.Limit == 0 {
		a.Limit = defaultLimit
	}
	a.Total = req.ReturnTotalCount
	g, err := s.query.Aggregate(ctx, snap, a)
	if err != nil {
		return nil, err
	}
	b := append([]byte(nil), `{"items":[`...)
	b = appendGroups(b, g)
	b = append(b, `],"pagingMetadata":{"count":`...)
	b = strconv.AppendInt(b, int64(len(g.Rows)), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, int64(a.Offset), 10)
	if a.Total {
		b = append(b, `,"total":`...)
		b = strconv.AppendInt(b, int64(g.Total), 10)
	}
	return append(b, "}}"...), nil
}

func v3AggregateOp(i int, op v3AggOp) (query.AggOp, error) {
	var out []query.AggOp
	add := func(f query.AggFunc, field *v3AggField) {
		if field != nil {
			out = append(out, query.AggOp{Name: op.ResultFieldName, Func: f, Field: field.ItemFieldName})
		}
	}
	add(query.AggAvg, op.Average)
	add(query.AggMin, op.Min)
	add(query.AggMax, op.Max)
	add(query.AggSum, op.Sum)
	if op.ItemCount != nil || op.Count != nil {
		out = append(out, query.AggOp{Name: op.ResultFieldName, Func: query.AggCount})
	}
	if len(out) != 1 {
		return query.AggOp{}, errBadRequest("aggregation.operations[%d] must have exactly one of average, min, max, sum or itemCount", i)
	}
	if out[0].Func != query.AggCount && out[0].Field == "" {
		return query.AggOp{}, errBadRequest("aggregation.operations[%d]: itemFieldName is required", i)
	}
	return out[0], nil
}

// appendGroups appends aggregated rows as objects with every grouping and result field.
func appendGroups(b []byte, g *query.Grouped) []byte {
	for i, row := range g.Rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendGroupFields(append(b, '{'), g.Schema, row), '}')
	}
	return b
}

// appendGroupFields appends the members of one aggregated row, without braces.
func appendGroupFields(b []byte, schema *cache.Schema, row []cache.Value) []byte {
	for j, v := range row {
		if j > 0 {
			b = append(b, ',')
		}
		b = appendString(b, schema.Field(j).Key)
		b = append(b, ':')
		b = appendValue(b, v)
	}
	return b
}

type v3DistinctRequest struct {
	CollectionID     string          `json:"collectionId"`
	Filter           json.RawMessage `json:"filter"`
	FieldName        string          `json:"fieldName"`
	Order            string          `json:"order"`
	Paging           *v3Paging       `json:"paging"`
	ReturnTotalCount bool            `json:"returnTotalCount"`
	ConsistentRead   bool            `json:"consistentRead"`
}

func (r *v3DistinctRequest) collection() string { return r.CollectionID }

// handleItemsDistinct is POST /v3/items/query-distinct-values (spec v3 §6.4).
func (s *Server) handleItemsDistinct(ctx context.Context, req *v3DistinctRequest, _ *v3Metadata) ([]byte, error) {
	snap, err := s.snapshot(req.CollectionID)
	if err != nil {
		return nil, err
	}
	if req.FieldName == "" {
		return nil, errBadRequest("fieldName is required")
	}
	d := query.Distinct{Field: req.FieldName, Total: req.ReturnTotalCount}
	if d.Filter, err = decodeFilter(req.Filter); err != nil {
		return nil, err
	}
	switch req.Order {
	case "", "ASC", "asc":
	case "DESC", "desc":
		d.Desc = true
	default:
		return nil, errBadRequest("order must be ASC or DESC, got %q", req.Order)
	}
	if d.Offset, d.Limit, err = v3Page(req.Paging); err != nil {
		return nil, err
	}
	if d.Limit <= 0 {
		d.Limit = defaultLimit
	}
	vals, err := s.query.Distinct(ctx, snap, d)
	if err != nil {
		return nil, err
	}
	b := append([]byte(nil), `{"distinctValues":[`...)
	for i, v := range vals.Values {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendValue(b, v)
	}
	b = append(b, `],"pagingMetadata":{"count":`...)
	b = strconv.AppendInt(b, int64(len(vals.Values)), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, int64(d.Offset), 10)
	if d.Total {
		b = append(b, `,"total":`...)
		b = strconv.AppendInt(b, int64(vals.Total), 10)
	}
	return append(b, "}}"...), nil
}
