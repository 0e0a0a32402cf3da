package query

import (
	"math/rand/v2"
	"testing"
	"unicode"
	"unicode/utf8"
)

// foldSlow is fold one character at a time, the reference for fold's eight-byte fast path.
func foldSlow(s string) string {
	var out []byte
	for _, r := range s {
		if l := unicode.ToLower(r); utf8.RuneLen(l) == utf8.RuneLen(r) && r != utf8.RuneError {
			out = utf8.AppendRune(out, l)
		} else {
			out = utf8.AppendRune(out, r)
		}
	}
	return string(out)
}

func TestFold(t *testing.T) {
	alphabet := []rune("@AZ[`az{ 09-_ÀÉÖéöÜßİK\u212aΣσ日本")
	rng := rand.New(rand.NewPCG(9, 9))
	for range 5000 {
		rs := make([]rune, rng.IntN(40))
		for i := range rs {
			rs[i] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(rs)
		got := string(fold(nil, s))
		if want := foldSlow(s); got != want {
			t.Fatalf("fold(%q) = %q, want %q", s, got, want)
		}
		if len(got) != len(s) {
			t.Fatalf("fold(%q) changed the length", s)
		}
	}
	// every ASCII byte, in every position of an eight-byte word
	for c := 0; c < 128; c++ {
		for pos := 0; pos < 9; pos++ {
			b := []byte("xxxxxxxxx")
			b[pos] = byte(c)
			if got, want := string(fold(nil, string(b))), foldSlow(string(b)); got != want {
				t.Fatalf("fold(%q) = %q, want %q", b, got, want)
			}
		}
	}
}
