package ingest

import (
	"strconv"
	"unsafe"
)

// maxNumberDigits is the most significant digits a cell may have and still be read as a number:
// float64 holds 15 exactly, so a 16-digit card number or a 20-digit barcode stays text instead
// of silently losing its last digits.
const maxNumberDigits = 15

// parseNumber reads a cell as a number if it is written like a JSON number: an optional minus,
// no leading zeros (so "00123" stays text, DESIGN §3), an optional fraction and exponent, and
// at most maxNumberDigits significant digits. No +, no thousands separators, no currency signs,
// no Inf or NaN.
func parseNumber(b []byte) (float64, bool) {
	i, n := 0, len(b)
	if n == 0 {
		return 0, false
	}
	if b[0] == '-' {
		i++
	}
	if i == n {
		return 0, false
	}
	significant, leading, nonzero := 0, true, false
	switch {
	case b[i] == '0':
		i++
		if i < n && b[i] >= '0' && b[i] <= '9' {
			return 0, false // leading zero
		}
	case b[i] >= '1' && b[i] <= '9':
		for i < n && b[i] >= '0' && b[i] <= '9' {
			significant++
			leading = false
			i++
		}
		nonzero = true
	default:
		return 0, false
	}
	if i < n && b[i] == '.' {
		i++
		start := i
		for i < n && b[i] >= '0' && b[i] <= '9' {
			if b[i] != '0' || !leading {
				significant++
				leading = false
			}
			nonzero = nonzero || b[i] != '0'
			i++
		}
		if i == start {
			return 0, false
		}
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < n && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < n && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return 0, false
		}
	}
	if i != n || significant > maxNumberDigits {
		return 0, false
	}
	f, err := strconv.ParseFloat(unsafe.String(&b[0], n), 64)
	if err != nil || (f == 0 && nonzero) {
		return 0, false // out of range: too large, or so small it would read as 0
	}
	return f, true
}

// parseBool reads true or false in any case.
func parseBool(b []byte) (bool, bool) {
	switch len(b) {
	case 4:
		return true, b[0]|0x20 == 't' && b[1]|0x20 == 'r' && b[2]|0x20 == 'u' && b[3]|0x20 == 'e'
	case 5:
		return false, b[0]|0x20 == 'f' && b[1]|0x20 == 'a' && b[2]|0x20 == 'l' && b[3]|0x20 == 's' && b[4]|0x20 == 'e'
	}
	return false, false
}
