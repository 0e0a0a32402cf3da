package replica

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// MaxInline is the largest encoded change carried in its message. A bigger one (a big file
// loaded or re-read whole: a million rows encode to some 160 MB) goes to an object store,
// chunked, and its message names the object: a message must fit the servers' max_payload.
const MaxInline = 8 << 20

// headerChangeObject names the object holding a message's change.
const headerChangeObject = "Sheetsync-Change-Object"

// changesBucket is the object store of big changes; bigChangesTTL is how long one is kept. A
// replica away for longer than that cannot apply it from the log (its files are then brought
// to the other replicas' version instead).
const (
	changesBucket = "sheetsync_changes"
	bigChangesTTL = 7 * 24 * time.Hour
)

// bigChanges opens the object store of big changes when first needed. Only a successful open
// is kept: one that failed (a request cancelled, NATS away a moment) is tried again at the next
// big change, rather than failing every big change until a restart.
type bigChanges struct {
	js       jetstream.JetStream
	replicas int
	mu       sync.Mutex
	store    jetstream.ObjectStore
}

func (b *bigChanges) open(ctx context.Context) (jetstream.ObjectStore, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.store != nil {
		return b.store, nil
	}
	store, err := b.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: changesBucket, Description: "changes too big for a message of sheetsync's change log",
		TTL: bigChangesTTL, Storage: jetstream.FileStorage, Replicas: b.replicas,
	})
	if err != nil {
		return nil, err
	}
	b.store = store
	return store, nil
}

func changeObject(id string) string { return "change-" + id }

// putChange stores a big change's encoding under its message id.
func (l *Log) putChange(ctx context.Context, id string, data []byte) error {
	store, err := l.big.open(ctx)
	if err == nil {
		_, err = store.PutBytes(ctx, changeObject(id), data)
	}
	if err != nil {
		return fmt.Errorf("%w: storing a change of %.1f MB: %v", ErrUnavailable, float64(len(data))/(1<<20), err)
	}
	return nil
}

// getChange fetches a big change's encoding; what it cannot fetch decodes as an error, the
// same on every replica that cannot.
func (l *Log) getChange(name string) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	store, err := l.big.open(ctx)
	var data []byte
	if err == nil {
		data, err = store.GetBytes(ctx, name)
	}
	if err != nil {
		l.log.Error("cannot fetch a big change from the object store", "object", name, "err", err)
		return nil
	}
	return data
}
