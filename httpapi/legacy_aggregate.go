package httpapi

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/query"
)

type legacyAggregate struct {
	legacyCollection
	Filter            json.RawMessage `json:"filter"`
	ProcessingStep    json.RawMessage `json:"processingStep"`
	PostFilteringStep json.RawMessage `json:"postFilteringStep"`
	// v1 nested both steps here (legacy §11)
	Aggregation *struct {
		ProcessingStep    json.RawMessage `json:"processingStep"`
		PostFilteringStep json.RawMessage `json:"postFilteringStep"`
	} `json:"aggregation"`
	Skip  flexInt `json:"skip"`
	Limit flexInt `json:"limit"`
}

// handleDataAggregate is POST /data/aggregate (legacy §11, §12.17). processingStep is a
// Mongo-like $group: _id names the grouping field(s) ("$field" or {"alias": "$field"}, or
// nothing for one group of all items), every other key an output {"$avg"|"$min"|"$max"|"$sum":
// "$field"}, with {"$sum": 1} counting. Rows carry the grouping fields under their source
// names and the outputs under their aliases (the flat shape the reference adaptor proved with
// Wix), plus a deterministic synthetic _id when _id is not grouped (legacy §8.4). totalCount
// is the number of groups, where the reference always sends 0.
func (s *Server) handleDataAggregate(ctx context.Context, req *legacyAggregate) ([]byte, error) {
	snap, err := s.legacySnapshot(req.CollectionName)
	if err != nil {
		return nil, err
	}
	step, post := req.ProcessingStep, req.PostFilteringStep
	if req.Aggregation != nil && len(trimJSON(step)) == 0 {
		step, post = req.Aggregation.ProcessingStep, req.Aggregation.PostFilteringStep
	}
	a := query.Aggregation{Offset: req.Skip.n, Limit: query.MaxLimit, Total: true}
	if req.Limit.set && req.Limit.n > 0 {
		a.Limit = min(req.Limit.n, query.MaxLimit)
	}
	if a.Filter, err = decodeFilter(req.Filter); err != nil {
		return nil, err
	}
	if a.Having, err = decodeFilter(post); err != nil {
		return nil, err
	}
	if a.GroupBy, a.Ops, err = legacyGroup(step); err != nil {
		return nil, err
	}
	g, err := s.query.Aggregate(ctx, snap, a)
	if err != nil {
		return nil, err
	}
	synthetic := !slices.Contains(a.GroupBy, cache.FieldID)
	b := append([]byte(nil), `{"items":[`...)
	for i, row := range g.Rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendGroupFields(append(b, '{'), g.Schema, row)
		if synthetic {
			if len(row) > 0 {
				b = append(b, ',')
			}
			b = append(b, `"_id":`...)
			b = appendString(b, groupID(row[:len(a.GroupBy)]))
		}
		b = append(b, '}')
	}
	b = append(b, `],"totalCount":`...)
	b = strconv.AppendInt(b, int64(g.Total), 10)
	return append(b, '}'), nil
}

// legacyGroup reads a processingStep. Keys keep their order in the request, so outputs and
// grouping fields come back in the order the caller wrote them.
func legacyGroup(raw json.RawMessage) ([]string, []query.AggOp, error) {
	raw = trimJSON(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, nil
	}
	keys, vals, err := orderedObject(raw)
	if err != nil {
		return nil, nil, errBadRequest("processingStep must be an object: %v", err)
	}
	var groupBy []string
	var ops []query.AggOp
	for i, key := range keys {
		if key == "_id" {
			if groupBy, err = legacyGroupFields(vals[i]); err != nil {
				return nil, nil, err
			}
			continue
		}
		op, err := legacyOutput(key, vals[i])
		if err != nil {
			return nil, nil, err
		}
		ops = append(ops, op)
	}
	return groupBy, ops, nil
}

// legacyGroupFields reads _id: "$field", {"alias": "$field", ...}, or null / {} for no grouping.
func legacyGroupFields(raw json.RawMessage) ([]string, error) {
	raw = trimJSON(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, nil
	case raw[0] == '"':
		var f string
		json.Unmarshal(raw, &f)
		return []string{fieldRef(f)}, nil
	case raw[0] == '{':
		_, vals, err := orderedObject(raw)
		if err != nil {
			return nil, errBadRequest("processingStep._id: %v", err)
		}
		var out []string
		for _, v := range vals {
			var f string
			if json.Unmarshal(v, &f) != nil {
				return nil, errBadRequest("processingStep._id: each grouping field is a \"$field\" reference")
			}
			out = append(out, fieldRef(f))
		}
		return out, nil
	}
	return nil, errBadRequest("processingStep._id must be \"$field\", an object of them, or null")
}

// legacyOutput reads one output: {"$avg": "$field"} and the like, {"$sum": 1} or {"$count": {}}.
func legacyOutput(alias string, raw json.RawMessage) (query.AggOp, error) {
	var spec map[string]json.RawMessage
	if json.Unmarshal(raw, &spec) != nil || len(spec) != 1 {
		return query.AggOp{}, errBadRequest("processingStep.%s must be one function, like {\"$sum\": \"$price\"}", alias)
	}
	for fn, arg := range spec {
		if fn == "$count" {
			return query.AggOp{Name: alias, Func: query.AggCount}, nil
		}
		var field string
		if json.Unmarshal(arg, &field) != nil {
			if fn == "$sum" && string(trimJSON(arg)) == "1" {
				return query.AggOp{Name: alias, Func: query.AggCount}, nil
			}
			return query.AggOp{}, errBadRequest("processingStep.%s.%s takes a \"$field\" reference", alias, fn)
		}
		f, ok := map[string]query.AggFunc{"$avg": query.AggAvg, "$min": query.AggMin, "$max": query.AggMax, "$sum": query.AggSum}[fn]
		if !ok {
			return query.AggOp{}, errBadRequest("Unrecognized function %s in processingStep.%s", fn, alias)
		}
		return query.AggOp{Name: alias, Func: f, Field: fieldRef(field)}, nil
	}
	return query.AggOp{}, nil
}

// fieldRef strips the $ of a v2 field reference; v1 references had none.
func fieldRef(s string) string { return strings.TrimPrefix(s, "$") }

// orderedObject returns the members of a JSON object in their order.
func orderedObject(raw json.RawMessage) ([]string, []json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, fmt.Errorf("expected an object")
	}
	var keys []string
	var vals []json.RawMessage
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys = append(keys, key)
		vals = append(vals, v)
	}
	return keys, vals, nil
}

// groupID derives a stable _id for an aggregated row from its grouping values.
func groupID(vals []cache.Value) string {
	h := sha1.New()
	for _, v := range vals {
		h.Write(appendValue(nil, v))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
