package replica

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// reader reads a message front to back. Every read checks the bytes left before it touches
// them, and every count is checked against what the bytes left could hold before anything is
// allocated for it, so a truncated or hostile message yields a FormatError, never a panic or
// an allocation out of proportion to its size.
type reader struct {
	b    []byte
	off  int
	mark int // where the last read began: the offset errorf reports
}

func (r *reader) left() int { return len(r.b) - r.off }

// errorf reports a problem with what was read last, at the offset where it began.
func (r *reader) errorf(format string, args ...any) error {
	return r.errorAt(r.mark, format, args...)
}

func (r *reader) errorAt(off int, format string, args ...any) error {
	return &FormatError{Offset: off, Reason: fmt.Sprintf(format, args...)}
}

func (r *reader) byte(what string) (byte, error) {
	r.mark = r.off
	if r.off >= len(r.b) {
		return 0, r.errorf("%s: message ends early", what)
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) uvarint(what string) (uint64, error) {
	r.mark = r.off
	v, n := binary.Uvarint(r.b[r.off:])
	switch {
	case n == 0:
		return 0, r.errorf("%s: message ends early", what)
	case n < 0:
		return 0, r.errorf("%s: varint longer than 64 bits", what)
	}
	r.off += n
	return v, nil
}

// count reads a number of things that take at least minSize bytes each in what follows, and
// refuses one over limit or one the bytes left cannot hold.
func (r *reader) count(what string, minSize, limit int) (int, error) {
	v, err := r.uvarint(what)
	if err != nil {
		return 0, err
	}
	if v > uint64(limit) {
		return 0, r.errorf("%s: %d is over the limit of %d", what, v, limit)
	}
	if minSize > 0 && v > uint64(r.left()/minSize) {
		return 0, r.errorf("%s: %d cannot fit in the %d bytes left", what, v, r.left())
	}
	return int(v), nil
}

// take returns the next n bytes without copying them.
func (r *reader) take(n int, what string) ([]byte, error) {
	r.mark = r.off
	if n < 0 || n > r.left() {
		return nil, r.errorf("%s: needs %d bytes, %d left", what, n, r.left())
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return p, nil
}

func (r *reader) uint64(what string) (uint64, error) {
	p, err := r.take(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(p), nil
}

// string reads a length-prefixed string, copied out of the message so the change does not
// keep the message alive.
func (r *reader) string(what string) (string, error) {
	n, err := r.uvarint(what)
	if err != nil {
		return "", err
	}
	if n > uint64(r.left()) {
		return "", r.errorf("%s: %d bytes long, %d left", what, n, r.left())
	}
	p, err := r.take(int(n), what)
	return string(p), err
}

const maxInt = int(^uint(0) >> 1)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// zigzag maps small negative and positive numbers to small unsigned ones, so that a delta of
// -1 takes one varint byte, not ten.
func zigzag(d int64) uint64 { return uint64(d<<1) ^ uint64(d>>63) }

func unzigzag(z uint64) int64 { return int64(z>>1) ^ -int64(z&1) }

// uvarintLen is the size of x as a uvarint.
func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }
