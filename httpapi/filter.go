package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/query"
)

// Limits on a filter, so that a hostile request cannot make decoding or evaluation blow up.
const (
	maxFilterDepth = 32
	maxFilterNodes = 10000 // conditions and logical nodes in one filter
	maxListLen     = 10000
	maxPatternLen  = 1024
)

// errBadFilter marks a filter that cannot be decoded; the message says what and where.
var errBadFilter = errors.New("invalid filter")

type filterError struct {
	path string // where in the filter, like "$and[1].price"
	msg  string
}

func (e *filterError) Error() string {
	if e.path == "" {
		return e.msg
	}
	return e.path + ": " + e.msg
}

func (e *filterError) Unwrap() error { return errBadFilter }

// decodeFilter reads a filter in any of the forms Wix sends (spec v3 §9, legacy §9):
//
//   - the Mongo-like object of v3 and legacy v2: {"price": {"$gt": 5}, "category": "tools"},
//     with $and, $or and $not, several keys meaning AND, several operators on one field meaning
//     AND, and the short form {"field": value} meaning $eq;
//   - the legacy v1 tree {"operator": "$gt", "fieldName": "price", "value": 5}, recognised by
//     its shape;
//   - "", null, {}, [] or a bare number, which all mean no filter (legacy §13.25).
//
// Values are JSON scalars or {"$date": "<ISO 8601>"}.
func decodeFilter(raw json.RawMessage) (query.Filter, error) {
	raw = trimJSON(raw)
	if len(raw) == 0 {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, &filterError{msg: "not valid JSON: " + err.Error()}
	}
	return filterOf(v)
}

// filterOf decodes an already parsed filter value.
func filterOf(v any) (query.Filter, error) {
	switch t := v.(type) {
	case nil, string, float64, bool:
		return nil, nil // the legacy "no filter" spellings
	case []any:
		if len(t) == 0 {
			return nil, nil
		}
	}
	d := &filterDecoder{}
	f, err := d.node(v, "", 0)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// filterDecoder decodes one filter, counting its nodes against maxFilterNodes.
type filterDecoder struct{ nodes int }

// visit counts a node and checks the limits on depth and size.
func (d *filterDecoder) visit(path string, depth int) error {
	if depth > maxFilterDepth {
		return &filterError{path, fmt.Sprintf("nested deeper than %d levels", maxFilterDepth)}
	}
	if d.nodes++; d.nodes > maxFilterNodes {
		return &filterError{path, fmt.Sprintf("more than %d conditions", maxFilterNodes)}
	}
	return nil
}

func (d *filterDecoder) node(v any, path string, depth int) (query.Filter, error) {
	if err := d.visit(path, depth); err != nil {
		return nil, err
	}
	switch t := v.(type) {
	case map[string]any:
		if isV1(t) {
			return d.v1(t, path, depth)
		}
		return d.object(t, path, depth)
	case []any:
		// a bare list of filters: all of them
		return d.list(t, path, depth)
	}
	return nil, &filterError{path, fmt.Sprintf("expected an object, got %s", kindOf(v))}
}

func (d *filterDecoder) list(items []any, path string, depth int) (query.Filter, error) {
	out := make(query.And, 0, len(items))
	for i, it := range items {
		f, err := d.node(it, fmt.Sprintf("%s[%d]", path, i), depth+1)
		if err != nil {
			return nil, err
		}
		if f != nil {
			out = append(out, f)
		}
	}
	return out, nil
}

// object decodes the Mongo-like form. Keys are visited in sorted order so that the first error
// reported is always the same one.
func (d *filterDecoder) object(m map[string]any, path string, depth int) (query.Filter, error) {
	var out query.And
	for _, key := range slices.Sorted(maps.Keys(m)) {
		val := m[key]
		at := joinPath(path, key)
		switch {
		case key == "$and" || key == "$or":
			items, ok := val.([]any)
			if !ok {
				if obj, isObj := val.(map[string]any); isObj {
					items = []any{obj} // lenient: a single filter instead of a list
				} else {
					return nil, &filterError{at, fmt.Sprintf("expected a list of filters, got %s", kindOf(val))}
				}
			}
			var fs []query.Filter
			for i, it := range items {
				f, err := d.node(it, fmt.Sprintf("%s[%d]", at, i), depth+1)
				if err != nil {
					return nil, err
				}
				if f == nil {
					f = query.And{} // {} inside $and/$or: matches everything
				}
				fs = append(fs, f)
			}
			if key == "$and" {
				out = append(out, query.And(fs))
			} else {
				out = append(out, query.Or(fs))
			}
		case key == "$not":
			f, err := d.not(val, at, depth)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		case strings.HasPrefix(key, "$"):
			return nil, &filterError{at, fmt.Sprintf("unknown operator %s at the top of a filter; field conditions look like {\"field\": {\"$eq\": value}}", key)}
		default:
			f, err := d.field(key, val, at, depth)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
	}
	if len(out) == 1 {
		return out[0], nil
	}
	return out, nil
}

// not accepts what Wix's builder sends, a one-element list, and what its validator accepts, a
// bare filter (spec v3 §9.1); a longer list is NOT(AND(...)).
func (d *filterDecoder) not(val any, path string, depth int) (query.Filter, error) {
	var f query.Filter
	var err error
	switch t := val.(type) {
	case []any:
		if len(t) == 0 {
			return nil, &filterError{path, "$not needs a filter"}
		}
		f, err = d.list(t, path, depth+1)
		if and, ok := f.(query.And); ok && len(and) == 1 {
			f = and[0]
		}
	case map[string]any:
		f, err = d.node(t, path, depth+1)
	default:
		return nil, &filterError{path, fmt.Sprintf("$not needs a filter, got %s", kindOf(val))}
	}
	if err != nil {
		return nil, err
	}
	return query.Not{Filter: f}, nil
}

// field decodes the condition(s) on one field: an operator object, or a value meaning $eq.
func (d *filterDecoder) field(name string, val any, path string, depth int) (query.Filter, error) {
	if err := d.visit(path, depth); err != nil {
		return nil, err
	}
	ops, ok := val.(map[string]any)
	if !ok || isDateValue(ops) || !hasOperatorKeys(ops) {
		v, err := scalar(val, path)
		if err != nil {
			return nil, err
		}
		return &query.Cond{Field: name, Op: query.OpEq, Value: v}, nil
	}
	var out query.And
	for _, opName := range slices.Sorted(maps.Keys(ops)) {
		at := path + "." + opName
		if !strings.HasPrefix(opName, "$") {
			return nil, &filterError{at, fmt.Sprintf("cannot mix operators and plain keys in the condition on %q", name)}
		}
		if opName == "$not" {
			inner, err := d.field(name, ops[opName], at, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, query.Not{Filter: inner})
			continue
		}
		c, err := condition(name, opName, ops[opName], at)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 1 {
		return out[0], nil
	}
	return out, nil
}

// condition decodes one operator and its operand.
func condition(field, opName string, operand any, path string) (*query.Cond, error) {
	if opName == "$regex" {
		return nil, &filterError{path, "$regex is not supported; use $contains, $startsWith, $endsWith or $matches"}
	}
	op, ok := query.ParseOp(opName)
	if !ok {
		return nil, &filterError{path, fmt.Sprintf("unknown operator %s", opName)}
	}
	c := &query.Cond{Field: field, Op: op}
	switch op {
	case query.OpIn, query.OpHasSome, query.OpHasAll:
		items, ok := operand.([]any)
		if !ok {
			return nil, &filterError{path, fmt.Sprintf("%s takes a list, got %s", opName, kindOf(operand))}
		}
		if len(items) == 0 && op != query.OpIn {
			return nil, &filterError{path, fmt.Sprintf("%s cannot have an empty list", opName)}
		}
		if len(items) > maxListLen {
			return nil, &filterError{path, fmt.Sprintf("%s lists at most %d values, got %d", opName, maxListLen, len(items))}
		}
		for i, it := range items {
			v, err := scalar(it, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			c.Values = append(c.Values, v)
		}
	case query.OpExists:
		b, ok := operand.(bool)
		if !ok {
			return nil, &filterError{path, fmt.Sprintf("$exists takes true or false, got %s", kindOf(operand))}
		}
		c.Value = cache.Bool(b)
	case query.OpIsEmpty, query.OpIsNotEmpty:
		// the operand is true (or absent); false turns the test around
		switch b := operand.(type) {
		case nil:
		case bool:
			if !b {
				c.Op = map[query.Op]query.Op{query.OpIsEmpty: query.OpIsNotEmpty, query.OpIsNotEmpty: query.OpIsEmpty}[op]
			}
		default:
			return nil, &filterError{path, fmt.Sprintf("%s takes true or false, got %s", opName, kindOf(operand))}
		}
	case query.OpMatches:
		p, err := pattern(operand, path)
		if err != nil {
			return nil, err
		}
		c.Pattern = p
	case query.OpUrlized:
		words, err := urlizedWords(operand, path)
		if err != nil {
			return nil, err
		}
		c.Words = words
	case query.OpContains, query.OpStartsWith, query.OpEndsWith:
		s, ok := operand.(string)
		if !ok {
			return nil, &filterError{path, fmt.Sprintf("%s takes text, got %s", opName, kindOf(operand))}
		}
		c.Value = cache.Text(s)
	default:
		v, err := scalar(operand, path)
		if err != nil {
			return nil, err
		}
		c.Value = v
	}
	return c, nil
}

// pattern decodes the $matches operand {"ignoreCase": true, "spec": [{"type": "literal" |
// "anyOf", "value": "..."}]}.
func pattern(operand any, path string) (*query.Pattern, error) {
	m, ok := operand.(map[string]any)
	if !ok {
		return nil, &filterError{path, fmt.Sprintf("$matches takes {\"ignoreCase\": bool, \"spec\": [...]}, got %s", kindOf(operand))}
	}
	spec, ok := m["spec"].([]any)
	if !ok {
		return nil, &filterError{path + ".spec", "$matches needs a spec list"}
	}
	p := &query.Pattern{}
	if ic, ok := m["ignoreCase"].(bool); ok {
		p.IgnoreCase = ic
	}
	size := 0
	for i, s := range spec {
		at := fmt.Sprintf("%s.spec[%d]", path, i)
		seg, ok := s.(map[string]any)
		if !ok {
			return nil, &filterError{at, "expected {\"type\": ..., \"value\": ...}"}
		}
		text, ok := seg["value"].(string)
		if !ok {
			return nil, &filterError{at + ".value", "expected text"}
		}
		size += len(text)
		switch seg["type"] {
		case "literal":
			p.Segments = append(p.Segments, query.Segment{Text: text})
		case "anyOf":
			p.Segments = append(p.Segments, query.Segment{AnyOf: true, Text: text})
		default:
			return nil, &filterError{at + ".type", fmt.Sprintf("expected \"literal\" or \"anyOf\", got %v", seg["type"])}
		}
	}
	if size > maxPatternLen {
		return nil, &filterError{path, fmt.Sprintf("$matches pattern longer than %d bytes", maxPatternLen)}
	}
	return p, nil
}

func urlizedWords(operand any, path string) ([]string, error) {
	switch t := operand.(type) {
	case string:
		return strings.Fields(t), nil
	case []any:
		var words []string
		for i, w := range t {
			s, ok := w.(string)
			if !ok {
				return nil, &filterError{fmt.Sprintf("%s[%d]", path, i), "expected a word"}
			}
			words = append(words, s)
		}
		if len(strings.Join(words, " ")) > maxPatternLen {
			return nil, &filterError{path, fmt.Sprintf("$urlized longer than %d bytes", maxPatternLen)}
		}
		return words, nil
	}
	return nil, &filterError{path, fmt.Sprintf("$urlized takes a list of words, got %s", kindOf(operand))}
}

// isV1 recognises a legacy v1 node: "operator" holds a $-name and the node has a fieldName or a
// value (legacy §9.1: detect v1 by shape).
func isV1(m map[string]any) bool {
	op, ok := m["operator"].(string)
	if !ok || !strings.HasPrefix(op, "$") {
		return false
	}
	_, hasField := m["fieldName"]
	_, hasValue := m["value"]
	return hasField || hasValue
}

func (d *filterDecoder) v1(m map[string]any, path string, depth int) (query.Filter, error) {
	op := m["operator"].(string)
	val := m["value"]
	switch op {
	case "$and", "$or":
		items, ok := val.([]any)
		if !ok {
			return nil, &filterError{path + ".value", fmt.Sprintf("%s takes a list of nodes, got %s", op, kindOf(val))}
		}
		var fs []query.Filter
		for i, it := range items {
			f, err := d.node(it, fmt.Sprintf("%s.value[%d]", path, i), depth+1)
			if err != nil {
				return nil, err
			}
			if f == nil {
				f = query.And{}
			}
			fs = append(fs, f)
		}
		if op == "$and" {
			return query.And(fs), nil
		}
		return query.Or(fs), nil
	case "$not":
		return d.not(val, path+".value", depth)
	}
	field, ok := m["fieldName"].(string)
	if !ok || field == "" {
		return nil, &filterError{path + ".fieldName", fmt.Sprintf("%s needs a fieldName", op)}
	}
	return condition(field, op, val, path+".value")
}

// scalar decodes a value: text, a number, a boolean, null or {"$date": "<ISO 8601>"}.
func scalar(v any, path string) (cache.Value, error) {
	switch t := v.(type) {
	case nil:
		return cache.Null(), nil
	case string:
		return cache.Text(t), nil
	case float64:
		return cache.Number(t), nil
	case bool:
		return cache.Bool(t), nil
	case map[string]any:
		if isDateValue(t) {
			s, _ := t["$date"].(string)
			ms, ok := cache.ParseTime(s)
			if !ok {
				return cache.Value{}, &filterError{path, fmt.Sprintf("$date %q is not an ISO 8601 date-time", s)}
			}
			return cache.Time(ms), nil
		}
	}
	return cache.Value{}, &filterError{path, fmt.Sprintf("expected text, a number, a boolean, null or {\"$date\": ...}, got %s", kindOf(v))}
}

func isDateValue(m map[string]any) bool {
	if len(m) != 1 {
		return false
	}
	_, ok := m["$date"]
	return ok
}

func hasOperatorKeys(m map[string]any) bool {
	for k := range m {
		if strings.HasPrefix(k, "$") {
			return true
		}
	}
	return false
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "text"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// trimJSON drops surrounding white space.
func trimJSON(b json.RawMessage) json.RawMessage {
	return json.RawMessage(strings.TrimSpace(string(b)))
}
