package httpapi_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/sheetsync/sheetsync/cache"
)

// laggingStore is a replica's store that has not yet applied a change another replica
// committed: CatchUp applies it, as the change log's CatchUp does once the change arrives.
type laggingStore struct {
	*cache.Store
	mu      sync.Mutex
	held    []cache.ChangeSet
	catchUp error // what CatchUp answers instead, when set
}

func (s *laggingStore) CatchUp(ctx context.Context, collection string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.catchUp != nil {
		return s.catchUp
	}
	for _, cs := range s.held {
		if _, err := s.Store.Commit(ctx, cs); err != nil {
			return err
		}
	}
	s.held = nil
	return nil
}

// TestConsistentRead: a v3 read with consistentRead waits until the replica has applied every
// change the log holds; without it, the read answers from what the replica has now; a replica
// that cannot catch up answers unavailable rather than stale data.
func TestConsistentRead(t *testing.T) {
	store := &laggingStore{Store: MustLoadStore(t, fixtureDir)}
	store.held = []cache.ChangeSet{{Collection: "products", Update: []cache.Item{{cache.FieldID: cache.Text("p-1"), "price": cache.Number(99)}}}}
	s := MustOpenServer(t, openConfig(), store)
	price := func(consistent bool) any {
		r := s.Post(t, "/v3/items/query", fmt.Sprintf(`{"collectionId":"products","query":{"filter":{"_id":"p-1"}},"consistentRead":%t}`, consistent))
		items, _ := r.JSON(t)["items"].([]any)
		if r.Status != 200 || len(items) != 1 {
			t.Fatalf("query: %d %s", r.Status, r.Body)
		}
		return items[0].(map[string]any)["price"]
	}
	if got := price(false); got != 38.5 {
		t.Errorf("a read without consistentRead: price %v, want what the replica holds now, 38.5", got)
	}
	if got := price(true); got != 99.0 {
		t.Errorf("a read with consistentRead: price %v, want 99 from the change it had not applied", got)
	}
	// the same consistent read again, after another replica committed a change this one has
	// not applied: the answer cached a moment ago is stale, and must not be given
	price(true) // answered and cached at the version this replica holds now
	s.Results.Wait()
	store.mu.Lock()
	store.held = []cache.ChangeSet{{Collection: "products", Update: []cache.Item{{cache.FieldID: cache.Text("p-1"), "price": cache.Number(120)}}}}
	store.mu.Unlock()
	if got := price(true); got != 120.0 {
		t.Errorf("a repeated read with consistentRead: price %v, want 120 from the change it had not applied", got)
	}
	store.catchUp = fmt.Errorf("%w: not connected to NATS", cache.ErrUnavailable)
	for _, path := range []string{"/v3/items/query", "/v3/items/count"} {
		v3Error(t, s.Post(t, path, `{"collectionId":"products","consistentRead":true}`), 503, "UNKNOWN_ERROR", "cannot promise a consistent read now: the change log is unavailable: not connected")
	}
	if got := price(false); got != 120.0 {
		t.Errorf("a read without consistentRead while the log is unreachable: price %v, want 120", got)
	}
}
