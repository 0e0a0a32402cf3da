package ingest

import "github.com/sheetsync/sheetsync/cache"

// chunked is a growing list of values stored in chunks of cache.ChunkSize, the cache's own
// layout: appending never copies what is already there (a slice of a million values would copy
// itself several times over while growing), and the chunks go to the cache as they are.
type chunked[T any] struct {
	chunks [][]T
	n      int
}

func (c *chunked[T]) add(v T) {
	if c.n&(cache.ChunkSize-1) == 0 {
		c.chunks = append(c.chunks, make([]T, 0, cache.ChunkSize))
	}
	k := len(c.chunks) - 1
	c.chunks[k] = append(c.chunks[k], v)
	c.n++
}

func (c *chunked[T]) at(i int) T { return c.chunks[i>>cache.ChunkBits][i&(cache.ChunkSize-1)] }

func (c *chunked[T]) set(i int, v T) { c.chunks[i>>cache.ChunkBits][i&(cache.ChunkSize-1)] = v }

// without returns the values whose positions are not in drop (ascending).
func (c *chunked[T]) without(drop []int) chunked[T] {
	var out chunked[T]
	k := 0
	for i := 0; i < c.n; i++ {
		if k < len(drop) && drop[k] == i {
			k++
			continue
		}
		out.add(c.at(i))
	}
	return out
}
