package ingest

import (
	"unsafe"

	"github.com/sheetsync/sheetsync/cache"
)

// textCells holds a column's cell texts as the cache stores them: one byte arena and one offset
// list per chunk of cache.ChunkSize rows. A million-row column is thus never one buffer that
// doubles and copies itself on the way up, and the finished chunks go to the cache as they are.
type textCells struct {
	data [][]byte   // per chunk
	offs [][]uint32 // per chunk: cell j is data[k][offs[k][j]:offs[k][j+1]]
	n    int
}

// add appends a cell's text ("" for an empty cell).
func (t *textCells) add(b []byte) {
	if t.n&(cache.ChunkSize-1) == 0 {
		size := 16 << 10
		if k := len(t.data); k > 0 {
			// the next chunk is sized like the last one, plus a little
			size = len(t.data[k-1]) + len(t.data[k-1])/16 + 256
		}
		t.data = append(t.data, make([]byte, 0, size))
		t.offs = append(t.offs, append(make([]uint32, 0, cache.ChunkSize+1), 0))
	}
	k := len(t.data) - 1
	t.data[k] = append(t.data[k], b...)
	t.offs[k] = append(t.offs[k], uint32(len(t.data[k])))
	t.n++
}

// text returns cell i without copying.
func (t *textCells) text(i int) string {
	k, j := i>>cache.ChunkBits, i&(cache.ChunkSize-1)
	a, b := t.offs[k][j], t.offs[k][j+1]
	if a == b {
		return ""
	}
	return unsafe.String(&t.data[k][a], int(b-a))
}

// size returns the bytes held in the chunk being filled, to bound a chunk's arena.
func (t *textCells) size() int {
	if len(t.data) == 0 {
		return 0
	}
	return len(t.data[len(t.data)-1])
}

// replaced returns a copy of t in which the cells of rows (ascending) hold vals; untouched
// chunks are shared.
func (t *textCells) replaced(rows []int, vals []string) textCells {
	out := textCells{data: append([][]byte(nil), t.data...), offs: append([][]uint32(nil), t.offs...), n: t.n}
	for k := 0; k < len(rows); {
		chunk := rows[k] >> cache.ChunkBits
		lo, hi := chunk<<cache.ChunkBits, min((chunk+1)<<cache.ChunkBits, t.n)
		var c textCells
		for i := lo; i < hi; i++ {
			if k < len(rows) && rows[k] == i {
				c.add([]byte(vals[k]))
				k++
			} else {
				c.add(unsafe.Slice(unsafe.StringData(t.text(i)), len(t.text(i))))
			}
		}
		out.data[chunk], out.offs[chunk] = c.data[0], c.offs[0]
	}
	return out
}
