package ingest

import (
	"math"
	"strconv"
	"testing"
)

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		// JSON numbers
		{"0", 0, true},
		{"-0", math.Copysign(0, -1), true},
		{"7", 7, true},
		{"-7", -7, true},
		{"42", 42, true},
		{"0.5", 0.5, true},
		{"-0.5", -0.5, true},
		{"1.50", 1.5, true},
		{"10.0", 10, true},
		{"1e3", 1000, true},
		{"1E3", 1000, true},
		{"1e+3", 1000, true},
		{"1e-3", 0.001, true},
		{"2.5E-3", 0.0025, true},
		{"0e0", 0, true},
		{"1e021", 1e21, true}, // leading zeros in an exponent are JSON
		{"1e308", 1e308, true},
		{"-1.79769313486231e308", -1.79769313486231e308, true},
		{"0.000000000000001", 1e-15, true}, // leading zeros of a fraction are not significant

		// not JSON
		{"", 0, false},
		{"-", 0, false},
		{".", 0, false},
		{"1.", 0, false},
		{".5", 0, false},
		{"-.5", 0, false},
		{"+1", 0, false},
		{"+0", 0, false},
		{"--1", 0, false},
		{"1e", 0, false},
		{"1e+", 0, false},
		{"1e-", 0, false},
		{"e3", 0, false},
		{"1.e3", 0, false},
		{"0x10", 0, false},
		{"1_000", 0, false},
		{"1,000", 0, false},
		{"1,5", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"$5", 0, false},
		{"5%", 0, false},
		{"Inf", 0, false},
		{"+Inf", 0, false},
		{"-Inf", 0, false},
		{"Infinity", 0, false},
		{"NaN", 0, false},
		{"nan", 0, false},
		{"1e400", 0, false},  // out of range
		{"-1e400", 0, false}, // out of range
		{"١٢", 0, false},     // Arabic-Indic digits

		// leading zeros: text (DESIGN §3)
		{"00", 0, false},
		{"00123", 0, false},
		{"007", 0, false},
		{"-01", 0, false},
		{"00.5", 0, false},

		// at most 15 significant digits
		{"123456789012345", 123456789012345, true},
		{"-123456789012345", -123456789012345, true},
		{"1234567890123456", 0, false},
		{"4111111111111111", 0, false},
		{"12345678901234567890", 0, false},
		{"1234567890.12345", 1234567890.12345, true},
		{"1234567890.123456", 0, false},
		{"0.123456789012345", 0.123456789012345, true},
		{"0.1234567890123456", 0, false},
		{"0.000123456789012345", 0.000123456789012345, true},
		{"1.23456789012345e10", 1.23456789012345e10, true},
		{"1.234567890123456e10", 0, false},
		{"100000000000000", 1e14, true}, // 15 digits
		{"1000000000000000", 0, false},  // 16 digits, trailing zeros count
		{"1.00000000000000", 1, true},   // 15 digits
		{"1.000000000000000", 0, false}, // 16 digits
		{"0.00000000000000", 0, true},   // zeros only: nothing significant
		{"9007199254740993", 0, false},  // would round to ...992
		{"99999999999999.9", 99999999999999.9, true},
	}
	for _, tt := range tests {
		got, ok := parseNumber([]byte(tt.in))
		if ok != tt.ok || (ok && (got != tt.want || math.Signbit(got) != math.Signbit(tt.want))) {
			t.Errorf("parseNumber(%q) = %v, %v, want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestParseNumberUnderflow: a number too small for a float64 reads as 0, silently losing the
// value, where one too large is kept as text.
func TestParseNumberUnderflow(t *testing.T) {
	for _, in := range []string{"1e-400", "-2.5e-999"} {
		if got, ok := parseNumber([]byte(in)); ok {
			t.Errorf("parseNumber(%q) = %v, true, want text", in, got)
		}
	}
}

// TestParseNumberAgreesWithStrconv checks that whatever parseNumber accepts, strconv reads to
// the same value, over a generated set of spellings.
func TestParseNumberAgreesWithStrconv(t *testing.T) {
	parts := [][]string{{"", "-"}, {"0", "1", "9", "10", "123", "01"}, {"", ".", ".0", ".5", ".25"}, {"", "e1", "E-2", "e+03", "e"}}
	var spell func(prefix string, i int)
	n := 0
	spell = func(prefix string, i int) {
		if i == len(parts) {
			n++
			got, ok := parseNumber([]byte(prefix))
			if !ok {
				return
			}
			if want := mustParseFloat(t, prefix); got != want {
				t.Errorf("parseNumber(%q) = %v, strconv says %v", prefix, got, want)
			}
			return
		}
		for _, p := range parts[i] {
			spell(prefix+p, i+1)
		}
	}
	spell("", 0)
	if n < 100 {
		t.Fatalf("only %d spellings", n)
	}
}

func mustParseFloat(tb testing.TB, s string) float64 {
	tb.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		tb.Fatalf("parseNumber accepted %q, which strconv rejects: %v", s, err)
	}
	return f
}

func TestParseBool(t *testing.T) {
	tests := []struct {
		in       string
		want, ok bool
	}{
		{"true", true, true},
		{"TRUE", true, true},
		{"True", true, true},
		{"tRuE", true, true},
		{"false", false, true},
		{"FALSE", false, true},
		{"False", false, true},
		{"fAlSe", false, true},
		{"", false, false},
		{"t", false, false},
		{"f", false, false},
		{"1", false, false},
		{"0", false, false},
		{"yes", false, false},
		{"no", false, false},
		{"on", false, false},
		{" true", false, false},
		{"true ", false, false},
		{"truee", false, false},
		{"fals", false, false},
		{"tru\x05", false, false},
		{"\x14rue", false, false},
		{"TRUE\x00", false, false},
	}
	for _, tt := range tests {
		got, ok := parseBool([]byte(tt.in))
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("parseBool(%q) = %v, %v, want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func BenchmarkParseNumber(b *testing.B) {
	in := [][]byte{[]byte("12.5"), []byte("1234567"), []byte("-0.25"), []byte("00123"), []byte("widget")}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		parseNumber(in[i%len(in)])
	}
}
