package replica

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of LeaseOptions.
const (
	DefaultLeaseBucket = "sheetsync_lease"
	DefaultLeaseKey    = "folder"
	DefaultLeaseTTL    = 10 * time.Second
)

// MinLeaseTTL is the shortest TTL a lease takes: the holder renews every TTL/3, and the server
// checks for expired entries no more often than every 250 ms, so a shorter TTL only adds load.
const MinLeaseTTL = 300 * time.Millisecond

// LeaseOptions configure a Lease. Every replica campaigning for one key must use the same TTL:
// the bucket expires entries after the TTL of the replica that opened it last.
type LeaseOptions struct {
	Bucket string        // DefaultLeaseBucket when empty
	Key    string        // DefaultLeaseKey when empty
	Holder string        // this replica's name, required
	TTL    time.Duration // DefaultLeaseTTL when zero: how long a dead holder keeps the lease
	// Replicas is how many copies of the bucket a NATS cluster keeps (0 or 1 for a lone
	// server): with one, losing the NATS node that holds it would stop every renewal.
	Replicas int
	// OnAcquire is called from the lease's goroutine when this replica becomes the holder.
	OnAcquire func()
	// OnLose is called from the lease's goroutine when this replica stops being the holder: a
	// renewal failed for too long, another replica took the key, or Close. It is called at
	// least TTL/3 before the entry can expire, so writing must stop within that: both
	// callbacks should only signal another goroutine, as renewals wait for them.
	OnLose func()
	Logger *slog.Logger
}

// Lease elects one replica, among those campaigning for the same key, to write the shared
// folder. The holder is the replica whose entry is the key's value in a JetStream key-value
// bucket whose entries expire after the TTL (the stream's MaxAge), so a holder that dies without
// Close loses the key within a TTL. A replica takes the key with Create, which succeeds only when
// it is absent, deleted or expired, and keeps it with a compare-and-set Update every TTL/3. The
// holder gives up once TTL-TTL/3 has passed since the start of its last successful write: that
// write's entry expires no earlier than TTL after it, so the holder stops at least TTL/3 before
// anyone else can start.
type Lease struct {
	js        jetstream.JetStream
	bucket    string
	key       string
	name      string
	value     []byte // this Lease's entry: the holder's name and an id no other Lease shares
	ttl       time.Duration
	replicas  int
	onAcquire func()
	onLose    func()
	log       *slog.Logger
	cancel    context.CancelFunc
	done      chan struct{}

	// owned by run
	kv      jetstream.KeyValue // nil when the bucket must be opened again
	rev     uint64             // the revision of the entry this replica holds, 0 when it does not
	last    uint64             // the revision of the last entry it wrote, for Close to delete
	lost    *time.Timer        // fires when the held lease runs out
	watch   jetstream.KeyWatcher
	failing bool // NATS errors are logged once until a request succeeds again

	mu     sync.Mutex
	held   bool
	lostAt time.Time // when held, the moment the holder must have stopped
	seen   string    // the holder as last seen
}

// leaseEntry is a lease key's value.
type leaseEntry struct {
	Holder string `json:"holder"`
	ID     string `json:"id"`
}

// OpenLease creates the bucket if needed and starts campaigning for the key in a goroutine,
// until Close.
func OpenLease(ctx context.Context, nc *nats.Conn, o LeaseOptions) (*Lease, error) {
	if o.Holder == "" {
		return nil, errors.New("lease: holder name is required")
	}
	ttl := cmp.Or(o.TTL, DefaultLeaseTTL)
	if ttl < MinLeaseTTL {
		return nil, fmt.Errorf("lease: TTL %v is shorter than %v", ttl, MinLeaseTTL)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	value, err := json.Marshal(leaseEntry{Holder: o.Holder, ID: uuid.NewString()})
	if err != nil {
		return nil, err
	}
	l := &Lease{js: js, bucket: cmp.Or(o.Bucket, DefaultLeaseBucket), key: cmp.Or(o.Key, DefaultLeaseKey),
		name: o.Holder, value: value, ttl: ttl, replicas: max(o.Replicas, 1), onAcquire: o.OnAcquire, onLose: o.OnLose,
		log: o.Logger, done: make(chan struct{})}
	if l.log == nil {
		l.log = slog.Default()
	}
	l.log = l.log.With("lease", l.bucket+"/"+l.key, "holder", l.name)
	if l.kv, err = l.openBucket(ctx); errors.Is(err, jetstream.ErrInvalidBucketName) {
		return nil, fmt.Errorf("lease: bucket %q: %w", l.bucket, err)
	} else if err != nil {
		return nil, fmt.Errorf("%w: lease bucket %s: %v", ErrUnavailable, l.bucket, err)
	}
	if _, err := l.kv.Get(ctx, l.key); errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, fmt.Errorf("lease: key %q: %w", l.key, err)
	}
	l.lost = time.NewTimer(time.Hour)
	l.lost.Stop() // hold arms it
	ctx, l.cancel = context.WithCancel(context.Background())
	go l.run(ctx)
	return l, nil
}

// openBucket creates the bucket, or sets its TTL to this lease's.
func (l *Lease) openBucket(ctx context.Context) (jetstream.KeyValue, error) {
	if kv, err := l.js.KeyValue(ctx, l.bucket); err == nil {
		if st, err := kv.Status(ctx); err == nil && st.TTL() != l.ttl {
			// a holder that opened with a longer TTL would stop too late for the new one
			l.log.Warn("the lease bucket's TTL differs from this replica's; every replica must use the same",
				"bucket_ttl", st.TTL(), "ttl", l.ttl)
		}
	}
	return l.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      l.bucket,
		Description: "sheetsync: the replica that writes the shared folder",
		TTL:         l.ttl, // MaxAge: an entry not renewed within it is removed
		Storage:     jetstream.FileStorage,
		Replicas:    l.replicas,
	})
}

// Held reports whether this replica holds the lease now. It turns false at the holder's
// deadline even if the lease's goroutine is late to notice.
func (l *Lease) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held && time.Now().Before(l.lostAt)
}

// Holder returns the name of the holder as last seen, "" if there was none.
func (l *Lease) Holder() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held {
		return l.name
	}
	return l.seen
}

// Close stops campaigning. If this replica holds the lease it calls OnLose, then deletes its
// entry so that another replica takes over at once instead of after the TTL.
func (l *Lease) Close() {
	l.cancel()
	<-l.done
}

// run campaigns, renews and reacts to the watch until ctx ends, then releases the lease.
func (l *Lease) run(ctx context.Context) {
	defer close(l.done)
	next := time.NewTimer(0)
	defer next.Stop()
	defer l.lost.Stop()
	for {
		var updates <-chan jetstream.KeyValueEntry
		if l.watch != nil {
			updates = l.watch.Updates()
		}
		select {
		case <-ctx.Done():
			l.release()
			return
		case <-l.lost.C:
			l.lose("no renewal in time")
			next.Reset(0) // the entry is still this replica's: take it back if NATS answers now
		case e, ok := <-updates:
			if !ok {
				l.watch = nil // the subscription ended; step watches again
			} else if e != nil && l.noteEntry(e) {
				next.Reset(0)
			}
		case <-next.C:
			next.Reset(l.step(ctx))
		}
	}
}

// step renews or campaigns once and returns how long to wait before the next step. Each step
// is bounded, and a holder's step ends by its deadline, so OnLose is never late.
func (l *Lease) step(ctx context.Context) time.Duration {
	l.mu.Lock()
	lostAt := l.lostAt
	l.mu.Unlock()
	deadline := time.Now().Add(l.ttl / 4)
	if l.rev != 0 {
		if !time.Now().Before(lostAt) {
			l.lose("no renewal in time")
			return 0
		}
		if lostAt.Before(deadline) {
			deadline = lostAt
		}
	} else if l.watch == nil && l.kv != nil {
		l.startWatch(ctx)
	}
	sctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if l.kv == nil {
		kv, err := l.openBucket(sctx)
		if err != nil {
			l.fail(ctx, err)
			return l.ttl / 12
		}
		l.kv = kv
	}
	if l.rev != 0 {
		return l.renew(ctx, sctx)
	}
	return l.campaign(ctx, sctx)
}

// renew extends the held lease with a compare-and-set of its entry.
func (l *Lease) renew(ctx, sctx context.Context) time.Duration {
	sent := time.Now()
	rev, err := l.kv.Update(sctx, l.key, l.value, l.rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		// A renewal that timed out may have been written after all (the client sends what it
		// buffered while disconnected). The entry is still ours if it carries our value; keep
		// the old deadline until a renewal is confirmed.
		var e jetstream.KeyValueEntry
		switch e, err = l.kv.Get(sctx, l.key); {
		case err == nil && bytes.Equal(e.Value(), l.value):
			l.rev, l.last = e.Revision(), e.Revision()
			return l.ttl / 12
		case err == nil, errors.Is(err, jetstream.ErrKeyNotFound):
			l.ok()
			l.lose("the key changed hands")
			return l.ttl / 4
		}
	}
	if err != nil {
		l.fail(ctx, err)
		return l.ttl / 12 // a few more tries before the deadline
	}
	l.ok()
	l.hold(rev, sent)
	return l.ttl / 3
}

// campaign takes the key if it is free, or if it still holds this Lease's own entry.
func (l *Lease) campaign(ctx, sctx context.Context) time.Duration {
	e, err := l.kv.Get(sctx, l.key)
	sent := time.Now()
	var rev uint64
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound): // absent, deleted or expired
		l.setSeen("")
		rev, err = l.kv.Create(sctx, l.key, l.value)
	case err != nil:
	case bytes.Equal(e.Value(), l.value):
		// Our own entry, unexpired: a Create whose answer was lost, or a lease given up on
		// while NATS was away. The compare-and-set proves no one took it since.
		rev, err = l.kv.Update(sctx, l.key, l.value, e.Revision())
	default:
		l.ok()
		l.setSeen(entryHolder(e.Value()))
		return l.ttl / 4
	}
	switch {
	case err == nil:
		l.ok()
		l.hold(rev, sent)
		return l.ttl / 3
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		l.ok() // another replica was quicker
	default:
		l.fail(ctx, err)
	}
	return l.ttl / 4
}

// startWatch follows the key, so that a holder's Close hands over at once instead of at the
// next poll. Polling still covers whatever the watch misses.
func (l *Lease) startWatch(ctx context.Context) {
	// The watch lives as long as its context (cancelling it unsubscribes in the background),
	// so bound only the request that creates it.
	wctx, stop := context.WithCancel(ctx)
	timeout := time.AfterFunc(l.ttl/4, stop)
	w, err := l.kv.Watch(wctx, l.key, jetstream.UpdatesOnly())
	if !timeout.Stop() || err != nil {
		stop()
		return
	}
	l.watch = w
}

// noteEntry records a change of the key and reports whether to step at once: the key was freed,
// or someone else wrote the key this replica holds.
func (l *Lease) noteEntry(e jetstream.KeyValueEntry) bool {
	if e.Operation() != jetstream.KeyValuePut {
		l.setSeen("")
		return true
	}
	if bytes.Equal(e.Value(), l.value) {
		return false
	}
	l.setSeen(entryHolder(e.Value()))
	return l.rev != 0
}

// hold records a confirmed write of this Lease's entry, sent at sent: the entry expires no
// earlier than a TTL after it, so the holder keeps the lease until a TTL/3 before that.
func (l *Lease) hold(rev uint64, sent time.Time) {
	acquired := l.rev == 0
	l.rev, l.last = rev, rev
	lostAt := sent.Add(l.ttl - l.ttl/3)
	l.mu.Lock()
	l.held, l.lostAt = true, lostAt
	l.mu.Unlock()
	l.lost.Reset(time.Until(lostAt))
	if acquired {
		l.log.Info("lease acquired")
		if l.onAcquire != nil {
			l.onAcquire()
		}
	}
}

// lose gives the lease up and calls OnLose.
func (l *Lease) lose(reason string) {
	l.rev = 0
	l.lost.Stop()
	l.mu.Lock()
	l.held = false
	l.mu.Unlock()
	l.log.Info("lease lost", "reason", reason)
	if l.onLose != nil {
		l.onLose()
	}
}

// release ends a closed Lease: OnLose first, then the delete that frees the key. The delete
// names the revision of this replica's entry, so it never removes another's.
func (l *Lease) release() {
	// The watch ends with ctx. Its Stop is not called here: that waits up to 5 s for the
	// server to delete the consumer, and Close must not wait on a server that is gone.
	if l.rev != 0 {
		l.lose("closed")
	}
	if l.last == 0 || l.kv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.ttl/4)
	defer cancel()
	rev := l.last
	for range 3 {
		err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(rev))
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			if err != nil {
				l.log.Debug("lease not deleted on close; it expires instead", "error", err)
			}
			return
		}
		// A renewal cut short by Close may have been written after all: if the entry is still
		// ours, delete that revision.
		e, err := l.kv.Get(ctx, l.key)
		if err != nil || !bytes.Equal(e.Value(), l.value) {
			return
		}
		rev = e.Revision()
	}
}

// ok notes a request that NATS answered.
func (l *Lease) ok() {
	if l.failing {
		l.failing = false
		l.log.Info("NATS answers the lease again")
	}
}

// fail notes a request that NATS did not answer, logging only the first of a run. A missing
// bucket is created again at the next step.
func (l *Lease) fail(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return // closing
	}
	if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		l.kv = nil
	}
	if !l.failing {
		l.failing = true
		l.log.Warn("NATS does not answer the lease; retrying", "error", err)
		return
	}
	l.log.Debug("NATS does not answer the lease", "error", err)
}

func (l *Lease) setSeen(holder string) {
	l.mu.Lock()
	l.seen = holder
	l.mu.Unlock()
}

// entryHolder is the holder named by a lease entry, or the raw value if another program wrote it.
func entryHolder(v []byte) string {
	var e leaseEntry
	if json.Unmarshal(v, &e) != nil {
		return string(v)
	}
	return e.Holder
}
