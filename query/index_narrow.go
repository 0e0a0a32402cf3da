package query

import (
	"slices"

	"github.com/sheetsync/sheetsync/cache"
)

// span is a range [lo, hi) of positions in an index's permutation.
type span struct{ lo, hi int }

// opNotNull is the bound of $exists true and $isNotEmpty: every non-empty cell.
const opNotNull Op = 255

// bound is what one condition says about one field of an index, in index terms: OpEq with
// one value, OpIn with several (a null value meaning the empty cell), a range, or opNotNull.
// exact is false when the rows the bound keeps may include some the condition refuses.
type bound struct {
	op    Op
	vals  []cache.Value
	exact bool
}

// point reports whether every span the bound leaves holds a single value of the field, so
// that the next field of the index is sorted within each.
func (b bound) point() bool { return b.op == OpEq || b.op == OpIn }

// andTerms splits a filter into the conditions every matching row meets (the filter itself
// when it is a condition, or the conditions of its top-level AND, nested ANDs flattened) and
// the rest of that AND.
func andTerms(f Filter) (conds []*Cond, rest []Filter) {
	switch g := f.(type) {
	case *Cond:
		return []*Cond{g}, nil
	case And:
		for _, x := range g {
			c, r := andTerms(x)
			conds, rest = append(conds, c...), append(rest, r...)
		}
		return conds, rest
	case nil:
		return nil, nil
	}
	return nil, []Filter{f}
}

// boundOf turns a condition on field f of type t into a bound, with the same operand
// conversions compile makes. It reports false for a condition an index cannot narrow: $ne,
// the text matches, or a text range on a case-insensitive index (folded order is not the
// filter's byte order). A bound may keep rows the condition refuses (an $eq on a
// case-insensitive index keeps every case variant; NaN compares as the lowest number in an
// index, and as nothing in a filter), never the reverse, and says so with exact.
func boundOf(c *Cond, t cache.FieldType, fold bool) (bound, bool) {
	null := []cache.Value{{}}
	folded := fold && t == cache.TypeText
	switch c.Op {
	case OpIsEmpty:
		return bound{OpEq, null, true}, true
	case OpIsNotEmpty:
		return bound{opNotNull, nil, true}, true
	case OpExists:
		if c.Value.Kind() != cache.KindBool {
			return bound{}, false
		}
		if c.Value.Bool() {
			return bound{opNotNull, nil, true}, true
		}
		return bound{OpEq, null, true}, true
	case OpEq:
		if c.Value.IsNull() {
			return bound{OpEq, null, true}, true
		}
		if x, ok := convert(t, c.Value); ok {
			return bound{OpEq, []cache.Value{x}, !folded && !isNaN(x)}, true
		}
	case OpIn, OpHasSome:
		bd := bound{op: OpIn, exact: !folded}
		for _, v := range c.Values {
			if v.IsNull() {
				bd.vals = append(bd.vals, v)
			} else if x, ok := convert(t, v); ok {
				bd.vals = append(bd.vals, x)
				bd.exact = bd.exact && !isNaN(x)
			}
		}
		return bd, true
	case OpGt, OpGte, OpLt, OpLte:
		if folded {
			return bound{}, false
		}
		if x, ok := convert(t, c.Value); ok && !c.Value.IsNull() {
			return bound{c.Op, []cache.Value{x}, !isNaN(x)}, true
		}
	}
	return bound{}, false
}

func isNaN(v cache.Value) bool { return v.Kind() == cache.KindNumber && v.Num() != v.Num() }

// narrowing is what the filter's conditions make of one index: the spans of its permutation
// that hold every row they allow, how many leading fields hold one value across all spans
// (pinned), which conditions the spans settle exactly (absorbed, by position in the terms),
// and whether any condition bounds the index at all (used; if not, the spans are all rows).
type narrowing struct {
	spans    []span
	pinned   int
	absorbed []bool
	used     bool
}

// narrow bounds the index's fields in order, for as long as each is pinned to single values:
// within a span where the fields before j hold one value, rows are sorted by field j.
func narrow(b *built, def *Index, terms []*Cond) narrowing {
	nw := narrowing{spans: []span{{0, b.perm.len()}}, absorbed: make([]bool, len(terms))}
	for j := range def.Fields {
		f := &b.key[j]
		point, bounded := true, false
		for t, c := range terms {
			if c.Field != def.Fields[j].Path {
				continue
			}
			bd, ok := boundOf(c, f.col.Type(), f.fold)
			if !ok {
				continue
			}
			var exact bool
			nw.spans, exact = restrict(b.perm, f, nw.spans, bd)
			nw.absorbed[t] = exact
			point = point && bd.point()
			bounded = true
		}
		if !bounded {
			break
		}
		nw.used = true
		if !point || len(nw.spans) == 0 {
			break
		}
		if len(nw.spans) == 1 && nw.pinned == j {
			nw.pinned = j + 1
		}
	}
	return nw
}

// restrict narrows each span, whose rows are sorted by field f, to the rows bd allows, and
// reports whether the result is exactly the rows bd's condition allows.
func restrict(p *perm, f *keyField, spans []span, bd bound) ([]span, bool) {
	var out []span
	exact := bd.exact
	for _, s := range spans {
		lower := func(v cache.Value) int {
			return p.search(s.lo, s.hi, func(r cache.RowID) bool { return f.compareValue(r, v) >= 0 })
		}
		upper := func(v cache.Value) int {
			return p.search(s.lo, s.hi, func(r cache.RowID) bool { return f.compareValue(r, v) > 0 })
		}
		// add keeps [lo, hi); nanAt is where a NaN would be in it, if the column has any: NaN
		// is below every number in an index, but matches no $lt or $lte
		add := func(lo, hi, nanAt int) {
			if lo >= hi {
				return
			}
			out = append(out, span{lo, hi})
			if (bd.op == OpLt || bd.op == OpLte) && f.col.Type() == cache.TypeNumber && isNaN(f.col.Value(p.at(nanAt))) {
				exact = false
			}
		}
		var null cache.Value
		switch bd.op {
		case OpEq, OpIn:
			var sub []span
			for _, v := range bd.vals {
				if lo, hi := lower(v), upper(v); lo < hi {
					sub = append(sub, span{lo, hi})
				}
			}
			// values equal in the index (1 and 1, or "A" and "a" case-insensitively) give one span
			slices.SortFunc(sub, func(a, b span) int { return a.lo - b.lo })
			out = append(out, slices.Compact(sub)...)
			continue
		}
		// A field's empty cells sort first, or last when it is DESC; a range takes non-empty
		// cells only, on the side of x that the op and the direction say.
		var x cache.Value
		if len(bd.vals) > 0 {
			x = bd.vals[0]
		}
		if !f.desc {
			nullsEnd := upper(null) // empty cells are [s.lo, nullsEnd)
			switch bd.op {
			case OpGt:
				add(upper(x), s.hi, 0)
			case OpGte:
				add(lower(x), s.hi, 0)
			case OpLt:
				add(nullsEnd, lower(x), nullsEnd)
			case OpLte:
				add(nullsEnd, upper(x), nullsEnd)
			case opNotNull:
				add(nullsEnd, s.hi, 0)
			}
			continue
		}
		nullsStart := lower(null) // DESC: greater values first, empty cells [nullsStart, s.hi)
		switch bd.op {
		case OpGt:
			add(s.lo, lower(x), 0)
		case OpGte:
			add(s.lo, upper(x), 0)
		case OpLt:
			add(upper(x), nullsStart, nullsStart-1)
		case OpLte:
			add(lower(x), nullsStart, nullsStart-1)
		case opNotNull:
			add(s.lo, nullsStart, 0)
		}
	}
	return out, exact
}

// count returns the number of rows in spans.
func count(spans []span) int {
	n := 0
	for _, s := range spans {
		n += s.hi - s.lo
	}
	return n
}

// walkOrder reports whether walking spans of an index in order (or, with reverse, backwards)
// visits rows in the order sorts asks for, ties aside: the sort fields must be index fields
// e..e+len(sorts) for some e no greater than pinned (fields before e hold one value), each
// in the index's direction, or each against it. A case-insensitive text field orders by folded
// text, not the sort's byte order, so it cannot serve.
func walkOrder(def *Index, k indexKey, pinned int, sorts []Sort) (ok, reverse bool) {
	for e := 0; e <= pinned && e+len(sorts) <= len(def.Fields); e++ {
		fwd, rev := true, true
		for i, s := range sorts {
			f := &k[e+i]
			if def.Fields[e+i].Path != s.Field || f.fold {
				fwd, rev = false, false
				break
			}
			if s.Desc == f.desc {
				rev = false
			} else {
				fwd = false
			}
		}
		if fwd || rev {
			return true, rev
		}
	}
	return false, false
}
