package cache

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
)

// Store holds the current snapshot of every collection. Reads are lock-free: Snapshot loads an
// atomic pointer to an immutable map. Commits are serialised, build the next snapshot
// copy-on-write and publish it in one atomic step.
type Store struct {
	mu        sync.Mutex // serialises commits
	colls     atomic.Pointer[map[string]*Snapshot]
	version   atomic.Uint64
	listeners []func(Committed)
}

// Committed is a change as the store applied it: the change, the version it made, and the
// collection's snapshot after it (nil after a drop).
type Committed struct {
	Change   ChangeSet
	Version  uint64
	Snapshot *Snapshot
}

// Listen calls fn after every commit, in commit order, before Commit returns: write-back to the
// files learns of API writes this way (DESIGN §4). fn runs while commits are serialised, so it
// must only take note and return; it must not commit. Listen is called before the store is
// shared.
func (s *Store) Listen(fn func(Committed)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listeners = append(s.listeners, fn)
}

// NewStore returns an empty store.
func NewStore() *Store {
	s := &Store{}
	m := map[string]*Snapshot{}
	s.colls.Store(&m)
	return s
}

// Snapshot returns the current snapshot of a collection, or ErrCollectionNotFound.
func (s *Store) Snapshot(name string) (*Snapshot, error) {
	if snap, ok := (*s.colls.Load())[name]; ok {
		return snap, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrCollectionNotFound, name)
}

// Collections returns the current snapshot of every collection, sorted by name.
func (s *Store) Collections() []*Snapshot {
	m := *s.colls.Load()
	out := make([]*Snapshot, 0, len(m))
	for _, snap := range m {
		out = append(out, snap)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Commit applies cs and returns the new version of the collection (for a drop, the version the
// store moved to). The change applies whole or not at all. Errors: ErrCollectionNotFound,
// ErrVersionConflict, ErrItemNotFound, ErrDuplicateID, *ValidationError.
func (s *Store) Commit(ctx context.Context, cs ChangeSet) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.colls.Load()
	cur, exists := old[cs.Collection]
	if cs.BaseVersion != 0 && (!exists || cur.version != cs.BaseVersion) {
		return 0, fmt.Errorf("collection %s: %w", cs.Collection, ErrVersionConflict)
	}
	var next *Snapshot
	var err error
	switch {
	case cs.Drop:
		if !exists {
			return 0, fmt.Errorf("%w: %s", ErrCollectionNotFound, cs.Collection)
		}
	case cs.Replace != nil:
		next, err = NewSnapshot(cs.Collection, *cs.Replace)
		if err == nil && (cs.Truncate || len(cs.Remove)+len(cs.Update)+len(cs.Insert) > 0) {
			next, err = next.apply(&cs)
		}
	default:
		if !exists {
			return 0, fmt.Errorf("%w: %s", ErrCollectionNotFound, cs.Collection)
		}
		next, err = cur.apply(&cs)
	}
	if err != nil {
		return 0, err
	}
	m := make(map[string]*Snapshot, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	v := s.version.Add(1)
	if next == nil {
		delete(m, cs.Collection)
	} else {
		next.version = v
		m[cs.Collection] = next
	}
	s.colls.Store(&m)
	for _, fn := range s.listeners {
		fn(Committed{Change: cs, Version: v, Snapshot: next})
	}
	return v, nil
}
