package replica

import (
	"encoding/binary"
	"math"

	"github.com/sheetsync/sheetsync/cache"
)

// A text column is its presence, the byte length of each present cell, then all their bytes
// back to back: the decoder reads the lengths into the cache's offsets and copies the bytes in
// one piece, and the cache dictionary-encodes the chunks that repeat few strings as it does for
// a file. The bytes are carried as they are, valid UTF-8 or not.

// zeroOffs are the offsets of a chunk of empty cells, shared and never written to.
var zeroOffs [cache.ChunkSize + 1]uint32

func appendTextColumn(b []byte, col *cache.Column, n int) []byte {
	present, count := presenceOf(col, n)
	b = appendPresence(b, present, n, count)
	for c := range col.NumChunks() {
		ch := col.Chunk(c)
		for i := range ch.Len() {
			if ch.Has(i) {
				b = binary.AppendUvarint(b, uint64(len(ch.Text(i))))
			}
		}
	}
	for c := range col.NumChunks() {
		ch := col.Chunk(c)
		if data, offs := ch.Arena(); offs != nil && chunkFull(ch) {
			b = append(b, data[offs[0]:offs[ch.Len()]]...) // the cells lie back to back
			continue
		}
		for i := range ch.Len() {
			if ch.Has(i) {
				b = append(b, ch.Text(i)...)
			}
		}
	}
	return b
}

// textSizeHint guesses the size of a text column from its arenas and dictionaries.
func textSizeHint(col *cache.Column) int {
	size := 0
	for c := range col.NumChunks() {
		ch := col.Chunk(c)
		size += ch.Len()
		if data, _ := ch.Arena(); data != nil {
			size += len(data)
		} else if dict, _ := ch.Dict(); len(dict) > 0 {
			avg := 0
			for _, s := range dict {
				avg += len(s)
			}
			size += ch.Len() * avg / len(dict)
		}
	}
	return size
}

func readTextColumn(r *reader, n int) (*cache.Column, error) {
	present, count, err := readPresence(r, n)
	if err != nil {
		return nil, err
	}
	if count > r.left() {
		return nil, r.errorf("text lengths: %d cannot fit in the %d bytes left", count, r.left())
	}
	chunks := (n + cache.ChunkSize - 1) / cache.ChunkSize
	offs := make([][]uint32, chunks)
	starts := make([]int, chunks+1) // where each chunk's bytes start among all the column's
	total := 0
	for k := range chunks {
		lo, hi := k*cache.ChunkSize, min((k+1)*cache.ChunkSize, n)
		starts[k] = total
		if countRange(present, lo, hi) == 0 {
			offs[k] = zeroOffs[: hi-lo+1 : hi-lo+1]
			continue
		}
		o := make([]uint32, hi-lo+1)
		for i := lo; i < hi; i++ {
			if present[i>>6]&(1<<(i&63)) != 0 {
				l, err := r.uvarint("text length")
				if err != nil {
					return nil, err
				}
				// the bytes follow the lengths, so all of them must fit in what is left
				if room := r.left() - total; room < 0 || l > uint64(room) {
					return nil, r.errorf("text length: %d bytes, at most %d left for it", l, max(room, 0))
				}
				total += int(l)
				if total-starts[k] > math.MaxUint32 {
					return nil, r.errorf("text length: a chunk's text is over 4 GiB")
				}
			}
			o[i-lo+1] = uint32(total - starts[k])
		}
		offs[k] = o
	}
	starts[chunks] = total
	p, err := r.take(total, "text bytes")
	if err != nil {
		return nil, err
	}
	// a copy per chunk, not one for the column: chunk-sized allocations reuse freed heap where
	// one of a hundred megabytes would take fresh pages from the system each time
	data := make([][]byte, chunks)
	for k := range data {
		data[k] = append([]byte(nil), p[starts[k]:starts[k+1]]...)
	}
	return cache.NewTextColumnChunks(data, offs, present), nil
}
