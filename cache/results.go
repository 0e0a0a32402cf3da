package cache

import (
	"strconv"

	"github.com/dgraph-io/ristretto/v2"
)

// DefaultMaxCost bounds the memory, in bytes, that Results may hold.
const DefaultMaxCost = 256 << 20

// Results memoises derived data (query results, sort orders, case-folded text) in a ristretto
// cache. Keys name the snapshot version they were computed from, and snapshots never change, so
// an entry is never stale and nothing is ever invalidated: old versions simply stop being asked
// for and age out.
type Results struct {
	c *ristretto.Cache[string, any]
}

// NewResults returns a cache holding at most maxCost bytes (as estimated by callers of Set).
func NewResults(maxCost int64) (*Results, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, any]{
		// ristretto wants about ten counters per entry it may hold; entries average a few KB
		NumCounters: max(maxCost/256, 1<<12),
		MaxCost:     maxCost,
		BufferItems: 64,
		Metrics:     true,
	})
	if err != nil {
		return nil, err
	}
	return &Results{c: c}, nil
}

// ResultKey builds the key of derived data about a collection version: what names the kind of
// result, canonical the request in a canonical form.
func ResultKey(collection string, version uint64, what, canonical string) string {
	b := make([]byte, 0, len(collection)+len(what)+len(canonical)+24)
	b = append(b, collection...)
	b = append(b, 0)
	b = strconv.AppendUint(b, version, 10)
	b = append(b, 0)
	b = append(b, what...)
	b = append(b, 0)
	b = append(b, canonical...)
	return string(b)
}

// Get returns the entry under key.
func (r *Results) Get(key string) (any, bool) {
	if r == nil {
		return nil, false
	}
	return r.c.Get(key)
}

// Set stores v under key at the given cost in bytes. ristretto admits entries asynchronously
// and may decline them; callers treat Results as best effort.
func (r *Results) Set(key string, v any, cost int64) {
	if r != nil {
		r.c.Set(key, v, cost)
	}
}

// Wait blocks until pending Sets are applied (for tests).
func (r *Results) Wait() {
	if r != nil {
		r.c.Wait()
	}
}

// HitRatio returns the share of Gets that found an entry.
func (r *Results) HitRatio() float64 {
	if r == nil {
		return 0
	}
	return r.c.Metrics.Ratio()
}

// Hits and Misses count the Gets that found an entry and those that did not.
func (r *Results) Hits() uint64 {
	if r == nil {
		return 0
	}
	return r.c.Metrics.Hits()
}

func (r *Results) Misses() uint64 {
	if r == nil {
		return 0
	}
	return r.c.Metrics.Misses()
}

// Close releases the cache's goroutines.
func (r *Results) Close() {
	if r != nil {
		r.c.Close()
	}
}
