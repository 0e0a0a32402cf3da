package query

import (
	"fmt"

	"github.com/sheetsync/sheetsync/cache"
)

// pred is a filter compiled against one snapshot. eval sets out to the slots of chunk c (of
// length n) that match, live or not; the caller masks dead slots once at the root.
type pred interface {
	eval(c, n int, out *bitset)
}

// compiler turns a Filter into a pred over a snapshot's columns, checking every field and
// operand against the schema first: a query that names an unknown field or compares a number
// field with text fails here with an *Error, before any row is read.
type compiler struct {
	snap    *cache.Snapshot
	results *cache.Results
}

func compile(snap *cache.Snapshot, f Filter, results *cache.Results) (pred, error) {
	cp := compiler{snap: snap, results: results}
	return cp.filter(f)
}

func (cp *compiler) filter(f Filter) (pred, error) {
	switch g := f.(type) {
	case nil:
		return allPred{}, nil
	case And:
		if len(g) == 0 {
			return allPred{}, nil
		}
		ps, err := cp.list(g)
		if err != nil || len(ps) == 1 {
			return first(ps), err
		}
		return andPred(ps), nil
	case Or:
		if len(g) == 0 {
			return nonePred{}, nil
		}
		ps, err := cp.list(g)
		if err != nil || len(ps) == 1 {
			return first(ps), err
		}
		return orPred(ps), nil
	case Not:
		p, err := cp.filter(g.Filter)
		if err != nil {
			return nil, err
		}
		return notPred{p}, nil
	case *Cond:
		return cp.cond(g)
	}
	return nil, &Error{Err: ErrUnsupportedOperator, Detail: fmt.Sprintf("filter node %T", f)}
}

func first(ps []pred) pred {
	if len(ps) == 0 {
		return nil
	}
	return ps[0]
}

func (cp *compiler) list(fs []Filter) ([]pred, error) {
	ps := make([]pred, 0, len(fs))
	for _, f := range fs {
		p, err := cp.filter(f)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func (cp *compiler) cond(c *Cond) (pred, error) {
	idx, ok := cp.snap.Schema().Index(c.Field)
	if !ok {
		return nil, &Error{Field: c.Field, Op: c.Op.String(), Err: ErrUnknownField}
	}
	field := cp.snap.Schema().Field(idx)
	col := cp.snap.Column(idx)
	switch c.Op {
	case OpExists:
		if c.Value.Kind() != cache.KindBool {
			return nil, &Error{Field: c.Field, Op: c.Op.String(), Err: ErrInvalidValue, Detail: "$exists takes true or false"}
		}
		if c.Value.Bool() {
			return presentPred{col}, nil
		}
		return notPred{presentPred{col}}, nil
	case OpIsEmpty:
		return notPred{presentPred{col}}, nil
	case OpIsNotEmpty:
		return presentPred{col}, nil
	case OpEq, OpNe:
		var p pred
		if c.Value.IsNull() {
			p = notPred{presentPred{col}} // {"field": null} is "is empty" (spec v3 §9.1)
		} else {
			x, err := operand(field, c.Op, c.Value)
			if err != nil {
				return nil, err
			}
			p = eqPred(col, x)
		}
		if c.Op == OpNe {
			return notPred{p}, nil
		}
		return p, nil
	case OpGt, OpGte, OpLt, OpLte:
		if c.Value.IsNull() {
			return nil, &Error{Field: c.Field, Op: c.Op.String(), Err: ErrInvalidValue, Detail: "cannot compare with null"}
		}
		x, err := operand(field, c.Op, c.Value)
		if err != nil {
			return nil, err
		}
		return rangePred(col, c.Op, x), nil
	case OpIn, OpHasSome:
		return cp.in(field, col, c)
	case OpHasAll:
		return cp.hasAll(field, col, c)
	case OpContains, OpStartsWith, OpEndsWith:
		if field.Type != cache.TypeText {
			return nil, &Error{Field: c.Field, Op: c.Op.String(), Err: ErrUnsupportedOperator, Detail: fmt.Sprintf("it applies to text fields, and %s is %s", c.Field, field.Type)}
		}
		if c.Value.Kind() != cache.KindText {
			return nil, &Error{Field: c.Field, Op: c.Op.String(), Err: ErrInvalidValue, Detail: "it takes text, got " + describe(c.Value)}
		}
		return &textFold{col: col, op: c.Op, needle: fold(nil, c.Value.Str()), results: cp.results}, nil
	case OpMatches, OpUrlized:
		if field.Type != cache.TypeText {
			return nil, &Error{Field: c.Field, Op: c.Op.String(), Err: ErrUnsupportedOperator, Detail: fmt.Sprintf("it applies to text fields, and %s is %s", c.Field, field.Type)}
		}
		var match func(string) bool
		if c.Op == OpMatches {
			if c.Pattern == nil {
				return nil, &Error{Field: c.Field, Op: c.Op.String(), Err: ErrInvalidValue, Detail: "missing pattern"}
			}
			match = c.Pattern.matcher()
		} else {
			match = urlizedMatcher(c.Words)
		}
		return &textFunc{col: col, match: match}, nil
	}
	return nil, &Error{Field: c.Field, Op: c.Op.String(), Err: ErrUnsupportedOperator}
}

// operand converts a comparison's operand to the field's kind, or explains why it cannot be: a
// datetime field takes {"$date": ...} or an ISO 8601 string, every other type its own kind.
func operand(f cache.Field, op Op, v cache.Value) (cache.Value, error) {
	if x, ok := convert(f.Type, v); ok {
		return x, nil
	}
	return cache.Value{}, &Error{Field: f.Key, Op: op.String(), Err: ErrInvalidValue,
		Detail: fmt.Sprintf("%s is a %s field, got %s", f.Key, f.Type, describe(v))}
}

func convert(t cache.FieldType, v cache.Value) (cache.Value, bool) {
	if v.Kind() == t.Kind() {
		return v, true
	}
	if t == cache.TypeDateTime && v.Kind() == cache.KindText {
		if ms, ok := cache.ParseTime(v.Str()); ok {
			return cache.Time(ms), true
		}
	}
	return cache.Value{}, false
}

func describe(v cache.Value) string {
	switch v.Kind() {
	case cache.KindText:
		s := v.Str()
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return fmt.Sprintf("text %q", s)
	case cache.KindNull:
		return "null"
	}
	return fmt.Sprintf("%s %s", v.Kind(), v.String())
}

// in matches rows whose value is one of the list. Elements of another type than the field's
// can never be equal and are skipped (Wix sends {"$in": ["42", 42]} for slugs that look like
// numbers); a null element also matches empty cells.
func (cp *compiler) in(f cache.Field, col *cache.Column, c *Cond) (pred, error) {
	var vals []cache.Value
	withNull := false
	for _, v := range c.Values {
		if v.IsNull() {
			withNull = true
		} else if x, ok := convert(f.Type, v); ok {
			vals = append(vals, x)
		}
	}
	var p pred = nonePred{}
	switch {
	case len(vals) == 1:
		p = eqPred(col, vals[0])
	case len(vals) > 1:
		p = inPred(col, vals)
	}
	if withNull {
		return orPred{p, notPred{presentPred{col}}}, nil
	}
	return p, nil
}

// hasAll on a single-valued field matches rows whose value equals every element, which only
// a list of one distinct value can do.
func (cp *compiler) hasAll(f cache.Field, col *cache.Column, c *Cond) (pred, error) {
	var distinct []cache.Value
	for _, v := range c.Values {
		x, ok := convert(f.Type, v)
		if !ok {
			return nonePred{}, nil
		}
		seen := false
		for _, d := range distinct {
			seen = seen || d.Equal(x)
		}
		if !seen {
			distinct = append(distinct, x)
		}
	}
	if len(distinct) != 1 {
		return nonePred{}, nil
	}
	return eqPred(col, distinct[0]), nil
}

type allPred struct{}

func (allPred) eval(_, n int, out *bitset) { out.fill(n) }

type nonePred struct{}

func (nonePred) eval(_, _ int, out *bitset) { *out = bitset{} }

type presentPred struct{ col *cache.Column }

func (p presentPred) eval(c, n int, out *bitset) { out.setFrom(p.col.Chunk(c).Present(), n) }

type notPred struct{ p pred }

func (p notPred) eval(c, n int, out *bitset) {
	p.p.eval(c, n, out)
	out.invert(n)
}

type andPred []pred

func (ps andPred) eval(c, n int, out *bitset) {
	ps[0].eval(c, n, out)
	var tmp bitset
	for _, p := range ps[1:] {
		if out.empty() {
			return
		}
		p.eval(c, n, &tmp)
		out.and(&tmp)
	}
}

type orPred []pred

func (ps orPred) eval(c, n int, out *bitset) {
	ps[0].eval(c, n, out)
	var tmp bitset
	for _, p := range ps[1:] {
		p.eval(c, n, &tmp)
		out.or(&tmp)
	}
}
