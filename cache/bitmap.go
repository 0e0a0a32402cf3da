package cache

import "math/bits"

func popcount(w []uint64) int {
	n := 0
	for _, x := range w {
		n += bits.OnesCount64(x)
	}
	return n
}

// firstClear returns the first of the first n bits that is not set, or n.
func firstClear(w []uint64, n int) int {
	for i := 0; i < n; i++ {
		if w[i>>6]&(1<<(uint(i)&63)) == 0 {
			return i
		}
	}
	return n
}
