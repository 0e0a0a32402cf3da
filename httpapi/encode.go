package httpapi

import (
	"math"
	"unicode/utf8"

	"github.com/sheetsync/sheetsync/cache"
)

// Items are encoded by appending bytes straight from the column chunks: a page of 50 items is
// written without reflection and with one allocation, which is most of what separates a fast
// read endpoint from a slow one.

// appendValue appends v as Wix expects it (spec v3 §8.2): text, number and boolean as JSON
// scalars, datetime as {"$date": "<ISO 8601>"}, an empty cell as null.
func appendValue(b []byte, v cache.Value) []byte {
	switch v.Kind() {
	case cache.KindText:
		return appendString(b, v.Str())
	case cache.KindNumber:
		if f := v.Num(); math.IsInf(f, 0) || math.IsNaN(f) {
			return append(b, "null"...) // a sum past float64's range: JSON has no Infinity
		}
		return cache.AppendNumber(b, v.Num())
	case cache.KindBool:
		if v.Bool() {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case cache.KindTime:
		b = append(b, `{"$date":"`...)
		b = cache.AppendTime(b, v.Millis())
		return append(b, `"}`...)
	}
	return append(b, "null"...)
}

// appendItem appends row r as a JSON object of the given fields (schema positions), _id first,
// empty cells as explicit nulls (spec v3 §8.2, legacy §10).
func appendItem(b []byte, snap *cache.Snapshot, r cache.RowID, fields []int) []byte {
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, snap.Schema().Field(f).Key)
		b = append(b, ':')
		b = appendValue(b, snap.Value(r, f))
	}
	return append(b, '}')
}

// itemFields returns the schema positions an item is written with: every field, or the
// projection plus _id; _id always first. Unknown projected fields are reported by the caller.
func itemFields(schema *cache.Schema, projection []string) []int {
	var out []int
	if id, ok := schema.Index(cache.FieldID); ok {
		out = append(out, id)
	}
	if len(projection) == 0 {
		for i := 0; i < schema.Len(); i++ {
			if schema.Field(i).Key != cache.FieldID {
				out = append(out, i)
			}
		}
		return out
	}
	seen := map[int]bool{}
	for _, key := range projection {
		if i, ok := schema.Index(key); ok && key != cache.FieldID && !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	return out
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as encoding/json does;
// <, > and & are not escaped since the output is never embedded in HTML.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
