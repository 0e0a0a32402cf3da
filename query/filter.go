package query

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/sheetsync/sheetsync/cache"
)

// Filter is a node of a filter tree: And, Or, Not or Cond. A nil Filter matches every row.
// Both Wix protocols decode into this one tree (httpapi/filter.go); query gives it meaning.
type Filter interface {
	// canon appends the node's canonical form, so that filters meaning the same thing (keys in
	// another order, nested ANDs, list elements shuffled) share one result-cache entry.
	canon(b *strings.Builder)
}

// And matches rows that match every filter; an empty And matches all rows.
type And []Filter

// Or matches rows that match at least one filter; an empty Or matches no row.
type Or []Filter

// Not matches rows that do not match the filter, rows where its field is missing included.
type Not struct{ Filter Filter }

// Op is a comparison operator of a condition.
type Op uint8

// The operators of both Wix filter languages (spec v3 §9.2, legacy §9.4). IsEmpty and
// IsNotEmpty are the legacy spellings of Eq null and Ne null.
const (
	OpEq Op = iota + 1
	OpNe
	OpGt
	OpGte
	OpLt
	OpLte
	OpIn
	OpHasSome
	OpHasAll
	OpContains
	OpStartsWith
	OpEndsWith
	OpExists
	OpMatches
	OpUrlized
	OpIsEmpty
	OpIsNotEmpty
)

var opNames = map[Op]string{
	OpEq: "$eq", OpNe: "$ne", OpGt: "$gt", OpGte: "$gte", OpLt: "$lt", OpLte: "$lte",
	OpIn: "$in", OpHasSome: "$hasSome", OpHasAll: "$hasAll",
	OpContains: "$contains", OpStartsWith: "$startsWith", OpEndsWith: "$endsWith",
	OpExists: "$exists", OpMatches: "$matches", OpUrlized: "$urlized",
	OpIsEmpty: "$isEmpty", OpIsNotEmpty: "$isNotEmpty",
}

// String returns the operator as the wire spells it, with its $.
func (o Op) String() string { return opNames[o] }

// ParseOp returns the operator a wire name (with its $) stands for.
func ParseOp(name string) (Op, bool) {
	for op, n := range opNames {
		if n == name {
			return op, true
		}
	}
	return 0, false
}

// Cond is a condition on one field. Which operand it uses depends on Op: Value for the
// comparisons, the text matches and Exists (a boolean); Values for In, HasSome and HasAll;
// Pattern for Matches; Words for Urlized.
type Cond struct {
	Field   string
	Op      Op
	Value   cache.Value
	Values  []cache.Value
	Pattern *Pattern
	Words   []string
}

// Pattern is the operand of $matches, Wix's dynamic-page slug matcher: the field must be exactly
// the concatenation of its segments, where a literal segment matches itself and an anyOf
// segment matches one character of its set.
type Pattern struct {
	IgnoreCase bool
	Segments   []Segment
}

// Segment is a piece of a Pattern: Literal text, or (when AnyOf is true) one character of Text.
type Segment struct {
	AnyOf bool
	Text  string
}

func (f And) canon(b *strings.Builder) { canonList(b, "and", []Filter(f)) }
func (f Or) canon(b *strings.Builder)  { canonList(b, "or", []Filter(f)) }

func (f Not) canon(b *strings.Builder) {
	b.WriteString("not(")
	canonOf(b, f.Filter)
	b.WriteByte(')')
}

func canonOf(b *strings.Builder, f Filter) {
	if f == nil {
		b.WriteString("all")
		return
	}
	f.canon(b)
}

// canonList writes an AND or OR with nested nodes of the same kind flattened and the children
// sorted, so their order does not matter.
func canonList(b *strings.Builder, name string, fs []Filter) {
	var parts []string
	var walk func([]Filter)
	walk = func(fs []Filter) {
		for _, f := range fs {
			switch g := f.(type) {
			case And:
				if name == "and" {
					walk(g)
					continue
				}
			case Or:
				if name == "or" {
					walk(g)
					continue
				}
			}
			var sb strings.Builder
			canonOf(&sb, f)
			parts = append(parts, sb.String())
		}
	}
	walk(fs)
	if len(parts) == 1 {
		b.WriteString(parts[0])
		return
	}
	slices.Sort(parts)
	parts = slices.Compact(parts)
	b.WriteString(name)
	b.WriteByte('(')
	b.WriteString(strings.Join(parts, ","))
	b.WriteByte(')')
}

func (c *Cond) canon(b *strings.Builder) {
	b.WriteString(strconv.Quote(c.Field))
	b.WriteString(c.Op.String())
	switch c.Op {
	case OpIn, OpHasSome, OpHasAll:
		vals := make([]string, len(c.Values))
		for i, v := range c.Values {
			vals[i] = canonValue(v)
		}
		slices.Sort(vals)
		b.WriteString("[" + strings.Join(vals, ",") + "]")
	case OpMatches:
		b.WriteString(strconv.FormatBool(c.Pattern.IgnoreCase))
		for _, s := range c.Pattern.Segments {
			if s.AnyOf {
				b.WriteString("|any" + strconv.Quote(s.Text))
			} else {
				b.WriteString("|lit" + strconv.Quote(s.Text))
			}
		}
	case OpUrlized:
		for _, w := range c.Words {
			b.WriteString("|" + strconv.Quote(w))
		}
	default:
		b.WriteString(canonValue(c.Value))
	}
}

func canonValue(v cache.Value) string {
	switch v.Kind() {
	case cache.KindText:
		return "t" + strconv.Quote(v.Str())
	case cache.KindNumber:
		return "n" + strconv.FormatUint(math.Float64bits(v.Num()), 16)
	case cache.KindBool:
		return "b" + strconv.FormatBool(v.Bool())
	case cache.KindTime:
		return "d" + strconv.FormatInt(v.Millis(), 10)
	}
	return "null"
}

// Key returns the canonical form of a filter.
func Key(f Filter) string {
	var b strings.Builder
	canonOf(&b, f)
	return b.String()
}
