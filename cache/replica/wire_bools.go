package replica

import "github.com/sheetsync/sheetsync/cache"

// A boolean column is its presence, then one bit per present cell (1 is true), packed like the
// presence bitmap: a million booleans take 125 KB.

func appendBoolColumn(b []byte, col *cache.Column, n int) []byte {
	present, count := presenceOf(col, n)
	b = appendPresence(b, present, n, count)
	vals := make([]uint64, wordsFor(count))
	k := 0
	for c := range col.NumChunks() {
		ch := col.Chunk(c)
		bools := ch.Bools()
		for i := range ch.Len() {
			if ch.Has(i) {
				if bools[i>>6]&(1<<(i&63)) != 0 {
					vals[k>>6] |= 1 << (k & 63)
				}
				k++
			}
		}
	}
	return appendBitmap(b, vals, count)
}

func readBoolColumn(r *reader, n int) (*cache.Column, error) {
	present, count, err := readPresence(r, n)
	if err != nil {
		return nil, err
	}
	packed, err := readBitmap(r, count, "boolean values")
	if err != nil {
		return nil, err
	}
	if count == n {
		return cache.NewBoolColumn(n, packed, present), nil
	}
	vals := make([]uint64, wordsFor(n))
	k := 0
	for i := range n {
		if present[i>>6]&(1<<(i&63)) != 0 {
			if packed[k>>6]&(1<<(k&63)) != 0 {
				vals[i>>6] |= 1 << (i & 63)
			}
			k++
		}
	}
	return cache.NewBoolColumn(n, vals, present), nil
}
