package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/sheetsync/sheetsync/cache/replica"
	"github.com/sheetsync/sheetsync/query"
)

// indexSync keeps the index definitions made through the API the same on every replica
// (replica.IndexDefs): an index created or removed on one is created or removed on all, and a
// replica that starts takes the cluster's definitions over those its state dir kept.
type indexSync struct {
	defs *replica.IndexDefs
	x    *query.Indexes
	save func() error // keeps x's definitions in the state dir
	log  *slog.Logger
	stop func()

	mu sync.Mutex
	// seen holds, by collection, the definitions the bucket last held, as JSON
	seen map[string]string
	// own holds, by collection, the bucket's revision of the last definitions this replica
	// put: the watch brings them back, and they, or older ones, must not undo a change made
	// here since
	own map[string]uint64
}

// startIndexSync takes the bucket's definitions, shares those only this replica has (made
// while it was alone), and follows the bucket's changes until close.
func startIndexSync(defs *replica.IndexDefs, x *query.Indexes, save func() error, log *slog.Logger) (*indexSync, error) {
	s := &indexSync{defs: defs, x: x, save: save, log: log, seen: map[string]string{}, own: map[string]uint64{}}
	initial := make(chan struct{})
	var once sync.Once
	stop, err := defs.Watch(s.apply, func() { once.Do(func() { close(initial) }) })
	if err != nil {
		return nil, err
	}
	s.stop = stop
	select {
	case <-initial:
	case <-time.After(10 * time.Second):
		stop()
		return nil, replica.ErrUnavailable
	}
	if err := s.publish(); err != nil {
		log.Warn("cannot share this replica's index definitions yet; they are shared at the next index change", "err", err)
	}
	return s, nil
}

// definitions returns a collection's definitions as JSON, "[]" for none: status BUILDING (a
// build under way here) is recorded as ACTIVE, which it becomes, so that a build does not read
// as a change of definition.
func definitions(x *query.Indexes, collection string) string {
	defs := x.Definitions(collection)
	if len(defs) == 0 {
		return "[]"
	}
	for i := range defs {
		if defs[i].Status == query.StatusBuilding {
			defs[i].Status = query.StatusActive
		}
	}
	b, _ := json.Marshal(defs)
	return string(b)
}

// apply takes the definitions another replica recorded for a collection (nil when an operator
// deleted the key: none).
func (s *indexSync) apply(collection string, value []byte, revision uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(value) == 0 {
		value = []byte("[]")
	}
	s.seen[collection] = string(value)
	if revision <= s.own[collection] || definitions(s.x, collection) == string(value) {
		return // this replica's own change coming back, or nothing new
	}
	var defs []query.Index
	if err := json.Unmarshal(value, &defs); err != nil {
		s.log.Error("unreadable index definitions from another replica; ignored", "collection", collection, "err", err)
		return
	}
	if err := s.x.Replace(collection, defs); err != nil {
		s.log.Error("index definitions from another replica do not fit this one; ignored", "collection", collection, "err", err)
		return
	}
	if err := s.save(); err != nil {
		s.log.Warn("cannot keep the index definitions in the state dir", "err", err)
	}
	s.log.Info("index definitions changed on another replica", "collection", collection, "indexes", len(defs))
}

// publish records in the bucket the definitions of every collection whose definitions here
// differ from the bucket's. (Definitions deleted in the bucket while this replica was away were
// dropped here by apply before, so they are not brought back.)
func (s *indexSync) publish() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	collections := map[string]bool{}
	for c := range s.seen {
		collections[c] = true
	}
	for _, c := range s.x.Collections() {
		collections[c] = true
	}
	for _, c := range slices.Sorted(maps.Keys(collections)) {
		here := definitions(s.x, c)
		if there, ok := s.seen[c]; here == there || (!ok && here == "[]") {
			continue
		}
		rev, err := s.defs.Put(ctx, c, []byte(here))
		if err != nil {
			return err
		}
		s.seen[c], s.own[c] = here, rev
	}
	return nil
}

func (s *indexSync) close() {
	if s != nil && s.stop != nil {
		s.stop()
	}
}
