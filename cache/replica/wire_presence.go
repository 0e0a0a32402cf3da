package replica

import (
	"encoding/binary"
	"math/bits"

	"github.com/sheetsync/sheetsync/cache"
)

// Every column starts with which of its cells are present: one byte saying "all of them", or a
// bitmap of one bit per cell. There is deliberately no "none of them": a column always pays at
// least a bit per cell (in the bitmap, or in its values when all are present), so the rows a
// message declares are bounded by its size and a decoder's allocations stay in proportion.
// Only the present cells' values follow.
const (
	presenceAll    = 0
	presenceBitmap = 1
)

// Bitmaps in memory are cache's: bit i of word i/64 is cell i. On the wire they are ceil(n/8)
// bytes, bit i of byte i/8 being cell i (the little-endian bytes of the words), with the bits
// past the last cell zero.

func wordsFor(n int) int { return (n + 63) >> 6 }

// presenceOf returns a column's bitmap of present cells as one run of n bits, and its count.
func presenceOf(col *cache.Column, n int) ([]uint64, int) {
	words := make([]uint64, wordsFor(n))
	pos := 0
	for c := range col.NumChunks() {
		ch := col.Chunk(c)
		copyBits(words, pos, ch.Present(), ch.Len())
		pos += ch.Len()
	}
	count := 0
	for _, w := range words {
		count += bits.OnesCount64(w)
	}
	return words, count
}

// copyBits sets the n bits of src at dst's bits from pos on; dst's are zero there. The cache's
// chunks all start on a word boundary, so the word-by-word path is the one taken.
func copyBits(dst []uint64, pos int, src []uint64, n int) {
	if pos&63 == 0 {
		w := pos >> 6
		for i := range n >> 6 {
			dst[w+i] = src[i]
		}
		if rest := n & 63; rest != 0 {
			dst[w+(n>>6)] = src[n>>6] & (1<<rest - 1)
		}
		return
	}
	for i := range n {
		if src[i>>6]&(1<<(i&63)) != 0 {
			dst[(pos+i)>>6] |= 1 << ((pos + i) & 63)
		}
	}
}

func appendPresence(b []byte, words []uint64, n, count int) []byte {
	if count == n {
		return append(b, presenceAll)
	}
	return appendBitmap(append(b, presenceBitmap), words, n)
}

func appendBitmap(b []byte, words []uint64, n int) []byte {
	full := n >> 6
	for _, w := range words[:full] {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	for i := full * 8; i < (n+7)>>3; i++ {
		b = append(b, byte(words[i>>3]>>((i&7)*8)))
	}
	return b
}

// readPresence reads a column's presence and returns its bitmap and count. A column of all
// present cells must still have a bit per cell to come, which is checked before allocating.
func readPresence(r *reader, n int) ([]uint64, int, error) {
	mode, err := r.byte("presence")
	if err != nil {
		return nil, 0, err
	}
	switch mode {
	case presenceAll:
		if n > 8*r.left() {
			return nil, 0, r.errorf("presence: %d present cells cannot fit in the %d bytes left", n, r.left())
		}
		words := make([]uint64, wordsFor(n))
		for i := range words {
			words[i] = ^uint64(0)
		}
		if rest := n & 63; rest != 0 {
			words[len(words)-1] = 1<<rest - 1
		}
		return words, n, nil
	case presenceBitmap:
		words, err := readBitmap(r, n, "presence bitmap")
		if err != nil {
			return nil, 0, err
		}
		count := 0
		for _, w := range words {
			count += bits.OnesCount64(w)
		}
		return words, count, nil
	}
	return nil, 0, r.errorf("presence: unknown mode %d", mode)
}

func readBitmap(r *reader, n int, what string) ([]uint64, error) {
	p, err := r.take((n+7)>>3, what)
	if err != nil {
		return nil, err
	}
	words := make([]uint64, wordsFor(n))
	full := n >> 6
	for i := range full {
		words[i] = binary.LittleEndian.Uint64(p[i*8:])
	}
	for i := full * 8; i < len(p); i++ {
		words[i>>3] |= uint64(p[i]) << ((i & 7) * 8)
	}
	if rest := n & 63; rest != 0 && words[len(words)-1]>>rest != 0 {
		return nil, r.errorf("%s: bits set past the last of %d cells", what, n)
	}
	return words, nil
}

// cursor walks a column's cells across its chunks.
type cursor struct {
	col  *cache.Column
	c, i int // the chunk and the offset in it of the next cell
}

// nextPresent moves the cursor over n cells and appends the values of the present ones to dst.
func nextPresent[T any](cur *cursor, n int, cells func(*cache.Chunk) []T, dst []T) []T {
	for n > 0 {
		ch := cur.col.Chunk(cur.c)
		m := min(n, ch.Len()-cur.i)
		vals := cells(ch)[cur.i : cur.i+m]
		if chunkFull(ch) {
			dst = append(dst, vals...)
		} else {
			for j, v := range vals {
				if ch.Has(cur.i + j) {
					dst = append(dst, v)
				}
			}
		}
		cur.i += m
		n -= m
		if cur.i == ch.Len() {
			cur.c, cur.i = cur.c+1, 0
		}
	}
	return dst
}

func chunkFull(ch *cache.Chunk) bool {
	n, p := ch.Len(), ch.Present()
	for i := range n >> 6 {
		if p[i] != ^uint64(0) {
			return false
		}
	}
	rest := n & 63
	return rest == 0 || p[n>>6]&(1<<rest-1) == 1<<rest-1
}

// countRange returns the number of present cells in [lo, hi); lo is a multiple of 64.
func countRange(present []uint64, lo, hi int) int {
	c := 0
	for _, w := range present[lo>>6 : wordsFor(hi)] {
		c += bits.OnesCount64(w)
	}
	return c
}

// scatter puts vals, the values of the present cells of [lo, hi) in order, at their cells in
// a column's chunks. lo is a multiple of 64 and hi is too, or is the column's end.
func scatter[T any](chunks [][]T, vals []T, present []uint64, lo, hi int) {
	if len(vals) == hi-lo {
		for i := lo; i < hi; {
			i += copy(chunks[i>>cache.ChunkBits][i&(cache.ChunkSize-1):], vals[i-lo:])
		}
		return
	}
	k := 0
	for w := lo >> 6; w < wordsFor(hi); w++ {
		for x := present[w]; x != 0; x &= x - 1 {
			i := w<<6 | bits.TrailingZeros64(x)
			chunks[i>>cache.ChunkBits][i&(cache.ChunkSize-1)] = vals[k]
			k++
		}
	}
}

// Decoding counts present cells chunk by chunk with countRange, which takes whole words.
const _ uint = -(cache.ChunkSize % 64) // does not compile unless chunks are whole words
