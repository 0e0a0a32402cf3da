package query

import (
	"math/bits"

	"github.com/sheetsync/sheetsync/cache"
)

// bitset marks rows of one chunk: bit i of word i/64 is the chunk's i-th slot. Bits past the
// chunk's length are always zero.
type bitset [cache.ChunkWords]uint64

func words(n int) int { return (n + 63) >> 6 }

// fill sets the first n bits and clears the rest.
func (b *bitset) fill(n int) {
	full := n >> 6
	for w := range b {
		switch {
		case w < full:
			b[w] = ^uint64(0)
		case w == full && n&63 != 0:
			b[w] = 1<<(uint(n)&63) - 1
		default:
			b[w] = 0
		}
	}
}

// invert complements the first n bits.
func (b *bitset) invert(n int) {
	var mask bitset
	mask.fill(n)
	for w := range b {
		b[w] = ^b[w] & mask[w]
	}
}

// setFrom copies a chunk's bitmap (present, live or boolean cells) of n bits.
func (b *bitset) setFrom(src []uint64, n int) {
	nw := words(n)
	copy(b[:nw], src[:nw])
	clear(b[nw:])
}

func (b *bitset) and(o *bitset) {
	for w := range b {
		b[w] &= o[w]
	}
}

func (b *bitset) andSlice(o []uint64) {
	for w := range o {
		b[w] &= o[w]
	}
	clear(b[len(o):])
}

func (b *bitset) or(o *bitset) {
	for w := range b {
		b[w] |= o[w]
	}
}

func (b *bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

func (b *bitset) empty() bool {
	for _, w := range b {
		if w != 0 {
			return false
		}
	}
	return true
}

// each calls fn with the index of every set bit, in order.
func (b *bitset) each(fn func(i int)) {
	for w, x := range b {
		for x != 0 {
			fn(w<<6 | bits.TrailingZeros64(x))
			x &= x - 1
		}
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
