package httpapi

import (
	"crypto/sha256"
	"sync"
	"time"
)

// v3TokenCacheBytes bounds the memory the verified-token cache may hold.
const v3TokenCacheBytes = 16 << 20

// tokenEntryOverhead estimates the bytes an entry costs beyond its variable-length content:
// map slot, key, entry and envelope structs, string headers.
const tokenEntryOverhead = 256

// tokenCache holds verified envelopes keyed by the SHA-256 of their token, each only while
// its token is unexpired, so that a repeated token (a retry, a load test) skips parsing and
// signature checking.
//
// It is a mutex-protected map with a byte cap rather than ristretto: ristretto admits Sets
// asynchronously and may drop them, so a retry arriving right after the first call would often
// miss; its TTLs run on the wall clock while verify takes now as an argument; and its goroutines
// would need a Close that the verifier has no lifecycle for. A lookup here costs well under a
// microsecond against tens of microseconds for a signature check, so one mutex is no bottleneck.
// When full it evicts arbitrary entries (map order is random); expired entries go when looked
// up or evicted.
type tokenCache struct {
	mu      sync.Mutex
	m       map[[sha256.Size]byte]tokenEntry
	cost    int64
	maxCost int64
}

type tokenEntry struct {
	env         *v3Envelope
	from, until time.Time // the entry answers for now in [from, until)
	cost        int64
}

func newTokenCache(maxCost int64) *tokenCache {
	return &tokenCache{m: make(map[[sha256.Size]byte]tokenEntry), maxCost: maxCost}
}

// get returns the envelope cached under key if its token is good at now. A miss sends the
// caller through full verification, which decides with the leeway.
func (c *tokenCache) get(key [sha256.Size]byte, now time.Time) (*v3Envelope, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	switch {
	case !ok:
		return nil, false
	case !now.Before(e.until):
		delete(c.m, key)
		c.cost -= e.cost
		return nil, false
	case now.Before(e.from):
		return nil, false
	}
	return e.env, true
}

// put caches env under key for [from, until), if until is still ahead of now.
func (c *tokenCache) put(key [sha256.Size]byte, env *v3Envelope, from, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	md := env.Metadata
	cost := int64(tokenEntryOverhead + len(env.Request) + len(md.RequestID) + len(md.InstanceID) +
		len(md.Identity.IdentityType) + len(md.Identity.AnonymousVisitorID) + len(md.Identity.MemberID) +
		len(md.Identity.WixUserID) + len(md.Identity.AppID))
	if cost > c.maxCost/16 {
		return // one huge request must not flush the cache
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; ok {
		return
	}
	c.m[key] = tokenEntry{env: env, from: from, until: until, cost: cost}
	c.cost += cost
	for k, e := range c.m {
		if c.cost <= c.maxCost {
			break
		}
		if k != key {
			delete(c.m, k)
			c.cost -= e.cost
		}
	}
}

// reset empties the cache (for benchmarks).
func (c *tokenCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
	c.cost = 0
}
