package cache

import (
	"math"
	"strconv"
)

// Kind tells which of the domain's scalar kinds a Value holds.
type Kind uint8

// The kinds of value a cell can hold. KindNull is an empty cell: the field is absent.
const (
	KindNull Kind = iota
	KindText
	KindNumber
	KindBool
	KindTime
)

// String names the kind, for error messages.
func (k Kind) String() string {
	switch k {
	case KindText:
		return "text"
	case KindNumber:
		return "number"
	case KindBool:
		return "boolean"
	case KindTime:
		return "datetime"
	default:
		return "null"
	}
}

// Value is one cell: null, text, a number, a boolean or an instant (milliseconds since the Unix
// epoch, UTC). It is a small value type so that rows can be passed around without allocation.
type Value struct {
	s string
	u uint64 // float64 bits, int64 milliseconds or 0/1, by kind
	k Kind
}

// Null is the empty cell.
func Null() Value { return Value{} }

// Text returns a text value.
func Text(s string) Value { return Value{k: KindText, s: s} }

// Number returns a number value.
func Number(f float64) Value { return Value{k: KindNumber, u: math.Float64bits(f)} }

// Bool returns a boolean value.
func Bool(b bool) Value {
	if b {
		return Value{k: KindBool, u: 1}
	}
	return Value{k: KindBool}
}

// Time returns an instant given in milliseconds since the Unix epoch.
func Time(ms int64) Value { return Value{k: KindTime, u: uint64(ms)} }

// Kind returns what the value holds.
func (v Value) Kind() Kind { return v.k }

// IsNull reports whether the value is the empty cell.
func (v Value) IsNull() bool { return v.k == KindNull }

// Str returns the text of a text value, "" otherwise.
func (v Value) Str() string { return v.s }

// Num returns the number of a number value, 0 otherwise.
func (v Value) Num() float64 {
	if v.k != KindNumber {
		return 0
	}
	return math.Float64frombits(v.u)
}

// Bool returns the boolean of a boolean value, false otherwise.
func (v Value) Bool() bool { return v.k == KindBool && v.u == 1 }

// Millis returns the instant of a time value in milliseconds since the Unix epoch, 0 otherwise.
func (v Value) Millis() int64 {
	if v.k != KindTime {
		return 0
	}
	return int64(v.u)
}

// Equal reports whether two values are of the same kind and equal. Text compares case-sensitively.
func (v Value) Equal(w Value) bool {
	if v.k != w.k {
		return false
	}
	if v.k == KindNumber {
		return v.Num() == w.Num()
	}
	return v.u == w.u && v.s == w.s
}

// Compare orders two values: null first, then by kind, then by value within a kind (numbers
// numerically, instants chronologically, false before true, text by code point). It is the one
// total order that sorting, grouping and min/max share.
func (v Value) Compare(w Value) int {
	if v.k != w.k {
		if v.k < w.k {
			return -1
		}
		return 1
	}
	switch v.k {
	case KindNumber:
		a, b := v.Num(), w.Num()
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	case KindTime:
		a, b := int64(v.u), int64(w.u)
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	case KindBool:
		switch {
		case v.u < w.u:
			return -1
		case v.u > w.u:
			return 1
		}
		return 0
	case KindText:
		switch {
		case v.s < w.s:
			return -1
		case v.s > w.s:
			return 1
		}
		return 0
	}
	return 0
}

// String renders the value the way a spreadsheet cell would hold it: text as is, numbers in
// their shortest form, booleans as true/false, instants as ISO 8601 in UTC with milliseconds.
func (v Value) String() string {
	switch v.k {
	case KindText:
		return v.s
	case KindNumber:
		return string(AppendNumber(nil, v.Num()))
	case KindBool:
		return strconv.FormatBool(v.Bool())
	case KindTime:
		return string(AppendTime(nil, v.Millis()))
	}
	return ""
}

// AppendNumber appends f the way encoding/json writes a float64: the shortest representation
// that reads back exactly, in exponent form only for very large or very small magnitudes.
func AppendNumber(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
