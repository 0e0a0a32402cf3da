package replica

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// indexesBucket is the JetStream key-value bucket that holds the index definitions made through
// the API, one key per collection.
const indexesBucket = "sheetsync_indexes"

// IndexDefs shares the index definitions made through the API between replicas: the
// definitions of a collection are the value of its key. Indexes are
// not data (the change log carries the data), but a unique index decides which writes are
// accepted, and Wix lists them, so every replica must hold the same ones.
type IndexDefs struct {
	kv jetstream.KeyValue
}

// OpenIndexDefs opens the bucket, creating it if needed with the given number of copies in a
// NATS cluster (see ensure).
func OpenIndexDefs(ctx context.Context, js jetstream.JetStream, replicas int) (*IndexDefs, error) {
	kv, err := ensure(ctx,
		func(ctx context.Context) (jetstream.KeyValue, error) { return js.KeyValue(ctx, indexesBucket) },
		func(ctx context.Context) (jetstream.KeyValue, error) {
			return js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket:      indexesBucket,
				Description: "index definitions made through sheetsync's API, for every replica",
				History:     1,
				Storage:     jetstream.FileStorage,
				Replicas:    max(replicas, 1),
			})
		},
		jetstream.ErrBucketNotFound, jetstream.ErrBucketExists)
	if err != nil {
		return nil, fmt.Errorf("%w: opening the key-value bucket %s: %v", ErrUnavailable, indexesBucket, err)
	}
	return &IndexDefs{kv: kv}, nil
}

// Put records the definitions of a collection, as JSON ("[]" for none), and returns the
// bucket's revision of them. None is a value rather than a deleted key so that every change
// has a revision its replica can recognise when it comes back (IndexDefs.Watch).
func (d *IndexDefs) Put(ctx context.Context, collection string, defs []byte) (uint64, error) {
	rev, err := d.kv.Put(ctx, collection, defs)
	if err != nil {
		return 0, fmt.Errorf("%w: index definitions of %s: %v", ErrUnavailable, collection, err)
	}
	return rev, nil
}

// Watch calls apply for the definitions of every collection the bucket holds (nil for a key
// an operator deleted), with their revision, then initial once, then
// apply again at every change, until stop is called. The calls come from one goroutine, in
// order.
func (d *IndexDefs) Watch(apply func(collection string, defs []byte, revision uint64), initial func()) (stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	w, err := d.kv.WatchAll(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("%w: watching %s: %v", ErrUnavailable, indexesBucket, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var e jetstream.KeyValueEntry
			select {
			case <-ctx.Done():
				return
			case u, ok := <-w.Updates():
				if !ok {
					return
				}
				e = u
			}
			if e == nil { // the end of the values the bucket held
				initial()
				continue
			}
			switch e.Operation() {
			case jetstream.KeyValuePut:
				apply(e.Key(), e.Value(), e.Revision())
			default: // a delete or a purge
				apply(e.Key(), nil, e.Revision())
			}
		}
	}()
	return func() {
		cancel()
		<-done
		w.Stop()
	}, nil
}
