package ingest

import (
	"errors"
	"io"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"
)

// isUTF8 reads rd to the end, through buf, and reports whether it is valid UTF-8.
func isUTF8(rd io.Reader, buf []byte) (bool, error) {
	carry := 0
	for {
		n, err := rd.Read(buf[carry:])
		n += carry
		eof := err == io.EOF
		if err != nil && !eof {
			return false, err
		}
		k := n
		if !eof {
			k = completeRunes(buf[:n])
		}
		if !utf8.Valid(buf[:k]) {
			return false, nil
		}
		carry = copy(buf, buf[k:n])
		if eof {
			return true, nil
		}
	}
}

// completeRunes returns the length of b without a rune cut off at its end.
func completeRunes(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		c := b[i]
		if c < utf8.RuneSelf {
			return len(b)
		}
		if c >= 0xC0 { // the first byte of a multi-byte rune
			if utf8.FullRune(b[i:]) {
				return len(b)
			}
			return i
		}
	}
	return len(b)
}

// cp1252 is Windows-1252 as WHATWG defines it (what browsers and Excel do): charmap.Windows1252,
// with the five bytes it leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) read as the C1
// controls of the same number, so that every file decodes, and encodes back to the same bytes.
var cp1252 = func() (t [256]rune) {
	for b := range t {
		t[b] = charmap.Windows1252.DecodeByte(byte(b))
		if t[b] == utf8.RuneError {
			t[b] = rune(b)
		}
	}
	return t
}()

// encode1252 returns the Windows-1252 byte of c, as cp1252 reads it.
func encode1252(c rune) (byte, bool) {
	if c < utf8.RuneSelf {
		return byte(c), true
	}
	if c == utf8.RuneError {
		return 0, false
	}
	if b, ok := charmap.Windows1252.EncodeRune(c); ok {
		return b, true
	}
	if c <= 0xFF && cp1252[c] == c {
		return byte(c), true
	}
	return 0, false
}

var errNot1252 = errors.New("character not in Windows-1252")

// cp1252Decoder transcodes Windows-1252 to UTF-8.
type cp1252Decoder struct{ transform.NopResetter }

func (cp1252Decoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		c := src[nSrc]
		if c < utf8.RuneSelf {
			if nDst == len(dst) {
				return nDst, nSrc, transform.ErrShortDst
			}
			dst[nDst] = c
			nDst++
			nSrc++
			continue
		}
		r := cp1252[c]
		if nDst+utf8.RuneLen(r) > len(dst) {
			return nDst, nSrc, transform.ErrShortDst
		}
		nDst += utf8.EncodeRune(dst[nDst:], r)
		nSrc++
	}
	return nDst, nSrc, nil
}

// cp1252Encoder transcodes UTF-8 to Windows-1252. A character outside Windows-1252 is an
// error.
type cp1252Encoder struct{ transform.NopResetter }

func (cp1252Encoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		if nDst == len(dst) {
			return nDst, nSrc, transform.ErrShortDst
		}
		c := src[nSrc]
		if c < utf8.RuneSelf {
			dst[nDst] = c
			nDst++
			nSrc++
			continue
		}
		if !atEOF && !utf8.FullRune(src[nSrc:]) {
			return nDst, nSrc, transform.ErrShortSrc
		}
		r, size := utf8.DecodeRune(src[nSrc:])
		b, ok := encode1252(r)
		if !ok {
			return nDst, nSrc, errNot1252
		}
		dst[nDst] = b
		nDst++
		nSrc += size
	}
	return nDst, nSrc, nil
}
