package query

import (
	"encoding/binary"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// fold appends s lower-cased, keeping its length in bytes: a character whose lower case would
// take another number of bytes (the Kelvin sign, dotted capital I) is kept as it is. Keeping the
// length lets a folded arena share its cells' offsets with the original.
func fold(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		if i+8 <= len(s) {
			// eight ASCII bytes at a time: set 0x20 on every byte in A..Z
			x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			if x&0x8080808080808080 == 0 {
				geA := (x + 0x3f3f3f3f3f3f3f3f) & 0x8080808080808080 // byte >= 'A'
				gtZ := (x + 0x2525252525252525) & 0x8080808080808080 // byte > 'Z'
				x |= (geA &^ gtZ) >> 2
				dst = binary.LittleEndian.AppendUint64(dst, x)
				i += 8
				continue
			}
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if l := unicode.ToLower(r); l != r && utf8.RuneLen(l) == size {
			dst = utf8.AppendRune(dst, l)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

// hasUpper reports whether b may change when folded: it has an upper-case ASCII letter or any
// non-ASCII byte.
func hasUpper(b []byte) bool {
	for _, c := range b {
		if ('A' <= c && c <= 'Z') || c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

func foldKey(chunk uint64) string { return "fold\x00" + strconv.FormatUint(chunk, 10) }

// matcher returns a function that reports whether a whole string matches the pattern: each
// literal segment matches itself, each anyOf segment one character of its set. It reads every
// character once, so it runs in linear time whatever the pattern.
func (p *Pattern) matcher() func(string) bool {
	type step struct {
		anyOf bool
		text  string
	}
	var steps []step
	for _, s := range p.Segments {
		t := s.Text
		if p.IgnoreCase {
			t = string(fold(nil, t))
		}
		steps = append(steps, step{s.AnyOf, t})
	}
	ignoreCase := p.IgnoreCase
	return func(s string) bool {
		if ignoreCase {
			s = string(fold(nil, s))
		}
		for _, st := range steps {
			if !st.anyOf {
				if !strings.HasPrefix(s, st.text) {
					return false
				}
				s = s[len(st.text):]
				continue
			}
			r, size := utf8.DecodeRuneInString(s)
			if size == 0 || !strings.ContainsRune(st.text, r) {
				return false
			}
			s = s[size:]
		}
		return s == ""
	}
}

// urlizedMatcher is the legacy $urlized: the lower-cased field contains the words joined by a
// space or a dash. Dashes are read as spaces on both sides, so one substring search decides it,
// in linear time.
func urlizedMatcher(words []string) func(string) bool {
	lw := make([]string, len(words))
	for i, w := range words {
		lw[i] = dashToSpace(string(fold(nil, w)))
	}
	needle := strings.Join(lw, " ")
	return func(s string) bool {
		return strings.Contains(dashToSpace(string(fold(nil, s))), needle)
	}
}

func dashToSpace(s string) string { return strings.ReplaceAll(s, "-", " ") }
